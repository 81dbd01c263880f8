package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/idem-go/idem/runtime/store"
)

var _ store.Lister = (*Store)(nil)

// List implements store.Lister with one query per page, newest first then
// by key.
func (s *Store) List(ctx context.Context, q store.ListQuery) (store.ListPage, error) {
	if err := ctx.Err(); err != nil {
		return store.ListPage{}, err
	}
	cur, hasCursor, err := store.ParseCursor(q.Cursor)
	if err != nil {
		return store.ListPage{}, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Namespace != "" {
		where = append(where, "namespace = "+arg(q.Namespace))
	}
	if q.State != 0 {
		where = append(where, "state = "+arg(int16(q.State)))
	}
	if hasCursor {
		n, err := toNanos("cursor", cur.CreatedAt)
		if err != nil {
			return store.ListPage{}, err
		}
		c := arg(n)
		where = append(where, "(created_at < "+c+" OR (created_at = "+c+" AND key > "+arg(cur.Key[:])+"))")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.PageLimit()
	query := `SELECT key, ` + s.q.columns + ` FROM ` + s.table.quoted() + cond +
		` ORDER BY created_at DESC, key ASC LIMIT ` + arg(limit+1)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return store.ListPage{}, fmt.Errorf("pgstore: list: %w", err)
	}
	defer rows.Close()
	var page store.ListPage
	for rows.Next() {
		if len(page.Records) == limit {
			last := page.Records[limit-1]
			page.Next = store.Cursor{CreatedAt: last.CreatedAt, Key: last.Key}.String()
			break
		}
		var kb []byte
		var r row
		if err := rows.Scan(append([]any{&kb}, r.dest()...)...); err != nil {
			return store.ListPage{}, fmt.Errorf("pgstore: list: %w", err)
		}
		var key store.Key
		if len(kb) != len(key) {
			return store.ListPage{}, fmt.Errorf("pgstore: list: corrupt row: key of %d bytes", len(kb))
		}
		copy(key[:], kb)
		rec, err := r.record(key)
		if err != nil {
			return store.ListPage{}, fmt.Errorf("pgstore: list: %w", err)
		}
		page.Records = append(page.Records, rec)
	}
	if err := rows.Err(); err != nil {
		return store.ListPage{}, fmt.Errorf("pgstore: list: %w", err)
	}
	return page, nil
}
