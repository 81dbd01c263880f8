package runtime_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
)

// The composite crash test kills, with SIGKILL, a child process that runs
// compositeCrashOps composite operations (placeOrder: a StepSQL row, an
// api charge, a queue publish and a none counter), once per run, at a
// point drawn from the child's own progress reports: before the first
// operation, inside each step (after its effect; inside the uncommitted
// transaction for the SQL step), between steps, and after an operation
// completed. The child stops at the point and waits to be killed, so the
// point is exact. The parent then restarts every operation of the run in
// process, with a clock past the dead holder's lease, and checks that
// every deduplicating sink shows exactly one effect per operation, that
// the none step never ran twice, and that an operation killed inside its
// none step is indeterminate naming that step.
//
// The schedule comes from a seed, logged; IDEM_CRASH_SEED=<seed> replays it.

const (
	compositeCrashChildEnv = "IDEM_CCRASH_CHILD"
	compositeCrashStoreEnv = "IDEM_CCRASH_STORE"
	compositeCrashDBEnv    = "IDEM_CCRASH_DB"
	compositeCrashOpsEnv   = "IDEM_CCRASH_OPS"
	compositeCrashStopEnv  = "IDEM_CCRASH_STOP"
	compositeCrashOps      = 3
)

var compositeCrashSpec = runtime.Spec{
	Namespace: "crash/composite", Version: 1, Effect: runtime.EffectComposite,
	Retry: runtime.RetryPolicy{Attempts: 3, Delay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
	Lease: 2 * time.Second,
}

// compositeCrashKinds are the points of one operation, in order.
var compositeCrashKinds = []string{
	"in-insert-order", "after-insert-order", "in-charge", "after-charge",
	"in-publish", "after-publish", "in-count", "after-count", "done",
}

// offsetClock is the real clock moved by a fixed offset: the restarted
// process sees the dead child's leases as passed without waiting for them.
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time                         { return time.Now().Add(c.d) }
func (c offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func TestCompositeSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills two hundred child processes")
	}
	seed := crashSeed(t)
	t.Logf("seed %d (replay the schedule with %s=%d)", seed, dbCrashSeedEnv, seed)
	var nonce [4]byte
	for i := range nonce {
		nonce[i] = byte(rand.Uint32())
	}
	type target struct {
		name, store, db string // the operation's store DSN; the sinks' "dialect:dsn"
		runs            int
	}
	// Each run starts a test binary: with -race on 2 cores the 200 runs
	// take about 60 to 120s (budget: 3 minutes under load).
	dir := t.TempDir()
	targets := []target{{"sqlite", "sqlite:" + filepath.Join(dir, "records.db"), "sqlite:" + filepath.Join(dir, "sinks.db"), 100}}
	var pgDSN, redisURL string
	t.Run("servers", func(t *testing.T) {
		pgDSN, redisURL = testenv.PostgresDSN(t), testenv.RedisURL(t)
	})
	if pgDSN != "" {
		dsn := freshPostgresSchema(t, pgDSN) // dropped when the test ends
		targets = append(targets, target{"postgres", dsn, "postgres:" + dsn, 50})
	}
	if redisURL != "" {
		targets = append(targets, target{"redis", redisURL, "sqlite:" + filepath.Join(dir, "redis-sinks.db"), 50})
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			st, err := runtime.Open(tg.store)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			db := openCompositeCrashDB(t, tg.db, "")
			s := newSinks(t, db)
			ctx := runtime.WithClock(runtime.WithStore(context.Background(), st),
				offsetClock{compositeCrashSpec.Lease + runtime.ClockSkew + time.Second})
			rng := rand.New(rand.NewPCG(seed, 0xc0+uint64(len(tg.name)))) // a stream per target
			dist := map[string]int{}
			for run := range tg.runs {
				prefix := fmt.Sprintf("%s-%s-run%03d", hex.EncodeToString(nonce[:]), tg.name, run)
				stop := "ready"
				kind := "before-first"
				if k := rng.IntN(len(compositeCrashKinds) + 1); k < len(compositeCrashKinds) {
					kind = compositeCrashKinds[k]
					stop = kind + ":" + strconv.Itoa(rng.IntN(compositeCrashOps))
				}
				dist[kind]++
				runCompositeCrashChild(t, tg.store, tg.db, prefix, stop, run)
				// stopOp is the operation killed (or, for done, the
				// first not started); the ones before it completed.
				stopOp := 0
				if i := strings.LastIndexByte(stop, ':'); i >= 0 {
					stopOp, _ = strconv.Atoi(stop[i+1:])
					if kind == "done" {
						stopOp++
					}
				}
				// After the kill: the operations before the point ran
				// once each; none ran its none step twice.
				for j := range compositeCrashOps {
					got := s.of(t, fmt.Sprintf("%s-op%d", prefix, j))
					require.LessOrEqual(t, got.Counter, 1, "run %d (%s): op %d: the none step ran twice", run, stop, j)
					if j < stopOp {
						require.Equal(t, once, got, "run %d (%s): op %d before the kill", run, stop, j)
					}
				}
				// The restart: every operation of the run once more.
				for j := range compositeCrashOps {
					op := fmt.Sprintf("%s-op%d", prefix, j)
					res, err := placeOrder(ctx, &compositeCrashSpec, db, s, op, noHook)
					if j == stopOp && kind == "in-count" {
						require.ErrorIs(t, err, runtime.ErrIndeterminate, "run %d (%s): op %d", run, stop, j)
						require.ErrorContains(t, err, `step "count"`, "run %d (%s)", run, stop)
					} else {
						require.NoError(t, err, "run %d (%s): restart of op %d", run, stop, j)
						require.Equal(t, op, res.Order)
						require.Equal(t, 1, res.Count)
					}
					got := s.of(t, op)
					require.Equal(t, 1, got.Orders, "run %d (%s): op %d: %v", run, stop, j, got)
					require.Equal(t, 1, got.APIKeys, "run %d (%s): op %d: %v", run, stop, j, got)
					require.Equal(t, 1, got.QueueMsgs, "run %d (%s): op %d: %v", run, stop, j, got)
					require.Equal(t, 1, got.Counter, "run %d (%s): op %d: %v", run, stop, j, got)
					require.LessOrEqual(t, got.APIRaw, 2, "run %d (%s): op %d: %v", run, stop, j, got)
					require.LessOrEqual(t, got.QueueRaw, 2, "run %d (%s): op %d: %v", run, stop, j, got)
				}
			}
			var parts []string
			for _, k := range append([]string{"before-first"}, compositeCrashKinds...) {
				parts = append(parts, fmt.Sprintf("%s %d", k, dist[k]))
			}
			t.Logf("%d runs, each killed once: %s", tg.runs, strings.Join(parts, ", "))
		})
	}
}

