package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/store"
)

// subtests is the suite, in the order Run runs it. Names are stable.
var subtests = []struct {
	name string
	run  func(t *testing.T, s store.Store)
}{
	{"ClaimNewKey", testClaimNewKey},
	{"ClaimRace", testClaimRace},
	{"TakeoverRace", testTakeoverRace},
	{"TakeoverNeedsSameFingerprint", testTakeoverNeedsSameFingerprint},
	{"ClaimLiveLeaseHeld", testClaimLiveLeaseHeld},
	{"LostClaimAck", testLostClaimAck},
	{"Fencing", testFencing},
	{"LeaseExpiryWithoutTakeover", testLeaseExpiryWithoutTakeover},
	{"RenewExtendsLease", testRenewExtendsLease},
	{"RenewRaisesRetention", testRenewRaisesRetention},
	{"RenewShiftsExactly", testRenewShiftsExactly},
	{"DeadHolderStaysBlocked", testDeadHolderStaysBlocked},
	{"RetriedClaimNeverShortensLease", testRetriedClaimNeverShortensLease},
	{"TakeoverKeepsCreatedAt", testTakeoverKeepsCreatedAt},
	{"CompleteThenClaim", testCompleteThenClaim},
	{"Release", testRelease},
	{"MarkIndeterminate", testMarkIndeterminate},
	{"RetentionExpiry", testRetentionExpiry},
	{"TokensIncrease", testTokensIncrease},
	{"Fingerprint", testFingerprint},
	{"FingerprintParts", testFingerprintParts},
	{"GetAndDelete", testGetAndDelete},
	{"Sweep", testSweep},
	{"SweepKeepsInProgress", testSweepKeepsInProgress},
	{"TimeRange", testTimeRange},
	{"CanceledContext", testCanceledContext},
}

// A claim of a key nobody holds is granted and stores the request.
func testClaimNewKey(t *testing.T, s store.Store) {
	key, owner := newKey(t), newOwner(t)
	req := request(t, key, owner, base)
	res := grant(t, s, req)
	assert.False(t, res.TookOver, "a first claim is not a takeover")

	want := store.Record{
		Key:         key,
		Namespace:   req.Namespace,
		Fingerprint: req.Fingerprint,
		State:       store.StateInProgress,
		Owner:       owner,
		Token:       res.Record.Token,
		LeaseUntil:  req.LeaseUntil,
		RetainUntil: req.RetainUntil,
		Attempts:    1,
		CreatedAt:   req.Now,
		UpdatedAt:   req.Now,
	}
	sameRecord(t, want, res.Record)
	sameRecord(t, want, get(t, s, key))

	// Another key is independent of the first.
	other := grant(t, s, request(t, newKey(t), newOwner(t), base))
	assert.Equal(t, 1, other.Record.Attempts)
	sameRecord(t, want, get(t, s, key))
}

// Many owners claim one key at once: exactly one is granted, and every other
// claimer is shown the winner's in-progress record. The race runs many
// times, on many keys (see repeatRace).
func testClaimRace(t *testing.T, s store.Store) {
	repeatRace(t, func(t *testing.T, n, m int) {
		keys := make([]store.Key, m)
		reqs := make([][]store.ClaimRequest, n) // racer → key → request
		for j := range keys {
			keys[j] = newKey(t)
		}
		for i := range reqs {
			owner := newOwner(t)
			for _, key := range keys {
				reqs[i] = append(reqs[i], request(t, key, owner, base))
			}
		}
		results, errs := raceClaims(s, reqs)
		for j, key := range keys {
			winner := -1
			for i := range n {
				require.NoError(t, errs[i][j], "claim %d of key %d", i, j)
				if results[i][j].Granted {
					require.Equal(t, -1, winner, "claims %d and %d of key %d were both granted", winner, i, j)
					winner = i
				}
			}
			require.NotEqual(t, -1, winner, "no claim of key %d was granted", j)
			w := results[winner][j].Record
			for i := range n {
				if i == winner {
					continue
				}
				r := results[i][j]
				assert.False(t, r.TookOver, "claim %d", i)
				assert.Equal(t, store.StateInProgress, r.Record.State, "claim %d sees the winner's record", i)
				assert.Equal(t, w.Owner, r.Record.Owner, "claim %d sees the winner as owner", i)
				assert.Equal(t, w.Token, r.Record.Token, "claim %d sees the winner's token", i)
			}
			sameRecord(t, w, get(t, s, key))
		}
	})
}

// raceClaims releases one goroutine per racer at once; racer i makes the
// claims reqs[i] in order. It returns results and errors by racer and claim.
func raceClaims(s store.Store, reqs [][]store.ClaimRequest) ([][]store.ClaimResult, [][]error) {
	results := make([][]store.ClaimResult, len(reqs))
	errs := make([][]error, len(reqs))
	together(len(reqs), func(i int) {
		results[i] = make([]store.ClaimResult, len(reqs[i]))
		errs[i] = make([]error, len(reqs[i]))
		for j, req := range reqs[i] {
			results[i][j], errs[i][j] = s.Claim(context.Background(), req)
		}
	})
	return results, errs
}

// Many owners race to take over one expired lease, all with the holder's
// fingerprint: exactly one takes it over; without Takeover every racer sees
// the record made indeterminate. Each race runs many times, on many keys
// (see repeatRace).
func testTakeoverRace(t *testing.T, s store.Store) {
	type raced struct {
		key     store.Key
		first   store.Record
		results []store.ClaimResult // by racer
	}
	race := func(t *testing.T, n, m int, takeover bool) []raced {
		t.Helper()
		out := make([]raced, m)
		reqs := make([][]store.ClaimRequest, n)
		owners := make([]store.Owner, n)
		for i := range owners {
			owners[i] = newOwner(t)
		}
		for j := range out {
			out[j].key = newKey(t)
			out[j].first = grant(t, s, request(t, out[j].key, newOwner(t), base)).Record
			for i := range reqs {
				req := request(t, out[j].key, owners[i], base.Add(lease+time.Second))
				req.Fingerprint = out[j].first.Fingerprint
				req.Takeover = takeover
				reqs[i] = append(reqs[i], req)
			}
		}
		results, errs := raceClaims(s, reqs)
		for j := range out {
			for i := range n {
				require.NoError(t, errs[i][j], "claim %d of key %d", i, j)
				out[j].results = append(out[j].results, results[i][j])
			}
		}
		return out
	}

	t.Run("Takeover", func(t *testing.T) {
		repeatRace(t, func(t *testing.T, n, m int) {
			for j, k := range race(t, n, m, true) {
				winner := -1
				for i, r := range k.results {
					if r.Granted {
						require.Equal(t, -1, winner, "claims %d and %d of key %d both took over", winner, i, j)
						winner = i
					}
				}
				require.NotEqual(t, -1, winner, "no claim took over the expired lease of key %d", j)
				w := k.results[winner]
				assert.True(t, w.TookOver)
				assert.Greater(t, w.Record.Token, k.first.Token)
				assert.Equal(t, 2, w.Record.Attempts)
				for i, r := range k.results {
					if i != winner {
						assert.Equal(t, store.StateInProgress, r.Record.State, "claim %d", i)
						assert.Equal(t, w.Record.Owner, r.Record.Owner, "claim %d sees the new holder", i)
						assert.Equal(t, w.Record.Token, r.Record.Token, "claim %d sees the new token", i)
					}
				}
				sameRecord(t, w.Record, get(t, s, k.key))
			}
		})
	})
	t.Run("NoTakeover", func(t *testing.T) {
		repeatRace(t, func(t *testing.T, n, m int) {
			for _, k := range race(t, n, m, false) {
				for i, r := range k.results {
					assert.False(t, r.Granted, "claim %d was granted an expired lease without Takeover", i)
					assert.Equal(t, store.StateIndeterminate, r.Record.State, "claim %d", i)
					assert.Equal(t, k.first.Owner, r.Record.Owner, "claim %d", i)
					assert.Equal(t, k.first.Token, r.Record.Token, "claim %d", i)
				}
				assert.Equal(t, store.StateIndeterminate, get(t, s, k.key).State)
			}
		})
	})
}

