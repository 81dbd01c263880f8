package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// A claim that must write decides again under the write lock (the group
// commit's transaction) whatever it read before. These tests change the row
// between a claim's lock-free read and its write (as another process would)
// and check that the write does not apply to the changed row: the claim
// answers from what is there now.
func TestClaimWriteFindsRowChanged(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	req := func(key store.Key, owner byte, now time.Time) store.ClaimRequest {
		return store.ClaimRequest{
			Key: key, Namespace: "race", Fingerprint: store.Fingerprint{7}, Owner: store.Owner{owner},
			Now: now, LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour),
		}
	}
	// stale claims with r, the row as read before change ran.
	stale := func(t *testing.T, s *Store, claim store.ClaimRequest, change func()) store.ClaimResult {
		t.Helper()
		r, found, err := s.read(ctx, claim.Key)
		require.NoError(t, err)
		_, act := decide(r, found, claim)
		require.NotEqual(t, noWrite, act, "the claim must decide to write")
		change()
		res, err := s.claimGrouped(ctx, claim)
		require.NoError(t, err)
		return res
	}
	open := func(t *testing.T) *Store {
		s, err := Open(filepath.Join(t.TempDir(), "idem.db"))
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, s.Close()) })
		return s
	}
	grant := func(t *testing.T, s *Store, r store.ClaimRequest) store.Record {
		res, err := s.Claim(ctx, r)
		require.NoError(t, err)
		require.True(t, res.Granted)
		return res.Record
	}

	t.Run("InsertAfterAnotherInserted", func(t *testing.T) {
		s := open(t)
		key := store.Key{1}
		var winner store.Record
		res := stale(t, s, req(key, 2, base), func() { winner = grant(t, s, req(key, 1, base)) })
		assert.False(t, res.Granted)
		assert.Equal(t, winner, res.Record, "the loser sees the winner's record")
	})
	t.Run("TakeoverAfterRenew", func(t *testing.T) {
		s := open(t)
		key := store.Key{2}
		held := grant(t, s, req(key, 1, base))
		late := req(key, 2, base.Add(2*time.Minute)) // the lease has passed
		late.Takeover = true
		res := stale(t, s, late, func() {
			require.NoError(t, s.Renew(ctx, key, store.Fence{Owner: held.Owner, Token: held.Token}, base.Add(time.Hour)))
		})
		assert.False(t, res.Granted, "a renewed lease must not be taken over")
		assert.Equal(t, held.Owner, res.Record.Owner)
		assert.Equal(t, held.Token, res.Record.Token)
		got, err := s.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, held.Owner, got.Owner)
		assert.True(t, got.LeaseUntil.Equal(base.Add(time.Hour)))
	})
	t.Run("ExtendAfterComplete", func(t *testing.T) {
		s := open(t)
		key := store.Key{3}
		held := grant(t, s, req(key, 1, base))
		retry := req(key, 1, base.Add(time.Second)) // the same owner, a later lease
		res := stale(t, s, retry, func() {
			require.NoError(t, s.Complete(ctx, key, store.Fence{Owner: held.Owner, Token: held.Token}, []byte("done"), base.Add(time.Hour)))
		})
		assert.False(t, res.Granted, "a completed record must not be regranted")
		assert.Equal(t, store.StateCompleted, res.Record.State)
		assert.Equal(t, []byte("done"), res.Record.Result)
	})
	t.Run("MarkAfterComplete", func(t *testing.T) {
		s := open(t)
		key := store.Key{4}
		held := grant(t, s, req(key, 1, base))
		late := req(key, 2, base.Add(2*time.Minute)) // no takeover: would mark indeterminate
		res := stale(t, s, late, func() {
			require.NoError(t, s.Complete(ctx, key, store.Fence{Owner: held.Owner, Token: held.Token}, []byte("done"), base.Add(time.Hour)))
		})
		assert.False(t, res.Granted)
		assert.Equal(t, store.StateCompleted, res.Record.State, "a completed record must not be marked indeterminate")
		got, err := s.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, store.StateCompleted, got.State)
	})
	t.Run("GrantOverTombstoneAfterAnotherGrant", func(t *testing.T) {
		s := open(t)
		key := store.Key{5}
		held := grant(t, s, req(key, 1, base))
		require.NoError(t, s.Release(ctx, key, store.Fence{Owner: held.Owner, Token: held.Token}))
		var winner store.Record
		res := stale(t, s, req(key, 3, base), func() { winner = grant(t, s, req(key, 2, base)) })
		assert.False(t, res.Granted)
		assert.Equal(t, winner, res.Record)
		assert.Equal(t, held.Token+1, winner.Token, "the tombstone keeps the token sequence")
	})
	t.Run("UnchangedRowIsWritten", func(t *testing.T) {
		s := open(t)
		key := store.Key{6}
		held := grant(t, s, req(key, 1, base))
		late := req(key, 2, base.Add(2*time.Minute))
		late.Takeover = true
		late.Fingerprint = held.Fingerprint
		res := stale(t, s, late, func() {})
		assert.True(t, res.Granted)
		assert.True(t, res.TookOver)
		assert.Equal(t, held.Token+1, res.Record.Token)
		got, err := s.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, res.Record, got)
	})
}
