// Command idembench measures what the idem runtime costs on top of the store
// it runs on. For each selected store it measures, in one run against the same
// server and with the same number of concurrent workers:
//
//   - first call: runtime.Do with a new key each time (claim, a no-op function
//     returning a small struct, complete), against the raw single-row insert
//     an application would otherwise issue (PostgreSQL INSERT ... ON CONFLICT
//     DO NOTHING, Redis SET NX, SQLite INSERT);
//   - replay: runtime.Do on a small set of completed keys, called again and
//     again, against a raw primary-key read (SELECT, GET).
//
// Baseline and runtime share one connection pool (one pgxpool, one Redis
// client, one *sql.DB opened with sqlitestore.DSN) and are measured
// alternately, round after round, and the medians are compared, so that
// machine noise affects both alike. It prints a table of throughputs and
// ratios with PASS or BELOW next to each (targets: first call >= 0.45x,
// replay >= 0.85x), the round trips and store calls per operation, and the
// exact flags used.
//
// Usage:
//
//	idembench [-sqlite PATH|off] [-postgres DSN|off] [-redis URL|off] [-memory]
//	          [-conns 8 | -conns 1,8,32] [-duration 3s | -n OPS] [-rounds 3] [-replay-keys 64]
//	          [-check] [-cpuprofile FILE]
//
// -conns 1,8,32 runs the whole benchmark once per worker count, one report
// after another, so that the cost's growth with load is visible.
//
// PostgreSQL and Redis default to $IDEM_TEST_POSTGRES_DSN and
// $IDEM_TEST_REDIS_URL (`source scripts/services.sh` starts throwaway servers
// and sets them); a store without a DSN is skipped with a note. The tables
// and keys the run creates are removed at the end.
//
// The exit status is 0 whatever the ratios (it is a measurement, not a test)
// unless -check is given, in which case a ratio below its target exits 1.
// A store that fails (cannot connect, an operation errs) exits 1; bad flags
// exit 2.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
