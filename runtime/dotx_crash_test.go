package runtime_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/internal/testenv/mysqltest"
	"github.com/idem-go/idem/runtime"
)

// The db-effect crash test kills, with SIGKILL, a child process that writes
// keys through the db effect (DoSQL: claim, business row and recorded result
// in one transaction), once per run, at a point chosen from the child's own
// progress reports:
//
//	before-first  the child is connected and has written nothing
//	in-tx         inside key i's transaction: its row is written, not committed
//	in-commit     the child reported being inside key i's transaction and
//	              carries on: the kill lands in or just after the commit
//	between       key i committed, key i+1 not begun
//	after-last    every key committed
//
// At every point but in-commit the child stops there and waits to be
// killed, so the point is exact; in-commit races the kill against the
// commit on purpose. After each kill the parent checks that the ledger holds
// no duplicate, lost no key the child saw committed and, at an exact point,
// holds exactly the keys committed before it; then it restarts the work in
// process, as a retry after a crash would, and checks that each key is
// there exactly once and that only the uncommitted keys ran again.
//
// Every run tests a crash. The schedule comes from a seed, logged with the
// distribution of points; IDEM_CRASH_SEED=<seed> replays the same schedule.

const (
	dbCrashChildEnv = "IDEM_DBCRASH_CHILD"
	dbCrashDialEnv  = "IDEM_DBCRASH_DIALECT"
	dbCrashDSNEnv   = "IDEM_DBCRASH_DSN"
	dbCrashRunEnv   = "IDEM_DBCRASH_RUN"
	dbCrashStopEnv  = "IDEM_DBCRASH_STOP"
	// dbCrashSeedEnv replays a logged schedule.
	dbCrashSeedEnv   = "IDEM_CRASH_SEED"
	dbCrashKeysInRun = 8
)

var dbCrashSpec = runtime.Spec{Namespace: "crash/ledger", Version: 1, Effect: runtime.EffectDB, Retry: runtime.RetryPolicy{Attempts: 5, Delay: time.Millisecond, MaxDelay: 10 * time.Millisecond}}

func dbCrashKey(run, i int) string { return fmt.Sprintf("run%03d-evt%02d", run, i) }

// crashPoint is where one run kills its child.
type crashPoint struct {
	kind string // before-first, in-tx, in-commit, between, after-last
	i    int    // the key, for in-tx, in-commit and between
}

var crashKinds = []string{"before-first", "in-tx", "in-commit", "between", "after-last"}

func (p crashPoint) String() string {
	switch p.kind {
	case "in-tx", "in-commit", "between":
		return p.kind + ":" + strconv.Itoa(p.i)
	}
	return p.kind
}

// report is the child's progress line that the parent kills on.
func (p crashPoint) report() string {
	switch p.kind {
	case "before-first":
		return "ready"
	case "in-tx", "in-commit":
		return "in-tx " + strconv.Itoa(p.i)
	case "between":
		return "committed " + strconv.Itoa(p.i)
	}
	return "committed " + strconv.Itoa(dbCrashKeysInRun-1)
}

// exact reports whether the child waits at the point (all but in-commit).
func (p crashPoint) exact() bool { return p.kind != "in-commit" }

// committedBefore is how many keys are committed at an exact point.
func (p crashPoint) committedBefore() int {
	switch p.kind {
	case "before-first":
		return 0
	case "in-tx":
		return p.i
	case "between":
		return p.i + 1
	}
	return dbCrashKeysInRun
}

// drawPoint draws a kind uniformly, then a key uniformly where the kind has
// one (between stops before the last key: after it is after-last).
func drawPoint(rng *rand.Rand) crashPoint {
	p := crashPoint{kind: crashKinds[rng.IntN(len(crashKinds))]}
	switch p.kind {
	case "in-tx", "in-commit":
		p.i = rng.IntN(dbCrashKeysInRun)
	case "between":
		p.i = rng.IntN(dbCrashKeysInRun - 1)
	}
	return p
}

// crashSeed is IDEM_CRASH_SEED, or a new seed.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv(dbCrashSeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "%s=%q: want an unsigned integer", dbCrashSeedEnv, s)
		return seed
	}
	return rand.Uint64()
}

func TestDBEffectSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a hundred child processes")
	}
	seed := crashSeed(t)
	t.Logf("seed %d (replay the schedule with %s=%d)", seed, dbCrashSeedEnv, seed)
	type target struct {
		dialect, dsn string
		runs         int
	}
	// Each run starts a test binary: with -race on 2 cores these counts take
	// about 50s (about 80 to 120s with two CPU-bound processes beside it).
	// Every run is a crash, so each of the five kinds of point is hit about
	// 20 times on SQLite and 10 on PostgreSQL and on MySQL.
	targets := []target{{"sqlite", filepath.Join(t.TempDir(), "ledger.db"), 100}}
	t.Run("servers", func(t *testing.T) {
		targets = append(targets, target{"postgres", testenv.PostgresDSN(t), 50})
	})
	t.Run("mysql-server", func(t *testing.T) {
		targets = append(targets, target{"mysql", testenv.MySQLDSN(t), 50})
	})
	for _, tg := range targets {
		if tg.dsn == "" {
			continue
		}
		t.Run(tg.dialect, func(t *testing.T) {
			switch tg.dialect {
			case "postgres":
				tg.dsn = freshPostgresSchema(t, tg.dsn)
			case "mysql":
				tg.dsn = mysqltest.Database(t, "crash_")
			}
			db := openCrashDB(t, tg.dialect, tg.dsn)
			_, err := db.Exec(rebind(db, ledgerTable))
			require.NoError(t, err)
			l := &sqlLedger{db: db}
			rng := rand.New(rand.NewPCG(seed, 0xdb))
			dist := map[string]int{}
			for run := range tg.runs {
				p := drawPoint(rng)
				dist[p.kind]++
				committed := runDBCrashChild(t, tg.dialect, tg.dsn, run, p)
				// The server finishes (or rolls back) what the dead child
				// sent before the parent looks.
				switch tg.dialect {
				case "postgres":
					waitBackendsGone(t, db, crashAppName(run))
				case "mysql":
					waitMySQLSessionGone(t, db, crashAppName(run))
				}

				// After the kill: nothing duplicated, nothing committed
				// lost, and at an exact point exactly what came before.
				counts := countRows(t, db, fmt.Sprintf("run%03d-", run))
				for key, n := range counts {
					require.LessOrEqual(t, n, 1, "run %d (%v): key %s has %d rows", run, p, key, n)
				}
				for _, key := range committed {
					require.Equal(t, 1, counts[key], "run %d (%v): key %s was reported committed but has no row", run, p, key)
				}
				if p.exact() {
					var want []string
					for i := range p.committedBefore() {
						want = append(want, dbCrashKey(run, i))
					}
					require.Equal(t, want, sortedKeys(counts), "run %d (%v): rows after the kill", run, p)
				}

				// The restart: every key of the run once more, in process.
				// Only the keys without a row run; the others replay.
				before := l.execs()
				for i := range dbCrashKeysInRun {
					_, err := l.insert(context.Background(), &dbCrashSpec, dbCrashKey(run, i), int64(i), nil)
					require.NoError(t, err, "run %d (%v): restart, key %d", run, p, i)
				}
				require.EqualValues(t, dbCrashKeysInRun-len(counts), l.execs()-before, "run %d (%v): keys run again after the restart", run, p)
				counts = countRows(t, db, fmt.Sprintf("run%03d-", run))
				require.Len(t, counts, dbCrashKeysInRun, "run %d (%v)", run, p)
				for key, n := range counts {
					require.Equal(t, 1, n, "run %d (%v): key %s", run, p, key)
				}
			}
			var parts []string
			for _, k := range crashKinds {
				parts = append(parts, fmt.Sprintf("%s %d", k, dist[k]))
			}
			t.Logf("%d runs, each killed once: %s", tg.runs, strings.Join(parts, ", "))
		})
	}
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// runDBCrashChild starts a child that writes the keys of run, kills it with
// SIGKILL when it reports reaching p, and returns the keys it reported
// committed.
func runDBCrashChild(t *testing.T, dialect, dsn string, run int, p crashPoint) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDBCrashChild$")
	cmd.Env = append(os.Environ(), dbCrashChildEnv+"=1", dbCrashDialEnv+"="+dialect, dbCrashDSNEnv+"="+dsn,
		fmt.Sprintf("%s=%d", dbCrashRunEnv, run), dbCrashStopEnv+"="+p.String())
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stdin, err := cmd.StdinPipe() // an exact point waits on it; EOF ends an orphan
	require.NoError(t, err)
	defer stdin.Close()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	var committed []string
	killed := false
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		if key, ok := strings.CutPrefix(line, "committed "); ok {
			i, err := strconv.Atoi(key)
			require.NoError(t, err)
			committed = append(committed, dbCrashKey(run, i))
		}
		if line == p.report() {
			require.NoError(t, cmd.Process.Kill())
			killed = true
			break
		}
	}
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	require.True(t, killed, "run %d: the child never reported %q (exit: %v); its stderr:\n%s", run, p.report(), err, stderr.String())
	require.ErrorContains(t, err, "signal: killed", "run %d (%v): the child must die by the kill; its stderr:\n%s", run, p, stderr.String())
	return committed
}

