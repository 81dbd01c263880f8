package dbeffect

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

func openSQLite(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "app.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE events (id TEXT NOT NULL, amount INTEGER NOT NULL)`)
	require.NoError(t, err)
	return db
}

func count(t *testing.T, db *sql.DB) int {
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events`).Scan(&n))
	return n
}

func TestInsertEventWritesOnce(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	ev := Event{ID: "e1", Amount: 100}
	before := runs["InsertEvent"]
	id1, err := InsertEventIdem(ctx, db, ev)
	require.NoError(t, err)
	id2, err := InsertEventIdem(ctx, db, ev)
	require.NoError(t, err)
	require.Equal(t, id1, id2)
	require.Equal(t, before+1, runs["InsertEvent"])
	require.Equal(t, 1, count(t, db))

	ev.Amount = 200
	_, err = InsertEventIdem(ctx, db, ev)
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Equal(t, 1, count(t, db))
}

func TestDebitWithoutContext(t *testing.T) {
	db := openSQLite(t)
	before := runs["Debit"]
	require.NoError(t, DebitIdem(db, "acct-1", "ref-1", 5))
	require.NoError(t, DebitIdem(db, "acct-1", "ref-1", 5))
	require.Equal(t, before+1, runs["Debit"])
	require.Equal(t, 1, count(t, db))
	require.ErrorIs(t, DebitIdem(db, "acct-1", "ref-1", 6), runtime.ErrKeyReused)
}

func TestInsertPgxWritesOnce(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	schema := "gen_dbeffect_" + t.Name()[len("Test"):len("TestInsertPgx")]
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `CREATE TABLE events (id TEXT NOT NULL, amount BIGINT NOT NULL)`)
	require.NoError(t, err)

	before := runs["InsertPgx"]
	got, err := InsertPgxIdem(ctx, pool, "e1", 10)
	require.NoError(t, err)
	require.Equal(t, "inserted e1", got)
	got, err = InsertPgxIdem(ctx, pool, "e1", 10)
	require.NoError(t, err)
	require.Equal(t, "inserted e1", got)
	require.Equal(t, before+1, runs["InsertPgx"])
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n))
	require.Equal(t, 1, n)
}

func TestRefundTransactionInTheMiddle(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	before := runs["Refund"]
	require.NoError(t, RefundIdem(ctx, "r1", db, 7))
	require.NoError(t, RefundIdem(ctx, "r1", db, 7))
	require.Equal(t, before+1, runs["Refund"])
	require.Equal(t, 1, count(t, db))
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM idem_records`).Scan(&n))
	require.Equal(t, 1, n, "the record committed in the same database")
}

// queriesOps is the TxOps of *Queries, built on the runtime's database/sql
// TxOps as a driver package would provide it.
type queriesOps struct{ runtime.TxOps[*sql.Tx] }

func (o queriesOps) Begin(ctx context.Context) (*Queries, error) {
	tx, err := o.TxOps.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return WithTx(tx), nil
}
func (o queriesOps) Commit(ctx context.Context, q *Queries) error { return o.TxOps.Commit(ctx, q.Tx()) }
func (o queriesOps) Rollback(q *Queries)                          { o.TxOps.Rollback(q.Tx()) }
func (o queriesOps) Claim(ctx context.Context, q *Queries, req store.ClaimRequest) (store.ClaimResult, error) {
	return o.TxOps.Claim(ctx, q.Tx(), req)
}
func (o queriesOps) Complete(ctx context.Context, q *Queries, key store.Key, f store.Fence, result []byte, until time.Time) error {
	return o.TxOps.Complete(ctx, q.Tx(), key, f, result, until)
}

func TestRecordThroughTxOps(t *testing.T) {
	db := openSQLite(t)
	sqlOps, err := runtime.SQLTxOps(db)
	require.NoError(t, err)
	ops := queriesOps{sqlOps}
	ctx := context.Background()
	before := runs["Record"]
	require.NoError(t, RecordIdem(ctx, ops, "x"))
	require.NoError(t, RecordIdem(ctx, ops, "x"))
	require.Equal(t, before+1, runs["Record"])
	require.Equal(t, 1, count(t, db))
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM idem_records`).Scan(&n))
	require.Equal(t, 1, n, "the record committed with the write")
}
