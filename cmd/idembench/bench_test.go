package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// noEnv is a getenv with nothing set.
func noEnv(string) string { return "" }

// tableRow is one parsed line of the result table.
type tableRow struct {
	store, workload, verdict, trips, calls string
	base, rt, ratio                        float64
}

var rowRE = regexp.MustCompile(`^(\S+)\s+(first-call|replay)\s+(\d+)\s+(\d+)\s+(\d+\.\d\d)x\s+(\d\.\d\d)x\s+(PASS|BELOW|n/a)\s+(- |[\d.]+ / [\d.]+)\s+(.+)$`)

// parseRows returns the table rows of out, keyed "store workload".
func parseRows(t *testing.T, out string) map[string]tableRow {
	t.Helper()
	rows := map[string]tableRow{}
	for _, line := range strings.Split(out, "\n") {
		m := rowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		num := func(s string) float64 {
			f, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err)
			return f
		}
		rows[m[1]+" "+m[2]] = tableRow{
			store: m[1], workload: m[2], base: num(m[3]), rt: num(m[4]), ratio: num(m[5]),
			verdict: m[7], trips: strings.TrimSpace(m[8]), calls: strings.TrimSpace(m[9]),
		}
	}
	return rows
}

// runBench runs the command and returns its exit status, stdout and
// stderr.
func runBench(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(context.Background(), args, getenv, &out, &errw)
	return code, out.String(), errw.String()
}

// checkRows asserts that store has a first-call and a replay row with
// positive throughputs, a verdict that matches the printed ratio, and the
// store calls the runtime makes. It asserts nothing about the size of a
// ratio: that is a wall-clock measurement, and a bare map (memory) can be a
// thousand times faster than the runtime, so its ratio may print as 0.00x.
func checkRows(t *testing.T, rows map[string]tableRow, store string, targets bool) {
	t.Helper()
	for _, wl := range []string{"first-call", "replay"} {
		r, ok := rows[store+" "+wl]
		require.True(t, ok, "no %s %s row", store, wl)
		assert.Greater(t, r.base, 0.0, "%s %s baseline", store, wl)
		assert.Greater(t, r.rt, 0.0, "%s %s runtime", store, wl)
		assert.GreaterOrEqual(t, r.ratio, 0.0, "%s %s ratio", store, wl)
		if targets {
			target := map[string]float64{"first-call": targetFirst, "replay": targetReplay}[wl]
			switch {
			case r.ratio > target+0.005:
				assert.Equal(t, "PASS", r.verdict, "%s %s verdict for ratio %v", store, wl, r.ratio)
			case r.ratio < target-0.005:
				assert.Equal(t, "BELOW", r.verdict, "%s %s verdict for ratio %v", store, wl, r.ratio)
			default: // printed rounded to the target: either verdict is right
				assert.Contains(t, []string{"PASS", "BELOW"}, r.verdict)
			}
		} else {
			assert.Equal(t, "n/a", r.verdict)
		}
	}
	assert.Equal(t, "claim 1 + complete 1", rows[store+" first-call"].calls)
	assert.Equal(t, "claim 1", rows[store+" replay"].calls)
}

// checkCounts asserts that the progress lines on stderr report exactly n
// operations for each of the rounds measurements of each side of each
// workload of store.
func checkCounts(t *testing.T, errw, store string, n, rounds int) {
	t.Helper()
	for _, wl := range []string{"first-call", "replay"} {
		for _, side := range []string{"baseline", "runtime"} {
			re := regexp.MustCompile(`(?m)^idembench: ` + store + ` ` + wl + ` ` + side + `: (\d+) ops in `)
			ms := re.FindAllStringSubmatch(errw, -1)
			require.Len(t, ms, rounds, "%s %s %s measurements in:\n%s", store, wl, side, errw)
			for _, m := range ms {
				assert.Equal(t, strconv.Itoa(n), m[1], "%s %s %s ops", store, wl, side)
			}
		}
	}
}