// A takeover is granted only to a claim with the record's fingerprint, so
// that it never hides a key reused with other arguments: a Takeover claim
// with another fingerprint over an expired lease gets the record back
// unchanged (and the holder keeps it), while without Takeover the claim
// marks the record indeterminate whatever its fingerprint.
func testTakeoverNeedsSameFingerprint(t *testing.T, s store.Store) {
	t.Run("Refused", func(t *testing.T) {
		key := newKey(t)
		a := grant(t, s, request(t, key, newOwner(t), base)).Record
		for _, at := range []time.Time{a.LeaseUntil, a.LeaseUntil.Add(time.Minute)} {
			req := request(t, key, newOwner(t), at) // another fingerprint
			req.Takeover = true
			require.NotEqual(t, a.Fingerprint, req.Fingerprint)
			res := claim(t, s, req)
			assert.False(t, res.Granted, "a takeover with another fingerprint was granted at %v", at)
			assert.False(t, res.TookOver)
			sameRecord(t, a, res.Record)
			sameRecord(t, a, get(t, s, key))
		}
		// Nothing changed hands: the holder's fence still holds.
		renewed := a.LeaseUntil.Add(2 * time.Minute)
		require.NoError(t, s.Renew(context.Background(), key, fenceOf(a), renewed))
		a.RetainUntil = a.RetainUntil.Add(renewed.Sub(a.LeaseUntil)) // shifted with the lease
		a.LeaseUntil = renewed
		sameRecord(t, a, get(t, s, key))

		// A claim with the record's fingerprint takes it over.
		over := takeoverRequest(t, a, newOwner(t), renewed)
		b := grant(t, s, over)
		assert.True(t, b.TookOver)
		assert.Greater(t, b.Record.Token, a.Token)
		assert.Equal(t, a.Fingerprint, b.Record.Fingerprint)
		assert.Equal(t, 2, b.Record.Attempts)
		requireFenced(t, s, key, fenceOf(a), &b.Record)

		// And the new holder's expired lease is refused to other arguments
		// too.
		req := request(t, key, newOwner(t), b.Record.LeaseUntil)
		req.Takeover = true
		res := claim(t, s, req)
		assert.False(t, res.Granted)
		sameRecord(t, b.Record, res.Record)
	})
	t.Run("WithoutTakeover", func(t *testing.T) {
		key := newKey(t)
		a := grant(t, s, request(t, key, newOwner(t), base)).Record
		req := request(t, key, newOwner(t), a.LeaseUntil) // another fingerprint
		res := claim(t, s, req)
		assert.False(t, res.Granted)
		r := res.Record
		assert.Equal(t, store.StateIndeterminate, r.State, "without Takeover an expired lease is marked whatever the fingerprint")
		assert.Equal(t, a.Owner, r.Owner)
		assert.Equal(t, a.Token, r.Token)
		assert.Equal(t, a.Fingerprint, r.Fingerprint)
		sameRecord(t, r, get(t, s, key))
	})
	t.Run("Race", func(t *testing.T) {
		// Racers with the holder's fingerprint and racers with others:
		// exactly one takes over, and it is one with the holder's.
		const n = 16
		key := newKey(t)
		a := grant(t, s, request(t, key, newOwner(t), base)).Record
		reqs := make([]store.ClaimRequest, n)
		results := make([]store.ClaimResult, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			reqs[i] = request(t, key, newOwner(t), a.LeaseUntil.Add(time.Second))
			reqs[i].Takeover = true
			if i%2 == 0 {
				reqs[i].Fingerprint = a.Fingerprint
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = s.Claim(context.Background(), reqs[i])
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, r := range results {
			require.NoError(t, errs[i], "claim %d", i)
			if r.Granted {
				require.Equal(t, -1, winner, "claims %d and %d both took over", winner, i)
				winner = i
			}
		}
		require.NotEqual(t, -1, winner, "no claim with the holder's fingerprint took over")
		require.Equal(t, a.Fingerprint, reqs[winner].Fingerprint, "claim %d took over with another fingerprint", winner)
		w := results[winner].Record
		assert.True(t, results[winner].TookOver)
		for i, r := range results {
			if i == winner {
				continue
			}
			assert.Equal(t, store.StateInProgress, r.Record.State, "claim %d", i)
			assert.Equal(t, a.Fingerprint, r.Record.Fingerprint, "claim %d", i)
			if reqs[i].Fingerprint == a.Fingerprint {
				// Had it come first, it would have taken over itself.
				assert.Equal(t, w.Owner, r.Record.Owner, "claim %d sees the new holder", i)
				assert.Equal(t, w.Token, r.Record.Token, "claim %d sees the new token", i)
			} else if r.Record.Owner != w.Owner {
				// Refused before the takeover: the old record, unchanged.
				sameRecord(t, a, r.Record)
			}
		}
		sameRecord(t, w, get(t, s, key))
	})
}

// While the holder's lease is live, another owner's claim returns the
// holder's record unchanged, with or without Takeover, and whether or not
// its fingerprint is the holder's.
func testClaimLiveLeaseHeld(t *testing.T, s store.Store) {
	key := newKey(t)
	held := grant(t, s, request(t, key, newOwner(t), base)).Record
	for _, takeover := range []bool{false, true} {
		for _, sameFP := range []bool{false, true} {
			for _, at := range []time.Duration{0, time.Second, lease - time.Second} {
				req := request(t, key, newOwner(t), base.Add(at))
				req.Takeover = takeover
				if sameFP {
					req.Fingerprint = held.Fingerprint
				}
				res := claim(t, s, req)
				assert.False(t, res.Granted, "claim at +%v (takeover %v, same fingerprint %v) of a live lease was granted", at, takeover, sameFP)
				assert.False(t, res.TookOver)
				sameRecord(t, held, res.Record)
			}
		}
	}
	sameRecord(t, held, get(t, s, key))
}

// A claim that committed but whose answer was lost is retried by the same
// owner and granted again with the same token: it is not a concurrent
// request.
func testLostClaimAck(t *testing.T, s store.Store) {
	key, owner := newKey(t), newOwner(t)
	req := request(t, key, owner, base)
	first := grant(t, s, req)

	retry := req
	retry.Now = base.Add(time.Second)
	retry.LeaseUntil = retry.Now.Add(lease)
	again := grant(t, s, retry)
	assert.False(t, again.TookOver, "a retried claim is not a takeover")
	assert.Equal(t, first.Record.Token, again.Record.Token, "a retried claim keeps its token")
	assert.Equal(t, 1, again.Record.Attempts, "a retried claim is the same grant")
	sameTime(t, "LeaseUntil of the retried grant", retry.LeaseUntil, again.Record.LeaseUntil)
	sameRecord(t, again.Record, get(t, s, key))

	// The same owner retrying after its own lease passed is still the
	// holder: granted again, not marked indeterminate, lease renewed.
	late := req
	late.Now = base.Add(lease + 10*time.Second)
	late.LeaseUntil = late.Now.Add(lease)
	late.Takeover = false
	res := grant(t, s, late)
	assert.False(t, res.TookOver)
	assert.Equal(t, first.Record.Token, res.Record.Token)
	sameTime(t, "LeaseUntil of the late retried grant", late.LeaseUntil, res.Record.LeaseUntil)
	sameTime(t, "CreatedAt of the late retried grant (the first claim's Now)", req.Now, res.Record.CreatedAt)
	sameTime(t, "UpdatedAt of the late retried grant (its Now: it moved the lease)", late.Now, res.Record.UpdatedAt)

	// The renewed lease holds off others, even a takeover with the same
	// fingerprint.
	other := request(t, key, newOwner(t), late.Now.Add(time.Second))
	other.Fingerprint = req.Fingerprint
	other.Takeover = true
	blocked := claim(t, s, other)
	assert.False(t, blocked.Granted, "the lease renewed by the retried claim was taken over")
	assert.Equal(t, owner, blocked.Record.Owner)

	// The fence of the first answer is the fence of the grant.
	require.NoError(t, s.Complete(context.Background(), key, fenceOf(first.Record), []byte("ok"), base.Add(time.Hour)))
	assert.Equal(t, store.StateCompleted, get(t, s, key).State)
}

// After a takeover every write of the stale holder is fenced and leaves the
// successor's record alone, as are writes with any fence but the exact one,
// writes on a completed or indeterminate record and writes on an absent key.
func testFencing(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	a := grant(t, s, request(t, key, newOwner(t), base)).Record

	reqB := takeoverRequest(t, a, newOwner(t), base.Add(lease+time.Second))
	resB := grant(t, s, reqB)
	b := resB.Record
	assert.True(t, resB.TookOver, "a grant over an expired lease reports TookOver")
	assert.Greater(t, b.Token, a.Token, "a takeover's token is larger than the stale holder's")
	assert.Equal(t, 2, b.Attempts, "a takeover counts as a second attempt")
	assert.Equal(t, a.Fingerprint, b.Fingerprint, "a takeover keeps the fingerprint, which it must share")
	assert.Equal(t, reqB.Namespace, b.Namespace)
	sameTime(t, "LeaseUntil", reqB.LeaseUntil, b.LeaseUntil)
	sameTime(t, "RetainUntil", reqB.RetainUntil, b.RetainUntil)
	sameTime(t, "UpdatedAt of a takeover (its Now)", reqB.Now, b.UpdatedAt)
	sameRecord(t, b, get(t, s, key))

	t.Run("StaleHolder", func(t *testing.T) {
		requireFenced(t, s, key, fenceOf(a), &b)
	})
	t.Run("WrongToken", func(t *testing.T) {
		for _, tok := range []int64{b.Token + 1, b.Token - 1, a.Token, 0, -1} {
			if tok == b.Token {
				continue
			}
			requireFenced(t, s, key, store.Fence{Owner: b.Owner, Token: tok}, &b)
		}
	})
	t.Run("WrongOwner", func(t *testing.T) {
		requireFenced(t, s, key, store.Fence{Owner: a.Owner, Token: b.Token}, &b)
		requireFenced(t, s, key, store.Fence{Owner: newOwner(t), Token: b.Token}, &b)
	})
	t.Run("Completed", func(t *testing.T) {
		require.NoError(t, s.Complete(ctx, key, fenceOf(b), []byte("result"), base.Add(48*time.Hour)))
		done := get(t, s, key)
		require.Equal(t, store.StateCompleted, done.State)
		sameTime(t, "UpdatedAt after Complete (later writes carry no time)", b.UpdatedAt, done.UpdatedAt)
		requireFenced(t, s, key, fenceOf(b), &done)
		requireFenced(t, s, key, fenceOf(a), &done)
	})
	t.Run("Indeterminate", func(t *testing.T) {
		k := newKey(t)
		r := grant(t, s, request(t, k, newOwner(t), base)).Record
		require.NoError(t, s.MarkIndeterminate(ctx, k, fenceOf(r), base.Add(time.Hour)))
		ind := get(t, s, k)
		require.Equal(t, store.StateIndeterminate, ind.State)
		requireFenced(t, s, k, fenceOf(r), &ind)
	})
	t.Run("AbsentKey", func(t *testing.T) {
		k := newKey(t)
		requireFenced(t, s, k, store.Fence{Owner: newOwner(t), Token: 1}, nil)
		requireFenced(t, s, k, store.Fence{}, nil)
	})
}

// Without Takeover, a claim over an expired lease marks the record
// indeterminate and returns it; the original holder can no longer complete.
func testLeaseExpiryWithoutTakeover(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	a := grant(t, s, request(t, key, newOwner(t), base)).Record

	// One second before the lease ends the holder is still presumed alive.
	early := claim(t, s, request(t, key, newOwner(t), base.Add(lease-time.Second)))
	assert.False(t, early.Granted)
	sameRecord(t, a, early.Record)

	// A lease that is not after Now has passed: here Now equals LeaseUntil.
	res := claim(t, s, request(t, key, newOwner(t), a.LeaseUntil))
	assert.False(t, res.Granted, "an expired lease was granted without Takeover")
	assert.False(t, res.TookOver)
	r := res.Record
	assert.Equal(t, store.StateIndeterminate, r.State)
	assert.Equal(t, a.Owner, r.Owner, "the record keeps its last holder")
	assert.Equal(t, a.Token, r.Token, "the record keeps its last token")
	assert.Equal(t, a.Fingerprint, r.Fingerprint)
	sameTime(t, "RetainUntil", a.RetainUntil, r.RetainUntil)
	sameTime(t, "UpdatedAt of the record the claim marked (its Now)", a.LeaseUntil, r.UpdatedAt)
	sameTime(t, "CreatedAt", a.CreatedAt, r.CreatedAt)
	sameRecord(t, r, get(t, s, key))

	err := s.Complete(ctx, key, fenceOf(a), []byte("too late"), base.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrFenced, "the holder completed a record made indeterminate")
	sameRecord(t, r, get(t, s, key))

	// Indeterminate stays indeterminate: not taken over, not granted to
	// its former holder.
	over := takeoverRequest(t, a, newOwner(t), a.LeaseUntil.Add(time.Minute))
	assert.False(t, claim(t, s, over).Granted)
	back := request(t, key, a.Owner, a.LeaseUntil.Add(time.Minute))
	res = claim(t, s, back)
	assert.False(t, res.Granted, "the former holder was granted an indeterminate record")
	assert.Equal(t, store.StateIndeterminate, res.Record.State)
}

// Renew moves the lease, so a claim between the old and the new lease end
// neither takes over nor marks the record indeterminate.
func testRenewExtendsLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	a := grant(t, s, request(t, key, newOwner(t), base)).Record
	renewed := base.Add(90 * time.Second)
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), renewed))

	r := get(t, s, key)
	sameTime(t, "LeaseUntil after Renew", renewed, r.LeaseUntil)
	assert.Equal(t, store.StateInProgress, r.State)
	assert.Equal(t, a.Token, r.Token, "Renew keeps the token")
	assert.Equal(t, a.Attempts, r.Attempts)

	for _, takeover := range []bool{true, false} {
		req := request(t, key, newOwner(t), base.Add(60*time.Second))
		req.Fingerprint = a.Fingerprint
		req.Takeover = takeover
		res := claim(t, s, req)
		assert.False(t, res.Granted, "a renewed lease was taken over (Takeover %v)", takeover)
		assert.Equal(t, store.StateInProgress, res.Record.State, "a renewed lease was marked (Takeover %v)", takeover)
		assert.Equal(t, a.Owner, res.Record.Owner)
	}

	// A second renewal by the holder works too.
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), renewed.Add(time.Minute)))
	res := grant(t, s, takeoverRequest(t, a, newOwner(t), renewed.Add(time.Minute)))
	assert.True(t, res.TookOver, "the renewed lease did not end where it was renewed to")
}

