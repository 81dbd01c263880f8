package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/store"
)

// receipt is what the measured function returns: a small struct, recorded
// on the first call and decoded on every replay.
type receipt struct {
	ID     int64
	Status string
}

// baselineVal is the value the baselines write and read: about the size of
// an encoded receipt.
var baselineVal = []byte("receipt:ok:00042")

// countOps is how many operations of each kind the counting pass runs to
// report round trips and store calls per operation.
const countOps = 200

// cleanupTimeout bounds removing what a store's run created.
const cleanupTimeout = 30 * time.Second

// row is one line of the table: a workload on a store.
type row struct {
	store, workload string
	pair
	baseMed, rtMed, ratio float64
	target                float64
	applies               bool    // whether the target applies
	baseTrips, rtTrips    float64 // round trips per op; negative when not counted
	calls                 string  // store calls per runtime op
}

// below reports whether the row misses a target that applies to it.
func (r row) below() bool { return r.applies && r.ratio < r.target }

// storeReport describes one measured store.
type storeReport struct {
	name, setup, insertDesc, readDesc string
}

// report is the outcome of a run.
type report struct {
	cfg        config
	run        string // the run id in table names, key prefixes, namespaces
	sqlitePath string
	stores     []storeReport
	rows       []row
	notes      []string
	errs       []error
}

