package pgstore

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// TestClaimSnapshotRace drives, deterministically, the race that claim
// handles by starting over: a claim whose snapshot predates a concurrent
// claim's commit. The concurrent claim runs the same statement inside an
// open transaction; the claim under test starts, blocks on that
// transaction's row (its unique-index entry or its row lock), and is
// released by the commit. It must then answer with the committed winner's
// record, not grant, and not fail.
func TestClaimSnapshotRace(t *testing.T) {
	ctx := context.Background()
	pool, s := internalStore(t)

	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	req := func(key store.Key, owner byte, now time.Time, takeover bool) store.ClaimRequest {
		return store.ClaimRequest{
			Key: key, Namespace: "race", Owner: store.Owner{owner}, Now: now,
			LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour), Takeover: takeover,
		}
	}

	// race claims winner inside a transaction, starts loser, waits until
	// loser blocks on the transaction, commits, and returns loser's answer.
	race := func(t *testing.T, winner, loser store.ClaimRequest) store.ClaimResult {
		t.Helper()
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		var pid int32
		require.NoError(t, tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		won, err := claim(ctx, winner, inTx, true, false, &s.q, func(sql string, args []any) rowScanner {
			return tx.QueryRow(ctx, sql, args...)
		})
		require.NoError(t, err)
		require.True(t, won.Granted, "the winner's claim must be granted")

		type answer struct {
			res store.ClaimResult
			err error
		}
		done := make(chan answer, 1)
		go func() {
			res, err := s.Claim(ctx, loser)
			done <- answer{res, err}
		}()
		// Wait (bounded) until a backend is blocked by the transaction.
		blocked := false
		for range 500 {
			var n int
			require.NoError(t, pool.QueryRow(ctx,
				"SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid).Scan(&n))
			if n > 0 {
				blocked = true
				break
			}
			select {
			case a := <-done:
				t.Fatalf("the loser answered before the winner committed: %+v, %v", a.res, a.err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		require.True(t, blocked, "the loser's claim never blocked on the winner's transaction")
		require.NoError(t, tx.Commit(ctx))
		a := <-done
		require.NoError(t, a.err)
		return a.res
	}

	t.Run("FirstClaim", func(t *testing.T) {
		var key store.Key
		_, _ = rand.Read(key[:])
		res := race(t, req(key, 1, base, false), req(key, 2, base, false))
		assert.False(t, res.Granted)
		assert.Equal(t, store.Owner{1}, res.Record.Owner)
		assert.Equal(t, store.StateInProgress, res.Record.State)
	})
	t.Run("Takeover", func(t *testing.T) {
		var key store.Key
		_, _ = rand.Read(key[:])
		first, err := s.Claim(ctx, req(key, 1, base, false))
		require.NoError(t, err)
		require.True(t, first.Granted)
		later := base.Add(2 * time.Minute) // the first lease has passed
		res := race(t, req(key, 2, later, true), req(key, 3, later, true))
		assert.False(t, res.Granted)
		assert.False(t, res.TookOver)
		assert.Equal(t, store.Owner{2}, res.Record.Owner, "the loser sees the winner's takeover")
		assert.Greater(t, res.Record.Token, first.Record.Token)
	})
}
