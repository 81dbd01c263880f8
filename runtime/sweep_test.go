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

	// Within the interval no sweep starts: maybeSweep decides before it
	// returns, so the channel stays empty.
	maybeSweep(s, base.Add(SweepInterval-time.Nanosecond))
	maybeSweep(s, base.Add(SweepInterval/2))
	v, _ := sweeps.Load(Store(s))
	require.Equal(t, base.UnixNano(), v.(*sweepState).last.Load(), "no sweep within the interval")

	maybeSweep(s, base.Add(SweepInterval))
	require.Equal(t, base.Add(SweepInterval), <-s.swept)

	maybeSweep(memstore.New(), base) // another store has its own schedule
	maybeSweep(nonSweeper{}, base)   // a store without Sweep is left alone
}

type nonSweeper struct{ Store }

func TestSweepStatesStayBounded(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 3 * maxSweepStates {
		maybeSweep(nonSweeper{}, base) // not tracked: no Sweep method
		s := &countingSweeper{Store: memstore.New(), swept: make(chan time.Time, 1)}
		maybeSweep(s, base)
		<-s.swept
	}
	n := 0
	sweeps.Range(func(any, any) bool { n++; return true })
	require.LessOrEqual(t, n, maxSweepStates)
}
