package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// The claim function writes only when the row is still the version the
// claim statement read: called with a stale version (as a claim whose
// snapshot predates a concurrent change would call it) it returns NULL and
// leaves the row as it is, for every decision. Claim then runs the
// statement again (TestClaimSnapshotRace drives that end to end).
func TestClaimFunctionRefusesStaleVersion(t *testing.T) {
	ctx := context.Background()
	pool, s := internalStore(t)

	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fp := store.Fingerprint{7}
	req := func(key store.Key, owner byte, now time.Time) store.ClaimRequest {
		return store.ClaimRequest{Key: key, Namespace: "fn", Fingerprint: fp, Owner: store.Owner{owner}, Now: now,
			LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)}
	}
	grant := func(r store.ClaimRequest) store.Record {
		res, err := s.Claim(ctx, r)
		require.NoError(t, err)
		require.True(t, res.Granted)
		return res.Record
	}
	// call calls the function with decision d for request r, resting on the
	// version (curToken, curLease).
	call := func(d decision, r store.ClaimRequest, curToken int64, curLease time.Time) *int64 {
		t.Helper()
		tm, err := claimTimes(r)
		require.NoError(t, err)
		lease, err := toNanos("cur", curLease)
		require.NoError(t, err)
		var written *int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT `+s.table.function()+`($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			int(d), r.Key[:], r.Namespace, r.Fingerprint[:], r.Owner[:], tm.now, tm.lease, tm.retain, curToken, lease).Scan(&written))
		return written
	}
	get := func(key store.Key) store.Record {
		rec, err := s.Get(ctx, key)
		require.NoError(t, err)
		return rec
	}
	later := base.Add(2 * time.Minute) // after every lease of base

	t.Run("InsertOverExistingRow", func(t *testing.T) {
		key := store.Key{1}
		held := grant(req(key, 1, base))
		assert.Nil(t, call(insertNew, req(key, 2, base), 0, time.Time{}))
		assert.Equal(t, held, get(key))
	})
	t.Run("ReplaceUnexpiredOrOtherToken", func(t *testing.T) {
		key := store.Key{2}
		held := grant(req(key, 1, base))
		assert.Nil(t, call(replace, req(key, 2, later), held.Token, held.LeaseUntil), "the row has not expired")
		expired := req(key, 2, base.Add(2*time.Hour))
		assert.Nil(t, call(replace, expired, held.Token+1000, held.LeaseUntil), "another token")
		assert.Equal(t, held, get(key))
		assert.NotNil(t, call(replace, expired, held.Token, held.LeaseUntil), "the version read, expired")
	})
	t.Run("RegrantAfterRenew", func(t *testing.T) {
		key := store.Key{3}
		held := grant(req(key, 1, base))
		require.NoError(t, s.Renew(ctx, key, store.Fence{Owner: held.Owner, Token: held.Token}, base.Add(time.Hour)))
		renewed := get(key)
		assert.Nil(t, call(regrant, req(key, 1, base.Add(time.Second)), held.Token, held.LeaseUntil))
		assert.Equal(t, renewed, get(key))
	})
	t.Run("TakeoverOfLiveLeaseOrOtherFingerprint", func(t *testing.T) {
		key := store.Key{4}
		held := grant(req(key, 1, base))
		early := req(key, 2, base)
		early.Takeover = true
		assert.Nil(t, call(takeOver, early, held.Token, held.LeaseUntil), "the lease is live")
		other := req(key, 2, later)
		other.Takeover = true
		other.Fingerprint = store.Fingerprint{8}
		assert.Nil(t, call(takeOver, other, held.Token, held.LeaseUntil), "another fingerprint")
		assert.Equal(t, held, get(key))
	})
	t.Run("MarkCompletedOrRenewed", func(t *testing.T) {
		done, renewed := store.Key{5}, store.Key{6}
		a := grant(req(done, 1, base))
		require.NoError(t, s.Complete(ctx, done, store.Fence{Owner: a.Owner, Token: a.Token}, []byte("ok"), base.Add(time.Hour)))
		completed := get(done)
		assert.Nil(t, call(markIndet, req(done, 2, later), a.Token, a.LeaseUntil))
		assert.Equal(t, completed, get(done))

		b := grant(req(renewed, 1, base))
		require.NoError(t, s.Renew(ctx, renewed, store.Fence{Owner: b.Owner, Token: b.Token}, base.Add(90*time.Second)))
		before := get(renewed)
		assert.Nil(t, call(markIndet, req(renewed, 2, later), b.Token, b.LeaseUntil), "renewed since read, even though passed again")
		assert.Equal(t, before, get(renewed))
	})
}

