package runtime

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/sqlitestore"
)

// lostCommit commits, then reports a failure, as when the connection dies
// after the database committed but before its answer arrived.
type lostCommit struct {
	*sqlTxOps
	lost int
}

func (o *lostCommit) commit(ctx context.Context, tx *sql.Tx) error {
	if err := o.sqlTxOps.commit(ctx, tx); err != nil {
		return err
	}
	if o.lost > 0 {
		o.lost--
		return errors.New("read tcp 127.0.0.1:5432: connection reset by peer")
	}
	return nil
}

func TestDBEffectLostCommitIsResolvedByTheRetry(t *testing.T) {
	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "app.db")))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE ledger (key TEXT NOT NULL)`)
	require.NoError(t, err)
	base, err := sqlTxOpsFor(db)
	require.NoError(t, err)

	spec := &Spec{Namespace: "test/lost-commit", Version: 1, Effect: EffectDB, Retry: RetryPolicy{Attempts: 3, Delay: 1, MaxDelay: 1}}
	var k, f Encoder
	k.Begin(spec.Namespace, 1)
	k.String("evt-1")
	f.Begin(spec.Namespace, 1)
	runs := 0
	got, err := doTx(context.Background(), spec, &k, &f, &lostCommit{sqlTxOps: base, lost: 1}, func(ctx context.Context, tx *sql.Tx) (string, error) {
		runs++
		_, err := tx.ExecContext(ctx, `INSERT INTO ledger (key) VALUES ('evt-1')`)
		return "inserted", err
	})
	require.NoError(t, err)
	require.Equal(t, "inserted", got, "the retry replays the committed result")
	require.Equal(t, 1, runs, "the retry finds the committed record instead of running again")
	var rows int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM ledger`).Scan(&rows))
	require.Equal(t, 1, rows)
	require.EqualValues(t, 1, StatsFor(spec.Namespace).Executed)

	// Without a retry policy the caller sees the commit error, and the next
	// call resolves it the same way.
	spec2 := &Spec{Namespace: "test/lost-commit-2", Version: 1, Effect: EffectDB}
	var k2, f2 Encoder
	k2.Begin(spec2.Namespace, 1)
	k2.String("evt-2")
	f2.Begin(spec2.Namespace, 1)
	fn := func(ctx context.Context, tx *sql.Tx) (string, error) {
		runs++
		_, err := tx.ExecContext(ctx, `INSERT INTO ledger (key) VALUES ('evt-2')`)
		return "inserted 2", err
	}
	_, err = doTx(context.Background(), spec2, &k2, &f2, &lostCommit{sqlTxOps: base, lost: 1}, fn)
	require.ErrorContains(t, err, "commit")
	k2.Begin(spec2.Namespace, 1)
	k2.String("evt-2")
	f2.Begin(spec2.Namespace, 1)
	got, err = doTx(context.Background(), spec2, &k2, &f2, base, fn)
	require.NoError(t, err)
	require.Equal(t, "inserted 2", got)
	require.Equal(t, 2, runs)
}
