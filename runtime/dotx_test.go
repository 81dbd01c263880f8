package runtime_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idempgx"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// ledger is a database whose business table, ledger(key, amount), the
// db-effect tests write to, through one of the supported handles.
type ledger interface {
	// insert calls the db-effect wrapper for key: it inserts one row
	// (key, amount) and returns the row count it saw in its transaction.
	insert(ctx context.Context, spec *runtime.Spec, key string, amount int64, fail func(n int64) error) (int64, error)
	rows(t *testing.T, key string) int
	execs() int64
}

// sqlLedger goes through DoSQL.
type sqlLedger struct {
	db *sql.DB
	n  atomic.Int64
}

func (l *sqlLedger) insert(ctx context.Context, spec *runtime.Spec, key string, amount int64, fail func(int64) error) (int64, error) {
	k, f := ledgerEncoders(spec, key, amount)
	return runtime.DoSQL(ctx, spec, l.db, k, f, func(ctx context.Context, tx *sql.Tx) (int64, error) {
		n := l.n.Add(1)
		if _, err := tx.ExecContext(ctx, rebind(l.db, `INSERT INTO ledger (key, amount) VALUES (?, ?)`), key, amount); err != nil {
			return 0, err
		}
		if fail != nil {
			if err := fail(n); err != nil {
				return 0, err
			}
		}
		var count int64
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&count)
		return count, err
	})
}

func (l *sqlLedger) rows(t *testing.T, key string) int {
	var n int
	require.NoError(t, l.db.QueryRow(rebind(l.db, `SELECT count(*) FROM ledger WHERE key = ?`), key).Scan(&n))
	return n
}

func (l *sqlLedger) execs() int64 { return l.n.Load() }

