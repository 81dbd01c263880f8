package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newPool connects to the test server and closes the pool when tb ends.
func newPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.PostgresDSN(tb))
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	require.NoError(tb, pool.Ping(context.Background()), "PostgreSQL at IDEM_TEST_POSTGRES_DSN")
	return pool
}

func randomName(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return "idem_test_" + hex.EncodeToString(b)
}

// freshTable returns an unused table name and drops that table, its
// sequence and its claim function when tb ends.
func freshTable(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	name := randomName(tb)
	tb.Cleanup(func() {
		_, err := pool.Exec(context.Background(), `DROP TABLE IF EXISTS "`+name+`"; DROP SEQUENCE IF EXISTS "`+name+`_token_seq"; DROP FUNCTION IF EXISTS "`+name+`_claim"`)
		assert.NoError(tb, err)
	})
	return name
}

// freshSchema creates a schema and drops it, with everything in it, when tb
// ends.
func freshSchema(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	name := randomName(tb)
	_, err := pool.Exec(context.Background(), `CREATE SCHEMA "`+name+`"`)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_, err := pool.Exec(context.Background(), `DROP SCHEMA "`+name+`" CASCADE`)
		assert.NoError(tb, err)
	})
	return name
}

func newStore(tb testing.TB, pool *pgxpool.Pool, opts ...pgstore.Option) *pgstore.Store {
	tb.Helper()
	opts = append([]pgstore.Option{pgstore.WithTable(freshTable(tb, pool))}, opts...)
	s, err := pgstore.New(context.Background(), pool, opts...)
	require.NoError(tb, err)
	return s
}

func TestConformance(t *testing.T) {
	pool := newPool(t)
	t.Run("Table", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s, err := pgstore.New(context.Background(), pool, pgstore.WithTable(freshTable(t, pool)))
			require.NoError(t, err)
			return s
		})
	})
	t.Run("SchemaQualified", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s, err := pgstore.New(context.Background(), pool, pgstore.WithTable(freshSchema(t, pool)+".records"))
			require.NoError(t, err)
			return s
		})
	})
	// Sessions that default to SERIALIZABLE see concurrent claims as
	// serialization failures, which the store runs again.
	t.Run("Serializable", func(t *testing.T) {
		cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN(t))
		require.NoError(t, err)
		cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "serializable"
		ser, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(ser.Close)
		storetest.Run(t, func(t *testing.T) store.Store {
			s, err := pgstore.New(context.Background(), ser, pgstore.WithTable(freshTable(t, pool)))
			require.NoError(t, err)
			return s
		})
	})
	t.Run("SmallSweepBatches", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s, err := pgstore.New(context.Background(), pool, pgstore.WithTable(freshTable(t, pool)), pgstore.WithSweepBatch(1))
			require.NoError(t, err)
			return s
		})
	})
}

func newKey(tb testing.TB) store.Key {
	var k store.Key
	_, err := rand.Read(k[:])
	require.NoError(tb, err)
	return k
}

func newOwner(tb testing.TB) store.Owner {
	var o store.Owner
	_, err := rand.Read(o[:])
	require.NoError(tb, err)
	return o
}

func request(tb testing.TB, key store.Key, now time.Time) store.ClaimRequest {
	return store.ClaimRequest{
		Key:         key,
		Namespace:   "pgstore_test",
		Owner:       newOwner(tb),
		Now:         now,
		LeaseUntil:  now.Add(time.Minute),
		RetainUntil: now.Add(time.Hour),
	}
}

// Many processes opening a store on a table that does not exist yet all
// succeed: the advisory lock serializes their CREATE ... IF NOT EXISTS.
func TestConcurrentFirstUse(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	for _, table := range []string{freshTable(t, pool), freshSchema(t, pool) + ".records"} {
		const n = 8
		// One pool per opener, as separate processes would have.
		pools := make([]*pgxpool.Pool, n)
		for i := range pools {
			pools[i] = newPool(t)
		}
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = pgstore.New(ctx, pools[i], pgstore.WithTable(table))
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "opener %d of %s", i, table)
		}
		s, err := pgstore.New(ctx, pool, pgstore.WithTable(table))
		require.NoError(t, err)
		res, err := s.Claim(ctx, request(t, newKey(t), base))
		require.NoError(t, err)
		assert.True(t, res.Granted)
	}
}

