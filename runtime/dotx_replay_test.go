package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/runtime"
)

// Issue 7: a db-effect retry that finds another caller's committed record
// replays it and is not counted as executed; only a retry that finds the
// record its own lost commit wrote is.
func TestDBEffectRetryFindingAnotherCallersRecordIsAReplay(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			spec := dbSpec(t, 2)
			spec.Retry.Delay, spec.Retry.MaxDelay = time.Second, time.Second // waits on the fake clock
			clock := fakeclock.New(t0)
			first := make(chan error, 1)
			go func() {
				_, err := l.insert(runtime.WithClock(context.Background(), clock), spec, "evt-1", 10, func(n int64) error {
					if n == 1 {
						return runtime.NotApplied(errors.New("connection lost before commit"))
					}
					return nil
				})
				first <- err
			}()
			blockUntil(t, clock, 1, "the timers the call waits on never came") // the first caller rolled back and waits to retry
			got, err := l.insert(runtime.WithClock(context.Background(), clock), spec, "evt-1", 10, nil)
			require.NoError(t, err, "another caller commits the key meanwhile")
			require.EqualValues(t, 1, got)
			clock.Advance(spec.Retry.MaxDelay)
			require.NoError(t, <-first)
			st := runtime.StatsFor(spec.Namespace)
			require.EqualValues(t, 1, st.Executed, "only the caller that committed executed")
			require.EqualValues(t, 1, st.Replayed)
			require.EqualValues(t, 2, l.execs())
			require.Equal(t, 1, l.rows(t, "evt-1"))
		})
	}
}
