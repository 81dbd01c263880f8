package pgstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

// freshDSN returns the test server's DSN with a search_path of a fresh
// schema of its own, so that the default table (which the functions for a
// caller's transaction use, unqualified) starts empty and is no one else's,
// and with params added (session settings such as
// default_transaction_isolation). The schema is dropped with everything in
// it when tb ends.
func freshDSN(tb testing.TB, params url.Values) string {
	tb.Helper()
	u, err := url.Parse(testenv.PostgresDSN(tb))
	require.NoError(tb, err, "IDEM_TEST_POSTGRES_DSN must be a postgres:// URL")
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	q.Set("search_path", freshSchema(tb, newPool(tb)))
	u.RawQuery = q.Encode()
	return u.String()
}

// appPool connects to dsn, runs MigratePool and creates the effects table,
// which stands for the user's own data.
func appPool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	require.NoError(tb, pgstore.MigratePool(ctx, pool))
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS effects (id serial PRIMARY KEY, note text NOT NULL)`)
	require.NoError(tb, err)
	return pool
}

// appDB is appPool through database/sql and MigrateSQL.
func appDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, db.Close()) })
	require.NoError(tb, pgstore.MigrateSQL(ctx, db))
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS effects (id serial PRIMARY KEY, note text NOT NULL)`)
	require.NoError(tb, err)
	return db
}

// txAPI is one flavour of the functions for a caller's transaction (pgx or
// database/sql), behind one interface so that every test runs on both.
type txAPI interface {
	begin(ctx context.Context) (txn, error)
}

// txn is a transaction of either flavour.
type txn interface {
	claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error)
	complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error
	exec(ctx context.Context, sql string) error
	pid(ctx context.Context) (int32, error)
	commit(ctx context.Context) error
	rollback()
}

type pgxAPI struct{ pool *pgxpool.Pool }

func (a pgxAPI) begin(ctx context.Context) (txn, error) {
	tx, err := a.pool.Begin(ctx)
	return pgxTxn{tx}, err
}

type pgxTxn struct{ tx pgx.Tx }

func (t pgxTxn) claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	return pgstore.ClaimTx(ctx, t.tx, req)
}

func (t pgxTxn) complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return pgstore.CompleteTx(ctx, t.tx, key, f, result, retainUntil)
}

func (t pgxTxn) exec(ctx context.Context, sql string) error {
	_, err := t.tx.Exec(ctx, sql)
	return err
}

func (t pgxTxn) pid(ctx context.Context) (int32, error) {
	var pid int32
	err := t.tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	return pid, err
}

func (t pgxTxn) commit(ctx context.Context) error { return t.tx.Commit(ctx) }
func (t pgxTxn) rollback()                        { _ = t.tx.Rollback(context.Background()) }

type sqlAPI struct{ db *sql.DB }

func (a sqlAPI) begin(ctx context.Context) (txn, error) {
	tx, err := a.db.BeginTx(ctx, nil)
	return sqlTxn{tx}, err
}

type sqlTxn struct{ tx *sql.Tx }

func (t sqlTxn) claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	return pgstore.ClaimSQLTx(ctx, t.tx, req)
}

func (t sqlTxn) complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return pgstore.CompleteSQLTx(ctx, t.tx, key, f, result, retainUntil)
}

func (t sqlTxn) exec(ctx context.Context, sql string) error {
	_, err := t.tx.ExecContext(ctx, sql)
	return err
}

func (t sqlTxn) pid(ctx context.Context) (int32, error) {
	var pid int32
	err := t.tx.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	return pid, err
}

func (t sqlTxn) commit(context.Context) error { return t.tx.Commit() }
func (t sqlTxn) rollback()                    { _ = t.tx.Rollback() }

// flavours runs f once per flavour, each on a fresh schema with session
// settings params: api for the transactions, and an ordinary store on the
// same default table (through a pgx pool) to look at the result.
func flavours(t *testing.T, params url.Values, f func(t *testing.T, api txAPI, s *pgstore.Store, pool *pgxpool.Pool)) {
	for _, name := range []string{"Pgx", "SQL"} {
		t.Run(name, func(t *testing.T) {
			dsn := freshDSN(t, params)
			pool := appPool(t, dsn)
			var api txAPI = pgxAPI{pool}
			if name == "SQL" {
				api = sqlAPI{appDB(t, dsn)}
			}
			s, err := pgstore.New(context.Background(), pool)
			require.NoError(t, err)
			f(t, api, s, pool)
		})
	}
}