func TestSchemaSQL(t *testing.T) {
	got, err := pgstore.SchemaSQL(pgstore.DefaultTable)
	require.NoError(t, err)
	assert.Equal(t, pgstore.Schema, got)

	got, err = pgstore.SchemaSQL("ops.idem")
	require.NoError(t, err)
	assert.Contains(t, got, `CREATE TABLE IF NOT EXISTS "ops"."idem" (`)
	assert.Contains(t, got, `CREATE INDEX IF NOT EXISTS "idem_retain_until_idx" ON "ops"."idem" (retain_until);`)
	assert.Contains(t, got, `CREATE SEQUENCE IF NOT EXISTS "ops"."idem_token_seq" AS bigint;`)
	assert.NotContains(t, got, "idem_records")

	for _, bad := range []string{
		"", "Idem", "1idem", "idem-records", `idem"; DROP TABLE x; --`, "a.b.c", ".idem", "idem.",
		"Ops.idem", strings.Repeat("a", 47),
	} {
		_, err := pgstore.SchemaSQL(bad)
		assert.Error(t, err, "table name %q", bad)
		_, err = pgstore.New(context.Background(), &pgxpool.Pool{}, pgstore.WithTable(bad))
		assert.Error(t, err, "New with table name %q", bad)
	}
	_, err = pgstore.SchemaSQL(strings.Repeat("a", 46))
	assert.NoError(t, err)
}

// The schema an operator runs by hand is the schema the store uses.
func TestWithoutMigrate(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	table := freshTable(t, pool)
	s, err := pgstore.New(ctx, pool, pgstore.WithTable(table), pgstore.WithoutMigrate())
	require.NoError(t, err)
	_, err = s.Claim(ctx, request(t, newKey(t), base))
	require.Error(t, err, "a claim on a table that does not exist")
	assert.Contains(t, err.Error(), "does not exist")

	schema, err := pgstore.SchemaSQL(table)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, schema)
	require.NoError(t, err)
	res, err := s.Claim(ctx, request(t, newKey(t), base))
	require.NoError(t, err)
	assert.True(t, res.Granted)
	assert.Equal(t, table, s.Table())
}

func TestNewRejects(t *testing.T) {
	_, err := pgstore.New(context.Background(), nil)
	require.Error(t, err)
	_, err = pgstore.New(context.Background(), &pgxpool.Pool{}, pgstore.WithSweepBatch(0))
	require.Error(t, err)
}

// Replaying a settled key reads the row and writes nothing: the row's
// version (xmin) stays the same across replays of every settled kind.
func TestReplayWritesNothing(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	table := freshTable(t, pool)
	s, err := pgstore.New(ctx, pool, pgstore.WithTable(table))
	require.NoError(t, err)
	xmin := func(key store.Key) string {
		var x string
		require.NoError(t, pool.QueryRow(ctx, `SELECT xmin::text FROM "`+table+`" WHERE key = $1`, key[:]).Scan(&x))
		return x
	}

	completed, held, indeterminate := newKey(t), newKey(t), newKey(t)
	for _, k := range []store.Key{completed, held, indeterminate} {
		res, err := s.Claim(ctx, request(t, k, base))
		require.NoError(t, err)
		f := store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}
		switch k {
		case completed:
			require.NoError(t, s.Complete(ctx, k, f, []byte("done"), base.Add(time.Hour)))
		case indeterminate:
			require.NoError(t, s.MarkIndeterminate(ctx, k, f, base.Add(time.Hour)))
		}
	}
	for _, k := range []store.Key{completed, held, indeterminate} {
		before := xmin(k)
		for range 3 {
			req := request(t, k, base.Add(time.Second))
			req.Takeover = true
			res, err := s.Claim(ctx, req)
			require.NoError(t, err)
			require.False(t, res.Granted)
		}
		assert.Equal(t, before, xmin(k), "a replay wrote the row")
	}
}

