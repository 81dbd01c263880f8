package runtime

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// SweepInterval is how often, at most, the runtime asks a store that
// implements store.Sweeper to delete expired records: at the first wrapped
// call that uses the store in a process, and then at the first call after
// each interval. The sweep runs in the background, never on the caller's
// path, and stores delete in bounded batches. Operators may call a store's
// Sweep method themselves at any time; it never deletes a record before its
// retention.
const SweepInterval = 10 * time.Minute

// sweepTimeout bounds one background sweep.
const sweepTimeout = time.Minute

// sweepState is when a store was last swept. Sweeps never overlap: one is
// bounded by sweepTimeout, far below SweepInterval.
type sweepState struct {
	last atomic.Int64 // unix nanoseconds of the last sweep started
}

// sweeps holds, per store, when it was last swept by this process. It is
// keyed by the store value, or, for a store whose value is not comparable
// (a struct holding a slice or a func, say), by its type: stores of such a
// type share one schedule. It is bounded: past maxSweepStates stores (a
// process that opens and closes many) it is cleared, which costs at most
// one early sweep per store.
var (
	sweeps      sync.Map // Store or reflect.Type -> *sweepState
	sweepStates atomic.Int64
)

// sweepKey is the key of s in sweeps. Using a non-comparable value as a
// map key panics.
func sweepKey(s Store) any {
	t := reflect.TypeOf(s)
	if t.Kind() == reflect.Pointer { // the common case, checked without allocating
		return s
	}
	if !reflect.ValueOf(s).Comparable() {
		return t
	}
	return s
}

const maxSweepStates = 64

// maybeSweep starts a background sweep of s if SweepInterval has passed
// since the last one this process started.
func maybeSweep(s Store, now time.Time) {
	sw, ok := s.(store.Sweeper)
	if !ok {
		return
	}
	k := sweepKey(s)
	v, ok := sweeps.Load(k)
	if !ok {
		if sweepStates.Add(1) > maxSweepStates {
			sweeps.Clear()
			sweepStates.Store(1)
		}
		v, _ = sweeps.LoadOrStore(k, new(sweepState))
	}
	st := v.(*sweepState)
	last := st.last.Load()
	if last != 0 && now.UnixNano()-last < int64(SweepInterval) {
		return
	}
	if !st.last.CompareAndSwap(last, now.UnixNano()) {
		return // another call started this sweep
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
		defer cancel()
		// A failed sweep is retried at the next interval; expired records
		// are treated as absent by every store meanwhile.
		_, _ = sw.Sweep(ctx, now)
	}()
}