// A completed record is returned, result byte for byte, to every later claim
// until its retention passes, whatever the claim's owner or Takeover flag.
func testCompleteThenClaim(t *testing.T, s store.Store) {
	cases := []struct {
		name   string
		result []byte
	}{
		{"Empty", []byte{}},
		{"Nil", nil},
		{"Binary", []byte{0, 1, 0, 0xff, 0, 0x80, 0}},
		{"OneMiB", randomBytes(t, 1<<20)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			key := newKey(t)
			a := grant(t, s, request(t, key, newOwner(t), base)).Record
			buf := bytes.Clone(tc.result)
			retain := base.Add(48 * time.Hour)
			require.NoError(t, s.Complete(ctx, key, fenceOf(a), buf, retain))
			// The store keeps its own copy: the caller may reuse its buffer.
			for i := range buf {
				buf[i] ^= 0xff
			}

			for _, at := range []time.Duration{time.Minute, 47 * time.Hour} {
				for _, takeover := range []bool{false, true} {
					req := request(t, key, newOwner(t), base.Add(at))
					req.Fingerprint = a.Fingerprint
					req.Takeover = takeover
					res := claim(t, s, req)
					require.False(t, res.Granted, "a completed record was granted at +%v (takeover %v)", at, takeover)
					assert.False(t, res.TookOver)
					r := res.Record
					assert.Equal(t, store.StateCompleted, r.State)
					sameBytes(t, "Result", tc.result, r.Result)
					assert.Equal(t, a.Owner, r.Owner)
					assert.Equal(t, a.Token, r.Token)
					assert.Equal(t, a.Fingerprint, r.Fingerprint)
					sameTime(t, "RetainUntil", retain, r.RetainUntil)
				}
			}
			// Its own owner claiming again also replays.
			res := claim(t, s, request(t, key, a.Owner, base.Add(time.Hour)))
			assert.False(t, res.Granted)
			sameBytes(t, "Result", tc.result, res.Record.Result)

			got := get(t, s, key)
			assert.Equal(t, store.StateCompleted, got.State)
			sameBytes(t, "Result", tc.result, got.Result)
			sameTime(t, "RetainUntil", retain, got.RetainUntil)
			assert.Equal(t, a.Attempts, got.Attempts, "completing is not another attempt")
			sameTime(t, "CreatedAt", a.CreatedAt, got.CreatedAt)
			sameTime(t, "UpdatedAt after Complete (later writes carry no time)", a.UpdatedAt, got.UpdatedAt)
		})
	}
}

