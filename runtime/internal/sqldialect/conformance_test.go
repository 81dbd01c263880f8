package sqldialect_test

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/internal/sqldialect"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

// txStore is a store.Store whose Claim and Complete run the dialect's, each
// in a transaction of its own, and whose other operations are a store's on
// the same table: the conformance suite checks that the db effect's claim
// keeps every rule of Store.Claim, under races too, in the stores' table.
// A transient error runs the whole transaction again, as the runtime does.
type txStore struct {
	store.Store
	db *sql.DB
	d  *sqldialect.Dialect
}

func (s txStore) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	for try := 0; ; try++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		err = f(tx)
		if err == nil {
			err = tx.Commit()
		}
		_ = tx.Rollback()
		if err != nil && s.d.Transient(err) && ctx.Err() == nil && try < 100 {
			continue
		}
		return err
	}
}

func (s txStore) Claim(ctx context.Context, req store.ClaimRequest) (res store.ClaimResult, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err = s.d.Claim(ctx, tx, req)
		return err
	})
	return res, err
}

func (s txStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.d.Complete(ctx, tx, key, f, result, retainUntil) })
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "app.db")))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		d, err := sqldialect.For(db)
		require.NoError(t, err)
		require.NoError(t, d.Migrate(context.Background(), db), "the dialect creates the table")
		s, err := sqlitestore.New(db)
		require.NoError(t, err)
		return txStore{Store: s, db: db, d: d}
	})
}

func TestConformancePostgres(t *testing.T) {
	base := testenv.PostgresDSN(t)
	for _, iso := range []string{"read committed", "serializable"} {
		t.Run(strings.ReplaceAll(iso, " ", "-"), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				ctx := context.Background()
				dsn := freshSchema(t, base, iso)
				db, err := sql.Open("pgx", dsn)
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				d, err := sqldialect.For(db)
				require.NoError(t, err)
				require.NoError(t, d.Migrate(ctx, db), "the dialect creates the table")
				pool, err := pgxpool.New(ctx, dsn)
				require.NoError(t, err)
				t.Cleanup(pool.Close)
				s, err := pgstore.New(ctx, pool) // adds its claim function to the table the dialect created
				require.NoError(t, err)
				return txStore{Store: s, db: db, d: d}
			})
		})
	}
}

// freshSchema creates a schema of the test's own and returns base with
// sessions in it, at isolation level iso; the schema is dropped when t ends.
func freshSchema(t *testing.T, base, iso string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var schema string
	require.NoError(t, conn.QueryRow(ctx, `SELECT 'dialect_' || replace(gen_random_uuid()::text, '-', '')`).Scan(&schema))
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	if iso != "read committed" { // the default; pgx reads no space in a URL
		q.Set("default_transaction_isolation", iso)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
