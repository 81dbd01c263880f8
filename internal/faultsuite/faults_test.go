// Package faultsuite runs wrapped calls against real stores while their
// connections fail (through internal/faultproxy) or their disk fills, and
// checks the runtime's promise under those faults:
//
//   - no key's function runs twice (effect none: nothing deduplicates
//     downstream);
//   - no call returns later than its context's deadline plus one second;
//   - a function that succeeded during a short outage has its results
//     recorded once the store is back, so later calls replay them.
//
// Each store gets the same workload; the figures (calls, duplicates, worst
// overrun, results lost) are logged with -v.
package faultsuite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/faultproxy"
	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// The workload's shape.
const (
	workers      = 8
	keys         = 60                     // distinct keys; every key is called callsPerKey times
	callsPerKey  = 3                      // by different workers, so duplicates race
	callDeadline = 1 * time.Second        // each call's context deadline
	work         = 150 * time.Millisecond // how long the function works: outages hit between claim and record
	outage       = 1 * time.Second
	lease        = 5 * time.Second // post-run writes may retry this long
	overrunLimit = 1 * time.Second // allowed past a call's deadline
)

// sink counts executions per key, as a non-deduplicating effect would.
type sink struct {
	mu   sync.Mutex
	runs map[int]int
}

func (s *sink) run(k int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[k]++
	return s.runs[k]
}

func (s *sink) count(k int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[k]
}

// report is what one workload measured.
type report struct {
	calls, ok, failed int
	duplicates        int           // keys whose function ran more than once
	worstOverrun      time.Duration // largest return time past a call's deadline
	resultsLost       int           // executed keys that do not replay their result afterwards
	errs              map[string]int
}

func (r report) String() string {
	kinds := make([]string, 0, len(r.errs))
	for k, n := range r.errs {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("calls=%d ok=%d failed=%d duplicates=%d worst-overrun=%v results-lost=%d errors=%v",
		r.calls, r.ok, r.failed, r.duplicates, r.worstOverrun.Round(time.Millisecond), r.resultsLost, kinds)
}

// errKind names the class of a call's error for the report.
func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, runtime.ErrIndeterminate):
		return "indeterminate"
	case errors.Is(err, runtime.ErrLeaseLost):
		return "lease-lost"
	case errors.Is(err, runtime.ErrStore):
		return "store"
	}
	return "other"
}

// call runs one wrapped call of key k with the suite's spec.
func call(ctx context.Context, spec *runtime.Spec, s runtime.Store, sk *sink, k int) (string, error) {
	var key, fp runtime.Encoder
	key.Begin(spec.Namespace, spec.Version)
	key.Int64(int64(k))
	fp.Begin(spec.Namespace, spec.Version)
	return runtime.Do(runtime.WithStore(ctx, s), spec, &key, &fp, func(context.Context) (string, error) {
		n := sk.run(k)
		time.Sleep(work) // the effect is applied; the work goes on
		return fmt.Sprintf("result-%d-run-%d", k, n), nil
	})
}