// Release frees the key: Get finds nothing, the releaser is fenced, and the
// next claim is granted with a larger token.
func testRelease(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	a := grant(t, s, request(t, key, newOwner(t), base)).Record
	require.NoError(t, s.Release(ctx, key, fenceOf(a)))
	requireAbsent(t, s, key)
	requireFenced(t, s, key, fenceOf(a), nil)

	res := grant(t, s, request(t, key, newOwner(t), base.Add(time.Second)))
	assert.False(t, res.TookOver)
	assert.Greater(t, res.Record.Token, a.Token, "a grant after Release has a larger token")
	sameRecord(t, res.Record, get(t, s, key))

	// The former holder claiming again is a new claimer, not a lost ack of
	// the released grant.
	back := claim(t, s, request(t, key, a.Owner, base.Add(2*time.Second)))
	assert.False(t, back.Granted)
	assert.Equal(t, res.Record.Owner, back.Record.Owner)
}

// An indeterminate record blocks every claim until its retention passes;
// then the key is granted afresh with a larger token.
func testMarkIndeterminate(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	a := grant(t, s, request(t, key, newOwner(t), base)).Record
	retain := base.Add(time.Hour)
	require.NoError(t, s.MarkIndeterminate(ctx, key, fenceOf(a), retain))

	r := get(t, s, key)
	assert.Equal(t, store.StateIndeterminate, r.State)
	assert.Equal(t, a.Owner, r.Owner)
	assert.Equal(t, a.Token, r.Token)
	sameTime(t, "RetainUntil", retain, r.RetainUntil)

	for _, at := range []time.Duration{time.Minute, 10 * time.Minute, time.Hour - time.Second} {
		for _, owner := range []store.Owner{newOwner(t), a.Owner} {
			req := request(t, key, owner, base.Add(at))
			req.Fingerprint = a.Fingerprint
			req.Takeover = true
			res := claim(t, s, req)
			assert.False(t, res.Granted, "an indeterminate record was granted at +%v", at)
			assert.Equal(t, store.StateIndeterminate, res.Record.State)
			sameTime(t, "RetainUntil", retain, res.Record.RetainUntil)
		}
	}

	req := request(t, key, newOwner(t), retain)
	res := grant(t, s, req)
	assert.Greater(t, res.Record.Token, a.Token, "a grant after retention has a larger token")
	assert.Equal(t, req.Fingerprint, res.Record.Fingerprint)
	assert.Empty(t, res.Record.Result)
}

// A record whose retention is not after Now is treated as absent by Claim,
// in every state, but Get still returns it until it is replaced.
func testRetentionExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	t.Run("Completed", func(t *testing.T) {
		key := newKey(t)
		a := grant(t, s, request(t, key, newOwner(t), base)).Record
		retain := base.Add(time.Hour)
		require.NoError(t, s.Complete(ctx, key, fenceOf(a), []byte("old result"), retain))

		res := claim(t, s, request(t, key, newOwner(t), retain.Add(-time.Second)))
		assert.False(t, res.Granted, "a completed record was replaced before its retention")
		assert.Equal(t, store.StateCompleted, res.Record.State)

		// Get ignores retention.
		assert.Equal(t, store.StateCompleted, get(t, s, key).State)

		req := request(t, key, newOwner(t), retain)
		res = grant(t, s, req)
		assert.False(t, res.TookOver, "replacing an expired record is not a lease takeover")
		assert.Greater(t, res.Record.Token, a.Token)
		want := store.Record{
			Key:         key,
			Namespace:   req.Namespace,
			Fingerprint: req.Fingerprint,
			State:       store.StateInProgress,
			Owner:       req.Owner,
			Token:       res.Record.Token,
			LeaseUntil:  req.LeaseUntil,
			RetainUntil: req.RetainUntil,
			Attempts:    res.Record.Attempts,
			CreatedAt:   req.Now, // the replacement is created by this claim
			UpdatedAt:   req.Now,
		}
		sameRecord(t, want, res.Record)
		assert.Positive(t, res.Record.Attempts)
		sameRecord(t, want, get(t, s, key))
		requireFenced(t, s, key, fenceOf(a), &want)
	})
	t.Run("InProgress", func(t *testing.T) {
		// An in-progress record past its retention is absent too: it is
		// replaced even without Takeover, not marked indeterminate.
		key := newKey(t)
		reqA := request(t, key, newOwner(t), base)
		reqA.RetainUntil = base.Add(time.Hour)
		a := grant(t, s, reqA).Record
		res := grant(t, s, request(t, key, newOwner(t), reqA.RetainUntil))
		assert.Greater(t, res.Record.Token, a.Token)
		assert.False(t, res.TookOver)
		requireFenced(t, s, key, fenceOf(a), &res.Record)
	})
}

// Every grant of a key carries a token larger than every token granted for
// that key before while the store kept its record: after a takeover, a
// Release, or the retention of an indeterminate or completed record. (After
// Delete or Sweep a store may start the key's tokens afresh; the suite
// checks there only that the former holders stay fenced, by their owner.)
func testTokensIncrease(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	var tokens []int64
	now := base

	r := grant(t, s, request(t, key, newOwner(t), now)).Record // first claim
	tokens = append(tokens, r.Token)

	now = r.LeaseUntil // takeover
	r = grant(t, s, takeoverRequest(t, r, newOwner(t), now)).Record
	tokens = append(tokens, r.Token)

	require.NoError(t, s.Release(ctx, key, fenceOf(r))) // release, claim
	now = now.Add(time.Second)
	r = grant(t, s, request(t, key, newOwner(t), now)).Record
	tokens = append(tokens, r.Token)

	now = now.Add(time.Second) // indeterminate, expire, claim
	require.NoError(t, s.MarkIndeterminate(ctx, key, fenceOf(r), now.Add(time.Hour)))
	now = now.Add(time.Hour)
	r = grant(t, s, request(t, key, newOwner(t), now)).Record
	tokens = append(tokens, r.Token)

	now = now.Add(time.Second) // complete, expire, claim
	require.NoError(t, s.Complete(ctx, key, fenceOf(r), []byte("x"), now.Add(time.Hour)))
	now = now.Add(time.Hour)
	r = grant(t, s, request(t, key, newOwner(t), now)).Record
	tokens = append(tokens, r.Token)

	now = r.LeaseUntil.Add(time.Minute) // another takeover
	r = grant(t, s, takeoverRequest(t, r, newOwner(t), now)).Record
	tokens = append(tokens, r.Token)

	for i := 1; i < len(tokens); i++ {
		assert.Greater(t, tokens[i], tokens[i-1], "grant %d's token after grant %d's (tokens %v)", i, i-1, tokens)
	}
}

