package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/memstore"
)

// countingSweeper reports every Sweep on a channel.
type countingSweeper struct {
	Store
	swept chan time.Time
}

func (s *countingSweeper) Sweep(_ context.Context, now time.Time) (int, error) {
	s.swept <- now
	return 0, nil
}

func TestMaybeSweepRunsOncePerInterval(t *testing.T) {
	s := &countingSweeper{Store: memstore.New(), swept: make(chan time.Time, 10)}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	maybeSweep(s, base)
	require.Equal(t, base, <-s.swept, "the first use sweeps")
	waitIdle(t, s)

	maybeSweep(s, base.Add(SweepInterval-time.Nanosecond))
	maybeSweep(s, base.Add(SweepInterval/2))
	waitIdle(t, s)
	require.Empty(t, s.swept, "no sweep within the interval")

	maybeSweep(s, base.Add(SweepInterval))
	require.Equal(t, base.Add(SweepInterval), <-s.swept)

	maybeSweep(memstore.New(), base) // another store has its own schedule
	maybeSweep(nonSweeper{}, base)   // a store without Sweep is left alone
}

type nonSweeper struct{ Store }

// waitIdle waits until no background sweep of s is running.
func waitIdle(t *testing.T, s Store) {
	v, ok := sweeps.Load(s)
	require.True(t, ok)
	st := v.(*sweepState)
	for st.running.Load() {
		time.Sleep(time.Millisecond)
	}
}
