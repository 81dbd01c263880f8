package runtime_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

// Do reuses the state of calls that left nothing behind. A call whose
// completion goes on in the background after its caller returned keeps
// its own: many calls made meanwhile (which reuse call state) leave the
// background write's key, fence and results alone, and it records the
// first call's results under the first call's key.
func TestABackgroundWriteKeepsItsCallWhileOtherCallsRun(t *testing.T) {
	fs := newFaultStore(memstore.New())
	unblock := make(chan struct{})
	fs.fail(opComplete, fault{n: 2, block: unblock}) // the first try and the first background try
	obs := &events{ch: make(chan runtime.Event, 16)}
	spec := newSpec(t, runtime.EffectNone, 0)
	ctx, cancel := context.WithTimeout(runtime.WithObserver(runtime.WithStore(context.Background(), fs), obs), 50*time.Millisecond)
	defer cancel()
	got, err := do(ctx, spec, "pending", "fp", func(context.Context) (string, error) { return "pending's receipt", nil })
	require.NoError(t, err)
	require.Equal(t, "pending's receipt", got)
	require.Equal(t, runtime.EventRecordPending, recv(t, obs.ch).Kind)

	// Other calls, first calls and replays, while the write is pending.
	other := runtime.WithStore(context.Background(), fs)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				key := fmt.Sprintf("other-%d-%d", g, i)
				for range 2 {
					got, err := do(other, spec, key, "fp", func(context.Context) (string, error) { return key, nil })
					if err != nil || got != key {
						t.Errorf("call %s returned %q, %v", key, got, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()

	close(unblock) // the store answers again: the background write records
	require.Equal(t, runtime.EventExecuted, recv(t, obs.ch).Kind)
	rec, err := fs.Get(context.Background(), keyOf(t, spec, "pending"))
	require.NoError(t, err)
	require.Equal(t, store.StateCompleted, rec.State)
	got, err = do(runtime.WithStore(context.Background(), fs), spec, "pending", "fp", func(context.Context) (string, error) { return "ran again", nil })
	require.NoError(t, err)
	require.Equal(t, "pending's receipt", got, "the background write recorded the pending call's results under its key")
}
