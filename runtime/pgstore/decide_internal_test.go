package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// Claim answers every kind of row exactly as store.Decide does on that row,
// and writes exactly Decide's record: for every state (none, in progress,
// completed, indeterminate), lease and retention passed or not, same or
// other owner, with or without Takeover, same or other fingerprint, the
// answer equals Decide's (tokens aside, which the table's sequence draws),
// the stored row equals the answer's record, and a claim Decide answers
// without a change leaves the row as it was.
func TestClaimMatchesDecide(t *testing.T) {
	ctx := context.Background()
	_, s := internalStore(t)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fp := store.Fingerprint{7}
	req := func(key store.Key, owner byte, now time.Time, takeover bool, f store.Fingerprint) store.ClaimRequest {
		return store.ClaimRequest{Key: key, Namespace: "fn", Fingerprint: f, Owner: store.Owner{owner}, Now: now,
			LeaseUntil: now.Add(90 * time.Second), RetainUntil: now.Add(time.Hour), Takeover: takeover}
	}
	// setup makes the row of key: in progress (owner 1, lease until
	// base+90s, retained until base+1h), then completed or marked when
	// asked.
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
	var n uint16
	changes := map[store.Change]int{}
	for _, state := range []store.State{0, store.StateInProgress, store.StateCompleted, store.StateIndeterminate} {
		for _, now := range []time.Time{base, base.Add(2 * time.Minute), base.Add(2 * time.Hour)} {
			for _, owner := range []byte{1, 2} {
				for _, takeover := range []bool{false, true} {
					for _, f := range []store.Fingerprint{fp, {8}} {
						for _, lease := range []time.Duration{30 * time.Second, 5 * time.Minute} {
							n++
							key := store.Key{byte(n >> 8), byte(n)}
							var cur store.Record
							if state != 0 {
								setup(key, state)
								var err error
								cur, err = s.Get(ctx, key)
								require.NoError(t, err)
							}
							r := req(key, owner, now, takeover, f)
							r.LeaseUntil = now.Add(lease)
							want, change := store.Decide(cur, state != 0, state != 0 && cur.RetainUntil.After(now), r)
							changes[change]++
							what := []any{"state %d, now %v, owner %d, takeover %t, fingerprint %x, lease %v: Decide says %d",
								state, now, owner, takeover, f[0], lease, change}

							res, err := s.Claim(ctx, r)
							require.NoError(t, err)
							if change == store.Grant {
								assert.Greater(t, res.Record.Token, cur.Token, what...)
								want.Record.Token = res.Record.Token
							}
							assert.Equal(t, want, res, what...)
							stored, err := s.Get(ctx, key)
							require.NoError(t, err)
							assert.Equal(t, res.Record, stored, what...)
							if change == store.NoChange {
								assert.Equal(t, cur, stored, what...)
							}
						}
					}
				}
			}
		}
	}
	for _, c := range []store.Change{store.NoChange, store.Grant, store.ExtendLease, store.MarkIndeterminate} {
		assert.Positive(t, changes[c], "no case led Decide to change %d", c)
	}
}
