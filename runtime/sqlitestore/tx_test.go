package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

// openDB opens (creating) a database file as a user of the db effect would,
// with DSN's WAL and synchronous=FULL, runs Migrate and closes the database
// when tb ends. The effect table stands for the user's own data.
func openDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, db.Close()) })
	require.NoError(tb, sqlitestore.Migrate(context.Background(), db))
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, note TEXT NOT NULL)`)
	require.NoError(tb, err)
	return db
}

// txStore is a store.Store whose Claim and Complete run ClaimTx and
// CompleteTx, each in a transaction of its own, so that the conformance
// suite checks that the claim in a transaction keeps every rule of
// Store.Claim, under races too.
type txStore struct {
	*sqlitestore.Store
	db *sql.DB
}

func (s txStore) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.ClaimResult{}, err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := sqlitestore.ClaimTx(ctx, tx, req)
	if err != nil {
		return store.ClaimResult{}, err
	}
	return res, tx.Commit()
}

func (s txStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := sqlitestore.CompleteTx(ctx, tx, key, f, result, retainUntil); err != nil {
		return err
	}
	return tx.Commit()
}

func TestConformanceTx(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db := openDB(t, filepath.Join(t.TempDir(), "idem.db"))
		s, err := sqlitestore.New(db)
		require.NoError(t, err)
		return txStore{Store: s, db: db}
	})
}

// Migrate from many connections at once (as from many processes) succeeds
// everywhere, creates the schema once, and running it again changes nothing.
func TestMigrateConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	const n = 8
	dbs := make([]*sql.DB, n)
	for i := range dbs {
		db, err := sql.Open("sqlite", sqlitestore.DSN(path))
		require.NoError(t, err)
		defer db.Close()
		dbs[i] = db
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = sqlitestore.Migrate(ctx, db) }()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "Migrate %d", i)
	}
	require.NoError(t, sqlitestore.Migrate(ctx, dbs[0]), "Migrate again")
	var tables, indexes int
	require.NoError(t, dbs[0].QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'idem_records'`).Scan(&tables))
	require.NoError(t, dbs[0].QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'idem_records_retain_until'`).Scan(&indexes))
	assert.Equal(t, 1, tables)
	assert.Equal(t, 1, indexes)

	require.Error(t, sqlitestore.Migrate(ctx, nil))
}

// ClaimTx on a database without the table says how to fix it.
func TestClaimTxWithoutMigrate(t *testing.T) {
	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "app.db")))
	require.NoError(t, err)
	defer db.Close()
	tx, err := db.Begin()
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = sqlitestore.ClaimTx(context.Background(), tx, claimReq(store.Key{1}, store.Owner{1}, base))
	require.ErrorContains(t, err, "sqlitestore.Migrate")
}

// claimInTx begins a transaction on db, claims req in it and requires the
// claim to be granted; the caller commits or rolls back.
func claimInTx(t *testing.T, db *sql.DB, req store.ClaimRequest) (*sql.Tx, store.ClaimResult) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	res, err := sqlitestore.ClaimTx(context.Background(), tx, req)
	require.NoError(t, err)
	require.True(t, res.Granted, "the claim in the transaction was not granted; got %s", res.Record.State)
	return tx, res
}

func effects(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM effects`).Scan(&n))
	return n
}

