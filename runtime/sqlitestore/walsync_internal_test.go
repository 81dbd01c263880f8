package sqlitestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// blockingSync is a walSync on a real file whose fsyncs wait for the test:
// each fsync sends on started and waits for a value on release.
func blockingSync(t *testing.T) (w *walSync, started chan struct{}, release chan error) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "idem.db")
	require.NoError(t, os.WriteFile(db+"-wal", []byte("frames"), 0o644))
	w = newWALSync(db)
	started, release = make(chan struct{}), make(chan error)
	stop := make(chan struct{}) // at cleanup: fsyncs no one waits for end
	w.fsync = func(*os.File) error {
		select {
		case started <- struct{}{}:
		case <-stop:
			return nil
		}
		select {
		case err := <-release:
			return err
		case <-stop:
			return nil
		}
	}
	t.Cleanup(func() {
		close(stop)
		w.close()
	})
	return w, started, release
}

// syncAsync calls w.sync in a goroutine and returns its result's channel.
func syncAsync(ctx context.Context, w *walSync) chan error {
	done := make(chan error, 1)
	go func() { done <- w.sync(ctx) }()
	return done
}

// recv waits for a value, failing the test after 10 s instead of hanging.
func recv[T any](t *testing.T, c chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		panic("unreachable")
	}
}

// notYet fails if c has a value now.
func notYet[T any](t *testing.T, c chan T, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("%s too early: %v", what, v)
	default:
	}
}

// A writer that arrives while an fsync runs is not served by it (that
// fsync may have started before the writer's commit): it waits for the
// next, which every writer arriving meanwhile shares.
func TestWALSyncShared(t *testing.T) {
	ctx := context.Background()
	w, started, release := blockingSync(t)

	first := syncAsync(ctx, w)
	recv(t, started, "first fsync")
	var late []chan error
	for range 5 {
		late = append(late, syncAsync(ctx, w))
	}
	// Wait until the five wait, behind the running fsync.
	require.Eventually(t, func() bool { return w.waiting.Load() == 6 }, 10*time.Second, time.Millisecond)
	for _, c := range late {
		notYet(t, c, "a writer that arrived during the first fsync")
	}
	release <- nil
	require.NoError(t, recv(t, first, "the first writer's answer"))
	recv(t, started, "second fsync")
	for _, c := range late {
		notYet(t, c, "a writer whose fsync is still running")
	}
	release <- nil
	for _, c := range late {
		require.NoError(t, recv(t, c, "a late writer's answer"))
	}
	require.EqualValues(t, 2, w.count.Load(), "six writers, two fsyncs")
}

// An fsync that fails fails its writers and every later sync: the log's
// state is unknown.
func TestWALSyncErrorIsSticky(t *testing.T) {
	ctx := context.Background()
	w, started, release := blockingSync(t)
	disk := errors.New("EIO")
	c := syncAsync(ctx, w)
	recv(t, started, "fsync")
	release <- disk
	err := recv(t, c, "the writer's answer")
	require.ErrorIs(t, err, disk)
	require.ErrorContains(t, err, "reopen the store")
	require.ErrorIs(t, w.sync(ctx), disk, "no fsync runs after a failed one")
	require.EqualValues(t, 1, w.count.Load())
}

// A writer whose context ends stops waiting for the fsync queued behind
// the running one; the writer running an fsync waits for it (it cannot be
// interrupted, as one inside SQLite's commit cannot).
func TestWALSyncContext(t *testing.T) {
	w, started, release := blockingSync(t)
	running := syncAsync(context.Background(), w)
	recv(t, started, "fsync")
	ctx, cancel := context.WithCancel(context.Background())
	queued := syncAsync(ctx, w)
	require.Eventually(t, func() bool { return w.waiting.Load() == 2 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, recv(t, queued, "the canceled writer's answer"), context.Canceled)
	notYet(t, running, "the running fsync's writer")
	release <- nil
	require.NoError(t, recv(t, running, "the running fsync's writer"))
}

// The log file is opened again when the one at the path is another (the
// last connection deleted it and a later one created it); no log file is
// nothing to sync.
func TestWALSyncReopens(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "idem.db")
	w := newWALSync(db)
	defer w.close()
	var synced []string
	w.fsync = func(f *os.File) error {
		synced = append(synced, f.Name())
		return f.Sync()
	}
	require.NoError(t, w.sync(ctx), "no log yet")
	require.Empty(t, synced)
	require.NoError(t, os.WriteFile(db+"-wal", []byte("a"), 0o644))
	require.NoError(t, w.sync(ctx))
	first := w.f
	require.NoError(t, w.sync(ctx))
	require.Same(t, first, w.f, "the same log is kept open")
	require.NoError(t, os.Remove(db+"-wal"))
	require.NoError(t, os.WriteFile(db+"-wal", []byte("b"), 0o644))
	require.NoError(t, w.sync(ctx))
	require.NotSame(t, first, w.f, "a new log is opened")
	st, err := w.f.Stat()
	require.NoError(t, err)
	now, err := os.Stat(db + "-wal")
	require.NoError(t, err)
	require.True(t, os.SameFile(st, now))
	require.Len(t, synced, 3)
}

// The claims of a group commit share one fsync of the log: 64 claims that
// commit together while an fsync runs are all answered by the next one.
func TestClaimsShareFsyncs(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "idem.db"))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.init(ctx))
	started, release := make(chan struct{}), make(chan error)
	s.wal.fsync = func(f *os.File) error {
		started <- struct{}{}
		if err := <-release; err != nil {
			return err
		}
		return f.Sync()
	}
	// An fsync already runs (another writer's), so none of the claims
	// can be served by it.
	other := syncAsync(ctx, s.wal)
	recv(t, started, "the other writer's fsync")

	const claims = 64
	answers := make(chan error, claims)
	for i := range claims {
		go func() {
			_, err := s.Claim(ctx, groupReq(store.Key{byte(i)}, byte(i)))
			answers <- err
		}()
	}
	require.Eventually(t, func() bool { return s.wal.waiting.Load() == claims+1 }, 10*time.Second, time.Millisecond,
		"every claim committed and waits for the log's fsync")
	notYet(t, answers, "a claim answered before its fsync")
	release <- nil
	require.NoError(t, recv(t, other, "the other writer's answer"))
	recv(t, started, "the claims' fsync")
	release <- nil
	for range claims {
		require.NoError(t, recv(t, answers, "a claim's answer"))
	}
	require.EqualValues(t, 2, s.wal.count.Load(), "one fsync for the other writer, one for the 64 claims")
	for i := range claims {
		rec, err := s.Get(ctx, store.Key{byte(i)})
		require.NoError(t, err)
		require.Equal(t, store.Owner{byte(i)}, rec.Owner)
	}
}
