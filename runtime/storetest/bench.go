package storetest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"testing"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// Benchmark measures the two store operations a wrapped call's cost rests
// on, as sub-benchmarks with allocation counts:
//
//   - ClaimReplay: a claim of a completed key, which every replay makes;
//   - ClaimComplete: a first claim of a new key and its Complete, which a
//     call that runs makes.
//
// newStore returns a fresh store for each sub-benchmark; Benchmark closes
// it. Keys are random per run, so stores that share a backend stay apart.
func Benchmark(b *testing.B, newStore func(b *testing.B) store.Store) {
	b.Run("ClaimReplay", func(b *testing.B) {
		s := openBench(b, newStore)
		ctx := context.Background()
		first := benchRequest(benchKey(b, 0), store.Owner{1}, benchBase)
		res, err := s.Claim(ctx, first)
		if err != nil || !res.Granted {
			b.Fatalf("first claim: %v, granted %v", err, res.Granted)
		}
		if err := s.Complete(ctx, first.Key, store.Fence{Owner: first.Owner, Token: res.Record.Token}, make([]byte, 256), benchBase.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		replay := benchRequest(first.Key, store.Owner{2}, benchBase.Add(time.Second))
		b.ReportAllocs()
		for b.Loop() {
			res, err := s.Claim(ctx, replay)
			if err != nil || res.Record.State != store.StateCompleted {
				b.Fatalf("replay: %v, state %s", err, res.Record.State)
			}
		}
	})
	b.Run("ClaimComplete", func(b *testing.B) {
		s := openBench(b, newStore)
		ctx := context.Background()
		result := make([]byte, 256)
		var i uint64
		b.ReportAllocs()
		for b.Loop() {
			i++
			req := benchRequest(benchKey(b, i), store.Owner{1}, benchBase)
			res, err := s.Claim(ctx, req)
			if err != nil || !res.Granted {
				b.Fatalf("claim: %v, granted %v", err, res.Granted)
			}
			if err := s.Complete(ctx, req.Key, store.Fence{Owner: req.Owner, Token: res.Record.Token}, result, benchBase.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var benchBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func openBench(b *testing.B, newStore func(b *testing.B) store.Store) store.Store {
	s := newStore(b)
	if s == nil {
		b.Fatal("newStore returned a nil store")
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close of the store under test: %v", err)
		}
	})
	return s
}

// benchKey is key number i of this run: a counter and a random part.
func benchKey(b *testing.B, i uint64) store.Key {
	var k store.Key
	binary.BigEndian.PutUint64(k[:8], i)
	if _, err := rand.Read(k[8:]); err != nil {
		b.Fatal(err)
	}
	return k
}

func benchRequest(key store.Key, owner store.Owner, now time.Time) store.ClaimRequest {
	return store.ClaimRequest{
		Key:         key,
		Namespace:   "storetest_bench",
		Owner:       owner,
		Now:         now,
		LeaseUntil:  now.Add(time.Minute),
		RetainUntil: now.Add(time.Hour),
	}
}