// A claim, the caller's write and the completion commit together: the
// ordinary store on the same database then replays the record byte for byte.
func TestClaimTxCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db := openDB(t, path)
	key, owner := store.Key{1, 2, 3}, store.Owner{1}
	req := claimReq(key, owner, base)
	tx, res := claimInTx(t, db, req)
	assert.False(t, res.TookOver)
	assert.Equal(t, store.StateInProgress, res.Record.State)
	assert.Equal(t, owner, res.Record.Owner)
	assert.Equal(t, req.Fingerprint, res.Record.Fingerprint)
	assert.Positive(t, res.Record.Token)

	_, err := tx.ExecContext(ctx, `INSERT INTO effects (note) VALUES ('charged')`)
	require.NoError(t, err)
	result := []byte{0, 0xff, 'o', 'k', 0}
	retain := base.Add(48 * time.Hour)
	require.NoError(t, sqlitestore.CompleteTx(ctx, tx, key, store.Fence{Owner: owner, Token: res.Record.Token}, result, retain))
	require.NoError(t, tx.Commit())

	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()
	later := claimReq(key, store.Owner{2}, base.Add(time.Minute))
	got, err := s.Claim(ctx, later)
	require.NoError(t, err)
	assert.False(t, got.Granted)
	assert.Equal(t, store.StateCompleted, got.Record.State)
	assert.Equal(t, result, got.Record.Result)
	assert.Equal(t, owner, got.Record.Owner)
	assert.Equal(t, res.Record.Token, got.Record.Token)
	assert.Equal(t, req.Fingerprint, got.Record.Fingerprint)
	assert.Equal(t, req.Namespace, got.Record.Namespace)
	assert.True(t, retain.Equal(got.Record.RetainUntil), "RetainUntil %v", got.Record.RetainUntil)
	assert.Equal(t, 1, effects(t, db))

	// A later claim in a transaction replays it too, and writes nothing.
	tx2, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	again, err := sqlitestore.ClaimTx(ctx, tx2, later)
	require.NoError(t, err)
	require.NoError(t, tx2.Commit())
	assert.False(t, again.Granted)
	assert.Equal(t, got.Record, again.Record)
	rec, err := s.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, got.Record, rec)
}

// A rollback leaves no record and no effect, and the key is granted again.
func TestClaimTxRollback(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db := openDB(t, path)
	key, owner := store.Key{4}, store.Owner{4}
	tx, res := claimInTx(t, db, claimReq(key, owner, base))
	_, err := tx.ExecContext(ctx, `INSERT INTO effects (note) VALUES ('charged')`)
	require.NoError(t, err)
	require.NoError(t, sqlitestore.CompleteTx(ctx, tx, key, store.Fence{Owner: owner, Token: res.Record.Token}, []byte("r"), base.Add(time.Hour)))
	require.NoError(t, tx.Rollback())

	s, err := sqlitestore.New(db)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Get(ctx, key)
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Zero(t, effects(t, db))

	tx, _ = claimInTx(t, db, claimReq(key, store.Owner{5}, base.Add(time.Second)))
	require.NoError(t, tx.Commit())
}

// CompleteTx under a fence that does not hold the record fails with
// ErrFenced and writes nothing.
func TestCompleteTxFenced(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	key, owner := store.Key{6}, store.Owner{6}
	tx, res := claimInTx(t, db, claimReq(key, owner, base))
	for _, f := range []store.Fence{
		{Owner: owner, Token: res.Record.Token + 1},
		{Owner: store.Owner{7}, Token: res.Record.Token},
	} {
		err := sqlitestore.CompleteTx(ctx, tx, key, f, []byte("x"), base.Add(time.Hour))
		require.ErrorIs(t, err, store.ErrFenced)
	}
	err := sqlitestore.CompleteTx(ctx, tx, store.Key{8}, store.Fence{Owner: owner, Token: res.Record.Token}, nil, base.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrFenced, "complete of an absent key")
	require.NoError(t, tx.Commit())
	s, err := sqlitestore.New(db)
	require.NoError(t, err)
	defer s.Close()
	rec, err := s.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, store.StateInProgress, rec.State)
}