// The fingerprint and namespace of the grant are stored and returned
// unchanged to every later claimer, whatever that claimer's own are: the
// runtime compares them.
func testFingerprint(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	reqA := request(t, key, newOwner(t), base)
	reqA.Namespace = "storetest/first"
	a := grant(t, s, reqA).Record
	assert.Equal(t, reqA.Fingerprint, a.Fingerprint)

	other := request(t, key, newOwner(t), base.Add(time.Second))
	other.Namespace = "storetest/second"
	require.NotEqual(t, reqA.Fingerprint, other.Fingerprint)
	res := claim(t, s, other)
	assert.False(t, res.Granted)
	assert.Equal(t, reqA.Fingerprint, res.Record.Fingerprint, "the holder's fingerprint, not the claimer's")
	assert.Equal(t, reqA.Namespace, res.Record.Namespace)

	require.NoError(t, s.Complete(ctx, key, fenceOf(a), []byte("r"), base.Add(time.Hour)))
	res = claim(t, s, other)
	assert.Equal(t, reqA.Fingerprint, res.Record.Fingerprint)
	assert.Equal(t, reqA.Namespace, res.Record.Namespace)
	assert.Equal(t, reqA.Fingerprint, get(t, s, key).Fingerprint)

	// And through MarkIndeterminate.
	k2 := newKey(t)
	reqC := request(t, k2, newOwner(t), base)
	c := grant(t, s, reqC).Record
	require.NoError(t, s.MarkIndeterminate(ctx, k2, fenceOf(c), base.Add(time.Hour)))
	res = claim(t, s, request(t, k2, newOwner(t), base.Add(time.Second)))
	assert.Equal(t, reqC.Fingerprint, res.Record.Fingerprint)
}

// A grant stores the claim's FingerprintParts; renewals, completion,
// indeterminate marks and same-owner retried claims keep them; a claim
// with another fingerprint gets the holder's back; a takeover writes its
// own; a claim without parts stores none.
func testFingerprintParts(t *testing.T, s store.Store) {
	ctx := context.Background()
	parts := func() []byte { return append([]byte{0x01}, randomBytes(t, 40)...) }
	requireParts := func(want []byte, got store.Record, when string) {
		t.Helper()
		if len(want) == 0 {
			assert.Empty(t, got.FingerprintParts, "FingerprintParts %s", when)
			return
		}
		sameBytes(t, "FingerprintParts "+when, want, got.FingerprintParts)
	}

	key := newKey(t)
	req := request(t, key, newOwner(t), base)
	req.FingerprintParts = parts()
	want := bytes.Clone(req.FingerprintParts)
	rec := grant(t, s, req).Record
	requireParts(want, rec, "of the grant")
	clear(req.FingerprintParts) // the caller's buffer is its own once Claim returned
	requireParts(want, get(t, s, key), "after the grant")

	retry := req
	retry.FingerprintParts = parts()
	retry.Now = base.Add(time.Second)
	retry.LeaseUntil = retry.Now.Add(lease)
	requireParts(want, grant(t, s, retry).Record, "of a same-owner retried claim")
	require.NoError(t, s.Renew(ctx, key, fenceOf(rec), base.Add(2*lease)))
	requireParts(want, get(t, s, key), "after Renew")

	other := request(t, key, newOwner(t), base.Add(2*time.Second))
	other.FingerprintParts = parts()
	res := claim(t, s, other)
	require.False(t, res.Granted)
	requireParts(want, res.Record, "returned to a claim with another fingerprint")

	require.NoError(t, s.Complete(ctx, key, fenceOf(rec), []byte("r"), base.Add(time.Hour)))
	requireParts(want, get(t, s, key), "after Complete")
	res = claim(t, s, other)
	requireParts(want, res.Record, "of the completed record returned to a claim")

	// Through MarkIndeterminate.
	k2 := newKey(t)
	reqI := request(t, k2, newOwner(t), base)
	reqI.FingerprintParts = parts()
	recI := grant(t, s, reqI).Record
	require.NoError(t, s.MarkIndeterminate(ctx, k2, fenceOf(recI), base.Add(time.Hour)))
	requireParts(reqI.FingerprintParts, get(t, s, k2), "after MarkIndeterminate")
	otherI := request(t, k2, newOwner(t), base.Add(time.Second))
	otherI.FingerprintParts = parts()
	requireParts(reqI.FingerprintParts, claim(t, s, otherI).Record, "of the indeterminate record returned to a claim")

	// A takeover writes the taker's parts.
	k3 := newKey(t)
	reqT := request(t, k3, newOwner(t), base)
	reqT.FingerprintParts = parts()
	recT := grant(t, s, reqT).Record
	take := takeoverRequest(t, recT, newOwner(t), base.Add(lease+time.Second))
	take.FingerprintParts = parts()
	took := grant(t, s, take)
	require.True(t, took.TookOver)
	requireParts(take.FingerprintParts, took.Record, "of a takeover")
	requireParts(take.FingerprintParts, get(t, s, k3), "after a takeover")

	// A claim without parts stores none, also over an expired record that
	// had some.
	k4 := newKey(t)
	rec4 := grant(t, s, request(t, k4, newOwner(t), base)).Record
	requireParts(nil, rec4, "of a grant without parts")
	requireParts(nil, get(t, s, k4), "after a grant without parts")
	k5 := newKey(t)
	req5 := request(t, k5, newOwner(t), base)
	req5.FingerprintParts = parts()
	rec5 := grant(t, s, req5).Record
	require.NoError(t, s.Complete(ctx, k5, fenceOf(rec5), []byte("r"), base.Add(time.Minute)))
	again := grant(t, s, request(t, k5, newOwner(t), base.Add(time.Hour)))
	requireParts(nil, again.Record, "of a grant without parts over an expired record")
	requireParts(nil, get(t, s, k5), "after a grant without parts over an expired record")
}

// Get reports ErrNotFound for an absent key and the record in any state;
// Delete removes a record in any state and is a no-op on an absent key.
func testGetAndDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	requireAbsent(t, s, key)
	require.NoError(t, s.Delete(ctx, key), "Delete of an absent key")
	require.NoError(t, s.Delete(ctx, key), "Delete of an absent key, twice")
	requireAbsent(t, s, key)

	// In progress.
	a := grant(t, s, request(t, key, newOwner(t), base)).Record
	sameRecord(t, a, get(t, s, key))
	require.NoError(t, s.Delete(ctx, key))
	requireAbsent(t, s, key)
	requireFenced(t, s, key, fenceOf(a), nil)

	// Completed.
	b := grant(t, s, request(t, key, newOwner(t), base.Add(time.Second))).Record
	require.NoError(t, s.Complete(ctx, key, fenceOf(b), []byte("b"), base.Add(time.Hour)))
	got := get(t, s, key)
	assert.Equal(t, store.StateCompleted, got.State)
	sameBytes(t, "Result", []byte("b"), got.Result)
	require.NoError(t, s.Delete(ctx, key))
	requireAbsent(t, s, key)

	// Indeterminate.
	c := grant(t, s, request(t, key, newOwner(t), base.Add(2*time.Second))).Record
	require.NoError(t, s.MarkIndeterminate(ctx, key, fenceOf(c), base.Add(time.Hour)))
	assert.Equal(t, store.StateIndeterminate, get(t, s, key).State)
	require.NoError(t, s.Delete(ctx, key))
	requireAbsent(t, s, key)

	// The key is free again. Its tokens may have started afresh, but
	// every former holder is still fenced by its owner.
	d := grant(t, s, request(t, key, newOwner(t), base.Add(3*time.Second))).Record
	for _, old := range []store.Record{a, b, c} {
		requireFenced(t, s, key, fenceOf(old), &d)
		requireFenced(t, s, key, store.Fence{Owner: old.Owner, Token: d.Token}, &d)
	}
	require.NoError(t, s.Delete(ctx, key))
	require.NoError(t, s.Delete(ctx, key))
	requireAbsent(t, s, key)
}

