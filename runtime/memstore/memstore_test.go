package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}

var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// completedKey returns a store holding one completed key and a claim of it
// by another owner, which replays.
func completedKey(tb testing.TB) (*memstore.Store, store.ClaimRequest) {
	tb.Helper()
	ctx := context.Background()
	s := memstore.New()
	req := store.ClaimRequest{
		Key:         store.Key{1, 2, 3},
		Namespace:   "bench",
		Owner:       store.Owner{1},
		Now:         base,
		LeaseUntil:  base.Add(time.Minute),
		RetainUntil: base.Add(time.Hour),
	}
	res, err := s.Claim(ctx, req)
	require.NoError(tb, err)
	require.True(tb, res.Granted)
	err = s.Complete(ctx, req.Key, store.Fence{Owner: req.Owner, Token: res.Record.Token}, make([]byte, 256), req.RetainUntil)
	require.NoError(tb, err)
	replay := req
	replay.Owner = store.Owner{2}
	replay.Now = base.Add(time.Second)
	return s, replay
}

// Replaying a completed key must not allocate: it is the hot path.
func TestClaimCompletedDoesNotAllocate(t *testing.T) {
	s, replay := completedKey(t)
	ctx := context.Background()
	var res store.ClaimResult
	allocs := testing.AllocsPerRun(1000, func() {
		res, _ = s.Claim(ctx, replay)
	})
	require.Equal(t, store.StateCompleted, res.Record.State)
	require.Len(t, res.Record.Result, 256)
	require.Zero(t, allocs, "allocations per Claim of a completed key")
}

func BenchmarkClaimCompletedParallel(b *testing.B) {
	s, replay := completedKey(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := s.Claim(ctx, replay)
			if err != nil || res.Record.State != store.StateCompleted {
				b.Errorf("replay: %v, state %s", err, res.Record.State)
				return
			}
		}
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(*testing.B) store.Store { return memstore.New() })
}