var runIDRE = regexp.MustCompile(`(?m)^run: ([0-9a-f]{16}) `)

func runID(t *testing.T, out string) string {
	t.Helper()
	m := runIDRE.FindStringSubmatch(out)
	require.NotNil(t, m, "no run id in output:\n%s", out)
	return m[1]
}

// -conns with a list runs the whole benchmark once per worker count.
func TestConcurrencySweep(t *testing.T) {
	c, err := parseFlags([]string{"-conns", "1,8,32"}, noEnv, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 8, 32}, c.sweep)
	assert.Equal(t, 1, c.conns)

	path := filepath.Join(t.TempDir(), "bench.db")
	code, out, errw := runBench(t, noEnv, "-sqlite", path, "-n", "8", "-conns", "1,2", "-rounds", "1", "-replay-keys", "2")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errw)
	one, two := strings.Index(out, "=== 1 worker(s)"), strings.Index(out, "=== 2 worker(s)")
	require.True(t, one >= 0 && two > one, "the sweep's sections, in order:\n%s", out)
	assert.Contains(t, out[one:two], "-conns=1 ")
	assert.Contains(t, out[two:], "-conns=2 ")
	assert.Equal(t, 2, strings.Count(out, "sqlite  first-call"), "one table row per worker count:\n%s", out)
}

func TestRunSQLiteAndMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.db")
	code, out, errw := runBench(t, noEnv, "-sqlite", path, "-memory", "-n", "24", "-conns", "3", "-rounds", "2", "-replay-keys", "5")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errw)

	rows := parseRows(t, out)
	require.Len(t, rows, 4, "rows of:\n%s", out)
	checkRows(t, rows, "sqlite", true)
	checkRows(t, rows, "memory", false)
	checkCounts(t, errw, "sqlite", 24, 2)
	checkCounts(t, errw, "memory", 24, 2)
	assert.Equal(t, "-", rows["sqlite first-call"].trips, "SQLite has no server round trips to count")

	assert.Contains(t, out, "flags: -sqlite="+path+" -postgres=off -redis=off -memory=true -conns=3 -n=24 -rounds=2 -replay-keys=5 -check=false")
	assert.Contains(t, out, "command: idembench -sqlite "+path+" -memory -n 24")
	assert.Contains(t, out, "alternating")
	assert.Contains(t, out, "sqlite first-call: B ")
	assert.Contains(t, out, "sqlite replay: B ")
	assert.Contains(t, out, "| R ", "the second round measures the runtime first")
	assert.Contains(t, out, "postgres: skipped: no DSN")
	assert.Contains(t, out, "redis: skipped: no URL")
	assert.Contains(t, out, "INSERT INTO idembench_"+runID(t, out)+"_raw (key, val) VALUES (?, ?)")
	assert.Contains(t, errw, "idembench: sqlite first-call runtime: 24 ops in ")

	// The run created the file, so it removed it.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_, err := os.Stat(path + suffix)
		assert.ErrorIs(t, err, os.ErrNotExist, "%s%s left behind", path, suffix)
	}
}

func TestRunKeepsAnExistingSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.db")
	st, err := sqlitestore.Open(path)
	require.NoError(t, err)
	spec := &runtime.Spec{Namespace: "mine", Version: 1}
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, 1)
	k.String("x")
	f.Begin(spec.Namespace, 1)
	f.String("x")
	_, err = runtime.Do(runtime.WithStore(context.Background(), st), spec, &k, &f, func(context.Context) (int, error) { return 7, nil })
	require.NoError(t, err)
	require.NoError(t, st.Close())

	code, out, errw := runBench(t, noEnv, "-sqlite", path, "-n", "8", "-conns", "2", "-rounds", "1", "-replay-keys", "2")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errw)
	checkRows(t, parseRows(t, out), "sqlite", true)

	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	require.NoError(t, err)
	defer db.Close()
	var namespaces []string
	rs, err := db.Query(`SELECT namespace FROM idem_records`)
	require.NoError(t, err)
	for rs.Next() {
		var ns string
		require.NoError(t, rs.Scan(&ns))
		namespaces = append(namespaces, ns)
	}
	require.NoError(t, rs.Err())
	assert.Equal(t, []string{"mine"}, namespaces, "only the file's own record remains")
	var tables int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'idembench%'`).Scan(&tables))
	assert.Zero(t, tables, "the baseline table was dropped")
}

func TestRunPostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	code, out, errw := runBench(t, noEnv, "-sqlite=off", "-postgres", dsn, "-n", "40", "-conns", "4", "-rounds", "2", "-replay-keys", "4")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errw)
	rows := parseRows(t, out)
	require.Len(t, rows, 2, "rows of:\n%s", out)
	checkRows(t, rows, "postgres", true)
	assert.Contains(t, out, "sqlite: skipped (-sqlite=off)")
	run := runID(t, out)
	assert.Contains(t, out, "INSERT INTO idembench_"+run+"_raw (key, val) VALUES ($1, $2) ON CONFLICT DO NOTHING")
	assert.Contains(t, out, "SELECT val FROM idembench_"+run+"_raw WHERE key = $1")
	tripsAtLeast(t, rows["postgres first-call"].trips, 1, 2)
	tripsAtLeast(t, rows["postgres replay"].trips, 1, 1)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var left int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE $1`, "idembench\\_"+run+"%").Scan(&left))
	assert.Zero(t, left, "tables, indexes or sequences of the run left behind")
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_proc WHERE proname LIKE $1`, "idembench\\_"+run+"%").Scan(&left))
	assert.Zero(t, left, "functions of the run left behind")
}

func TestRunRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	code, out, errw := runBench(t, noEnv, "-sqlite=off", "-redis", url, "-n", "40", "-conns", "4", "-rounds", "2", "-replay-keys", "4")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errw)
	rows := parseRows(t, out)
	require.Len(t, rows, 2, "rows of:\n%s", out)
	checkRows(t, rows, "redis", true)
	run := runID(t, out)
	assert.Contains(t, out, "SET idembench:"+run+":raw:<64 hex> <val> NX")
	tripsAtLeast(t, rows["redis first-call"].trips, 1, 2)
	tripsAtLeast(t, rows["redis replay"].trips, 1, 1)

	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	client := redis.NewClient(opt)
	defer client.Close()
	keys, _, err := client.Scan(context.Background(), 0, "idembench:"+run+":*", 100000).Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "keys of the run left behind")
}

// tripsAtLeast parses "base / runtime" and checks each is at least the
// round trips the operations need.
func tripsAtLeast(t *testing.T, trips string, base, rt float64) {
	t.Helper()
	b, r, ok := strings.Cut(trips, " / ")
	require.True(t, ok, "trips %q", trips)
	bf, err := strconv.ParseFloat(b, 64)
	require.NoError(t, err)
	rf, err := strconv.ParseFloat(r, 64)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, bf, base)
	assert.GreaterOrEqual(t, rf, rt)
}

func TestRunServerDown(t *testing.T) {
	// Nothing listens on port 1: the store fails, the run reports it and
	// exits 1, and the other stores are still measured.
	code, out, errw := runBench(t, noEnv, "-sqlite=off", "-memory", "-postgres", "postgres://u:pw@127.0.0.1:1/x?sslmode=disable", "-n", "8", "-conns", "2", "-rounds", "1")
	assert.Equal(t, 1, code)
	assert.Contains(t, errw, "postgres: connect to postgres://u:xxxxx@127.0.0.1:1/x?sslmode=disable (is the server running?")
	assert.NotContains(t, out+errw, ":pw@", "the password is redacted")
	assert.Contains(t, out, "errors:")
	checkRows(t, parseRows(t, out), "memory", false)
	checkCounts(t, errw, "memory", 8, 1)
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{envPostgres: "postgres://u:secret@db:5432/x", envRedis: "redis://r:6379/0"}
	getenv := func(k string) string { return env[k] }

	c, err := parseFlags(nil, getenv, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, config{postgres: env[envPostgres], redis: env[envRedis], conns: 8, duration: 3 * time.Second, rounds: 3, replayKeys: 64}, c)
	assert.Equal(t, "-sqlite=(temporary file) -postgres=postgres://u:xxxxx@db:5432/x -redis=redis://r:6379/0 -memory=false -conns=8 -duration=3s -rounds=3 -replay-keys=64 -check=false", c.flagLine(""))

	c, err = parseFlags([]string{"-postgres=off", "-redis", "redis://other/1", "-sqlite", "/x.db", "-n", "5", "-conns", "2", "-check"}, getenv, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, off, c.postgres)
	assert.Equal(t, "redis://other/1", c.redis, "a flag overrides the environment")
	assert.Equal(t, "-sqlite=/x.db -postgres=off -redis=redis://other/1 -memory=false -conns=2 -n=5 -rounds=3 -replay-keys=64 -check=true", c.flagLine("/x.db"))

	for _, bad := range [][]string{
		{"-conns", "0"}, {"-conns", "1,x"}, {"-conns", "8,0"}, {"-n", "-1"}, {"-duration", "0"}, {"-rounds", "0"}, {"-replay-keys", "0"}, {"extra"}, {"-nope"},
	} {
		_, err := parseFlags(bad, noEnv, &bytes.Buffer{})
		assert.Error(t, err, "%q", bad)
		code, _, errw := runBench(t, noEnv, bad...)
		assert.Equal(t, 2, code, "%q", bad)
		assert.NotEmpty(t, errw)
	}
	_, err = parseFlags([]string{"-duration", "0", "-n", "3"}, noEnv, &bytes.Buffer{})
	assert.NoError(t, err, "-n makes -duration irrelevant")
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "postgres://u:xxxxx@h/db?sslmode=disable", redact("postgres://u:pw@h/db?sslmode=disable"))
	assert.Equal(t, "postgres://h/db?password=xxxxx", redact("postgres://h/db?password=pw"))
	assert.Equal(t, "host=h password=xxxxx user=u", redact("host=h password=pw user=u"))
	assert.Equal(t, "redis://:xxxxx@h:6379/0", redact("redis://:pw@h:6379/0"))
	assert.Equal(t, []string{"-postgres=postgres://u:xxxxx@h/db", "-redis", "redis://:xxxxx@h/0"},
		redactArgs([]string{"-postgres=postgres://u:pw@h/db", "-redis", "redis://:pw@h/0"}))
}

func TestMeasureCountsOps(t *testing.T) {
	var calls atomic.Int64
	seen := make([]atomic.Bool, 100)
	s, err := measure(context.Background(), 4, 100, 0, func(_ context.Context, _ int, i int64) error {
		calls.Add(1)
		seen[i].Store(true)
		return nil
	})
	require.NoError(t, err)
	assert.EqualValues(t, 100, s.ops)
	assert.EqualValues(t, 100, calls.Load())
	for i := range seen {
		assert.True(t, seen[i].Load(), "op %d", i)
	}
	assert.Greater(t, s.rate(), 0.0)
}

// A measurement for a duration counts what the workers did, and each worker
// completes at least one operation however short the duration and however
// late the workers are scheduled (a 1ns duration has always passed by the
// time a worker starts).
func TestMeasureForADuration(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, time.Millisecond} {
		const conns = 3
		var calls atomic.Int64
		var perWorker [conns]atomic.Int64
		s, err := measure(context.Background(), conns, 0, d, func(_ context.Context, w int, i int64) error {
			calls.Add(1)
			if got := perWorker[w].Add(1) - 1; got != i {
				return fmt.Errorf("worker %d: op index %d, want %d (per worker)", w, i, got)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, calls.Load(), s.ops, "every completed op is counted once")
		for w := range perWorker {
			assert.GreaterOrEqual(t, perWorker[w].Load(), int64(1), "worker %d completed no op in %v", w, d)
		}
		assert.GreaterOrEqual(t, s.elapsed, d, "the measurement ends after its duration")
		assert.Greater(t, s.rate(), 0.0)
	}
}

// A worker that fails stops the others even while they still owe their
// first operation of a measurement for a duration.
func TestMeasureForADurationStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	s, err := measure(context.Background(), 2, 0, time.Hour, func(_ context.Context, _ int, i int64) error {
		if calls.Add(1) == 50 {
			return boom
		}
		return nil
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, calls.Load()-1, s.ops, "the failed op is not counted")
}

func TestMeasureStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	s, err := measure(context.Background(), 3, 1000, 0, func(_ context.Context, _ int, i int64) error {
		calls.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	assert.ErrorIs(t, err, boom)
	assert.Less(t, calls.Load(), int64(1000), "the workers stop")
	assert.Equal(t, calls.Load()-1, s.ops, "the failed op is not counted")
}

func TestMeasureOnceChecksTheFunctionRuns(t *testing.T) {
	x := &bench{cfg: config{conns: 2}}
	run := func(context.Context, int, int64) error { x.calls.Add(1); return nil }
	skip := func(context.Context, int, int64) error { return nil }

	_, err := x.measureOnce(context.Background(), workload{runtime: skip, runs: true}, "R", 10, 0)
	assert.ErrorContains(t, err, "the function ran 0 times during 10 ops, want 10")
	_, err = x.measureOnce(context.Background(), workload{runtime: run}, "R", 10, 0)
	assert.ErrorContains(t, err, "the function ran 10 times during 10 ops, want 0")
	_, err = x.measureOnce(context.Background(), workload{baseline: run}, "B", 10, 0)
	assert.ErrorContains(t, err, "want 0", "a baseline never runs the function")
	_, err = x.measureOnce(context.Background(), workload{runtime: run, runs: true}, "R", 10, 0)
	assert.NoError(t, err)
}

func TestAlternate(t *testing.T) {
	var seq []string
	i := 0.0
	p, err := alternate(context.Background(), 3, func(which string) (float64, error) {
		seq = append(seq, which)
		i++
		return i, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"B", "R", "R", "B", "B", "R"}, seq)
	assert.Equal(t, []float64{1, 4, 5}, p.baseline)
	assert.Equal(t, []float64{2, 3, 6}, p.runtime)
	assert.Equal(t, []string{"BR", "RB", "BR"}, p.order)

	boom := errors.New("boom")
	_, err = alternate(context.Background(), 3, func(string) (float64, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 0.0, median(nil))
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	xs := []float64{3, 1, 2}
	median(xs)
	assert.Equal(t, []float64{3, 1, 2}, xs, "median leaves its argument alone")
}

func TestExitCodeAndVerdict(t *testing.T) {
	pass := row{applies: true, ratio: 0.9, target: targetReplay}
	below := row{applies: true, ratio: 0.3, target: targetFirst}
	info := row{applies: false, ratio: 0.01, target: targetFirst}
	assert.Equal(t, "PASS", pass.verdict())
	assert.Equal(t, "BELOW", below.verdict())
	assert.Equal(t, "n/a", info.verdict())

	rep := &report{rows: []row{pass, info}}
	assert.Equal(t, 0, rep.exitCode(true), "an informational row never fails -check")
	rep.rows = append(rep.rows, below)
	assert.Equal(t, 0, rep.exitCode(false), "below target is not a failure without -check")
	assert.Equal(t, 1, rep.exitCode(true))
	rep = &report{rows: []row{pass}, errs: []error{errors.New("x")}}
	assert.Equal(t, 1, rep.exitCode(false), "a store failure is")
}