// workload runs keys×callsPerKey calls on s from several workers while
// fault runs, then checks every executed key replays its first result.
func workload(t *testing.T, s runtime.Store, fault func()) report {
	t.Helper()
	spec := &runtime.Spec{
		Namespace: fmt.Sprintf("faultsuite/%s/%d", t.Name(), time.Now().UnixNano()),
		Version:   1,
		Effect:    runtime.EffectNone,
		Retry:     runtime.RetryPolicy{Attempts: 3, Delay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		TTL:       time.Hour,
		Lease:     lease,
	}
	sk := &sink{runs: map[int]int{}}
	var (
		mu       sync.Mutex
		rep      = report{errs: map[string]int{}}
		returned = map[int]string{} // the first successful result per key
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
				deadline, _ := ctx.Deadline()
				res, err := call(ctx, spec, s, sk, k)
				over := time.Since(deadline)
				cancel()
				mu.Lock()
				rep.calls++
				if over > rep.worstOverrun {
					rep.worstOverrun = over
				}
				if err != nil {
					rep.failed++
					rep.errs[errKind(err)]++
				} else {
					rep.ok++
					if _, ok := returned[k]; !ok {
						returned[k] = res
					}
				}
				mu.Unlock()
			}
		}()
	}
	var faultDone sync.WaitGroup
	faultDone.Add(1)
	var sent atomic.Int64
	go func() {
		defer faultDone.Done()
		// Start the fault once a third of the calls are under way.
		for sent.Load() < keys*callsPerKey/3 {
			time.Sleep(time.Millisecond)
		}
		fault()
	}()
	for round := 0; round < callsPerKey; round++ {
		for k := 0; k < keys; k++ {
			jobs <- k
			sent.Add(1)
			// Pace the calls so that the workload spans the outage.
			time.Sleep(3 * outage / (keys * callsPerKey))
		}
	}
	close(jobs)
	wg.Wait()
	faultDone.Wait()

	// Let writes still pending from the outage land: they may retry until
	// their lease ends.
	time.Sleep(lease)
	for k := 0; k < keys; k++ {
		n := sk.count(k)
		if n > 1 {
			rep.duplicates++
		}
		if n == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := call(ctx, spec, s, sk, k)
		cancel()
		if sk.count(k) > n {
			rep.duplicates++
		}
		want := fmt.Sprintf("result-%d-run-1", k)
		if err != nil || res != want {
			rep.resultsLost++
			t.Logf("key %d ran %d time(s); after the outage: %q, %v", k, n, res, err)
		}
		if r, ok := returned[k]; ok && r != want {
			t.Errorf("key %d: a caller got %q, want %q", k, r, want)
		}
	}
	return rep
}

// check asserts the promise on a report.
func check(t *testing.T, rep report) {
	t.Helper()
	t.Logf("%s", rep)
	require.Zero(t, rep.duplicates, "a key's function ran more than once")
	require.LessOrEqual(t, rep.worstOverrun, overrunLimit, "a call returned more than %v after its deadline", overrunLimit)
	require.Zero(t, rep.resultsLost, "results of functions that ran were lost")
	require.Equal(t, keys*callsPerKey, rep.calls)
}

// proxied starts a fault proxy in front of host:port and returns it.
func proxied(t *testing.T, hostport string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(hostport)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// throughProxy rewrites a URL-style DSN to connect through a new proxy.
func throughProxy(t *testing.T, dsn string) (string, *faultproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := proxied(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// outages are the network faults each networked store is put through.
// A long partition outlasts the calls' deadlines, so calls must give up on
// time while their records are written once the store is back.
var outages = []struct {
	name string
	mode faultproxy.Mode
	d    time.Duration
}{
	{"partition", faultproxy.Blackhole, outage},
	{"long-partition", faultproxy.Blackhole, 3 * outage},
	{"restart", faultproxy.Reset, outage},
}

func runOutage(p *faultproxy.Proxy, mode faultproxy.Mode, d time.Duration) func() {
	return func() {
		p.SetMode(mode)
		time.Sleep(d)
		p.SetMode(faultproxy.Pass)
	}
}

func TestPostgresOutage(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			pdsn, p := throughProxy(t, dsn)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := pgstore.Open(ctx, pdsn)
			require.NoError(t, err)
			defer s.Close()
			check(t, workload(t, s, runOutage(p, o.mode, o.d)))
		})
	}
}

func TestRedisOutage(t *testing.T) {
	rurl := testenv.RedisURL(t)
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			purl, p := throughProxy(t, rurl)
			s, err := redisstore.Open(purl)
			require.NoError(t, err)
			defer s.Close()
			check(t, workload(t, s, runOutage(p, o.mode, o.d)))
		})
	}
}

// TestSQLiteLocked holds the SQLite file's write lock from another
// connection for one and for three seconds, as a long writer or a stalled process would:
// claims and records wait or fail, then succeed again.
func TestSQLiteLocked(t *testing.T) {
	for _, d := range []time.Duration{outage, 3 * outage} {
		t.Run(d.String(), func(t *testing.T) { sqliteLocked(t, d) })
	}
}

func sqliteLocked(t *testing.T, d time.Duration) {
	path := filepath.Join(t.TempDir(), "idem.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()
	// The lock holder waits for the store's writers like any other writer.
	db, err := sql.Open("sqlite", sqlitestore.DSN(path)+"&_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer db.Close()
	check(t, workload(t, s, func() {
		ctx := context.Background()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(d)
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Error(err)
		}
	}))
}
