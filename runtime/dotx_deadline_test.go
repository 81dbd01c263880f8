package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A caller that waits for the key's row while another caller's
// transaction holds it returns when its deadline passes, with the
// context's error, on every database and driver: the wait is the
// database's lock, which the driver gives up when the context ends. The
// holder is unaffected and writes once.
func TestDBEffectWaiterHonoursItsDeadline(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			spec := dbSpec(t, 0)
			holding, release := make(chan struct{}), make(chan struct{})
			held := make(chan error, 1)
			go func() {
				_, err := l.insert(context.Background(), spec, "evt-1", 10, func(int64) error {
					close(holding)
					<-release
					return nil
				})
				held <- err
			}()
			<-holding
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := l.insert(ctx, spec, "evt-1", 10, nil)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			// Seconds of slack for a loaded machine, but not a driver's
			// busy timeout (mattn/go-sqlite3 blocks 5 s by default).
			require.Less(t, time.Since(start), 3*time.Second, "the waiter returned long after its deadline")
			close(release)
			require.NoError(t, <-held)
			require.EqualValues(t, 1, l.execs(), "the waiter never ran")
			require.Equal(t, 1, l.rows(t, "evt-1"))
		})
	}
}
