package runtime_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

// TestAHolderThatDiesPastItsTTLLeavesItsKeyBlocked: a call that runs far
// longer than its TTL, renewing, and then stops answering (its renewals
// fail, its function never returns: a dead process) must not free its key
// once its lease passes. Its record is retained a TTL past its last lease,
// so the next caller finds it: under none the key is indeterminate and the
// function does not run again; under api the caller takes over and runs it
// once with the same key.
func TestAHolderThatDiesPastItsTTLLeavesItsKeyBlocked(t *testing.T) {
	for _, effect := range []runtime.Effect{runtime.EffectNone, runtime.EffectAPI} {
		t.Run(effect.String(), func(t *testing.T) {
			clock := fakeclock.New(t0)
			s := memstore.New()
			fs := newFaultStore(s)
			spec := newSpec(t, effect, 0)
			spec.TTL, spec.Lease = time.Second, 30*time.Second
			dead := make(chan struct{})
			defer close(dead)
			var runs atomic.Int64
			started := make(chan struct{})
			go func() {
				ctx := runtime.WithClock(runtime.WithStore(context.Background(), fs), clock)
				_, _ = do(ctx, spec, "k", "fp", func(context.Context) (int, error) {
					runs.Add(1)
					close(started)
					<-dead // never returns while the test runs: a dead process
					return 1, nil
				})
			}()
			<-started
			blockUntil(t, clock, 1, "the timers the call waits on never came") // granted; the first beat waits
			for range 6 {                                                      // two leases, 60 TTLs, renewed all along
				clock.Advance(10 * time.Second)
				blockUntil(t, clock, 2, "the timers the call waits on never came")
			}
			// The holder dies: nothing it sends reaches the store any more.
			for _, op := range []string{opRenew, opComplete, opRelease, opMark} {
				fs.fail(op, fault{n: -1})
			}
			rec, err := s.Get(context.Background(), keyOf(t, spec, "k"))
			require.NoError(t, err)
			require.Equal(t, rec.LeaseUntil.Add(spec.TTL), rec.RetainUntil, "renewals keep the retention a TTL past the lease")
			// Past its last lease (and the clock-skew tolerance in it),
			// within the TTL that follows it.
			clock.Advance(rec.LeaseUntil.Sub(clock.Now()) + spec.TTL/2)

			ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
			var again atomic.Int64
			_, err = do(ctx, spec, "k", "fp", func(context.Context) (int, error) {
				again.Add(1)
				return 2, nil
			})
			switch effect {
			case runtime.EffectNone:
				require.ErrorIs(t, err, runtime.ErrIndeterminate)
				require.Zero(t, again.Load(), "the function ran a second time after its holder died")
				rec, err := s.Get(context.Background(), keyOf(t, spec, "k"))
				require.NoError(t, err)
				require.Equal(t, store.StateIndeterminate, rec.State)
				require.True(t, rec.RetainUntil.After(clock.Now()), "the indeterminate key stays blocked")
			case runtime.EffectAPI:
				require.NoError(t, err)
				require.EqualValues(t, 1, again.Load(), "taken over and run once with the same key")
			}
			require.EqualValues(t, 1, runs.Load())
		})
	}
}
