package sqlitestore_test

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// Two stores on one file (separate connection pools, as two processes have):
// while one writes without pause, the other's claims still get the write
// lock instead of failing with "database is locked" after BusyTimeout.
func TestSteadyWriterDoesNotStarveAnother(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idem.db")
	a, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer a.Close()
	b, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()

	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k := store.Key{1, byte(w), byte(i), byte(i >> 8), byte(i >> 16)}
				res, err := a.Claim(ctx, claimReq(k, store.Owner{1}, base))
				if err == nil {
					err = a.Complete(ctx, k, store.Fence{Owner: store.Owner{1}, Token: res.Record.Token}, nil, base.Add(time.Hour))
				}
				if err != nil {
					errs <- err
					return
				}
				written.Add(1)
			}
		}()
	}
	// Start once the writer is going, and claim while it keeps going.
	for written.Load() < 20 && len(errs) == 0 {
		runtime.Gosched()
	}
	before := written.Load()
	var slowest time.Duration
	for i := range 50 {
		start := time.Now()
		res, err := b.Claim(ctx, claimReq(store.Key{2, byte(i)}, store.Owner{2}, base))
		require.NoError(t, err, "claim %d of the second store", i)
		require.True(t, res.Granted)
		slowest = max(slowest, time.Since(start))
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "the steady writer")
	}
	during := written.Load() - before
	require.Positive(t, during, "the steady writer wrote while the second store claimed")
	t.Logf("steady writer: %d claims+completes during the second store's 50 claims; its slowest claim: %v", during, slowest)
}
