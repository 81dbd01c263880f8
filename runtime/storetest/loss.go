package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// RecordsLost checks that a store which detects lost records fails closed:
// it writes a completed, an indeterminate and an in-progress record to s,
// calls lose (which makes the backend lose them: a restart without
// persistence, a FLUSHALL, a failover...), and requires every claim (of
// those keys and of a new key) and every write of the in-progress record's
// holder to fail with an error matching store.ErrRecordsLost, never to
// grant a key or report it fenced. The one other answer allowed is the
// settled record itself, unchanged, to a claim of the completed or the
// indeterminate key when the backend still has it (lose took something
// else, such as the store's epoch): a record that exists is no loss, and
// replaying it runs nothing. Stores whose backend can lose records
// behind their back run it with each way they detect; stores that cannot
// lose records (a transactional database) need not.
func RecordsLost(t *testing.T, s store.Store, lose func(t *testing.T)) {
	t.Helper()
	ctx := context.Background()
	done := grant(t, s, request(t, newKey(t), newOwner(t), base)).Record
	require.NoError(t, s.Complete(ctx, done.Key, fenceOf(done), []byte("ran once"), base.Add(retention)))
	ind := grant(t, s, request(t, newKey(t), newOwner(t), base)).Record
	require.NoError(t, s.MarkIndeterminate(ctx, ind.Key, fenceOf(ind), base.Add(retention)))
	held := grant(t, s, request(t, newKey(t), newOwner(t), base)).Record

	settled := map[store.Key]store.Record{done.Key: get(t, s, done.Key), ind.Key: get(t, s, ind.Key)}

	lose(t)

	for _, key := range []store.Key{done.Key, ind.Key, held.Key, newKey(t)} {
		for _, takeover := range []bool{false, true} {
			req := request(t, key, newOwner(t), base.Add(time.Second))
			req.Takeover = takeover
			res, err := s.Claim(ctx, req)
			if rec, ok := settled[key]; ok && err == nil {
				require.False(t, res.Granted, "Claim of settled key %s after the loss was granted", key)
				sameRecord(t, rec, res.Record)
				continue
			}
			require.ErrorIs(t, err, store.ErrRecordsLost, "Claim of key %s after the loss (granted %v)", key, res.Granted)
		}
	}
	for _, w := range writes(s, held.Key, fenceOf(held)) {
		require.ErrorIs(t, w.do(ctx), store.ErrRecordsLost, "the holder's %s after the loss", w.name)
	}
}