// Sweep deletes exactly the completed and indeterminate records whose
// retention is not after now, never an in-progress one, and reports how
// many it deleted.
func testSweep(t *testing.T, s store.Store) {
	sw, ok := s.(store.Sweeper)
	if !ok {
		testenv.NotApplicable(t, fmt.Sprintf("%T does not implement store.Sweeper", s))
	}
	ctx := context.Background()
	now := sweepBase.Add(3 * time.Hour)

	type entry struct {
		key    store.Key
		retain time.Time
		rec    store.Record
	}
	make1 := func(state store.State, retain time.Time) *entry {
		key := newKey(t)
		req := request(t, key, newOwner(t), sweepBase)
		req.RetainUntil = retain
		r := grant(t, s, req).Record
		switch state {
		case store.StateCompleted:
			require.NoError(t, s.Complete(ctx, key, fenceOf(r), []byte("done"), retain))
		case store.StateIndeterminate:
			require.NoError(t, s.MarkIndeterminate(ctx, key, fenceOf(r), retain))
		}
		return &entry{key: key, retain: retain, rec: get(t, s, key)}
	}
	due := []*entry{
		make1(store.StateCompleted, sweepBase.Add(time.Hour)),
		make1(store.StateCompleted, sweepBase.Add(2*time.Hour)),
		make1(store.StateIndeterminate, now), // not after now: due
	}
	kept := []*entry{
		make1(store.StateCompleted, now.Add(time.Second)),
		make1(store.StateInProgress, sweepBase.Add(time.Hour)), // never swept: its holder may be alive
		make1(store.StateIndeterminate, sweepBase.Add(4*time.Hour)),
	}
	// A released key is no record: Sweep must not count it.
	rel := make1(store.StateInProgress, sweepBase.Add(time.Hour))
	require.NoError(t, s.Release(ctx, rel.key, fenceOf(rel.rec)))

	n, err := sw.Sweep(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, len(due), n, "Sweep's count")
	for _, e := range due {
		requireAbsent(t, s, e.key)
	}
	for _, e := range kept {
		sameRecord(t, e.rec, get(t, s, e.key))
	}
	requireAbsent(t, s, rel.key)

	n, err = sw.Sweep(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "a second Sweep at the same time deletes nothing")

	n, err = sw.Sweep(ctx, sweepBase.Add(4*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "a later Sweep deletes the records that fell due since")
	requireAbsent(t, s, kept[0].key)
	requireAbsent(t, s, kept[2].key)
	sameRecord(t, kept[1].rec, get(t, s, kept[1].key))

	// A swept key can be claimed afresh, and its former holder, whatever
	// token the new grant has, is fenced by its owner.
	fresh := grant(t, s, request(t, due[0].key, newOwner(t), now)).Record
	requireFenced(t, s, due[0].key, fenceOf(due[0].rec), &fresh)
	requireFenced(t, s, due[0].key, store.Fence{Owner: due[0].rec.Owner, Token: fresh.Token}, &fresh)
}

// Every operation given an already canceled context fails with an error
// matching context.Canceled and has no effect.
func testCanceledContext(t *testing.T, s store.Store) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	key := newKey(t)
	_, err := s.Claim(canceled, request(t, key, newOwner(t), base))
	require.ErrorIs(t, err, context.Canceled, "Claim with a canceled context")
	requireAbsent(t, s, key)

	a := grant(t, s, request(t, key, newOwner(t), base)).Record
	for _, w := range writes(s, key, fenceOf(a)) {
		require.ErrorIs(t, w.do(canceled), context.Canceled, "%s with a canceled context", w.name)
		sameRecord(t, a, get(t, s, key))
	}
	_, err = s.Get(canceled, key)
	require.ErrorIs(t, err, context.Canceled, "Get with a canceled context")
	require.ErrorIs(t, s.Delete(canceled, key), context.Canceled, "Delete with a canceled context")
	sameRecord(t, a, get(t, s, key))
	if sw, ok := s.(store.Sweeper); ok {
		_, err := sw.Sweep(canceled, base.Add(1000*time.Hour))
		require.ErrorIs(t, err, context.Canceled, "Sweep with a canceled context")
		sameRecord(t, a, get(t, s, key))
	}
}

// Renew shifts the retention with the lease (store.ShiftRetention): a lease
// moved forward by d moves the retention by d, and at least to the new
// lease, so a holder that keeps renewing never sees its record expire, be
// replaced or be swept, whatever retention it was granted with; a renewal
// to an earlier lease leaves the retention where it is.
func testRenewRaisesRetention(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := newKey(t)
	req := request(t, key, newOwner(t), base)
	req.RetainUntil = base.Add(time.Minute) // shorter than the holder will run
	a := grant(t, s, req).Record            // lease base+30s: a gap of 30s

	within := base.Add(45 * time.Second)
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), within))
	r := get(t, s, key)
	sameTime(t, "RetainUntil after a renewal by 15s", base.Add(75*time.Second), r.RetainUntil)

	renewed := base.Add(10 * time.Minute)
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), renewed))
	r = get(t, s, key)
	sameTime(t, "LeaseUntil after Renew", renewed, r.LeaseUntil)
	sameTime(t, "RetainUntil after Renew (the 30s gap kept)", renewed.Add(30*time.Second), r.RetainUntil)

	// A renewal to an earlier lease never moves the retention back.
	earlier := base.Add(5 * time.Minute)
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), earlier))
	r = get(t, s, key)
	sameTime(t, "LeaseUntil after Renew to an earlier lease", earlier, r.LeaseUntil)
	sameTime(t, "RetainUntil after Renew to an earlier lease", renewed.Add(30*time.Second), r.RetainUntil)
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), renewed))
	r = get(t, s, key)
	sameTime(t, "RetainUntil after Renew back (shifted by 5m from the earlier lease)", renewed.Add(5*time.Minute+30*time.Second), r.RetainUntil)

	// Past the granted retention, inside the renewed lease: the record is
	// the holder's, for every claimer.
	for _, takeover := range []bool{false, true} {
		other := request(t, key, newOwner(t), base.Add(5*time.Minute))
		other.Fingerprint = a.Fingerprint
		other.Takeover = takeover
		res := claim(t, s, other)
		assert.False(t, res.Granted, "a renewing holder's record was granted to another owner after its first retention (takeover %v)", takeover)
		assert.Equal(t, a.Owner, res.Record.Owner)
		assert.Equal(t, store.StateInProgress, res.Record.State)
	}
	if sw, ok := s.(store.Sweeper); ok {
		_, err := sw.Sweep(ctx, base.Add(5*time.Minute))
		require.NoError(t, err)
	}
	require.NoError(t, s.Complete(ctx, key, fenceOf(a), []byte("ran once"), base.Add(time.Hour)),
		"the renewing holder lost its record")

	// A grant whose retention is not after its lease has no gap to keep:
	// Renew raises the retention to the new lease.
	key = newKey(t)
	req = request(t, key, newOwner(t), base)
	req.RetainUntil = base.Add(10 * time.Second) // before the lease
	a = grant(t, s, req).Record
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), base.Add(time.Minute)))
	sameTime(t, "RetainUntil after Renew of a grant retained less than its lease", base.Add(time.Minute), get(t, s, key).RetainUntil)
}

