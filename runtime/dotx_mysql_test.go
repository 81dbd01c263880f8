package runtime_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv/mysqltest"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// The db effect on MySQL (MariaDB in CI) through
// github.com/go-sql-driver/mysql: DoSQL, sqlx and a sqlc-style *Queries.
// Every db-effect test that ranges over ledgers runs on each.
func init() {
	moreLedgers["mysql"] = func(t *testing.T) ledger {
		return &sqlLedger{db: openLedgerDB(t, "mysql", mysqltest.Database(t, "dotx_"))}
	}
	moreLedgers["mysql-sqlx"] = func(t *testing.T) ledger {
		return &sqlxLedger{db: sqlx.NewDb(openLedgerDB(t, "mysql", mysqltest.Database(t, "dotx_")), "mysql")}
	}
	moreLedgers["mysql-sqlc"] = func(t *testing.T) ledger {
		return &sqlcLedger{db: openLedgerDB(t, "mysql", mysqltest.Database(t, "dotx_"))}
	}
}

// TestDBEffectRetriesKilledMySQLConnection kills the transaction's
// connection (KILL, from another session) in the first attempt, after
// the function's insert: the driver reports the broken connection, the
// transaction did not commit, so the db effect runs it again on a new
// connection, and the effect is written once.
func TestDBEffectRetriesKilledMySQLConnection(t *testing.T) {
	ctx := context.Background()
	l := moreLedgers["mysql"](t).(*sqlLedger)
	spec := dbSpec(t, 3)
	var attempts atomic.Int64
	k, f := ledgerEncoders(spec, "evt-1", 10)
	got, err := runtime.DoSQL(ctx, spec, l.db, k, f, func(ctx context.Context, tx *sql.Tx) (string, error) {
		if _, err := tx.ExecContext(ctx, "INSERT INTO ledger (`key`, amount) VALUES ('evt-1', 10)"); err != nil {
			return "", err
		}
		if attempts.Add(1) > 1 {
			return "written", nil
		}
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			return "", err
		}
		if _, err := l.db.ExecContext(ctx, "KILL CONNECTION ?", id); err != nil {
			return "", err
		}
		_, err := tx.ExecContext(ctx, "SELECT 1")
		if err == nil {
			return "", errors.New("the killed connection still answered")
		}
		return "", err
	})
	require.NoError(t, err)
	require.Equal(t, "written", got)
	require.EqualValues(t, 2, attempts.Load(), "the killed attempt was retried once")
	require.Equal(t, 1, l.rows(t, "evt-1"), "the killed attempt's write rolled back")
	require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).Retried)
}

// runtime.StepSQL on MySQL: the step's row and record commit in one
// transaction; a failed transaction runs again, a committed one replays
// when the composite operation runs again after a later failure.
func TestStepSQLOnMySQL(t *testing.T) {
	db := moreLedgers["mysql"](t).(*sqlLedger).db
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectComposite, 3)
	k, f := encoders(spec, "o1", "")
	runs, fails := 0, 1
	got, err := runtime.Do(ctx, spec, k, f, func(ctx context.Context) (int64, error) {
		n, err := runtime.StepSQL(ctx, "insert", db, func(ctx context.Context, tx *sql.Tx) (int64, error) {
			runs++
			if _, err := tx.ExecContext(ctx, "INSERT INTO ledger (`key`, amount) VALUES ('o1', 5)"); err != nil {
				return 0, err
			}
			if runs == 1 {
				return 0, runtime.NotApplied(errors.New("rolled back"))
			}
			return 5, nil
		})
		if err != nil {
			return 0, err
		}
		if fails > 0 {
			fails--
			return 0, runtime.NotApplied(errors.New("a later failure"))
		}
		return n, nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 5, got)
	require.Equal(t, 2, runs, "run again after the rollback, replayed after the commit")
	var rows int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM ledger WHERE `key` = 'o1'").Scan(&rows))
	require.Equal(t, 1, rows)
}

// mysqlLedger reports whether a ledgers(t) name is a MySQL one.
func mysqlLedger(name string) bool { return strings.HasPrefix(name, "mysql") }