// Times round-trip to the nanosecond, the lease boundary is exact to the
// nanosecond, the zero time survives, and times outside the kept range are
// refused with an error rather than stored wrongly.
func TestTimes(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	s := newStore(t, pool)

	now := time.Date(2031, 2, 3, 4, 5, 6, 789, time.FixedZone("x", 3600))
	req := request(t, newKey(t), now)
	req.LeaseUntil = now.Add(time.Nanosecond)
	req.RetainUntil = time.Time{}.Add(0) // zero: expired at once, but stored
	res, err := s.Claim(ctx, req)
	require.NoError(t, err)
	require.True(t, res.Granted)
	got, err := s.Get(ctx, req.Key)
	require.NoError(t, err)
	assert.True(t, got.CreatedAt.Equal(now), "CreatedAt %v", got.CreatedAt)
	assert.True(t, got.LeaseUntil.Equal(now.Add(time.Nanosecond)), "LeaseUntil %v", got.LeaseUntil)
	assert.True(t, got.RetainUntil.IsZero(), "RetainUntil %v", got.RetainUntil)

	// A real retention, and the lease boundary to the nanosecond.
	key := newKey(t)
	req = request(t, key, now)
	req.LeaseUntil = now.Add(time.Nanosecond)
	_, err = s.Claim(ctx, req)
	require.NoError(t, err)
	early := request(t, key, now) // lease is after Now by 1ns: held
	res, err = s.Claim(ctx, early)
	require.NoError(t, err)
	assert.Equal(t, store.StateInProgress, res.Record.State)
	onTime := request(t, key, now.Add(time.Nanosecond)) // not after Now: passed
	res, err = s.Claim(ctx, onTime)
	require.NoError(t, err)
	assert.Equal(t, store.StateIndeterminate, res.Record.State)

	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	req = request(t, newKey(t), base)
	req.RetainUntil = far
	_, err = s.Claim(ctx, req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RetainUntil")
	_, err = s.Get(ctx, req.Key)
	require.ErrorIs(t, err, store.ErrNotFound, "a refused claim stored nothing")
	assert.Error(t, s.Complete(ctx, req.Key, store.Fence{}, nil, far))
	assert.Error(t, s.Renew(ctx, req.Key, store.Fence{}, far))
	assert.Error(t, s.MarkIndeterminate(ctx, req.Key, store.Fence{}, far))
	_, err = s.Sweep(ctx, far)
	assert.Error(t, err)
}

// Tokens come from the table's sequence: larger after Delete and Sweep
// removed the row too, not only after Release.
func TestTokensSurviveRowRemoval(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	s := newStore(t, pool)
	key := newKey(t)
	var last int64
	claimNext := func(now time.Time) store.Record {
		res, err := s.Claim(ctx, request(t, key, now))
		require.NoError(t, err)
		require.True(t, res.Granted)
		require.Greater(t, res.Record.Token, last)
		last = res.Record.Token
		return res.Record
	}
	claimNext(base)
	require.NoError(t, s.Delete(ctx, key))
	r := claimNext(base)
	require.NoError(t, s.Complete(ctx, key, store.Fence{Owner: r.Owner, Token: r.Token}, nil, base.Add(time.Minute)))
	n, err := s.Sweep(ctx, base.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	claimNext(base.Add(time.Minute))
}

// Sweep deletes in batches until none is left.
func TestSweepBatches(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	s := newStore(t, pool, pgstore.WithSweepBatch(2))
	var kept []store.Key
	for i := range 7 {
		req := request(t, newKey(t), base)
		if i >= 5 {
			req.RetainUntil = base.Add(10 * time.Hour)
			kept = append(kept, req.Key)
		}
		res, err := s.Claim(ctx, req)
		require.NoError(t, err)
		// Completed: Sweep never deletes an in-progress record.
		require.NoError(t, s.Complete(ctx, req.Key, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, nil, req.RetainUntil))
	}
	n, err := s.Sweep(ctx, base.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	for _, k := range kept {
		_, err := s.Get(ctx, k)
		assert.NoError(t, err)
	}
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM "`+s.Table()+`"`).Scan(&left))
	assert.Equal(t, 2, left)
}

// Every operation on a closed pool returns an error (neither a panic nor a
// protocol answer such as ErrFenced or ErrNotFound).
func TestClosedPool(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	table := freshTable(t, pool)
	own, err := pgxpool.New(ctx, testenv.PostgresDSN(t))
	require.NoError(t, err)
	s, err := pgstore.New(ctx, own, pgstore.WithTable(table))
	require.NoError(t, err)
	key := newKey(t)
	res, err := s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	f := store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}
	own.Close()

	check := func(name string, err error) {
		t.Helper()
		require.Error(t, err, name)
		assert.NotErrorIs(t, err, store.ErrFenced, name)
		assert.NotErrorIs(t, err, store.ErrNotFound, name)
		assert.Contains(t, err.Error(), "pgstore:", name)
	}
	_, err = s.Claim(ctx, request(t, key, base))
	check("Claim", err)
	check("Complete", s.Complete(ctx, key, f, []byte("x"), base.Add(time.Hour)))
	check("Release", s.Release(ctx, key, f))
	check("MarkIndeterminate", s.MarkIndeterminate(ctx, key, f, base.Add(time.Hour)))
	check("Renew", s.Renew(ctx, key, f, base.Add(time.Hour)))
	_, err = s.Get(ctx, key)
	check("Get", err)
	check("Delete", s.Delete(ctx, key))
	_, err = s.Sweep(ctx, base)
	check("Sweep", err)
	check("Migrate", s.Migrate(ctx))
	require.NoError(t, s.Close())

	// The record is untouched.
	other, err := pgstore.New(ctx, pool, pgstore.WithTable(table))
	require.NoError(t, err)
	got, err := other.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, store.StateInProgress, got.State)
}

// Open owns its pool: Close closes it. New leaves the caller's pool open.
func TestOpenOwnsPool(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	table := freshTable(t, pool)
	s, err := pgstore.Open(ctx, testenv.PostgresDSN(t), pgstore.WithTable(table))
	require.NoError(t, err)
	key := newKey(t)
	_, err = s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Get(ctx, key)
	require.Error(t, err, "Get after Close of an opened store")

	borrowed, err := pgstore.New(ctx, pool, pgstore.WithTable(table))
	require.NoError(t, err)
	require.NoError(t, borrowed.Close())
	require.NoError(t, pool.Ping(ctx), "New's Close closed the caller's pool")
	_, err = borrowed.Get(ctx, key)
	require.NoError(t, err)

	_, err = pgstore.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", pgstore.WithTable(table))
	require.Error(t, err, "Open of an unreachable server")
	_, err = pgstore.Open(ctx, "::not a dsn::")
	require.Error(t, err)
}

func BenchmarkStore(b *testing.B) {
	pool := newPool(b)
	storetest.Benchmark(b, func(b *testing.B) store.Store { return newStore(b, pool) })
}

// queryCounter is a pgx tracer that counts the statements a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The hot paths stay one statement (one round trip once prepared): a first
// claim (claimNewSQL's INSERT) and a replay of a key the store saw
// settled (a SELECT by primary key). A claim of a key with a row the store
// has not seen settled takes the INSERT that inserts nothing, then
// claimSQL: two, for a claim of a live-held key or the first replay of a
// key completed elsewhere; three when the claim changes the row (a
// takeover, a passed lease marked indeterminate, a same-owner retry with
// a later lease).
func TestClaimStatements(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN(t))
	require.NoError(t, err)
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := newStore(t, pool)
	statements := func(f func()) int64 {
		t.Helper()
		before := counter.n.Load()
		f()
		return counter.n.Load() - before
	}
	claim := func(req store.ClaimRequest) store.ClaimResult {
		t.Helper()
		res, err := s.Claim(ctx, req)
		require.NoError(t, err)
		return res
	}

	req := request(t, newKey(t), base)
	var first store.ClaimResult
	assert.EqualValues(t, 1, statements(func() { first = claim(req) }), "first claim")
	require.True(t, first.Granted)
	other := request(t, req.Key, base.Add(time.Second))
	assert.EqualValues(t, 2, statements(func() { assert.False(t, claim(other).Granted) }), "claim of a live-held key")
	retry := req
	retry.LeaseUntil = req.LeaseUntil.Add(time.Minute)
	assert.EqualValues(t, 3, statements(func() { assert.True(t, claim(retry).Granted) }), "same-owner retry with a later lease")
	require.NoError(t, s.Complete(ctx, req.Key, store.Fence{Owner: first.Record.Owner, Token: first.Record.Token}, []byte("r"), base.Add(time.Hour)))
	assert.EqualValues(t, 1, statements(func() { assert.False(t, claim(other).Granted) }), "replay")

	held := request(t, newKey(t), base)
	claim(held)
	over := request(t, held.Key, held.LeaseUntil)
	over.Fingerprint = held.Fingerprint
	over.Takeover = true
	assert.EqualValues(t, 3, statements(func() { assert.True(t, claim(over).TookOver) }), "takeover")

	done := request(t, newKey(t), base)
	d := claim(done)
	require.NoError(t, s.Complete(ctx, done.Key, store.Fence{Owner: d.Record.Owner, Token: d.Record.Token}, []byte("r"), base.Add(time.Hour)))
	elsewhere, err := pgstore.New(ctx, pool, pgstore.WithTable(s.Table())) // another process: it has not seen the key settled
	require.NoError(t, err)
	replay := request(t, done.Key, base.Add(time.Second))
	for i, want := range []int64{2, 1} {
		assert.EqualValues(t, want, statements(func() {
			res, err := elsewhere.Claim(ctx, replay)
			require.NoError(t, err)
			assert.False(t, res.Granted)
			assert.Equal(t, "r", string(res.Record.Result))
		}), "replay %d of a key completed by another process", i)
	}
}
