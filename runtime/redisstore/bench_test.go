package redisstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/store"
)

// seq numbers the operations of runParallel.
var seq atomic.Int64

// benchWorkers is how many goroutines the parallel benchmarks run, as
// cmd/idembench does by default.
const benchWorkers = 8

// serverCPU returns the CPU time the Redis server has used (INFO cpu).
func serverCPU(tb testing.TB, c *redis.Client) time.Duration {
	tb.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	require.NoError(tb, err)
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
			f, err := strconv.ParseFloat(val, 64)
			require.NoError(tb, err)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// clientCPU returns the CPU time this process has used.
func clientCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runParallel runs op on benchWorkers goroutines and reports, besides the
// time per op, the CPU per op of this process and of the Redis server: on a
// machine where both share few cores, their sum bounds the throughput.
// The i passed to op counts up across all of runParallel's calls, so that
// each names a new key.
func runParallel(b *testing.B, c *redis.Client, op func(ctx context.Context, i int64) error) {
	ctx := context.Background()
	b.SetParallelism(max(1, benchWorkers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	c0, s0 := clientCPU(), serverCPU(b, c)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx, seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	c1, s1 := clientCPU(), serverCPU(b, c)
	n := float64(b.N)
	b.ReportMetric(float64((c1-c0).Microseconds())/n, "client-µs/op")
	b.ReportMetric(float64((s1-s0).Microseconds())/n, "server-µs/op")
}

// BenchmarkParallel compares the store's two common paths with the raw
// commands cmd/idembench measures them against, on benchWorkers goroutines
// sharing one client: SetNX against a first call's Claim and Complete, Get
// against the Claim that replays a completed key.
func BenchmarkParallel(b *testing.B) {
	o, err := redis.ParseURL(testenv.RedisURL(b))
	require.NoError(b, err)
	o.PoolSize = benchWorkers
	c := redis.NewClient(o)
	b.Cleanup(func() { _ = c.Close() })
	s := newStore(b, c)
	prefix := s.Prefix()
	val := []byte("receipt:ok:00042")
	result := make([]byte, 32)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var seqOwner atomic.Int64
	newKey := func(i int64) store.Key {
		var k store.Key
		copy(k[:], run)
		binary.BigEndian.PutUint64(k[24:], uint64(i))
		return k
	}
	// request is the request a wrapper makes for key i: a new owner each
	// time, cheaply.
	request := func(i int64, now time.Time) store.ClaimRequest {
		var o store.Owner
		binary.BigEndian.PutUint64(o[8:], uint64(seqOwner.Add(1)))
		return store.ClaimRequest{
			Key: newKey(i), Namespace: "bench/parallel", Owner: o,
			Now: now, LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour),
		}
	}

	b.Run("SetNX", func(b *testing.B) {
		runParallel(b, c, func(ctx context.Context, i int64) error {
			return c.SetNX(ctx, prefix+"raw:"+newKey(i).String(), val, 0).Err()
		})
	})
	b.Run("ClaimComplete", func(b *testing.B) {
		runParallel(b, c, func(ctx context.Context, i int64) error {
			req := request(-i, base)
			res, err := s.Claim(ctx, req)
			if err != nil {
				return err
			}
			if !res.Granted {
				return fmt.Errorf("a new key was not granted: %+v", res)
			}
			return s.Complete(ctx, req.Key, fenceOf(res.Record), result, base.Add(time.Hour))
		})
	})

	const replayKeys = 64
	for i := range int64(replayKeys) {
		k := newKey(1<<40 + i)
		require.NoError(b, c.Set(context.Background(), prefix+"raw:"+k.String(), val, 0).Err())
		req := request(1<<40+i, base)
		res, err := s.Claim(context.Background(), req)
		require.NoError(b, err)
		require.NoError(b, s.Complete(context.Background(), k, fenceOf(res.Record), result, base.Add(time.Hour)))
	}
	b.Run("Get", func(b *testing.B) {
		runParallel(b, c, func(ctx context.Context, i int64) error {
			return c.Get(ctx, prefix+"raw:"+newKey(1<<40+i%replayKeys).String()).Err()
		})
	})
	b.Run("ClaimReplay", func(b *testing.B) {
		runParallel(b, c, func(ctx context.Context, i int64) error {
			req := request(1<<40+i%replayKeys, base.Add(time.Second))
			res, err := s.Claim(ctx, req)
			if err == nil && res.Record.State != store.StateCompleted {
				b.Errorf("replay found state %s", res.Record.State)
			}
			return err
		})
	})
}