// The statement and decide agree on every kind of row: the claim statement
// returns changed exactly when decide says the claim writes, a claim whose
// answer is settled leaves the row as it was, and the record Claim rebuilds
// after a write is the row the function wrote.
func TestDecideMatchesStatement(t *testing.T) {
	ctx := context.Background()
	pool, s := internalStore(t)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fp := store.Fingerprint{7}
	req := func(key store.Key, owner byte, now time.Time, takeover bool, f store.Fingerprint) store.ClaimRequest {
		return store.ClaimRequest{Key: key, Namespace: "fn", Fingerprint: f, Owner: store.Owner{owner}, Now: now,
			LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour), Takeover: takeover}
	}
	// setup makes the row of key: in progress (owner 1, lease until
	// base+1m, retained until base+1h), then completed or marked when asked.
	setup := func(key store.Key, state store.State) {
		res, err := s.Claim(ctx, req(key, 1, base, false, fp))
		require.NoError(t, err)
		f := store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}
		switch state {
		case store.StateCompleted:
			require.NoError(t, s.Complete(ctx, key, f, []byte("ok"), base.Add(time.Hour)))
		case store.StateIndeterminate:
			require.NoError(t, s.MarkIndeterminate(ctx, key, f, base.Add(time.Hour)))
		}
	}
	var n byte
	for _, state := range []store.State{0, store.StateInProgress, store.StateCompleted, store.StateIndeterminate} {
		for _, now := range []time.Time{base, base.Add(2 * time.Minute), base.Add(2 * time.Hour)} {
			for _, owner := range []byte{1, 2} {
				for _, takeover := range []bool{false, true} {
					for _, f := range []store.Fingerprint{fp, {8}} {
						n++
						key := store.Key{n}
						if state != 0 {
							setup(key, state)
						}
						r := req(key, owner, now, takeover, f)
						var cur row
						found := false
						if state != 0 {
							require.NoError(t, pool.QueryRow(ctx, s.q.get, key[:]).Scan(cur.dest()...))
							found = true
						}
						require.Equal(t, found, cur.found())
						tm, err := claimTimes(r)
						require.NoError(t, err)
						want := decide(&cur, &r, tm)

						args, err := claimArgs(r)
						require.NoError(t, err)
						var got row
						var fresh, changed bool
						require.NoError(t, pool.QueryRow(ctx, s.q.claim, args...).Scan(append(got.dest(), &fresh, &changed)...))
						assert.Equal(t, want != settled, changed, "state %d, now %v, owner %d, takeover %t, fingerprint %x: decide says %d", state, now, owner, takeover, f[0], want)
						if want == settled {
							after, err := s.Get(ctx, key)
							require.NoError(t, err)
							before, err := cur.record(key)
							require.NoError(t, err)
							assert.Equal(t, before, after, "a settled claim changed the row")
						}

						// The same claim through Claim, on a key set up alike.
						n++
						twin := store.Key{n}
						if state != 0 {
							setup(twin, state)
						}
						r.Key = twin
						res, err := s.Claim(ctx, r)
						require.NoError(t, err)
						stored, err := s.Get(ctx, twin)
						require.NoError(t, err)
						assert.Equal(t, stored, res.Record, "decision %d: the record Claim returned is not the row", want)
						granted := want == insertNew || want == replace || want == regrant || want == takeOver
						assert.Equal(t, granted, res.Granted, "decision %d", want)
						assert.Equal(t, want == takeOver, res.TookOver, "decision %d", want)
					}
				}
			}
		}
	}
}
