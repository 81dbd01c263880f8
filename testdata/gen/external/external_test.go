package external

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/testdata/gen/external/db"
)

func TestExternalMethod(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	q := &db.Queries{}
	arg := db.InsertEventParams{ID: "e1", Amount: 3}
	n1, err := InsertEventIdem(q, ctx, arg)
	require.NoError(t, err)
	n2, err := InsertEventIdem(q, ctx, arg)
	require.NoError(t, err)
	require.Equal(t, n1, n2)
	require.Equal(t, 1, q.Inserts["e1"])
	_, err = InsertEventIdem(q, ctx, db.InsertEventParams{ID: "e1", Amount: 4})
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Len(t, InsertEventIdemKey(arg), 64)
}

func TestExternalFunction(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	require.NoError(t, SendOnce(ctx, "m1", "a", "b"))
	require.NoError(t, SendOnce(ctx, "m1", "a", "b"))
	require.Equal(t, 1, db.Sent["m1"])
	require.NotEqual(t, SendOnceKey("m1"), SendOnceKey("m2"))
}

// txQueriesOps is the TxOps of *db.TxQueries, built on the runtime's
// database/sql TxOps.
type txQueriesOps struct{ runtime.TxOps[*sql.Tx] }

func (o txQueriesOps) Begin(ctx context.Context) (*db.TxQueries, error) {
	tx, err := o.TxOps.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return db.WithTx(tx), nil
}
func (o txQueriesOps) Commit(ctx context.Context, q *db.TxQueries) error {
	return o.TxOps.Commit(ctx, q.Tx())
}
func (o txQueriesOps) Rollback(q *db.TxQueries) { o.TxOps.Rollback(q.Tx()) }
func (o txQueriesOps) Claim(ctx context.Context, q *db.TxQueries, req store.ClaimRequest) (store.ClaimResult, error) {
	return o.TxOps.Claim(ctx, q.Tx(), req)
}
func (o txQueriesOps) Complete(ctx context.Context, q *db.TxQueries, key store.Key, f store.Fence, result []byte, until time.Time) error {
	return o.TxOps.Complete(ctx, q.Tx(), key, f, result, until)
}

func TestExternalMethodWithDBEffect(t *testing.T) {
	sdb, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "app.db")))
	require.NoError(t, err)
	defer sdb.Close()
	_, err = sdb.Exec(`CREATE TABLE saved (id TEXT NOT NULL)`)
	require.NoError(t, err)
	sqlOps, err := runtime.SQLTxOps(sdb)
	require.NoError(t, err)
	ops := txQueriesOps{sqlOps}
	ctx := context.Background()
	require.NoError(t, SaveIdem(ops, ctx, "s1"))
	require.NoError(t, SaveIdem(ops, ctx, "s1"))
	var n int
	require.NoError(t, sdb.QueryRow(`SELECT count(*) FROM saved`).Scan(&n))
	require.Equal(t, 1, n, "written once")
	require.NoError(t, sdb.QueryRow(`SELECT count(*) FROM idem_records`).Scan(&n))
	require.Equal(t, 1, n, "the record committed with the write")
}
