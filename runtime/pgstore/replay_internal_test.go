package pgstore

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/store"
)

// statements records the statements a pool runs, as "get" (the store's
// primary-key read), "claimNew" and "claim" (its claim statements) or
// "other".
type statements struct {
	mu   sync.Mutex
	seen []string
	q    *queries
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.q == nil:
	case d.SQL == s.q.get:
		s.seen = append(s.seen, "get")
	case d.SQL == s.q.claim:
		s.seen = append(s.seen, "claim")
	case d.SQL == s.q.claimNew:
		s.seen = append(s.seen, "claimNew")
	default:
		s.seen = append(s.seen, "other")
	}
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statements) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.seen
	s.seen = nil
	return seen
}

// The replay of a key the store saw settled is its prepared primary-key
// read alone; an expired record takes the claim statement (the read found
// a row), a deleted one the INSERT of a new key.
func TestReplayIsOneRead(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN(t))
	require.NoError(t, err)
	tr := &statements{}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := storeOn(t, pool)
	tr.mu.Lock()
	tr.q = &s.q
	tr.mu.Unlock()

	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	req := func(now time.Time) store.ClaimRequest {
		var o store.Owner
		_, _ = rand.Read(o[:])
		return store.ClaimRequest{Key: store.Key{1, 2, 3}, Namespace: "t", Owner: o, Now: now,
			LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)}
	}
	a, err := s.Claim(ctx, req(base))
	require.NoError(t, err)
	require.True(t, a.Granted)
	require.NoError(t, s.Complete(ctx, a.Record.Key, store.Fence{Owner: a.Record.Owner, Token: a.Record.Token}, []byte("ran once"), base.Add(time.Hour)))
	tr.take()

	res, err := s.Claim(ctx, req(base.Add(time.Second)))
	require.NoError(t, err)
	require.False(t, res.Granted)
	require.Equal(t, "ran once", string(res.Record.Result))
	require.Equal(t, []string{"get"}, tr.take(), "a replay of a settled key")

	res, err = s.Claim(ctx, req(base.Add(time.Hour)))
	require.NoError(t, err)
	require.True(t, res.Granted, "an expired record replayed")
	require.Equal(t, []string{"get", "claim", "other"}, tr.take(), "the claim of an expired record: read, claim, write")

	require.NoError(t, s.Complete(ctx, a.Record.Key, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, nil, base.Add(3*time.Hour)))
	require.NoError(t, s.Delete(ctx, a.Record.Key))
	tr.take()
	res, err = s.Claim(ctx, req(base.Add(2*time.Hour)))
	require.NoError(t, err)
	require.True(t, res.Granted, "a deleted key replayed")
	require.Equal(t, []string{"get", "claimNew"}, tr.take())
}