// Renew computes store.ShiftRetention exactly, to the nanosecond, across
// the whole time range: the zero time, the ends of the range, gaps longer
// than time.Duration holds, and renewals to an earlier lease.
func testRenewShiftsExactly(t *testing.T, s store.Store) {
	ctx := context.Background()
	edges := []time.Time{{}, store.MinTime, store.MinTime.Add(1), time.Unix(-1e9, 5), time.Unix(0, 0),
		base, base.Add(1), base.Add(time.Hour + 999999999), store.MaxTime.Add(-1), store.MaxTime}
	r := rand.New(rand.NewPCG(13, 13))
	for range 60 {
		lease, retain, next := edges[r.IntN(len(edges))], edges[r.IntN(len(edges))], edges[r.IntN(len(edges))]
		if r.IntN(3) == 0 { // near base, as in real use
			lease = base.Add(time.Duration(r.Int64N(1e13)))
			retain = lease.Add(time.Duration(r.Int64N(1e13) - 1e12))
			next = lease.Add(time.Duration(r.Int64N(1e13) - 1e12))
		}
		// A record whose lease and retention both end within a minute of
		// Now may be expired by a store's native expiry (Redis sets a TTL
		// of the time left by the caller's Now, here fixed while real time
		// runs on): the shift's arithmetic is checked on the rest.
		soon := store.MinTime.Add(time.Minute)
		if !lease.After(soon) && !retain.After(soon) {
			continue
		}
		key := newKey(t)
		req := request(t, key, newOwner(t), store.MinTime) // the backend keeps the record
		req.LeaseUntil, req.RetainUntil = lease, retain
		a := grant(t, s, req).Record
		require.NoError(t, s.Renew(ctx, key, fenceOf(a), next))
		got := get(t, s, key)
		sameTime(t, fmt.Sprintf("LeaseUntil after Renew of lease %v, retention %v to %v", lease, retain, next), next, got.LeaseUntil)
		sameTime(t, fmt.Sprintf("RetainUntil after Renew of lease %v, retention %v to %v", lease, retain, next),
			store.ShiftRetention(a, next), got.RetainUntil)
	}
}

// A holder that runs past its retention, renewing, and then dies leaves its
// key blocked for the gap between lease and retention its grant set, after
// its last lease: a claim without Takeover in that time marks the record
// indeterminate (no second grant: the effect may have happened), one with
// Takeover takes it over; only after the shifted retention does the key
// expire and a claim get a fresh grant.
func testDeadHolderStaysBlocked(t *testing.T, s store.Store) {
	ctx := context.Background()
	// hold grants a key with RetainUntil = LeaseUntil + 1h, as the runtime
	// does with a TTL of 1h, and renews it four times, every 30 minutes,
	// far past its original retention; it returns the record once renewed.
	hold := func(t *testing.T) store.Record {
		t.Helper()
		key := newKey(t)
		req := request(t, key, newOwner(t), base)
		req.RetainUntil = req.LeaseUntil.Add(time.Hour)
		a := grant(t, s, req).Record
		for i := 1; i <= 4; i++ {
			renewed := a.LeaseUntil.Add(30 * time.Minute)
			require.NoError(t, s.Renew(ctx, key, fenceOf(a), renewed))
			r := get(t, s, key)
			sameTime(t, "LeaseUntil after Renew", renewed, r.LeaseUntil)
			sameTime(t, "RetainUntil after Renew (the lease plus the 1h gap)", renewed.Add(time.Hour), r.RetainUntil)
			assert.Equal(t, store.StateInProgress, r.State)
			a.LeaseUntil, a.RetainUntil = renewed, renewed.Add(time.Hour)
		}
		require.True(t, a.LeaseUntil.After(req.RetainUntil), "the holder did not renew past its original retention")
		sameRecord(t, a, get(t, s, key))
		return a
	}

	t.Run("WithoutTakeover", func(t *testing.T) {
		a := hold(t)
		// The holder died: its lease passed, past its original retention.
		dead := a.LeaseUntil.Add(time.Second)
		if sw, ok := s.(store.Sweeper); ok {
			_, err := sw.Sweep(ctx, dead)
			require.NoError(t, err)
		}
		req := request(t, a.Key, newOwner(t), dead)
		req.Fingerprint = a.Fingerprint
		res := claim(t, s, req)
		assert.False(t, res.Granted, "a dead holder's renewed key was granted again within the TTL after its last lease: the effect may run twice")
		assert.Equal(t, store.StateIndeterminate, res.Record.State, "a dead holder's key is indeterminate")
		assert.Equal(t, a.Owner, res.Record.Owner)
		assert.Equal(t, a.Token, res.Record.Token)
		sameTime(t, "RetainUntil of the marked record", a.RetainUntil, res.Record.RetainUntil)
		sameRecord(t, res.Record, get(t, s, a.Key))

		// Still blocked just before the shifted retention, for anyone.
		last := a.RetainUntil.Add(-time.Second)
		again := takeoverRequest(t, a, newOwner(t), last)
		res = claim(t, s, again)
		assert.False(t, res.Granted, "an indeterminate key was granted before its retention")
		assert.Equal(t, store.StateIndeterminate, res.Record.State)

		// Expired once the shifted retention passes: a fresh grant.
		fresh := grant(t, s, request(t, a.Key, newOwner(t), a.RetainUntil))
		assert.False(t, fresh.TookOver)
		assert.Equal(t, 1, fresh.Record.Attempts)
	})
	t.Run("Takeover", func(t *testing.T) {
		a := hold(t)
		res := grant(t, s, takeoverRequest(t, a, newOwner(t), a.LeaseUntil.Add(time.Second)))
		assert.True(t, res.TookOver, "a dead holder's renewed key was granted afresh instead of taken over")
		assert.Greater(t, res.Record.Token, a.Token)
		assert.Equal(t, 2, res.Record.Attempts)
		requireFenced(t, s, a.Key, fenceOf(a), &res.Record)
	})
}

// A same-owner retried claim (its first answer was lost) never shortens
// the lease: a retry asking for an earlier lease than the record has gets
// the record unchanged; one asking for a later lease moves it, and shifts
// the retention with it as Renew does.
func testRetriedClaimNeverShortensLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	key, owner := newKey(t), newOwner(t)
	req := request(t, key, owner, base)
	req.RetainUntil = base.Add(20 * time.Minute)
	a := grant(t, s, req).Record
	renewed := base.Add(10 * time.Minute)
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), renewed))
	held := get(t, s, key)

	retry := req
	retry.Now = base.Add(time.Second)
	retry.LeaseUntil = retry.Now.Add(lease) // before the renewed lease
	res := grant(t, s, retry)
	assert.Equal(t, a.Token, res.Record.Token)
	sameTime(t, "LeaseUntil of a retried claim asking for less", renewed, res.Record.LeaseUntil)
	sameRecord(t, held, res.Record)
	sameRecord(t, held, get(t, s, key))

	// Another owner is still kept out until the renewed lease ends.
	other := takeoverRequest(t, a, newOwner(t), renewed.Add(-time.Second))
	assert.False(t, claim(t, s, other).Granted, "the lease was shortened by a retried claim")

	later := req
	later.Now = base.Add(2 * time.Minute)
	later.LeaseUntil = base.Add(30 * time.Minute) // past the retention
	res = grant(t, s, later)
	assert.Equal(t, a.Token, res.Record.Token)
	sameTime(t, "LeaseUntil of a retried claim asking for more", later.LeaseUntil, res.Record.LeaseUntil)
	sameTime(t, "UpdatedAt of a retried claim that moved the lease", later.Now, res.Record.UpdatedAt)
	// The grant's gap (20m - 30s) kept: the renewal and the retry moved
	// the retention as far as the lease.
	sameTime(t, "RetainUntil of a retried claim that moved the lease", later.LeaseUntil.Add(20*time.Minute-lease), res.Record.RetainUntil)
	sameRecord(t, res.Record, get(t, s, key))
}