// txStore is a store.Store whose Claim and Complete run ClaimTx and
// CompleteTx (of either flavour), each in a transaction of its own, so that
// the conformance suite checks that the claim in a transaction keeps every
// rule of Store.Claim, under races too. A serialization failure runs the
// whole transaction again, as the runtime does.
type txStore struct {
	*pgstore.Store
	api txAPI
}

func (s txStore) inTx(ctx context.Context, f func(tx txn) error) error {
	for {
		tx, err := s.api.begin(ctx)
		if err != nil {
			return err
		}
		err = f(tx)
		if err == nil {
			err = tx.commit(ctx)
		}
		tx.rollback()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "40001" && ctx.Err() == nil {
			continue
		}
		return err
	}
}

func (s txStore) Claim(ctx context.Context, req store.ClaimRequest) (res store.ClaimResult, err error) {
	err = s.inTx(ctx, func(tx txn) error {
		res, err = tx.claim(ctx, req)
		return err
	})
	return res, err
}

func (s txStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return s.inTx(ctx, func(tx txn) error { return tx.complete(ctx, key, f, result, retainUntil) })
}

func TestConformanceTx(t *testing.T) {
	for _, iso := range []string{"ReadCommitted", "Serializable"} {
		params := url.Values{}
		if iso == "Serializable" {
			params.Set("default_transaction_isolation", "serializable")
		}
		t.Run(iso, func(t *testing.T) {
			flavours(t, params, func(t *testing.T, api txAPI, s *pgstore.Store, _ *pgxpool.Pool) {
				storetest.Run(t, func(t *testing.T) store.Store { return txStore{Store: s, api: api} })
			})
		})
	}
}

// MigratePool and MigrateSQL from many connections at once succeed
// everywhere and create the default table once; running them again changes
// nothing.
func TestMigrateConcurrent(t *testing.T) {
	ctx := context.Background()
	dsn := freshDSN(t, nil)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close()) })

	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs[i] = pgstore.MigratePool(ctx, pool)
			} else {
				errs[i] = pgstore.MigrateSQL(ctx, db)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "migration %d", i)
	}
	require.NoError(t, pgstore.MigratePool(ctx, pool))
	require.NoError(t, pgstore.MigrateSQL(ctx, db))
	var tables, seqs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'idem_records'`).Scan(&tables))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_sequences WHERE schemaname = current_schema() AND sequencename = 'idem_records_token_seq'`).Scan(&seqs))
	assert.Equal(t, 1, tables)
	assert.Equal(t, 1, seqs)

	require.Error(t, pgstore.MigratePool(ctx, nil))
	require.Error(t, pgstore.MigrateSQL(ctx, nil))
}

// A claim where the table does not exist says how to fix it.
func TestClaimTxWithoutMigrate(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, freshDSN(t, nil))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = pgstore.ClaimTx(ctx, tx, request(t, newKey(t), base))
	require.ErrorContains(t, err, "pgstore.MigratePool")
}

