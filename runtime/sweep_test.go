package runtime

import (
	"context"
	"reflect"
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

// valueStore is a store whose value is not comparable: using it as a map
// key would panic.
type valueStore struct {
	*memstore.Store
	tags  []string
	swept chan time.Time
}

func (s valueStore) Sweep(_ context.Context, now time.Time) (int, error) {
	s.swept <- now
	return 0, nil
}

func TestMaybeSweepAcceptsStoresThatAreNotComparable(t *testing.T) {
	base := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	// Stores of a non-comparable type share one schedule per type: start
	// afresh on every run.
	sweeps.Delete(reflect.TypeOf(valueStore{}))
	sweeps.Delete(sweepKey(sweepHolder{Store: valueStore{}}))
	s := valueStore{Store: memstore.New(), tags: []string{"a"}, swept: make(chan time.Time, 4)}
	require.NotPanics(t, func() { maybeSweep(s, base) })
	require.Equal(t, base, <-s.swept)
	require.NotPanics(t, func() { maybeSweep(s, base.Add(time.Second)) })
	require.NotPanics(t, func() { maybeSweep(s, base.Add(SweepInterval)) })
	require.Equal(t, base.Add(SweepInterval), <-s.swept, "the store keeps its schedule")
	require.Len(t, s.swept, 0, "no sweep within the interval")

	nested := sweepHolder{Store: valueStore{Store: memstore.New(), swept: make(chan time.Time, 1)}}
	require.NotPanics(t, func() { maybeSweep(nested, base) })
	require.Equal(t, base, <-nested.Store.(valueStore).swept)
}

// sweepHolder's type is comparable, but its value holds a store that is
// not.
type sweepHolder struct{ Store }

func (s sweepHolder) Sweep(ctx context.Context, now time.Time) (int, error) {
	return s.Store.(valueStore).Sweep(ctx, now)
}