// Two transactions claim one key: the second waits in ClaimTx for the
// first, and then sees what the first committed: the completed record, or,
// after a rollback, nothing, so that it is granted.
func TestClaimTxConcurrent(t *testing.T) {
	for _, commit := range []bool{true, false} {
		name := map[bool]string{true: "FirstCommits", false: "FirstRollsBack"}[commit]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
			key := store.Key{9}
			first := claimReq(key, store.Owner{1}, base)
			tx1, res1 := claimInTx(t, db, first)
			_, err := tx1.ExecContext(ctx, `INSERT INTO effects (note) VALUES ('first')`)
			require.NoError(t, err)

			// While the first holds the write lock the second cannot
			// claim: it waits, here until its context ends.
			second := claimReq(key, store.Owner{2}, base.Add(time.Second))
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			tx2, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = sqlitestore.ClaimTx(short, tx2, second)
			cancel()
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.NoError(t, tx2.Rollback())

			type answer struct {
				res store.ClaimResult
				err error
			}
			done := make(chan answer, 1)
			go func() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					done <- answer{err: err}
					return
				}
				res, err := sqlitestore.ClaimTx(ctx, tx, second)
				if err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
				done <- answer{res, err}
			}()

			result := []byte("first's result")
			require.NoError(t, sqlitestore.CompleteTx(ctx, tx1, key, store.Fence{Owner: first.Owner, Token: res1.Record.Token}, result, base.Add(time.Hour)))
			if commit {
				require.NoError(t, tx1.Commit())
			} else {
				require.NoError(t, tx1.Rollback())
			}
			a := <-done
			require.NoError(t, a.err)
			if commit {
				assert.False(t, a.res.Granted, "the second was granted a key the first completed")
				assert.Equal(t, store.StateCompleted, a.res.Record.State)
				assert.Equal(t, first.Owner, a.res.Record.Owner)
				assert.Equal(t, result, a.res.Record.Result)
				assert.Equal(t, 1, effects(t, db))
			} else {
				assert.True(t, a.res.Granted, "the second was not granted a key the first rolled back")
				assert.Equal(t, second.Owner, a.res.Record.Owner)
				assert.Equal(t, store.StateInProgress, a.res.Record.State)
				assert.Zero(t, effects(t, db))
			}
		})
	}
}

// A transaction that read before ClaimTx while another connection has
// committed since cannot write: ClaimTx returns SQLITE_BUSY_SNAPSHOT at once
// instead of waiting for a lock that cannot help.
func TestClaimTxStaleSnapshot(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_ = effects(t, db) // warm up another connection
	var n int
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM effects`).Scan(&n)) // tx now has a read snapshot
	_, err = db.ExecContext(ctx, `INSERT INTO effects (note) VALUES ('meanwhile')`)
	require.NoError(t, err)

	start := time.Now()
	_, err = sqlitestore.ClaimTx(ctx, tx, claimReq(store.Key{10}, store.Owner{1}, base))
	var e *sqlite.Error
	require.True(t, errors.As(err, &e), "want a *sqlite.Error, got %v", err)
	assert.Equal(t, sqlite3.SQLITE_BUSY_SNAPSHOT, e.Code())
	assert.Less(t, time.Since(start), sqlitestore.BusyTimeout/2, "ClaimTx waited for a stale snapshot")
}

// A claim in a database without the table fails with the driver's
// SQLITE_ERROR and the fix (found by looking in the schema, not by reading
// the message); another SQLITE_ERROR on a database that has the table gets
// no such hint.
func TestClaimTxMissingTable(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "app.db")))
	require.NoError(t, err)
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = sqlitestore.ClaimTx(ctx, tx, store.ClaimRequest{Key: store.Key{1}, Owner: store.Owner{1},
		Now: time.Unix(1, 0), LeaseUntil: time.Unix(2, 0), RetainUntil: time.Unix(3, 0)})
	var e *sqlite.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, sqlite3.SQLITE_ERROR, e.Code())
	assert.ErrorContains(t, err, "sqlitestore.Migrate first")
	require.NoError(t, tx.Rollback())

	require.NoError(t, sqlitestore.Migrate(ctx, db))
	_, err = db.ExecContext(ctx, `DROP INDEX idem_records_retain_until`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON idem_records BEGIN SELECT RAISE(ABORT, 'refused'); END`)
	require.NoError(t, err)
	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = sqlitestore.ClaimTx(ctx, tx, store.ClaimRequest{Key: store.Key{1}, Owner: store.Owner{1},
		Now: time.Unix(1, 0), LeaseUntil: time.Unix(2, 0), RetainUntil: time.Unix(3, 0)})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "Migrate first")
}
