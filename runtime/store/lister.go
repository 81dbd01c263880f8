package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lister is implemented by stores that can enumerate their records, for
// operators (the idem command's list and stats). It is not on any call's
// path.
type Lister interface {
	// List returns one page of the records that match q, newest first
	// (by CreatedAt, then by key), whatever their retention. Released and
	// deleted records are not listed.
	List(ctx context.Context, q ListQuery) (ListPage, error)
}

// DefaultListLimit is the page size of a ListQuery whose Limit is 0.
const DefaultListLimit = 100

// ListQuery selects records.
type ListQuery struct {
	Namespace string // only this namespace; "" for all
	State     State  // only this state; 0 for all
	Limit     int    // records per page; 0 means DefaultListLimit
	Cursor    string // where the page starts: ListPage.Next of the page before, or "" for the newest
}

// ListPage is one page of a listing.
type ListPage struct {
	Records []Record
	// Next is the cursor of the following page, or "" after the last.
	Next string
}

// PageLimit returns q's page size.
func (q ListQuery) PageLimit() int {
	if q.Limit > 0 {
		return q.Limit
	}
	return DefaultListLimit
}

// Matches reports whether r passes q's namespace and state filters.
func (q ListQuery) Matches(r Record) bool {
	return (q.Namespace == "" || r.Namespace == q.Namespace) && (q.State == 0 || r.State == q.State)
}

// Cursor is a position in the listing order: the CreatedAt and key of the
// last record of a page.
type Cursor struct {
	CreatedAt time.Time
	Key       Key
}

// String encodes the cursor for ListQuery.Cursor.
func (c Cursor) String() string {
	return strconv.FormatInt(c.CreatedAt.UnixNano(), 10) + "." + c.Key.String()
}

// ParseCursor decodes ListQuery.Cursor; "" is the start (ok false).
func ParseCursor(s string) (c Cursor, ok bool, err error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	ns, k, found := strings.Cut(s, ".")
	n, nerr := strconv.ParseInt(ns, 10, 64)
	key, kerr := ParseKey(k)
	if !found || nerr != nil || kerr != nil {
		return Cursor{}, false, fmt.Errorf("idem: list cursor %q is malformed; pass the Next of a previous page", s)
	}
	return Cursor{CreatedAt: time.Unix(0, n).UTC(), Key: key}, true, nil
}

// After reports whether r comes after c in the listing order (newest
// first, then by key).
func (c Cursor) After(r Record) bool {
	if !r.CreatedAt.Equal(c.CreatedAt) {
		return r.CreatedAt.Before(c.CreatedAt)
	}
	return bytes.Compare(r.Key[:], c.Key[:]) > 0
}

// Page sorts records into the listing order, keeps those after q's cursor
// that match q, and cuts one page: the whole of List for a store that
// gathers candidates in memory (memstore, a Redis scan).
func Page(records []Record, q ListQuery) (ListPage, error) {
	cur, hasCursor, err := ParseCursor(q.Cursor)
	if err != nil {
		return ListPage{}, err
	}
	slices.SortFunc(records, func(a, b Record) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return slices.Compare(a.Key[:], b.Key[:])
	})
	limit := q.PageLimit()
	var page ListPage
	for _, r := range records {
		if !q.Matches(r) || (hasCursor && !cur.After(r)) {
			continue
		}
		if len(page.Records) == limit {
			last := page.Records[limit-1]
			page.Next = Cursor{CreatedAt: last.CreatedAt, Key: last.Key}.String()
			break
		}
		page.Records = append(page.Records, r)
	}
	return page, nil
}

// ErrListUnsupported is returned by tools asked to list a store that does
// not implement Lister.
var ErrListUnsupported = errors.New("idem: this store cannot list its records")
