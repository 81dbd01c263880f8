package runtime_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv/mysqltest"
	"github.com/idem-go/idem/runtime"
)

// lostCommit commits, then reports a failure, as when the connection dies
// after the database committed but before its answer arrived.
type lostCommit struct {
	runtime.TxOps[*sql.Tx]
	lost int
}

func (o *lostCommit) Commit(ctx context.Context, tx *sql.Tx) error {
	if err := o.TxOps.Commit(ctx, tx); err != nil {
		return err
	}
	if o.lost > 0 {
		o.lost--
		return errors.New("read tcp 127.0.0.1:5432: connection reset by peer")
	}
	return nil
}

func TestDBEffectLostCommitIsResolvedByTheRetry(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *sql.DB{
		"sqlite": func(t *testing.T) *sql.DB { return openSQLiteLedgerDB(t, filepath.Join(t.TempDir(), "app.db")) },
		"mysql": func(t *testing.T) *sql.DB {
			db, err := sql.Open("mysql", mysqltest.Database(t, "lost_"))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
	} {
		t.Run(name, func(t *testing.T) { testLostCommit(t, open(t)) })
	}
}

func testLostCommit(t *testing.T, db *sql.DB) {
	_, err := db.Exec(rebind(db, `CREATE TABLE ledger (key TEXT NOT NULL)`))
	require.NoError(t, err)
	base, err := runtime.SQLTxOps(db)
	require.NoError(t, err)

	spec := &runtime.Spec{Namespace: randomNamespace(t), Version: 1, Effect: runtime.EffectDB, Retry: runtime.RetryPolicy{Attempts: 3, Delay: 1, MaxDelay: 1}}
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, 1)
	k.String("evt-1")
	f.Begin(spec.Namespace, 1)
	runs := 0
	got, err := runtime.DoTx(context.Background(), spec, &k, &f, &lostCommit{TxOps: base, lost: 1}, func(ctx context.Context, tx *sql.Tx) (string, error) {
		runs++
		_, err := tx.ExecContext(ctx, rebind(db, `INSERT INTO ledger (key) VALUES ('evt-1')`))
		return "inserted", err
	})
	require.NoError(t, err)
	require.Equal(t, "inserted", got, "the retry replays the committed result")
	require.Equal(t, 1, runs, "the retry finds the committed record instead of running again")
	var rows int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM ledger`).Scan(&rows))
	require.Equal(t, 1, rows)
	require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).Executed)

	// Without a retry policy the caller sees the commit error, and the next
	// call resolves it the same way.
	spec2 := &runtime.Spec{Namespace: randomNamespace(t), Version: 1, Effect: runtime.EffectDB}
	var k2, f2 runtime.Encoder
	k2.Begin(spec2.Namespace, 1)
	k2.String("evt-2")
	f2.Begin(spec2.Namespace, 1)
	fn := func(ctx context.Context, tx *sql.Tx) (string, error) {
		runs++
		_, err := tx.ExecContext(ctx, rebind(db, `INSERT INTO ledger (key) VALUES ('evt-2')`))
		return "inserted 2", err
	}
	_, err = runtime.DoTx(context.Background(), spec2, &k2, &f2, &lostCommit{TxOps: base, lost: 1}, fn)
	require.ErrorContains(t, err, "commit")
	k2.Begin(spec2.Namespace, 1)
	k2.String("evt-2")
	f2.Begin(spec2.Namespace, 1)
	got, err = runtime.DoTx(context.Background(), spec2, &k2, &f2, base, fn)
	require.NoError(t, err)
	require.Equal(t, "inserted 2", got)
	require.Equal(t, 2, runs)
}
