package runtime_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idempgx"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// TestDBEffectRecordsAreTheStores checks that the db effect's driver-free
// dialects keep the records the stores keep: a record DoSQL committed (in a
// table DoSQL created) is the record a store on the same database reads,
// and a record the store completed replays through DoSQL without running.
func TestDBEffectRecordsAreTheStores(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) (*sql.DB, store.Store){
		"sqlite": func(t *testing.T) (*sql.DB, store.Store) {
			path := filepath.Join(t.TempDir(), "app.db")
			db := openSQLiteLedgerDB(t, path)
			s, err := sqlitestore.New(db)
			require.NoError(t, err)
			return db, s
		},
		"postgres": func(t *testing.T) (*sql.DB, store.Store) {
			dsn := freshPostgresSchema(t, testenv.PostgresDSN(t))
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			pool, err := pgxpool.New(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			return db, lazyPGStore{pool: pool}
		},
	} {
		t.Run(name, func(t *testing.T) {
			db, s := open(t)
			spec := dbSpec(t, 0)
			var runs atomic.Int64
			call := func(key string) (string, error) {
				k, f := ledgerEncoders(spec, key, 1)
				return runtime.DoSQL(ctx, spec, db, k, f, func(ctx context.Context, tx *sql.Tx) (string, error) {
					runs.Add(1)
					return "ran " + key, nil
				})
			}
			got, err := call("evt-1")
			require.NoError(t, err)
			require.Equal(t, "ran evt-1", got)

			k, f := ledgerEncoders(spec, "evt-1", 1)
			key, err := k.Sum()
			require.NoError(t, err)
			fp, err := f.SumFingerprint()
			require.NoError(t, err)
			rec, err := s.Get(ctx, key)
			require.NoError(t, err, "the store reads the record DoSQL committed")
			require.Equal(t, store.StateCompleted, rec.State)
			require.Equal(t, spec.Namespace, rec.Namespace)
			require.Equal(t, fp, rec.Fingerprint)
			require.NotEmpty(t, rec.Result)

			// A key the store claims and completes replays through DoSQL.
			k2, f2 := ledgerEncoders(spec, "evt-2", 1)
			key2, err := k2.Sum()
			require.NoError(t, err)
			fp2, err := f2.SumFingerprint()
			require.NoError(t, err)
			now := rec.CreatedAt
			res, err := s.Claim(ctx, store.ClaimRequest{Key: key2, Namespace: spec.Namespace, Fingerprint: fp2, Owner: store.Owner{1},
				Now: now, LeaseUntil: now.Add(10 * time.Second), RetainUntil: now.Add(48 * time.Hour)})
			require.NoError(t, err)
			require.True(t, res.Granted)
			require.NoError(t, s.Complete(ctx, key2, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, rec.Result, now.Add(48*time.Hour)))
			got, err = call("evt-2")
			require.NoError(t, err)
			require.Equal(t, "ran evt-1", got, "DoSQL replays the record the store completed")
			require.EqualValues(t, 1, runs.Load())
		})
	}
}

// lazyPGStore is a pgstore.Store opened on first use, after DoSQL created
// the table: pgstore adds its claim function to it.
type lazyPGStore struct {
	store.Store
	pool *pgxpool.Pool
}

func (l lazyPGStore) open(ctx context.Context) store.Store {
	s, err := pgstore.New(ctx, l.pool)
	if err != nil {
		panic(err)
	}
	return s
}

func (l lazyPGStore) Get(ctx context.Context, key store.Key) (store.Record, error) {
	return l.open(ctx).Get(ctx, key)
}

func (l lazyPGStore) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	return l.open(ctx).Claim(ctx, req)
}

func (l lazyPGStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return l.open(ctx).Complete(ctx, key, f, result, retainUntil)
}

// TestDBEffectRetriesAdminShutdown terminates the transaction's own
// PostgreSQL session in the first attempt (SQLSTATE 57P01,
// admin_shutdown): the transaction did not commit, so the db effect runs
// it again on a new connection, and the effect is written once.
func TestDBEffectRetriesAdminShutdown(t *testing.T) {
	ctx := context.Background()
	const terminate = `SELECT pg_terminate_backend(pg_backend_pid())`
	for name, open := range ledgers(t) {
		if strings.HasPrefix(name, "sqlite") || mysqlLedger(name) || strings.HasSuffix(name, "sqlx") || strings.HasSuffix(name, "sqlc") {
			continue // PostgreSQL, through each driver
		}
		t.Run(name, func(t *testing.T) {
			l := open(t)
			spec := dbSpec(t, 3)
			var attempts atomic.Int64
			k, f := ledgerEncoders(spec, "evt-1", 10)
			var err error
			var got string
			switch l := l.(type) {
			case *sqlLedger:
				got, err = runtime.DoSQL(ctx, spec, l.db, k, f, func(ctx context.Context, tx *sql.Tx) (string, error) {
					if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (key, amount) VALUES ('evt-1', 10)`); err != nil {
						return "", err
					}
					if attempts.Add(1) == 1 {
						_, err := tx.ExecContext(ctx, terminate)
						return "", err
					}
					return "written", nil
				})
			case *pgxLedger:
				got, err = idempgx.DoPgx(ctx, spec, l.pool, k, f, func(ctx context.Context, tx pgx.Tx) (string, error) {
					if _, err := tx.Exec(ctx, `INSERT INTO ledger (key, amount) VALUES ('evt-1', 10)`); err != nil {
						return "", err
					}
					if attempts.Add(1) == 1 {
						_, err := tx.Exec(ctx, terminate)
						return "", err
					}
					return "written", nil
				})
			}
			require.NoError(t, err)
			require.Equal(t, "written", got)
			require.EqualValues(t, 2, attempts.Load(), "the terminated attempt was retried once")
			require.Equal(t, 1, l.rows(t, "evt-1"), "the terminated attempt's write rolled back")
			require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).Retried)
		})
	}
}