// benchmark measures every store cfg selects. Progress lines go to progress.
func benchmark(ctx context.Context, cfg config, progress io.Writer) *report {
	n := newNames()
	rep := &report{cfg: cfg, run: n.run}
	type candidate struct {
		name string
		skip string // why the store is skipped, or ""
		open func() (*backend, error)
	}
	cands := []candidate{
		{name: "sqlite", open: func() (*backend, error) {
			b, path, err := openSQLite(ctx, cfg.sqlite, n)
			rep.sqlitePath = path
			return b, err
		}},
		{name: "postgres", open: func() (*backend, error) { return openPostgres(ctx, cfg.postgres, cfg.conns, n) }},
		{name: "redis", open: func() (*backend, error) { return openRedis(ctx, cfg.redis, cfg.conns, n) }},
		{name: "memory", open: func() (*backend, error) { return openMemory(), nil }},
	}
	if cfg.sqlite == off {
		cands[0].skip = "skipped (-sqlite=off)"
	}
	switch cfg.postgres {
	case "":
		cands[1].skip = "skipped: no DSN (pass -postgres DSN or set " + envPostgres + "; `source scripts/services.sh` starts a server and sets it)"
	case off:
		cands[1].skip = "skipped (-postgres=off)"
	}
	switch cfg.redis {
	case "":
		cands[2].skip = "skipped: no URL (pass -redis URL or set " + envRedis + "; `source scripts/services.sh` starts a server and sets it)"
	case off:
		cands[2].skip = "skipped (-redis=off)"
	}
	if !cfg.memory {
		cands[3].skip = "skipped (pass -memory to measure memstore)"
	}
	for _, c := range cands {
		if c.skip != "" {
			if c.name != "memory" {
				rep.notes = append(rep.notes, c.name+": "+c.skip)
			}
			continue
		}
		if ctx.Err() != nil {
			rep.errs = append(rep.errs, fmt.Errorf("%s: not measured: %w", c.name, ctx.Err()))
			continue
		}
		b, err := c.open()
		if err != nil {
			rep.errs = append(rep.errs, err)
			continue
		}
		rep.stores = append(rep.stores, storeReport{name: b.name, setup: b.setup, insertDesc: b.insertDesc, readDesc: b.readDesc})
		rows, err := measureStore(ctx, cfg, b, n, progress)
		rep.rows = append(rep.rows, rows...)
		if err != nil {
			rep.errs = append(rep.errs, fmt.Errorf("%s: %w", b.name, err))
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		if err := errors.Join(b.store.Close(), b.cleanup(cctx)); err != nil {
			rep.errs = append(rep.errs, fmt.Errorf("%s: clean up: %w", b.name, err))
		}
		cancel()
	}
	return rep
}

// bench holds the state of one store's measurements.
type bench struct {
	cfg    config
	b      *backend
	id     [8]byte // the run id's bytes, prefixing baseline keys
	run    string
	first  runtime.Spec
	replay runtime.Spec
	seq    atomic.Int64 // first-call keys, baseline and runtime alike
	calls  atomic.Int64 // executions of the measured function
}

// workload is one thing measured: a baseline op and the runtime op it is
// compared with.
type workload struct {
	name              string
	target            float64
	baseline, runtime op
	// runs says whether every runtime op runs the function (first call) or
	// none does (replay); measure checks it.
	runs bool
}

func (x *bench) rawKey(kind byte, i int64) []byte {
	k := make([]byte, 32)
	copy(k, x.id[:])
	k[8] = kind
	binary.BigEndian.PutUint64(k[24:], uint64(i))
	return k
}

func (x *bench) baselineFirst(ctx context.Context, _ int, _ int64) error {
	return x.b.insert(ctx, x.rawKey('F', x.seq.Add(1)), baselineVal)
}

func (x *bench) runtimeFirst(ctx context.Context, _ int, _ int64) error {
	seq := x.seq.Add(1)
	var k, f runtime.Encoder
	k.Begin(x.first.Namespace, x.first.Version)
	k.String(x.run)
	k.Int64(seq)
	f.Begin(x.first.Namespace, x.first.Version)
	f.String(x.run)
	f.Int64(seq)
	r, err := runtime.Do(ctx, &x.first, &k, &f, func(context.Context) (receipt, error) {
		x.calls.Add(1)
		return receipt{ID: seq, Status: "ok"}, nil
	})
	if err != nil {
		return err
	}
	if r.ID != seq || r.Status != "ok" {
		return fmt.Errorf("first call of key %d returned %+v", seq, r)
	}
	return nil
}

// replayKey picks the completed key an op replays.
func (x *bench) replayKey(worker int, i int64) int64 {
	return (int64(worker)*7919 + i) % int64(x.cfg.replayKeys)
}

func (x *bench) baselineReplay(ctx context.Context, worker int, i int64) error {
	j := x.replayKey(worker, i)
	v, err := x.b.read(ctx, x.rawKey('R', j))
	if err != nil {
		return fmt.Errorf("baseline read of key %d: %w", j, err)
	}
	if !bytes.Equal(v, baselineVal) {
		return fmt.Errorf("baseline read of key %d returned %q, want %q", j, v, baselineVal)
	}
	return nil
}

func (x *bench) runtimeReplay(ctx context.Context, worker int, i int64) error {
	return x.replayOnce(ctx, x.replayKey(worker, i))
}

// replayOnce calls the replay function with key j: the first call runs it
// and records its receipt, later ones replay the receipt.
func (x *bench) replayOnce(ctx context.Context, j int64) error {
	var k, f runtime.Encoder
	k.Begin(x.replay.Namespace, x.replay.Version)
	k.String(x.run)
	k.Int64(j)
	f.Begin(x.replay.Namespace, x.replay.Version)
	f.String(x.run)
	f.Int64(j)
	r, err := runtime.Do(ctx, &x.replay, &k, &f, func(context.Context) (receipt, error) {
		x.calls.Add(1)
		return receipt{ID: j, Status: "ok"}, nil
	})
	if err != nil {
		return err
	}
	if r.ID != j || r.Status != "ok" {
		return fmt.Errorf("replay of key %d returned %+v", j, r)
	}
	return nil
}

// prepareReplay completes the replay keys, through the runtime and in the
// baseline's table.
func (x *bench) prepareReplay(ctx context.Context) error {
	for j := range int64(x.cfg.replayKeys) {
		if err := x.b.insert(ctx, x.rawKey('R', j), baselineVal); err != nil {
			return fmt.Errorf("baseline: write replay key %d: %w", j, err)
		}
		if err := x.replayOnce(ctx, j); err != nil {
			return fmt.Errorf("runtime: complete replay key %d: %w", j, err)
		}
	}
	if got := x.calls.Load(); got != int64(x.cfg.replayKeys) {
		return fmt.Errorf("completing %d replay keys ran the function %d times", x.cfg.replayKeys, got)
	}
	return nil
}

// measureStore runs both workloads on b.
func measureStore(ctx context.Context, cfg config, b *backend, n names, progress io.Writer) ([]row, error) {
	x := &bench{
		cfg:    cfg,
		b:      b,
		run:    n.run,
		first:  runtime.Spec{Namespace: n.namespace() + "/first", Version: 1},
		replay: runtime.Spec{Namespace: n.namespace() + "/replay", Version: 1},
	}
	if _, err := hex.Decode(x.id[:], []byte(n.run)); err != nil {
		return nil, fmt.Errorf("run id %q: %w", n.run, err)
	}
	sctx := runtime.WithStore(ctx, b.store)
	if err := x.prepareReplay(sctx); err != nil {
		return nil, err
	}
	wls := []workload{
		{name: "first-call", target: targetFirst, baseline: x.baselineFirst, runtime: x.runtimeFirst, runs: true},
		{name: "replay", target: targetReplay, baseline: x.baselineReplay, runtime: x.runtimeReplay},
	}
	var rows []row
	for _, wl := range wls {
		r, err := x.measureWorkload(sctx, wl, progress)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", wl.name, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// measureOnce runs one measurement of f and checks that the function ran
// once per op (first call) or never (replay).
func (x *bench) measureOnce(ctx context.Context, wl workload, which string, limit int64, d time.Duration) (sample, error) {
	f := wl.baseline
	if which == "R" {
		f = wl.runtime
	}
	before := x.calls.Load()
	s, err := measure(ctx, x.cfg.conns, limit, d, f)
	if err != nil {
		return s, err
	}
	ran := x.calls.Load() - before
	want := int64(0)
	if which == "R" && wl.runs {
		want = s.ops
	}
	if ran != want {
		return s, fmt.Errorf("the function ran %d times during %d ops, want %d", ran, s.ops, want)
	}
	if s.ops == 0 {
		return s, fmt.Errorf("no operation completed in %v", s.elapsed)
	}
	return s, nil
}

func (x *bench) measureWorkload(ctx context.Context, wl workload, progress io.Writer) (row, error) {
	r := row{store: x.b.name, workload: wl.name, target: wl.target, applies: x.b.targets, baseTrips: -1, rtTrips: -1}
	// Warm up both sides: connections dialled, statements prepared.
	warm := int64(2 * x.cfg.conns)
	for _, which := range []string{"B", "R"} {
		if _, err := x.measureOnce(ctx, wl, which, warm, 0); err != nil {
			return r, fmt.Errorf("warm-up: %s", err)
		}
	}
	p, err := alternate(ctx, x.cfg.rounds, func(which string) (float64, error) {
		s, err := x.measureOnce(ctx, wl, which, x.cfg.n, x.cfg.duration)
		if err != nil {
			side := map[string]string{"B": "baseline", "R": "runtime"}[which]
			return 0, fmt.Errorf("%s: %w", side, err)
		}
		fmt.Fprintf(progress, "idembench: %s %s %s: %d ops in %v = %.0f ops/s\n",
			x.b.name, wl.name, map[string]string{"B": "baseline", "R": "runtime"}[which], s.ops, s.elapsed.Round(time.Millisecond), s.rate())
		return s.rate(), nil
	})
	r.pair = p
	if err != nil {
		return r, err
	}
	r.baseMed, r.rtMed = median(p.baseline), median(p.runtime)
	r.ratio = r.rtMed / r.baseMed

	// The counting pass: round trips below the store and store calls
	// above it, per operation.
	ops := int64(countOps)
	if x.cfg.n > 0 && x.cfg.n < ops {
		ops = x.cfg.n
	}
	cs := &countingStore{Store: x.b.store}
	cctx := runtime.WithStore(ctx, cs)
	var t0 int64
	if x.b.trips != nil {
		t0 = x.b.trips()
	}
	if _, err := x.measureOnce(ctx, wl, "B", ops, 0); err != nil {
		return r, fmt.Errorf("counting pass: baseline: %w", err)
	}
	var t1 int64
	if x.b.trips != nil {
		t1 = x.b.trips()
	}
	if _, err := x.measureOnce(cctx, wl, "R", ops, 0); err != nil {
		return r, fmt.Errorf("counting pass: runtime: %w", err)
	}
	if x.b.trips != nil {
		t2 := x.b.trips()
		r.baseTrips = float64(t1-t0) / float64(ops)
		r.rtTrips = float64(t2-t1) / float64(ops)
	}
	r.calls = cs.perOp(ops)
	return r, nil
}

// countingStore counts the store calls the runtime makes. It is used only
// in the counting pass, never in a timed measurement. It does not implement
// store.Sweeper, so the runtime starts no sweep through it.
type countingStore struct {
	runtime.Store
	claim, complete, get, renew, other atomic.Int64
}

func (c *countingStore) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	c.claim.Add(1)
	return c.Store.Claim(ctx, req)
}

func (c *countingStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	c.complete.Add(1)
	return c.Store.Complete(ctx, key, f, result, retainUntil)
}

func (c *countingStore) Get(ctx context.Context, key store.Key) (store.Record, error) {
	c.get.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Renew(ctx context.Context, key store.Key, f store.Fence, leaseUntil time.Time) error {
	c.renew.Add(1)
	return c.Store.Renew(ctx, key, f, leaseUntil)
}

func (c *countingStore) Release(ctx context.Context, key store.Key, f store.Fence) error {
	c.other.Add(1)
	return c.Store.Release(ctx, key, f)
}

func (c *countingStore) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retainUntil time.Time) error {
	c.other.Add(1)
	return c.Store.MarkIndeterminate(ctx, key, f, retainUntil)
}

// perOp describes the calls per operation, e.g. "claim 1 + complete 1".
func (c *countingStore) perOp(ops int64) string {
	s := ""
	for _, k := range []struct {
		name string
		n    int64
	}{{"claim", c.claim.Load()}, {"complete", c.complete.Load()}, {"get", c.get.Load()}, {"renew", c.renew.Load()}, {"other", c.other.Load()}} {
		if k.n == 0 {
			continue
		}
		if s != "" {
			s += " + "
		}
		s += k.name + " " + trimFloat(float64(k.n)/float64(ops))
	}
	if s == "" {
		return "none"
	}
	return s
}
