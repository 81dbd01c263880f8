package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/idem-go/idem/runtime/store"
)

var _ store.Lister = (*Store)(nil)

// keyScanner reads the key column before the columns scan reads.
type keyScanner struct {
	rows *sql.Rows
	key  *[]byte
}

func (k keyScanner) Scan(dest ...any) error {
	return k.rows.Scan(append([]any{k.key}, dest...)...)
}

// List implements store.Lister with one indexed-order query per page
// (newest first, then by key; tombstones left out).
func (s *Store) List(ctx context.Context, q store.ListQuery) (store.ListPage, error) {
	if err := s.init(ctx); err != nil {
		return store.ListPage{}, fmt.Errorf("sqlitestore: list: %w", err)
	}
	cur, hasCursor, err := store.ParseCursor(q.Cursor)
	if err != nil {
		return store.ListPage{}, err
	}
	where := []string{fmt.Sprintf("state != %d", tombstone)}
	var args []any
	if q.Namespace != "" {
		where = append(where, "namespace = ?")
		args = append(args, q.Namespace)
	}
	if q.State != 0 {
		where = append(where, "state = ?")
		args = append(args, int64(q.State))
	}
	if hasCursor {
		where = append(where, "(created_at < ? OR (created_at = ? AND key > ?))")
		n := nanos(cur.CreatedAt)
		args = append(args, n, n, cur.Key[:])
	}
	limit := q.PageLimit()
	query := `SELECT key, ` + columns + ` FROM idem_records WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_at DESC, key ASC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return store.ListPage{}, fmt.Errorf("sqlitestore: list: %w", err)
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
		r, _, err := scan(keyScanner{rows, &kb}, store.Key{})
		if err != nil {
			return store.ListPage{}, fmt.Errorf("sqlitestore: list: %w", err)
		}
		if len(kb) != len(r.rec.Key) {
			return store.ListPage{}, fmt.Errorf("sqlitestore: list: corrupt row: key of %d bytes", len(kb))
		}
		copy(r.rec.Key[:], kb)
		page.Records = append(page.Records, r.rec)
	}
	if err := rows.Err(); err != nil {
		return store.ListPage{}, fmt.Errorf("sqlitestore: list: %w", err)
	}
	return page, nil
}
