package sqlitestore_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "idem.db"))
		require.NoError(t, err)
		return s
	})
}

// New on a caller's *sql.DB passes the suite too, creating the schema on
// first use, and leaves the database open on Close.
func TestConformanceNew(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "idem #1?.db")))
		require.NoError(t, err)
		t.Cleanup(func() {
			// The store did not close the caller's database.
			assert.NoError(t, db.Ping(), "the caller's database after the store's Close")
			assert.NoError(t, db.Close())
		})
		s, err := sqlitestore.New(db)
		require.NoError(t, err)
		return s
	})
}

var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func claimReq(key store.Key, owner store.Owner, now time.Time) store.ClaimRequest {
	return store.ClaimRequest{
		Key:         key,
		Namespace:   "sqlitestore_test",
		Fingerprint: store.Fingerprint{9},
		Owner:       owner,
		Now:         now,
		LeaseUntil:  now.Add(time.Minute),
		RetainUntil: now.Add(time.Hour),
	}
}

// A completed record survives Close and Open, byte for byte.
func TestReopenDurability(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idem.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	key := store.Key{1}
	res, err := s.Claim(ctx, claimReq(key, store.Owner{1}, base))
	require.NoError(t, err)
	require.True(t, res.Granted)
	result := []byte{0, 1, 2, 0, 'x'}
	require.NoError(t, s.Complete(ctx, key, store.Fence{Owner: store.Owner{1}, Token: res.Record.Token}, result, base.Add(time.Hour)))
	want, err := s.Get(ctx, key)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	res, err = s.Claim(ctx, claimReq(key, store.Owner{2}, base.Add(time.Minute)))
	require.NoError(t, err)
	assert.False(t, res.Granted)
	assert.Equal(t, store.StateCompleted, res.Record.State)
	assert.Equal(t, result, res.Record.Result)
}

// Open configures WAL, synchronous=FULL and a busy timeout on its
// connections, and creates the table and index of Schema.
func TestOpenConfiguresDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idem.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	require.NoError(t, err)
	defer db.Close()
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var sync, busy int
	require.NoError(t, db.QueryRow("PRAGMA synchronous").Scan(&sync))
	assert.Equal(t, 2, sync, "synchronous=FULL")
	// The store polls for locks itself; SQLite's busy handler stays off.
	require.NoError(t, db.QueryRow("PRAGMA busy_timeout").Scan(&busy))
	assert.Zero(t, busy, "busy_timeout")
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('idem_records', 'idem_records_retain_until')`).Scan(&n))
	assert.Equal(t, 2, n)
}

// An operator can create the schema by hand from Schema; the store then
// uses that table.
func TestSchemaByHand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idem.db")
	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(sqlitestore.Schema)
	require.NoError(t, err)
	s, err := sqlitestore.New(db)
	require.NoError(t, err)
	res, err := s.Claim(context.Background(), claimReq(store.Key{7}, store.Owner{7}, base))
	require.NoError(t, err)
	assert.True(t, res.Granted)
	require.NoError(t, s.Close())
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM idem_records WHERE state = 1`).Scan(&n))
	assert.Equal(t, 1, n)
}

// Open creates the file at exactly the path given, even one with characters
// that mean something in a URI.
func TestOpenEscapesPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "idem #1?x=y&z%20.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()
	_, err = os.Stat(path)
	require.NoError(t, err, "the database file at the exact path")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.True(t, strings.HasPrefix(e.Name(), "idem #1?x=y&z%20.db"), "unexpected file %q", e.Name())
	}
}

// Times outside Unix nanoseconds' range keep their meaning: the zero time
// round-trips, and a retention far in the future is clamped to 2262, still
// after every time a caller compares it with.
// Times outside the range of store.CheckTime are refused, not clamped;
// the zero time round-trips (the conformance suite's TimeRange covers the
// ends of the range).
func TestTimesOutsideNanosecondRange(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "idem.db"))
	require.NoError(t, err)
	defer s.Close()
	key := store.Key{5}
	req := claimReq(key, store.Owner{5}, base)
	req.RetainUntil = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = s.Claim(ctx, req)
	require.ErrorIs(t, err, store.ErrTimeRange)

	req.RetainUntil = base.Add(time.Hour)
	req.LeaseUntil = time.Time{}
	res, err := s.Claim(ctx, req)
	require.NoError(t, err)
	require.True(t, res.Granted)
	got, err := s.Get(ctx, key)
	require.NoError(t, err)
	assert.True(t, got.LeaseUntil.IsZero(), "zero lease round-trips, got %v", got.LeaseUntil)
}

func TestNewNil(t *testing.T) {
	_, err := sqlitestore.New(nil)
	require.Error(t, err)
}

func TestClosedStoreFails(t *testing.T) {
	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(t.TempDir(), "idem.db")))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlitestore.New(db)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Claim(context.Background(), claimReq(store.Key{1}, store.Owner{1}, base))
	require.ErrorContains(t, err, "closed")
}

func BenchmarkClaimCompletedParallel(b *testing.B) {
	ctx := context.Background()
	s, err := sqlitestore.Open(filepath.Join(b.TempDir(), "idem.db"))
	require.NoError(b, err)
	defer s.Close()
	key := store.Key{1}
	res, err := s.Claim(ctx, claimReq(key, store.Owner{1}, base))
	require.NoError(b, err)
	require.NoError(b, s.Complete(ctx, key, store.Fence{Owner: store.Owner{1}, Token: res.Record.Token}, make([]byte, 256), base.Add(time.Hour)))
	replay := claimReq(key, store.Owner{2}, base.Add(time.Second))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := s.Claim(ctx, replay)
			if err != nil || res.Record.State != store.StateCompleted {
				b.Errorf("replay: %v, state %s", err, res.Record.State)
				return
			}
		}
	})
}

// A claim waiting for a lock another connection holds ends with its context,
// and leaves no transaction behind on the store's pooled connections.
func TestClaimWaitEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idem.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()

	other, err := sql.Open("sqlite", sqlitestore.DSN(path))
	require.NoError(t, err)
	defer other.Close()
	conn, err := other.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Claim(ctx, claimReq(store.Key{1}, store.Owner{1}, base))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = conn.ExecContext(context.Background(), "ROLLBACK")
	require.NoError(t, err)
	for i := range 2 * sqlitestore.MaxConns {
		k := store.Key{2, byte(i)}
		res, err := s.Claim(context.Background(), claimReq(k, store.Owner{1}, base))
		require.NoError(t, err)
		require.True(t, res.Granted)
		require.NoError(t, s.Complete(context.Background(), k, store.Fence{Owner: store.Owner{1}, Token: res.Record.Token}, nil, base.Add(time.Hour)))
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) store.Store {
		s, err := sqlitestore.Open(filepath.Join(b.TempDir(), "idem.db"))
		require.NoError(b, err)
		return s
	})
}
