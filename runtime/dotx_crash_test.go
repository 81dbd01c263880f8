package runtime_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
)

// The db-effect crash test kills a child process that writes through the db
// effect at random points, hundreds of times, and checks after every kill
// that the business table holds no duplicate and has not lost a key the
// child saw committed; then it finishes the interrupted work, as a retry
// after a restart would, and checks that every key is there exactly once.

const (
	dbCrashChildEnv  = "IDEM_DBCRASH_CHILD"
	dbCrashDialEnv   = "IDEM_DBCRASH_DIALECT"
	dbCrashDSNEnv    = "IDEM_DBCRASH_DSN"
	dbCrashRunEnv    = "IDEM_DBCRASH_RUN"
	dbCrashKeysInRun = 25
)

var dbCrashSpec = runtime.Spec{Namespace: "crash/ledger", Version: 1, Effect: runtime.EffectDB, Retry: runtime.RetryPolicy{Attempts: 5, Delay: time.Millisecond, MaxDelay: 10 * time.Millisecond}}

func dbCrashKey(run, i int) string { return fmt.Sprintf("run%03d-evt%02d", run, i) }

func TestDBEffectSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills hundreds of child processes")
	}
	type target struct {
		dialect string
		dsn     string
		runs    int
		// maxDelayMicros spreads the kills over the child's work.
		maxDelayMicros int
	}
	targets := []target{{"sqlite", filepath.Join(t.TempDir(), "ledger.db"), 200, 60_000}}
	t.Run("servers", func(t *testing.T) {
		targets = append(targets, target{"postgres", testenv.PostgresDSN(t), 100, 40_000})
	})
	for _, tg := range targets {
		if tg.dsn == "" {
			continue
		}
		t.Run(tg.dialect, func(t *testing.T) {
			if tg.dialect == "postgres" {
				tg.dsn = freshPostgresSchema(t, tg.dsn)
			}
			l := openCrashLedger(t, tg.dialect, tg.dsn)
			_, err := l.exec(context.Background(), ledgerTable)
			require.NoError(t, err)
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, seed))
			killedMidway := 0 // kills after some keys committed and before the last
			for run := range tg.runs {
				committed := runDBCrashChild(t, tg.dialect, tg.dsn, run, time.Duration(rng.IntN(tg.maxDelayMicros))*time.Microsecond)
				if len(committed) > 0 && len(committed) < dbCrashKeysInRun {
					killedMidway++
				}
				// After the kill: nothing duplicated, nothing committed lost.
				counts := l.counts(t, fmt.Sprintf("run%03d-", run))
				for key, n := range counts {
					require.LessOrEqual(t, n, 1, "run %d: key %s has %d rows", run, key, n)
				}
				for _, key := range committed {
					require.Equal(t, 1, counts[key], "run %d: key %s was reported committed but has no row", run, key)
				}
				// The restart: every key of the run once more, in process.
				for i := range dbCrashKeysInRun {
					_, err := l.insert(context.Background(), &dbCrashSpec, dbCrashKey(run, i), int64(i), nil)
					require.NoError(t, err)
				}
				counts = l.counts(t, fmt.Sprintf("run%03d-", run))
				require.Len(t, counts, dbCrashKeysInRun)
				for key, n := range counts {
					require.Equal(t, 1, n, "run %d: key %s", run, key)
				}
			}
			t.Logf("%d runs, %d killed after some keys committed and before the last", tg.runs, killedMidway)
			require.Greater(t, killedMidway, tg.runs/4, "too few kills landed mid-run for the test to mean anything")
		})
	}
}

// runDBCrashChild starts a child that writes the keys of run, kills it with
// SIGKILL after delay, and returns the keys it reported committed.
func runDBCrashChild(t *testing.T, dialect, dsn string, run int, delay time.Duration) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDBCrashChild$")
	cmd.Env = append(os.Environ(), dbCrashChildEnv+"=1", dbCrashDialEnv+"="+dialect, dbCrashDSNEnv+"="+dsn, fmt.Sprintf("%s=%d", dbCrashRunEnv, run))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var (
		mu        sync.Mutex
		committed []string
		ready     = make(chan struct{})
		eof       = make(chan struct{})
	)
	go func() {
		defer close(eof)
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			line := lines.Text()
			if line == "ready" {
				close(ready)
				continue
			}
			if key, ok := strings.CutPrefix(line, "committed "); ok {
				mu.Lock()
				committed = append(committed, key)
				mu.Unlock()
			}
		}
	}()
	select {
	case <-ready:
	case <-eof:
		t.Fatal("the child exited before it was ready")
	}
	time.Sleep(delay) // a random point in the child's work, not a synchronisation
	_ = cmd.Process.Kill()
	<-eof
	_ = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	return committed
}

// TestDBCrashChild is the writer that TestDBEffectSurvivesSIGKILL kills.
func TestDBCrashChild(t *testing.T) {
	if os.Getenv(dbCrashChildEnv) != "1" {
		t.Skip("run by TestDBEffectSurvivesSIGKILL")
	}
	var run int
	_, err := fmt.Sscan(os.Getenv(dbCrashRunEnv), &run)
	require.NoError(t, err)
	l := openCrashLedger(t, os.Getenv(dbCrashDialEnv), os.Getenv(dbCrashDSNEnv))
	// Warm the connection so that the kill lands in the writes.
	_, err = l.exec(context.Background(), "SELECT 1")
	require.NoError(t, err)
	fmt.Println("ready")
	for i := range dbCrashKeysInRun {
		_, err := l.insert(context.Background(), &dbCrashSpec, dbCrashKey(run, i), int64(i), nil)
		require.NoError(t, err)
		fmt.Println("committed " + dbCrashKey(run, i))
	}
}

type crashLedger struct {
	ledger
	exec   func(ctx context.Context, q string) (any, error)
	counts func(t *testing.T, prefix string) map[string]int
}

func openCrashLedger(t *testing.T, dialect, dsn string) crashLedger {
	ctx := context.Background()
	switch dialect {
	case "sqlite":
		db := openSQLiteLedgerDB(t, dsn)
		return crashLedger{
			ledger: &sqlLedger{db: db},
			exec:   func(ctx context.Context, q string) (any, error) { return db.ExecContext(ctx, q) },
			counts: func(t *testing.T, prefix string) map[string]int { return countRows(t, db, prefix) },
		}
	case "postgres":
		pool, err := pgxpool.New(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return crashLedger{
			ledger: &pgxLedger{pool: pool},
			exec:   func(ctx context.Context, q string) (any, error) { return pool.Exec(ctx, q) },
			counts: func(t *testing.T, prefix string) map[string]int { return countRows(t, db, prefix) },
		}
	}
	t.Fatalf("unknown dialect %q", dialect)
	return crashLedger{}
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