// rebind turns ? placeholders into PostgreSQL's $1 where needed, and
// quotes the column key where the word is reserved (MySQL).
func rebind(db *sql.DB, q string) string {
	switch fmt.Sprintf("%T", db.Driver()) {
	case "*sqlite.Driver", "*sqlite3.SQLiteDriver":
		return q
	case "*mysql.MySQLDriver", "mysql.MySQLDriver":
		return regexp.MustCompile(`\bkey\b`).ReplaceAllLiteralString(q, "`key`")
	}
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// pgxLedger goes through DoPgx.
type pgxLedger struct {
	pool *pgxpool.Pool
	n    atomic.Int64
}

func (l *pgxLedger) insert(ctx context.Context, spec *runtime.Spec, key string, amount int64, fail func(int64) error) (int64, error) {
	k, f := ledgerEncoders(spec, key, amount)
	return idempgx.DoPgx(ctx, spec, l.pool, k, f, func(ctx context.Context, tx pgx.Tx) (int64, error) {
		n := l.n.Add(1)
		if _, err := tx.Exec(ctx, `INSERT INTO ledger (key, amount) VALUES ($1, $2)`, key, amount); err != nil {
			return 0, err
		}
		if fail != nil {
			if err := fail(n); err != nil {
				return 0, err
			}
		}
		var count int64
		err := tx.QueryRow(ctx, `SELECT count(*) FROM ledger`).Scan(&count)
		return count, err
	})
}

func (l *pgxLedger) rows(t *testing.T, key string) int {
	var n int
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM ledger WHERE key = $1`, key).Scan(&n))
	return n
}

func (l *pgxLedger) execs() int64 { return l.n.Load() }

func ledgerEncoders(spec *runtime.Spec, key string, amount int64) (*runtime.Encoder, *runtime.Encoder) {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	f.String(key)
	f.Int64(amount)
	return &k, &f
}

const ledgerTable = `CREATE TABLE ledger (key TEXT NOT NULL, amount BIGINT NOT NULL)`

func openSQLiteLedgerDB(t testing.TB, path string) *sql.DB {
	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// freshPostgresSchema returns a DSN whose sessions use a new schema, so that
// the records table the db effect creates is this test's own.
func freshPostgresSchema(t testing.TB, dsn string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	schema := "dotx_" + randomNamespace(t.(*testing.T))[len("crash/"):]
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// ledgers returns a fresh ledger for every supported handle.
func ledgers(t *testing.T) map[string]func(t *testing.T) ledger {
	m := map[string]func(t *testing.T) ledger{
		"sqlite": func(t *testing.T) ledger {
			db := openSQLiteLedgerDB(t, filepath.Join(t.TempDir(), "app.db"))
			_, err := db.Exec(ledgerTable)
			require.NoError(t, err)
			return &sqlLedger{db: db}
		},
		"postgres-sql": func(t *testing.T) ledger {
			dsn := freshPostgresSchema(t, testenv.PostgresDSN(t))
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			_, err = db.Exec(ledgerTable)
			require.NoError(t, err)
			return &sqlLedger{db: db}
		},
		"postgres-pgx": func(t *testing.T) ledger {
			dsn := freshPostgresSchema(t, testenv.PostgresDSN(t))
			pool, err := pgxpool.New(context.Background(), dsn)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			_, err = pool.Exec(context.Background(), ledgerTable)
			require.NoError(t, err)
			return &pgxLedger{pool: pool}
		},
	}
	for name, open := range moreLedgers {
		m[name] = open
	}
	if onlyLedger != "" {
		return map[string]func(t *testing.T) ledger{onlyLedger: m[onlyLedger]}
	}
	return m
}

// moreLedgers are the ledgers of other drivers and transaction types
// (dotx_drivers_test.go, and the cgo-only drivers).
var moreLedgers = map[string]func(t *testing.T) ledger{}

// onlyLedger, when set, is the one ledger the db-effect tests run on: a
// driver that cannot be linked with the others (go-libsql and
// mattn/go-sqlite3 both define SQLite's C symbols) runs in a test binary
// of its own, built with its tag (scripts/test.sh).
var onlyLedger string

func dbSpec(t *testing.T, attempts int) *runtime.Spec {
	s := newSpec(t, runtime.EffectDB, attempts)
	return s
}

func TestDBEffectCommitsOnceAndReplays(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			ctx := context.Background()
			spec := dbSpec(t, 0)
			got, err := l.insert(ctx, spec, "evt-1", 10, nil)
			require.NoError(t, err)
			require.EqualValues(t, 1, got)
			for range 3 {
				again, err := l.insert(ctx, spec, "evt-1", 10, nil)
				require.NoError(t, err)
				require.Equal(t, got, again, "a replay returns the recorded result")
			}
			require.Equal(t, 1, l.rows(t, "evt-1"))
			require.EqualValues(t, 1, l.execs())
			require.EqualValues(t, 3, runtime.StatsFor(spec.Namespace).Replayed)

			_, err = l.insert(ctx, spec, "evt-1", 99, nil)
			require.ErrorIs(t, err, runtime.ErrKeyReused)
			require.Equal(t, 1, l.rows(t, "evt-1"))
		})
	}
}

func TestDBEffectFailureRollsBackEverything(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			ctx := context.Background()
			spec := dbSpec(t, 3)
			invalid := errors.New("amount exceeds the customer's limit")
			_, err := l.insert(ctx, spec, "evt-1", 10, func(int64) error { return invalid })
			require.ErrorIs(t, err, invalid)
			require.EqualValues(t, 1, l.execs(), "a business error rolled back is not retried")
			require.Equal(t, 0, l.rows(t, "evt-1"), "the function's write rolled back")

			got, err := l.insert(ctx, spec, "evt-1", 10, nil)
			require.NoError(t, err, "nothing was recorded, so the key runs again")
			require.EqualValues(t, 1, got)
			require.Equal(t, 1, l.rows(t, "evt-1"))
		})
	}
}

func TestDBEffectRetriesWhatRolledBack(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			spec := dbSpec(t, 4)
			got, err := l.insert(context.Background(), spec, "evt-1", 10, func(n int64) error {
				if n < 3 {
					return runtime.NotApplied(errors.New("connection lost before commit"))
				}
				return nil
			})
			require.NoError(t, err)
			require.EqualValues(t, 1, got)
			require.EqualValues(t, 3, l.execs())
			require.Equal(t, 1, l.rows(t, "evt-1"), "the rolled-back attempts left nothing")
			require.EqualValues(t, 2, runtime.StatsFor(spec.Namespace).Retried)
		})
	}
}

func TestDBEffectPanicRollsBack(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			spec := dbSpec(t, 3)
			require.PanicsWithValue(t, "kaboom", func() {
				_, _ = l.insert(context.Background(), spec, "evt-1", 10, func(int64) error { panic("kaboom") })
			})
			require.Equal(t, 0, l.rows(t, "evt-1"))
			_, err := l.insert(context.Background(), spec, "evt-1", 10, nil)
			require.NoError(t, err)
			require.Equal(t, 1, l.rows(t, "evt-1"))
		})
	}
}

func TestDBEffectConcurrentCallersWriteOnce(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			spec := dbSpec(t, 5)
			var wg sync.WaitGroup
			results := make([]int64, 8)
			errs := make([]error, 8)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = l.insert(context.Background(), spec, "evt-1", 10, nil)
				}()
			}
			wg.Wait()
			for i := range results {
				require.NoError(t, errs[i])
				require.Equal(t, results[0], results[i], "every caller sees the one recorded result")
			}
			require.Equal(t, 1, l.rows(t, "evt-1"))
			require.EqualValues(t, 1, l.execs())
		})
	}
}

func TestDBEffectKeyFrom(t *testing.T) {
	db := openSQLiteLedgerDB(t, filepath.Join(t.TempDir(), "app.db"))
	spec := dbSpec(t, 0)
	k, f := ledgerEncoders(spec, "evt-1", 1)
	want, err := k.Sum()
	require.NoError(t, err)
	got, err := runtime.DoSQL(context.Background(), spec, db, k, f, func(ctx context.Context, tx *sql.Tx) (string, error) {
		key, _ := runtime.KeyFrom(ctx)
		return key, nil
	})
	require.NoError(t, err)
	require.Equal(t, want.String(), got)
}

func TestDBEffectRejectsOtherDrivers(t *testing.T) {
	db := sql.OpenDB(fakeConnector{})
	spec := dbSpec(t, 0)
	k, f := ledgerEncoders(spec, "evt-1", 1)
	_, err := runtime.DoSQL(context.Background(), spec, db, k, f, func(context.Context, *sql.Tx) (int, error) { return 1, nil })
	require.ErrorContains(t, err, "modernc.org/sqlite")
}

func TestDoRefusesTheDBEffect(t *testing.T) {
	spec := dbSpec(t, 0)
	_, err := do(runtime.WithStore(context.Background(), nil), spec, "k", "fp", func(context.Context) (int, error) { return 1, nil })
	require.ErrorContains(t, err, "DoSQL")
}