func countEffects(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM effects`).Scan(&n))
	return n
}

// claimIn begins a transaction, claims req in it and requires the grant;
// the caller commits or rolls back (or the test's end rolls back).
func claimIn(t *testing.T, api txAPI, req store.ClaimRequest) (txn, store.ClaimResult) {
	t.Helper()
	tx, err := api.begin(context.Background())
	require.NoError(t, err)
	t.Cleanup(tx.rollback)
	res, err := tx.claim(context.Background(), req)
	require.NoError(t, err)
	require.True(t, res.Granted, "the claim in the transaction was not granted; got %s", res.Record.State)
	return tx, res
}

// A claim, the caller's write and the completion commit together: the
// ordinary store on the same table then replays the record byte for byte;
// a rollback leaves no record and no effect.
func TestClaimTxCommitAndRollback(t *testing.T) {
	flavours(t, nil, func(t *testing.T, api txAPI, s *pgstore.Store, pool *pgxpool.Pool) {
		ctx := context.Background()
		t.Run("Commit", func(t *testing.T) {
			key := newKey(t)
			req := request(t, key, base)
			req.Fingerprint = store.Fingerprint{1, 2, 3}
			tx, res := claimIn(t, api, req)
			assert.False(t, res.TookOver)
			assert.Equal(t, store.StateInProgress, res.Record.State)
			assert.Equal(t, req.Owner, res.Record.Owner)
			assert.Equal(t, req.Fingerprint, res.Record.Fingerprint)
			before := countEffects(t, pool)
			require.NoError(t, tx.exec(ctx, `INSERT INTO effects (note) VALUES ('charged')`))
			result := []byte{0, 0xff, 'o', 'k', 0}
			retain := base.Add(48 * time.Hour)
			require.NoError(t, tx.complete(ctx, key, store.Fence{Owner: req.Owner, Token: res.Record.Token}, result, retain))
			require.NoError(t, tx.commit(ctx))

			later := request(t, key, base.Add(time.Minute))
			later.Fingerprint = req.Fingerprint
			later.Takeover = true
			got, err := s.Claim(ctx, later)
			require.NoError(t, err)
			assert.False(t, got.Granted)
			assert.Equal(t, store.StateCompleted, got.Record.State)
			assert.Equal(t, result, got.Record.Result)
			assert.Equal(t, req.Owner, got.Record.Owner)
			assert.Equal(t, res.Record.Token, got.Record.Token)
			assert.Equal(t, req.Fingerprint, got.Record.Fingerprint)
			assert.Equal(t, req.Namespace, got.Record.Namespace)
			assert.True(t, retain.Equal(got.Record.RetainUntil), "RetainUntil %v", got.Record.RetainUntil)
			assert.Equal(t, before+1, countEffects(t, pool))

			// A later claim in a transaction replays it too.
			tx2, err := api.begin(ctx)
			require.NoError(t, err)
			defer tx2.rollback()
			again, err := tx2.claim(ctx, later)
			require.NoError(t, err)
			assert.False(t, again.Granted)
			assert.Equal(t, got.Record, again.Record)
		})
		t.Run("Rollback", func(t *testing.T) {
			key := newKey(t)
			req := request(t, key, base)
			tx, res := claimIn(t, api, req)
			before := countEffects(t, pool)
			require.NoError(t, tx.exec(ctx, `INSERT INTO effects (note) VALUES ('charged')`))
			require.NoError(t, tx.complete(ctx, key, store.Fence{Owner: req.Owner, Token: res.Record.Token}, []byte("r"), base.Add(time.Hour)))
			tx.rollback()

			_, err := s.Get(ctx, key)
			require.ErrorIs(t, err, store.ErrNotFound)
			assert.Equal(t, before, countEffects(t, pool))
			tx, _ = claimIn(t, api, request(t, key, base.Add(time.Second)))
			require.NoError(t, tx.commit(ctx))
		})
		t.Run("Fenced", func(t *testing.T) {
			key := newKey(t)
			req := request(t, key, base)
			tx, res := claimIn(t, api, req)
			for _, f := range []store.Fence{
				{Owner: req.Owner, Token: res.Record.Token + 1},
				{Owner: newOwner(t), Token: res.Record.Token},
			} {
				require.ErrorIs(t, tx.complete(ctx, key, f, []byte("x"), base.Add(time.Hour)), store.ErrFenced)
			}
			require.ErrorIs(t, tx.complete(ctx, newKey(t), store.Fence{Owner: req.Owner, Token: res.Record.Token}, nil, base.Add(time.Hour)), store.ErrFenced, "complete of an absent key")
			require.NoError(t, tx.commit(ctx))
			rec, err := s.Get(ctx, key)
			require.NoError(t, err)
			assert.Equal(t, store.StateInProgress, rec.State)
		})
	})
}

// waitBlocked waits (bounded) until some backend is blocked by backend pid,
// failing t if done delivers first.
func waitBlocked[T any](t *testing.T, pool *pgxpool.Pool, pid int32, done <-chan T) {
	t.Helper()
	for range 500 {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid).Scan(&n))
		if n > 0 {
			return
		}
		select {
		case a := <-done:
			t.Fatalf("the second claim answered before the first transaction ended: %+v", a)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the second claim never blocked on the first transaction")
}

type answer struct {
	res store.ClaimResult
	err error
}

// claimAsync claims req in a transaction of its own on another goroutine,
// commits it when granted, and delivers the answer.
func claimAsync(api txAPI, req store.ClaimRequest) <-chan answer {
	done := make(chan answer, 1)
	go func() {
		ctx := context.Background()
		tx, err := api.begin(ctx)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer tx.rollback()
		res, err := tx.claim(ctx, req)
		if err == nil {
			err = tx.commit(ctx)
		}
		done <- answer{res, err}
	}()
	return done
}

// Two transactions claim one key: the second blocks on the first's row and
// then sees what the first committed: the completed record, or, after a
// rollback, nothing, so that it is granted.
func TestClaimTxConcurrent(t *testing.T) {
	flavours(t, nil, func(t *testing.T, api txAPI, s *pgstore.Store, pool *pgxpool.Pool) {
		for _, commit := range []bool{true, false} {
			name := map[bool]string{true: "FirstCommits", false: "FirstRollsBack"}[commit]
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				key := newKey(t)
				first := request(t, key, base)
				tx1, res1 := claimIn(t, api, first)
				pid, err := tx1.pid(ctx)
				require.NoError(t, err)
				before := countEffects(t, pool)
				require.NoError(t, tx1.exec(ctx, `INSERT INTO effects (note) VALUES ('first')`))

				second := request(t, key, base.Add(time.Second))
				second.Takeover = true
				done := claimAsync(api, second)
				waitBlocked(t, pool, pid, done)

				result := []byte("first's result")
				require.NoError(t, tx1.complete(ctx, key, store.Fence{Owner: first.Owner, Token: res1.Record.Token}, result, base.Add(time.Hour)))
				if commit {
					require.NoError(t, tx1.commit(ctx))
				} else {
					tx1.rollback()
				}
				a := <-done
				require.NoError(t, a.err)
				if commit {
					assert.False(t, a.res.Granted, "the second was granted a key the first completed")
					assert.Equal(t, store.StateCompleted, a.res.Record.State)
					assert.Equal(t, first.Owner, a.res.Record.Owner)
					assert.Equal(t, result, a.res.Record.Result)
					assert.Equal(t, before+1, countEffects(t, pool))
				} else {
					assert.True(t, a.res.Granted, "the second was not granted a key the first rolled back")
					assert.Equal(t, second.Owner, a.res.Record.Owner)
					assert.Equal(t, before, countEffects(t, pool))
				}
				rec, err := s.Get(ctx, key)
				require.NoError(t, err)
				assert.Equal(t, a.res.Record, rec)
			})
		}
	})
}

// Under SERIALIZABLE the race is a serialization failure, which aborts the
// caller's transaction: the claim returns it rather than running its
// statement again in a transaction that can no longer succeed.
func TestClaimTxSerializationFailure(t *testing.T) {
	params := url.Values{"default_transaction_isolation": {"serializable"}}
	flavours(t, params, func(t *testing.T, api txAPI, s *pgstore.Store, pool *pgxpool.Pool) {
		ctx := context.Background()
		key := newKey(t)
		first := request(t, key, base)
		tx1, res1 := claimIn(t, api, first)
		pid, err := tx1.pid(ctx)
		require.NoError(t, err)

		second := request(t, key, base.Add(time.Second))
		done := make(chan answer, 1)
		tx2, err := api.begin(ctx)
		require.NoError(t, err)
		defer tx2.rollback()
		_, err = tx2.pid(ctx) // takes tx2's snapshot now, before tx1 commits
		require.NoError(t, err)
		go func() {
			res, err := tx2.claim(ctx, second)
			done <- answer{res, err}
		}()
		waitBlocked(t, pool, pid, done)
		require.NoError(t, tx1.complete(ctx, key, store.Fence{Owner: first.Owner, Token: res1.Record.Token}, []byte("r"), base.Add(time.Hour)))
		require.NoError(t, tx1.commit(ctx))

		a := <-done
		var pgErr *pgconn.PgError
		require.True(t, errors.As(a.err, &pgErr), "want a serialization failure, got %+v, %v", a.res, a.err)
		assert.Equal(t, "40001", pgErr.Code)

		// Running the whole transaction again replays the record.
		res, err := txStore{Store: s, api: api}.Claim(ctx, request(t, key, base.Add(time.Second)))
		require.NoError(t, err)
		assert.False(t, res.Granted)
		assert.Equal(t, store.StateCompleted, res.Record.State)
	})
}