// TestDBCrashChild is the writer that TestDBEffectSurvivesSIGKILL kills. It
// reports "ready", then for each key "in-tx i" inside its transaction and
// "committed i" after the commit, and waits to be killed at the point
// IDEM_DBCRASH_STOP names, unless that point is in-commit.
func TestDBCrashChild(t *testing.T) {
	if os.Getenv(dbCrashChildEnv) != "1" {
		testenv.NotApplicable(t, "helper process, run only by TestDBEffectSurvivesSIGKILL")
	}
	run, err := strconv.Atoi(os.Getenv(dbCrashRunEnv))
	require.NoError(t, err)
	stop := os.Getenv(dbCrashStopEnv)
	db := openCrashDB(t, os.Getenv(dbCrashDialEnv), os.Getenv(dbCrashDSNEnv))
	// Connect first, so that before-first is a connected, idle writer.
	require.NoError(t, db.Ping())
	w := bufio.NewWriter(os.Stdout)
	say := func(line string, point string) {
		_, _ = w.WriteString(line + "\n")
		_ = w.Flush()
		if point == stop && !strings.HasPrefix(stop, "in-commit") {
			_, _ = io.Copy(io.Discard, os.Stdin) // killed here; EOF means the parent is gone
			os.Exit(3)
		}
	}
	say("ready", "before-first")
	l := &sqlLedger{db: db}
	for i := range dbCrashKeysInRun {
		_, err := l.insert(context.Background(), &dbCrashSpec, dbCrashKey(run, i), int64(i), func(int64) error {
			if stop == "in-commit:"+strconv.Itoa(i) {
				say("in-tx "+strconv.Itoa(i), "")
				return nil
			}
			say("in-tx "+strconv.Itoa(i), "in-tx:"+strconv.Itoa(i))
			return nil
		})
		require.NoError(t, err)
		point := "between:" + strconv.Itoa(i)
		if i == dbCrashKeysInRun-1 {
			point = "after-last"
		}
		say("committed "+strconv.Itoa(i), point)
	}
	// in-commit: the kill may land after the last commit, never after the
	// child exited.
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}

// crashAppName is the PostgreSQL application_name of run's child, and the
// name of the MySQL lock its session holds.
func crashAppName(run int) string { return fmt.Sprintf("idem-dbcrash-%03d", run) }

// waitBackendsGone waits until the server has no session named app: a
// killed client's COMMIT may still be running on the server when the
// client is gone, and what the parent reads must be its outcome. The wait
// is for a condition, bounded by 30s.
func waitBackendsGone(t *testing.T, db *sql.DB, app string) {
	t.Helper()
	for i := 0; ; i++ {
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n))
		if n == 0 {
			return
		}
		require.Less(t, i, 3000, "the server still has %d sessions of the killed child %s after 30s", n, app)
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMySQLSessionGone waits until the named lock app, which the killed
// child's one session took (openCrashDB), is free: the server releases it
// when the session ends, after the statement (a COMMIT) it was running.
// The wait is for a condition, bounded by 30s.
func waitMySQLSessionGone(t *testing.T, db *sql.DB, app string) {
	t.Helper()
	for i := 0; ; i++ {
		var free int
		require.NoError(t, db.QueryRow(`SELECT IS_FREE_LOCK(?)`, app).Scan(&free))
		if free == 1 {
			return
		}
		require.Less(t, i, 3000, "the server still has the session of the killed child %s after 30s", app)
		time.Sleep(10 * time.Millisecond)
	}
}

// openCrashDB opens the ledger database through database/sql, the handle
// DoSQL takes: modernc.org/sqlite in WAL mode, PostgreSQL through pgx's
// stdlib driver, or MySQL through github.com/go-sql-driver/mysql (a
// child's one connection holds the named lock its parent waits on).
func openCrashDB(t *testing.T, dialect, dsn string) *sql.DB {
	switch dialect {
	case "mysql":
		db, err := sql.Open("mysql", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		if run := os.Getenv(dbCrashRunEnv); run != "" && os.Getenv(dbCrashChildEnv) == "1" {
			n, err := strconv.Atoi(run)
			require.NoError(t, err)
			db.SetMaxOpenConns(1)
			var got int
			require.NoError(t, db.QueryRow(`SELECT GET_LOCK(?, 0)`, crashAppName(n)).Scan(&got))
			require.Equal(t, 1, got, "the named lock of run %d is taken", n)
		}
		return db
	case "sqlite":
		return openSQLiteLedgerDB(t, dsn)
	case "postgres":
		if run := os.Getenv(dbCrashRunEnv); run != "" && os.Getenv(dbCrashChildEnv) == "1" {
			u, err := url.Parse(dsn)
			require.NoError(t, err)
			q := u.Query()
			n, err := strconv.Atoi(run)
			require.NoError(t, err)
			q.Set("application_name", crashAppName(n))
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	t.Fatalf("unknown dialect %q", dialect)
	return nil
}

func countRows(t *testing.T, db *sql.DB, prefix string) map[string]int {
	rows, err := db.Query(rebind(db, `SELECT key, count(*) FROM ledger WHERE key LIKE ? GROUP BY key`), prefix+"%")
	require.NoError(t, err)
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		require.NoError(t, rows.Scan(&k, &n))
		counts[k] = n
	}
	require.NoError(t, rows.Err())
	return counts
}