// openCompositeCrashDB opens the sinks' database, "sqlite:<path>" or
// "postgres:<dsn>"; app names the PostgreSQL session.
func openCompositeCrashDB(t *testing.T, spec, app string) *sql.DB {
	dialect, dsn, _ := strings.Cut(spec, ":")
	if dialect == "postgres" && app != "" {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	return openCrashDB(t, dialect, dsn)
}

// runCompositeCrashChild starts a child that runs the operations of one
// run and kills it with SIGKILL when it reports stop.
func runCompositeCrashChild(t *testing.T, storeDSN, db, prefix, stop string, run int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCompositeCrashChild$")
	cmd.Env = append(os.Environ(), compositeCrashChildEnv+"=1", compositeCrashStoreEnv+"="+storeDSN,
		compositeCrashDBEnv+"="+db, compositeCrashOpsEnv+"="+prefix, compositeCrashStopEnv+"="+stop)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stdin, err := cmd.StdinPipe() // the child waits on it; EOF ends an orphan
	require.NoError(t, err)
	defer stdin.Close()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	killed := false
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if lines.Text() == stop {
			require.NoError(t, cmd.Process.Kill())
			killed = true
			break
		}
	}
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	require.True(t, killed, "run %d: the child never reported %q (exit: %v); its stderr:\n%s", run, stop, err, stderr.String())
	require.ErrorContains(t, err, "signal: killed", "run %d (%s): its stderr:\n%s", run, stop, stderr.String())
}

// TestCompositeCrashChild is the process TestCompositeSurvivesSIGKILL
// kills. It reports "ready", then "<point>:<op>" at every point of every
// operation, and waits to be killed at IDEM_CCRASH_STOP.
func TestCompositeCrashChild(t *testing.T) {
	if os.Getenv(compositeCrashChildEnv) != "1" {
		testenv.NotApplicable(t, "helper process, run only by TestCompositeSurvivesSIGKILL")
	}
	stop, prefix := os.Getenv(compositeCrashStopEnv), os.Getenv(compositeCrashOpsEnv)
	st, err := runtime.Open(os.Getenv(compositeCrashStoreEnv))
	require.NoError(t, err)
	db := openCompositeCrashDB(t, os.Getenv(compositeCrashDBEnv), "idem-ccrash")
	require.NoError(t, db.Ping())
	s := &sinks{db: db}
	ctx := runtime.WithStore(context.Background(), st)
	w := bufio.NewWriter(os.Stdout)
	say := func(line string) {
		_, _ = w.WriteString(line + "\n")
		_ = w.Flush()
		if line == stop {
			_, _ = io.Copy(io.Discard, os.Stdin) // killed here; EOF means the parent is gone
			os.Exit(3)
		}
	}
	say("ready")
	for j := range compositeCrashOps {
		suffix := ":" + strconv.Itoa(j)
		_, err := placeOrder(ctx, &compositeCrashSpec, db, s, fmt.Sprintf("%s-op%d", prefix, j), func(point string) error {
			say(point + suffix)
			return nil
		})
		require.NoError(t, err)
		say("done" + suffix)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}
