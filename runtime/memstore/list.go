package memstore

import (
	"context"

	"github.com/idem-go/idem/runtime/store"
)

var _ store.Lister = (*Store)(nil)

// List returns one page of the records that match q, newest first. It
// copies the matching records under the read lock and sorts them.
func (s *Store) List(ctx context.Context, q store.ListQuery) (store.ListPage, error) {
	if err := ctx.Err(); err != nil {
		return store.ListPage{}, err
	}
	s.mu.RLock()
	recs := make([]store.Record, 0, len(s.recs))
	for _, e := range s.recs {
		if !e.removed && q.Matches(e.rec) {
			recs = append(recs, e.rec)
		}
	}
	s.mu.RUnlock()
	return store.Page(recs, q)
}
