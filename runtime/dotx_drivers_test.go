package runtime_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemsqlx"
)

// The db effect through other drivers (lib/pq; mattn/go-sqlite3 where cgo
// is available, dotx_mattn_test.go) and other transaction types (sqlx, a
// sqlc-style *Queries): every db-effect test that ranges over ledgers runs
// on each.
func init() {
	moreLedgers["postgres-libpq"] = func(t *testing.T) ledger {
		db := openLedgerDB(t, "postgres", freshPostgresSchema(t, testenv.PostgresDSN(t)))
		return &sqlLedger{db: db}
	}
	moreLedgers["sqlite-sqlx"] = func(t *testing.T) ledger {
		db := openSQLiteLedgerDB(t, filepath.Join(t.TempDir(), "app.db"))
		_, err := db.Exec(ledgerTable)
		require.NoError(t, err)
		return &sqlxLedger{db: sqlx.NewDb(db, "sqlite")}
	}
	moreLedgers["postgres-libpq-sqlx"] = func(t *testing.T) ledger {
		db := openLedgerDB(t, "postgres", freshPostgresSchema(t, testenv.PostgresDSN(t)))
		return &sqlxLedger{db: sqlx.NewDb(db, "postgres")}
	}
	moreLedgers["sqlite-sqlc"] = func(t *testing.T) ledger {
		db := openSQLiteLedgerDB(t, filepath.Join(t.TempDir(), "app.db"))
		_, err := db.Exec(ledgerTable)
		require.NoError(t, err)
		return &sqlcLedger{db: db}
	}
	moreLedgers["postgres-sqlc"] = func(t *testing.T) ledger {
		db := openLedgerDB(t, "pgx", freshPostgresSchema(t, testenv.PostgresDSN(t)))
		return &sqlcLedger{db: db, pg: true}
	}
}

// openLedgerDB opens dsn with driver and creates the ledger table.
func openLedgerDB(t *testing.T, driver, dsn string) *sql.DB {
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(rebind(db, ledgerTable))
	require.NoError(t, err)
	return db
}

// sqlxLedger goes through idemsqlx.Do.
type sqlxLedger struct {
	db *sqlx.DB
	n  atomic.Int64
}

func (l *sqlxLedger) insert(ctx context.Context, spec *runtime.Spec, key string, amount int64, fail func(int64) error) (int64, error) {
	k, f := ledgerEncoders(spec, key, amount)
	return idemsqlx.Do(ctx, spec, l.db, k, f, func(ctx context.Context, tx *sqlx.Tx) (int64, error) {
		n := l.n.Add(1)
		if _, err := tx.ExecContext(ctx, rebind(l.db.DB, `INSERT INTO ledger (key, amount) VALUES (?, ?)`), key, amount); err != nil {
			return 0, err
		}
		if fail != nil {
			if err := fail(n); err != nil {
				return 0, err
			}
		}
		var count int64
		err := tx.GetContext(ctx, &count, `SELECT count(*) FROM ledger`)
		return count, err
	})
}

func (l *sqlxLedger) rows(t *testing.T, key string) int {
	var n int
	require.NoError(t, l.db.Get(&n, rebind(l.db.DB, `SELECT count(*) FROM ledger WHERE key = ?`), key))
	return n
}

func (l *sqlxLedger) execs() int64 { return l.n.Load() }

// sqlcDBTX, sqlcQueries and newSQLCQueries are what sqlc generates for
// database/sql.
type sqlcDBTX interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

type sqlcQueries struct{ db sqlcDBTX }

func newSQLCQueries(db sqlcDBTX) *sqlcQueries { return &sqlcQueries{db: db} }

func (q *sqlcQueries) WithTx(tx *sql.Tx) *sqlcQueries { return &sqlcQueries{db: tx} }

// sqlcLedger goes through DoSQLAs with WrapSQLTx: with sqlc's New on the
// SQLite database, with WithTx on PostgreSQL.
type sqlcLedger struct {
	db *sql.DB
	pg bool
	n  atomic.Int64
}

func (l *sqlcLedger) insert(ctx context.Context, spec *runtime.Spec, key string, amount int64, fail func(int64) error) (int64, error) {
	k, f := ledgerEncoders(spec, key, amount)
	begin := runtime.WrapSQLTx(l.db, newSQLCQueries)
	if l.pg {
		begin = runtime.WrapSQLTx(l.db, newSQLCQueries(l.db).WithTx)
	}
	return runtime.DoSQLAs(ctx, spec, l.db, k, f, begin, func(ctx context.Context, q *sqlcQueries) (int64, error) {
		n := l.n.Add(1)
		if _, err := q.db.ExecContext(ctx, rebind(l.db, `INSERT INTO ledger (key, amount) VALUES (?, ?)`), key, amount); err != nil {
			return 0, err
		}
		if fail != nil {
			if err := fail(n); err != nil {
				return 0, err
			}
		}
		var count int64
		err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&count)
		return count, err
	})
}

func (l *sqlcLedger) rows(t *testing.T, key string) int {
	var n int
	require.NoError(t, l.db.QueryRow(rebind(l.db, `SELECT count(*) FROM ledger WHERE key = ?`), key).Scan(&n))
	return n
}

func (l *sqlcLedger) execs() int64 { return l.n.Load() }

// An unsupported driver is an error naming every supported one.
func TestDBEffectUnsupportedDriverNamesTheSupported(t *testing.T) {
	db := sql.OpenDB(fakeConnector{})
	defer db.Close()
	spec := dbSpec(t, 0)
	k, f := encoders(spec, "k", "fp")
	_, err := runtime.DoSQLAs(context.Background(), spec, db, k, f, runtime.WrapSQLTx(db, newSQLCQueries), func(context.Context, *sqlcQueries) (int, error) {
		t.Fatal("ran")
		return 0, nil
	})
	for _, d := range []string{"modernc.org/sqlite (SQLite)", "github.com/mattn/go-sqlite3 (SQLite)", "github.com/jackc/pgx/v5/stdlib (PostgreSQL)", "github.com/lib/pq (PostgreSQL)", "github.com/go-sql-driver/mysql (MySQL)", "runtime_test.fakeDriver"} {
		require.ErrorContains(t, err, d)
	}
}
