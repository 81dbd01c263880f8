package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// queued waits until n claims wait for a group commit.
func queued(s *Store, n int) {
	for {
		s.queueMu.Lock()
		l := len(s.queue)
		s.queueMu.Unlock()
		if l >= n {
			return
		}
		runtime.Gosched()
	}
}

func groupReq(key store.Key, owner byte) store.ClaimRequest {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return store.ClaimRequest{Key: key, Namespace: "group", Owner: store.Owner{owner}, Now: now,
		LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)}
}

// Claims that wait at the same time are written in one transaction, each
// decided in turn: of two claims of one key in a group, one is granted and
// the other sees its record.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "idem.db"))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.init(ctx))

	s.writer <- struct{}{} // hold the slot, as a write in progress would
	const n = 8
	res := make([]store.ClaimResult, n+1)
	var wg sync.WaitGroup
	for i := range n + 1 {
		key := store.Key{byte(i)}
		if i == n {
			key = store.Key{0} // a second claim of key 0
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Claim(ctx, groupReq(key, byte(i+1)))
			assert.NoError(t, err)
			res[i] = r
		}()
		queued(s, i+1) // in this order
	}
	before := s.groups.Load()
	<-s.writer
	wg.Wait()
	require.EqualValues(t, 1, s.groups.Load()-before, "claims that waited together were committed apart")
	for i := range n {
		require.True(t, res[i].Granted, "claim %d", i)
		got, err := s.Get(ctx, store.Key{byte(i)})
		require.NoError(t, err)
		require.Equal(t, res[i].Record.Owner, got.Owner)
	}
	require.False(t, res[n].Granted, "two claims of one key in a group were both granted")
	require.Equal(t, res[0].Record.Owner, res[n].Record.Owner)
}

// A claim whose context ends while it waits for a group returns at once
// with the context's error and is not written.
func TestGroupCanceledWhileQueued(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "idem.db"))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.init(ctx))

	s.writer <- struct{}{}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := s.Claim(cctx, groupReq(store.Key{1}, 1))
		done <- err
	}()
	queued(s, 1)
	cancel()
	require.True(t, errors.Is(<-done, context.Canceled))
	<-s.writer
	_, err = s.Get(ctx, store.Key{1})
	require.ErrorIs(t, err, store.ErrNotFound, "a claim canceled before its group was written")
	res, err := s.Claim(ctx, groupReq(store.Key{1}, 2))
	require.NoError(t, err)
	require.True(t, res.Granted)
}
