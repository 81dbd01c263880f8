package main

// SCRATCH: serial per-operation costs, to be deleted.

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/store"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func schedNS(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(n)
}

func TestScratchSerial(t *testing.T) {
	if os.Getenv("IDEMBENCH_SCRATCH") == "" {
		t.Skip()
	}
	ctx := context.Background()
	N := 2000
	nm := newNames()
	var backends []*backend
	var pids []int
	if dsn := os.Getenv(envPostgres); dsn != "" {
		b, err := openPostgres(ctx, dsn, 1, nm)
		if err != nil {
			t.Fatal(err)
		}
		pid := pgPid(t, b)
		backends = append(backends, b)
		pids = append(pids, pid)
	}
	if u := os.Getenv(envRedis); u != "" {
		b, err := openRedis(ctx, u, 1, nm)
		if err != nil {
			t.Fatal(err)
		}
		opt, _ := redis.ParseURL(u)
		c := redis.NewClient(opt)
		info, _ := c.Info(ctx, "server").Result()
		c.Close()
		pid := 0
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
				pid, _ = strconv.Atoi(v)
			}
		}
		backends = append(backends, b)
		pids = append(pids, pid)
	}
	{
		b, _, err := openSQLite(ctx, "", nm)
		if err != nil {
			t.Fatal(err)
		}
		backends = append(backends, b)
		pids = append(pids, 0)
	}
	backends = append(backends, openMemory())
	pids = append(pids, 0)

	for bi, b := range backends {
		pid := pids[bi]
		x := &bench{cfg: config{conns: 1, replayKeys: 64}, b: b, run: nm.run,
			first:  runtime.Spec{Namespace: nm.namespace() + "/first", Version: 1},
			replay: runtime.Spec{Namespace: nm.namespace() + "/replay", Version: 1}}
		copy(x.id[:], nm.run)
		sctx := runtime.WithStore(ctx, b.store)
		if err := x.prepareReplay(sctx); err != nil {
			t.Fatal(err)
		}
		n := N
		if b.name == "sqlite" {
			n = 300
		}
		type entry struct {
			name string
			f    func(i int) error
			w, c, s []float64
		}
		var entries []*entry
		timeIt := func(name string, f func(i int) error) {
			entries = append(entries, &entry{name: name, f: f})
		}
		run1 := func(e *entry, name string, f func(i int) error) {
			// warm
			for i := 0; i < 50; i++ {
				if err := f(1_000_000 + i); err != nil {
					t.Fatal(name, err)
				}
			}
			c0, s0, w0 := cpuNow(), schedNS(pid), time.Now()
			for i := 0; i < n; i++ {
				if err := f(i); err != nil {
					t.Fatal(name, err)
				}
			}
			w := time.Since(w0)
			c := cpuNow() - c0
			s := schedNS(pid) - s0
			e.w = append(e.w, float64(w.Nanoseconds())/1e3/float64(n))
			e.c = append(e.c, float64(c.Nanoseconds())/1e3/float64(n))
			e.s = append(e.s, float64(s.Nanoseconds())/1e3/float64(n))
		}
		timeIt("baseline insert", func(int) error { return x.baselineFirst(ctx, 0, 0) })
		timeIt("runtime.Do first call", func(int) error { return x.runtimeFirst(sctx, 0, 0) })
		// direct store: claim new key, then complete
		var keys []store.Key
		var fences []store.Fence
		owner := store.Owner{1}
		base := 10_000_000
		timeIt("store.Claim (new key)", func(i int) error {
			var k runtime.Encoder
			k.Begin("direct", 1)
			k.Int(base + i)
			key, _ := k.Sum()
			now := time.Now()
			res, err := b.store.Claim(ctx, store.ClaimRequest{Key: key, Namespace: "direct", Owner: owner, Now: now, LeaseUntil: now.Add(30 * time.Second), RetainUntil: now.Add(time.Hour)})
			if err != nil {
				return err
			}
			if !res.Granted {
				return fmt.Errorf("not granted")
			}
			if i < n {
				keys = append(keys, key)
				fences = append(fences, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token})
			}
			return nil
		})
		payload := []byte("0123456789abcdef0123")
		timeIt("store.Complete", func(i int) error {
			if i >= n {
				var k runtime.Encoder
				k.Begin("direct2", 1)
				k.Int(base + i)
				key, _ := k.Sum()
				now := time.Now()
				res, err := b.store.Claim(ctx, store.ClaimRequest{Key: key, Namespace: "direct", Owner: owner, Now: now, LeaseUntil: now.Add(30 * time.Second), RetainUntil: now.Add(time.Hour)})
				if err != nil {
					return err
				}
				return b.store.Complete(ctx, key, store.Fence{Owner: owner, Token: res.Record.Token}, payload, time.Now().Add(time.Hour))
			}
			return b.store.Complete(ctx, keys[i], fences[i], payload, time.Now().Add(time.Hour))
		})
		timeIt("baseline read", func(i int) error { return x.baselineReplay(ctx, 0, int64(i)) })
		timeIt("runtime.Do replay", func(i int) error { return x.runtimeReplay(sctx, 0, int64(i)) })
		timeIt("store.Claim (replay, direct)", func(i int) error {
			key := keys[i%64]
			now := time.Now()
			res, err := b.store.Claim(ctx, store.ClaimRequest{Key: key, Namespace: "direct", Owner: store.Owner{2}, Now: now, LeaseUntil: now.Add(30 * time.Second), RetainUntil: now.Add(time.Hour)})
			if err != nil {
				return err
			}
			if res.Granted || res.Record.State != store.StateCompleted {
				return fmt.Errorf("bad replay %+v", res)
			}
			return nil
		})
		if want := os.Getenv("IDEMBENCH_PROFILE"); want != "" {
			for _, e := range entries {
				if b.name+" "+e.name != want {
					continue
				}
				n = 1 << 30
				f, _ := os.Create("/tmp/scratch.prof")
				pprof.StartCPUProfile(f)
				deadline := time.Now().Add(8 * time.Second)
				cnt := 0
				for i := 0; time.Now().Before(deadline); i++ {
					if err := e.f(i); err != nil {
						t.Fatal(err)
					}
					cnt++
				}
				pprof.StopCPUProfile()
				f.Close()
				fmt.Printf("profiled %s: %d ops\n", want, cnt)
			}
			b.store.Close()
			b.cleanup(ctx)
			continue
		}
		for rep := 0; rep < 5; rep++ {
			keys, fences = nil, nil
			base += 1_000_000
			for _, e := range entries {
				run1(e, e.name, e.f)
			}
		}
		for _, e := range entries {
			fmt.Printf("%-8s %-30s wall %7.1f  client CPU %6.1f  server CPU %6.1f  µs/op (median of 5; wall min %.1f)\n", b.name, e.name, median(e.w), median(e.c), median(e.s), slices.Min(e.w))
		}
		b.store.Close()
		b.cleanup(ctx)
	}
}

func pgPid(t *testing.T, b *backend) int {
	conn, err := pgx.Connect(context.Background(), os.Getenv(envPostgres))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var pid int
	if err := conn.QueryRow(context.Background(), "SELECT pid FROM pg_stat_activity WHERE backend_type='client backend' AND pid <> pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}