// A takeover keeps the record's CreatedAt, through several takeovers, and
// sets UpdatedAt to its own Now.
func testTakeoverKeepsCreatedAt(t *testing.T, s store.Store) {
	key := newKey(t)
	a := grant(t, s, request(t, key, newOwner(t), base)).Record
	r := a
	for i := range 3 {
		now := r.LeaseUntil.Add(time.Duration(i+1) * time.Second)
		res := grant(t, s, takeoverRequest(t, r, newOwner(t), now))
		require.True(t, res.TookOver)
		sameTime(t, "CreatedAt after a takeover (the first claim's Now)", a.CreatedAt, res.Record.CreatedAt)
		sameTime(t, "UpdatedAt after a takeover (its Now)", now, res.Record.UpdatedAt)
		sameRecord(t, res.Record, get(t, s, key))
		r = res.Record
	}
}

// Sweep never deletes an in-progress record, whatever its times: its
// holder may be alive under a clock behind the sweeper's. The holder can
// still complete it; Delete removes it; once the claimer's clock passes its
// retention the next claim replaces it.
func testSweepKeepsInProgress(t *testing.T, s store.Store) {
	sw, ok := s.(store.Sweeper)
	if !ok {
		testenv.NotApplicable(t, fmt.Sprintf("%T does not implement store.Sweeper", s))
	}
	ctx := context.Background()
	// At sweepBase, like testSweep, so that in a backend shared between
	// subtests the sweep reaches no other subtest's records.
	held := make([]store.Record, 3)
	for i := range held {
		req := request(t, newKey(t), newOwner(t), sweepBase)
		req.RetainUntil = sweepBase.Add(time.Minute)
		held[i] = grant(t, s, req).Record
	}
	n, err := sw.Sweep(ctx, sweepBase.Add(4*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 0, n, "Sweep deleted in-progress records")
	for _, r := range held {
		sameRecord(t, r, get(t, s, r.Key))
	}
	require.NoError(t, s.Complete(ctx, held[0].Key, fenceOf(held[0]), []byte("done"), base.Add(time.Hour)))
	require.NoError(t, s.Delete(ctx, held[1].Key))
	requireAbsent(t, s, held[1].Key)
	res := grant(t, s, request(t, held[2].Key, newOwner(t), held[2].RetainUntil))
	assert.NotEqual(t, held[2].Owner, res.Record.Owner)
	requireFenced(t, s, held[2].Key, fenceOf(held[2]), &res.Record)
}

// Every store applies one rule to times (store.CheckTime): the zero time
// and times from store.MinTime to store.MaxTime are kept exactly; any other
// is refused with store.ErrTimeRange before anything is written.
func testTimeRange(t *testing.T, s store.Store) {
	ctx := context.Background()
	outside := []time.Time{
		store.MaxTime.Add(time.Nanosecond),
		store.MinTime.Add(-time.Nanosecond),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, bad := range outside {
		for field, set := range map[string]func(*store.ClaimRequest){
			"Now":         func(r *store.ClaimRequest) { r.Now = bad },
			"LeaseUntil":  func(r *store.ClaimRequest) { r.LeaseUntil = bad },
			"RetainUntil": func(r *store.ClaimRequest) { r.RetainUntil = bad },
		} {
			key := newKey(t)
			req := request(t, key, newOwner(t), base)
			set(&req)
			_, err := s.Claim(ctx, req)
			require.ErrorIs(t, err, store.ErrTimeRange, "Claim with %s %v", field, bad)
			requireAbsent(t, s, key)
		}
		key := newKey(t)
		a := grant(t, s, request(t, key, newOwner(t), base)).Record
		require.ErrorIs(t, s.Complete(ctx, key, fenceOf(a), []byte("x"), bad), store.ErrTimeRange, "Complete until %v", bad)
		require.ErrorIs(t, s.MarkIndeterminate(ctx, key, fenceOf(a), bad), store.ErrTimeRange, "MarkIndeterminate until %v", bad)
		require.ErrorIs(t, s.Renew(ctx, key, fenceOf(a), bad), store.ErrTimeRange, "Renew until %v", bad)
		sameRecord(t, a, get(t, s, key))
		if sw, ok := s.(store.Sweeper); ok {
			_, err := sw.Sweep(ctx, bad)
			require.ErrorIs(t, err, store.ErrTimeRange, "Sweep at %v", bad)
			sameRecord(t, a, get(t, s, key))
		}
	}

	// The ends of the range are kept exactly.
	key := newKey(t)
	req := request(t, key, newOwner(t), base)
	req.RetainUntil = store.MaxTime
	a := grant(t, s, req).Record
	sameTime(t, "RetainUntil at MaxTime", store.MaxTime, a.RetainUntil)
	sameRecord(t, a, get(t, s, key))
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), store.MaxTime))
	sameTime(t, "LeaseUntil at MaxTime", store.MaxTime, get(t, s, key).LeaseUntil)
	sameTime(t, "RetainUntil after Renew to MaxTime", store.MaxTime, get(t, s, key).RetainUntil)
	require.NoError(t, s.Complete(ctx, key, fenceOf(a), []byte("x"), store.MaxTime))
	sameTime(t, "RetainUntil at MaxTime", store.MaxTime, get(t, s, key).RetainUntil)

	// Renew shifts the retention exactly, whatever the times, and caps it
	// at MaxTime.
	key = newKey(t)
	req = request(t, key, newOwner(t), base)
	req.RetainUntil = store.MaxTime.Add(-time.Second)
	a = grant(t, s, req).Record
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), base.Add(time.Minute)))
	sameTime(t, "RetainUntil shifted past MaxTime", store.MaxTime, get(t, s, key).RetainUntil)

	key = newKey(t)
	req = request(t, key, newOwner(t), store.MinTime)
	req.RetainUntil = req.LeaseUntil.Add(time.Hour)
	a = grant(t, s, req).Record
	for _, c := range []struct{ lease, retain time.Time }{
		{store.MaxTime.Add(-2 * time.Hour), store.MaxTime.Add(-time.Hour)}, // moved by more than 292 years
		{store.MaxTime.Add(-time.Hour), store.MaxTime},
		{store.MaxTime, store.MaxTime},
	} {
		require.NoError(t, s.Renew(ctx, key, fenceOf(a), c.lease))
		r := get(t, s, key)
		sameTime(t, "LeaseUntil after Renew", c.lease, r.LeaseUntil)
		sameTime(t, "RetainUntil after Renew to "+c.lease.String(), c.retain, r.RetainUntil)
	}
	key = newKey(t)
	req = request(t, key, newOwner(t), store.MinTime)
	req.RetainUntil = store.MaxTime.Add(-time.Hour) // a gap of more than 292 years
	a = grant(t, s, req).Record
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), store.MinTime.Add(time.Hour)))
	sameTime(t, "RetainUntil after Renew of a grant retained for 584 years", store.MaxTime.Add(-lease), get(t, s, key).RetainUntil)
	require.NoError(t, s.Renew(ctx, key, fenceOf(a), store.MinTime.Add(2*time.Hour)))
	sameTime(t, "RetainUntil shifted past MaxTime", store.MaxTime, get(t, s, key).RetainUntil)

	key = newKey(t)
	req = request(t, key, newOwner(t), store.MinTime)
	res := grant(t, s, req)
	sameTime(t, "Now at MinTime", store.MinTime, res.Record.CreatedAt)
	sameRecord(t, res.Record, get(t, s, key))
}
