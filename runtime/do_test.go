package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avast/retry-go/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// nsCounter makes every test's namespace unique, so Stats never mixes tests.
var nsCounter atomic.Int64

func newSpec(t *testing.T, effect runtime.Effect, attempts int) *runtime.Spec {
	return &runtime.Spec{
		Namespace: fmt.Sprintf("test/%s#%d", t.Name(), nsCounter.Add(1)),
		Version:   1,
		Effect:    effect,
		Retry:     runtime.RetryPolicy{Attempts: attempts, Delay: time.Nanosecond, MaxDelay: time.Nanosecond},
	}
}

// encoders derives the key from key and the fingerprint from fp.
func encoders(spec *runtime.Spec, key, fp string) (*runtime.Encoder, *runtime.Encoder) {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	f.String(fp)
	return &k, &f
}

func keyOf(t *testing.T, spec *runtime.Spec, key string) runtime.Key {
	k, _ := encoders(spec, key, "")
	sum, err := k.Sum()
	require.NoError(t, err)
	return sum
}

func fpOf(t *testing.T, spec *runtime.Spec, fp string) runtime.Fingerprint {
	_, f := encoders(spec, "", fp)
	sum, err := f.SumFingerprint()
	require.NoError(t, err)
	return sum
}

type order struct {
	ID     int64
	Tags   map[string]int
	Lines  []string
	At     time.Time
	Parent *order
}

// counted wraps fn so that the test can count executions.
type counted[R any] struct {
	n  atomic.Int64
	fn func(ctx context.Context, n int64) (R, error)
}

func (c *counted[R]) call(ctx context.Context) (R, error) {
	return c.fn(ctx, c.n.Add(1))
}

func do[R any](ctx context.Context, spec *runtime.Spec, key, fp string, fn func(context.Context) (R, error)) (R, error) {
	k, f := encoders(spec, key, fp)
	return runtime.Do(ctx, spec, k, f, fn)
}

func TestFirstCallRunsThenReplaysEqualResults(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	want := order{ID: 7, Tags: map[string]int{"a": 1, "b": 2}, Lines: []string{"x", "y"}, At: t0.Add(time.Microsecond), Parent: &order{ID: 1}}
	c := &counted[order]{fn: func(context.Context, int64) (order, error) { return want, nil }}

	got, err := do(ctx, spec, "order-7", "fp", c.call)
	require.NoError(t, err)
	require.Equal(t, want, got)

	for range 3 {
		got, err = do(ctx, spec, "order-7", "fp", c.call)
		require.NoError(t, err)
		require.Equal(t, want, got, "replayed results must equal the original ones")
	}
	require.EqualValues(t, 1, c.n.Load(), "the function must run once per key")
	st := runtime.StatsFor(spec.Namespace)
	require.EqualValues(t, 1, st.Executed)
	require.EqualValues(t, 3, st.Replayed)

	_, err = do(ctx, spec, "order-8", "fp", c.call)
	require.NoError(t, err)
	require.EqualValues(t, 2, c.n.Load(), "another key runs again")
}

func TestKeyReusedWithOtherArgumentsDoesNotRun(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	c := &counted[int]{fn: func(context.Context, int64) (int, error) { return 1, nil }}
	_, err := do(ctx, spec, "k", "amount=10", c.call)
	require.NoError(t, err)
	_, err = do(ctx, spec, "k", "amount=20", c.call)
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.EqualValues(t, 1, c.n.Load())
	require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).KeyReused)
}

func TestKeyReusedWhileInProgressDoesNotWait(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _ = do(ctx, spec, "k", "a", func(context.Context) (int, error) {
			close(started)
			<-release
			return 1, nil
		})
	}()
	<-started
	defer close(release)
	_, err := do(ctx, spec, "k", "b", func(context.Context) (int, error) { return 2, nil })
	require.ErrorIs(t, err, runtime.ErrKeyReused)
}

// spyStore reports the store calls the runtime makes.
type spyStore struct {
	store.Store
	gets      chan struct{} // receives on every Get, when not nil
	claimErrs atomic.Int64  // fail this many claims
	failWrite error         // Complete, Release and MarkIndeterminate fail with it
	claimErr  error
}

func (s *spyStore) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	if s.claimErrs.Add(-1) >= 0 {
		return store.ClaimResult{}, s.claimErr
	}
	return s.Store.Claim(ctx, req)
}

func (s *spyStore) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if s.gets != nil {
		select {
		case s.gets <- struct{}{}:
		default:
		}
	}
	return s.Store.Get(ctx, key)
}

func (s *spyStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retain time.Time) error {
	if s.failWrite != nil {
		return s.failWrite
	}
	return s.Store.Complete(ctx, key, f, result, retain)
}

func TestWaiterReturnsHolderResultWithoutRunning(t *testing.T) {
	spy := &spyStore{Store: memstore.New(), gets: make(chan struct{}, 1)}
	ctx := runtime.WithStore(context.Background(), spy)
	spec := newSpec(t, runtime.EffectAPI, 0)
	var runs atomic.Int64
	release := make(chan struct{})
	started := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		_, err := do(ctx, spec, "k", "fp", func(context.Context) (string, error) {
			runs.Add(1)
			close(started)
			<-release
			return "holder's result", nil
		})
		holder <- err
	}()
	<-started

	waiter := make(chan string, 1)
	go func() {
		got, err := do(ctx, spec, "k", "fp", func(context.Context) (string, error) {
			runs.Add(1)
			return "waiter ran", nil
		})
		assert.NoError(t, err)
		waiter <- got
	}()
	<-spy.gets // the waiter found the key held and is polling it
	close(release)
	require.NoError(t, <-holder)
	require.Equal(t, "holder's result", <-waiter)
	require.EqualValues(t, 1, runs.Load())
	require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).Waited)
}

func TestWaiterGivesUpWhenItsContextEnds(t *testing.T) {
	spy := &spyStore{Store: memstore.New(), gets: make(chan struct{}, 1)}
	ctx := runtime.WithStore(context.Background(), spy)
	spec := newSpec(t, runtime.EffectNone, 0)
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = do(ctx, spec, "k", "fp", func(context.Context) (int, error) {
			close(started)
			<-release
			return 1, nil
		})
	}()
	<-started
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	var ran atomic.Bool
	go func() {
		_, err := do(wctx, spec, "k", "fp", func(context.Context) (int, error) { ran.Store(true); return 2, nil })
		errc <- err
	}()
	<-spy.gets
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.False(t, ran.Load())
	close(release)
	<-done
}

func TestHeartbeatKeepsTheLeaseOfASlowHolder(t *testing.T) {
	clock := fakeclock.New(t0)
	s := memstore.New()
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
	spec := newSpec(t, runtime.EffectAPI, 0)
	spec.Lease = 30 * time.Second
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) {
			<-release
			return 1, nil
		})
		done <- err
	}()
	// Ten heartbeat periods: more than three leases pass while the holder runs.
	// One timer waits until the first renewal (the first beat); from then
	// two wait while the holder is idle: the next renewal and the holder's
	// own deadline.
	for i := range 10 {
		blockUntil(t, clock, min(i+1, 2), "the timers the call waits on never came")
		clock.Advance(10 * time.Second)
	}
	blockUntil(t, clock, 2, "the timers the call waits on never came") // the last renewal has been written
	res, err := s.Claim(context.Background(), store.ClaimRequest{
		Key: keyOf(t, spec, "k"), Fingerprint: fpOf(t, spec, "fp"), Owner: store.Owner{1}, Now: clock.Now(),
		LeaseUntil: clock.Now().Add(time.Minute), RetainUntil: clock.Now().Add(time.Hour), Takeover: true,
	})
	require.NoError(t, err)
	require.False(t, res.Granted, "a live holder's lease must not expire")
	close(release)
	require.NoError(t, <-done)
}

func TestLeaseLostCancelsTheFunctionAndIsReported(t *testing.T) {
	clock := fakeclock.New(t0)
	s := memstore.New()
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
	spec := newSpec(t, runtime.EffectAPI, 0)
	spec.Lease = 30 * time.Second
	started := make(chan struct{})
	cause := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		_, err := do(ctx, spec, "k", "fp", func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return 0, ctx.Err()
		})
		done <- err
	}()
	<-started
	// Another process, whose clock is past the lease (and its clock-skew
	// tolerance), takes the key over.
	later := clock.Now().Add(spec.Lease + runtime.ClockSkew + time.Second)
	res, err := s.Claim(context.Background(), store.ClaimRequest{
		Key: keyOf(t, spec, "k"), Fingerprint: fpOf(t, spec, "fp"), Owner: store.Owner{2}, Now: later,
		LeaseUntil: later.Add(time.Minute), RetainUntil: later.Add(time.Hour), Takeover: true,
	})
	require.NoError(t, err)
	require.True(t, res.Granted)
	blockUntil(t, clock, 1, "the timers the call waits on never came")
	clock.Advance(10 * time.Second) // the next renewal is fenced
	require.ErrorIs(t, <-cause, runtime.ErrLeaseLost)
	require.ErrorIs(t, <-done, runtime.ErrLeaseLost)
	rec, err := s.Get(context.Background(), keyOf(t, spec, "k"))
	require.NoError(t, err)
	require.Equal(t, store.Owner{2}, rec.Owner, "the stale holder must not touch its successor's record")
	require.Equal(t, store.StateInProgress, rec.State)
}

func TestKeyFromIsTheSameOnEveryAttempt(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectAPI, 3)
	var seen []string
	_, err := do(ctx, spec, "k", "fp", func(ctx context.Context) (int, error) {
		key, ok := runtime.KeyFrom(ctx)
		require.True(t, ok)
		seen = append(seen, key)
		if len(seen) < 3 {
			return 0, errors.New("timeout after the request was sent")
		}
		return 1, nil
	})
	require.NoError(t, err)
	want := keyOf(t, spec, "k").String()
	require.Len(t, want, 64)
	require.Equal(t, []string{want, want, want}, seen)
	_, ok := runtime.KeyFrom(context.Background())
	require.False(t, ok)
}

func TestMarksKeepTheCause(t *testing.T) {
	cause := &net404{}
	for _, err := range []error{runtime.NotApplied(cause), runtime.Permanent(cause)} {
		require.ErrorIs(t, err, cause)
		var target *net404
		require.ErrorAs(t, err, &target)
		require.Equal(t, cause.Error(), err.Error())
	}
	require.NoError(t, runtime.NotApplied(nil))
	require.NoError(t, runtime.Permanent(nil))
}

type net404 struct{}

func (*net404) Error() string { return "not found" }

// failing makes an attempt fail with the given kind of error.
func failing(kind string) error {
	base := errors.New("boom")
	switch kind {
	case "not applied":
		return runtime.NotApplied(base)
	case "permanent":
		return runtime.Permanent(base)
	case "client timeout":
		// The function's own deadline (an HTTP client's Timeout, say),
		// while the caller's context is alive: the request may have
		// been applied.
		return fmt.Errorf("boom: Post: %w", context.DeadlineExceeded)
	case "unrecoverable":
		return retry.Unrecoverable(base)
	}
	return base // indeterminate
}

func TestRetryOnlyWhereSafeAndWhatTheLastFailureLeaves(t *testing.T) {
	type want struct {
		runs          int64
		indeterminate bool // the last failure leaves the key indeterminate
	}
	cases := map[runtime.Effect]map[string]want{
		runtime.EffectNone: {
			"not applied":    {3, false},
			"indeterminate":  {1, true},
			"permanent":      {1, false},
			"canceled":       {1, true},
			"client timeout": {1, true},
			"unrecoverable":  {1, true},
		},
		runtime.EffectAPI: {
			"not applied":    {3, false},
			"indeterminate":  {3, false},
			"permanent":      {1, false},
			"canceled":       {1, false},
			"client timeout": {3, false},
			"unrecoverable":  {1, false},
		},
		runtime.EffectQueue: {
			"not applied":    {3, false},
			"indeterminate":  {3, false},
			"permanent":      {1, false},
			"canceled":       {1, false},
			"client timeout": {3, false},
			"unrecoverable":  {1, false},
		},
	}
	for effect, kinds := range cases {
		for kind, w := range kinds {
			t.Run(effect.String()+"/"+kind, func(t *testing.T) {
				s := memstore.New()
				callCtx, cancel := context.WithCancel(runtime.WithStore(context.Background(), s))
				defer cancel()
				spec := newSpec(t, effect, 3)
				c := &counted[int]{fn: func(ctx context.Context, _ int64) (int, error) {
					if kind == "canceled" {
						// The caller gives up while the function runs.
						cancel()
						return 0, fmt.Errorf("boom: %w", ctx.Err())
					}
					return 0, failing(kind)
				}}
				_, err := do(callCtx, spec, "k", "fp", c.call)
				require.Error(t, err)
				require.Equal(t, w.runs, c.n.Load(), "executions")
				require.EqualValues(t, w.runs-1, runtime.StatsFor(spec.Namespace).Retried)
				require.Equal(t, w.indeterminate, errors.Is(err, runtime.ErrIndeterminate), "error %v", err)
				require.ErrorContains(t, err, "boom")

				// What the next call with the key does.
				ctx := runtime.WithStore(context.Background(), s)
				ok := &counted[int]{fn: func(context.Context, int64) (int, error) { return 1, nil }}
				_, err = do(ctx, spec, "k", "fp", ok.call)
				if w.indeterminate {
					require.ErrorIs(t, err, runtime.ErrIndeterminate)
					require.EqualValues(t, 0, ok.n.Load(), "an indeterminate key must not run again")
				} else {
					require.NoError(t, err)
					require.EqualValues(t, 1, ok.n.Load(), "a released key runs again")
				}
			})
		}
	}
}

func TestNotAppliedRetriesUntilSuccess(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 5)
	c := &counted[string]{fn: func(_ context.Context, n int64) (string, error) {
		if n < 3 {
			return "", runtime.NotApplied(errors.New("connection refused"))
		}
		return "ok", nil
	}}
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.Equal(t, "ok", got)
	require.EqualValues(t, 3, c.n.Load())
	got, err = do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.Equal(t, "ok", got)
	require.EqualValues(t, 3, c.n.Load())
}

func TestIndeterminateLastsUntilRetentionOrOperatorDelete(t *testing.T) {
	clock := fakeclock.New(t0)
	s := memstore.New()
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
	spec := newSpec(t, runtime.EffectNone, 0)
	spec.TTL = time.Hour
	cause := errors.New("read timeout")
	c := &counted[int]{fn: func(_ context.Context, n int64) (int, error) {
		if n == 1 {
			return 0, cause
		}
		return int(n), nil
	}}
	_, err := do(ctx, spec, "k", "fp", c.call)
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	require.ErrorIs(t, err, cause)

	clock.Advance(59 * time.Minute)
	_, err = do(ctx, spec, "k", "fp", c.call)
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	require.EqualValues(t, 1, c.n.Load())

	clock.Advance(2 * time.Minute) // past the retention
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.Equal(t, 2, got)

	// An operator resolves an indeterminate key by deleting its record.
	c2 := &counted[int]{fn: func(_ context.Context, n int64) (int, error) {
		if n == 1 {
			return 0, cause
		}
		return 10, nil
	}}
	_, err = do(ctx, spec, "k2", "fp", c2.call)
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	require.NoError(t, s.Delete(context.Background(), keyOf(t, spec, "k2")))
	got, err = do(ctx, spec, "k2", "fp", c2.call)
	require.NoError(t, err)
	require.Equal(t, 10, got)
}

func TestReplayEndsWithRetention(t *testing.T) {
	clock := fakeclock.New(t0)
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), memstore.New()), clock)
	spec := newSpec(t, runtime.EffectNone, 0)
	spec.TTL = time.Hour
	c := &counted[int64]{fn: func(_ context.Context, n int64) (int64, error) { return n, nil }}
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.EqualValues(t, 1, got)
	clock.Advance(time.Hour - time.Second)
	got, _ = do(ctx, spec, "k", "fp", c.call)
	require.EqualValues(t, 1, got)
	clock.Advance(time.Second)
	got, _ = do(ctx, spec, "k", "fp", c.call)
	require.EqualValues(t, 2, got, "after the retention the key runs again")
}

// deadHolder leaves a claim on key as a process that died would: in
// progress, lease started at the clock's time.
func deadHolder(t *testing.T, s store.Store, spec *runtime.Spec, clock *fakeclock.Clock) {
	res, err := s.Claim(context.Background(), store.ClaimRequest{
		Key: keyOf(t, spec, "k"), Namespace: spec.Namespace, Fingerprint: fpOf(t, spec, "fp"), Owner: store.Owner{9}, Now: clock.Now(),
		LeaseUntil: clock.Now().Add(30 * time.Second), RetainUntil: clock.Now().Add(time.Hour),
	})
	require.NoError(t, err)
	require.True(t, res.Granted)
}

func TestDeadHolderIsTakenOverOnlyWhereTheEffectDeduplicates(t *testing.T) {
	for _, effect := range []runtime.Effect{runtime.EffectAPI, runtime.EffectQueue, runtime.EffectNone} {
		t.Run(effect.String(), func(t *testing.T) {
			clock := fakeclock.New(t0)
			s := memstore.New()
			ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
			spec := newSpec(t, effect, 0)
			deadHolder(t, s, spec, clock)
			clock.Advance(31 * time.Second)
			c := &counted[int]{fn: func(context.Context, int64) (int, error) { return 5, nil }}
			got, err := do(ctx, spec, "k", "fp", c.call)
			if effect == runtime.EffectNone {
				require.ErrorIs(t, err, runtime.ErrIndeterminate)
				require.EqualValues(t, 0, c.n.Load())
				rec, err := s.Get(context.Background(), keyOf(t, spec, "k"))
				require.NoError(t, err)
				require.Equal(t, store.StateIndeterminate, rec.State)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 5, got)
			require.EqualValues(t, 1, c.n.Load())
			require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).Takeover)
		})
	}
}

func TestPanicIsIndeterminateThenRepanics(t *testing.T) {
	for _, effect := range []runtime.Effect{runtime.EffectNone, runtime.EffectAPI} {
		t.Run(effect.String(), func(t *testing.T) {
			ctx := runtime.WithStore(context.Background(), memstore.New())
			spec := newSpec(t, effect, 3)
			var runs atomic.Int64
			require.PanicsWithValue(t, "kaboom", func() {
				_, _ = do(ctx, spec, "k", "fp", func(context.Context) (int, error) {
					runs.Add(1)
					panic("kaboom")
				})
			})
			require.EqualValues(t, 1, runs.Load(), "a panic is never retried")
			_, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
			if effect == runtime.EffectNone {
				require.ErrorIs(t, err, runtime.ErrIndeterminate)
				require.EqualValues(t, 1, runs.Load())
			} else {
				require.NoError(t, err)
				require.EqualValues(t, 2, runs.Load())
			}
		})
	}
}

func TestStoreFailuresFailClosed(t *testing.T) {
	down := errors.New("connection reset by peer")
	t.Run("claim fails: no run", func(t *testing.T) {
		spy := &spyStore{Store: memstore.New(), claimErr: down}
		spy.claimErrs.Store(100)
		spec := newSpec(t, runtime.EffectNone, 3)
		var runs atomic.Int64
		_, err := do(runtime.WithStore(context.Background(), spy), spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
		require.ErrorIs(t, err, runtime.ErrStore)
		require.ErrorIs(t, err, down)
		require.EqualValues(t, 0, runs.Load())
		require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).StoreError)
	})
	t.Run("claim retried as not applied", func(t *testing.T) {
		spy := &spyStore{Store: memstore.New(), claimErr: down}
		spy.claimErrs.Store(2)
		spec := newSpec(t, runtime.EffectNone, 3)
		var runs atomic.Int64
		got, err := do(runtime.WithStore(context.Background(), spy), spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 4, nil })
		require.NoError(t, err)
		require.Equal(t, 4, got)
		require.EqualValues(t, 1, runs.Load())
	})
	t.Run("no retry policy: one claim attempt", func(t *testing.T) {
		spy := &spyStore{Store: memstore.New(), claimErr: down}
		spy.claimErrs.Store(1)
		spec := newSpec(t, runtime.EffectNone, 0)
		_, err := do(runtime.WithStore(context.Background(), spy), spec, "k", "fp", func(context.Context) (int, error) { return 4, nil })
		require.ErrorIs(t, err, runtime.ErrStore)
	})
	t.Run("complete fails until the lease ends: not recorded, results returned", func(t *testing.T) {
		spy := &spyStore{Store: memstore.New(), failWrite: down}
		spec := newSpec(t, runtime.EffectNone, 0)
		spec.Lease = 100 * time.Millisecond // the writes are retried until it ends
		got, err := do(runtime.WithStore(context.Background(), spy), spec, "k", "fp", func(context.Context) (int, error) { return 4, nil })
		require.ErrorIs(t, err, runtime.ErrNotRecorded)
		require.ErrorIs(t, err, down)
		require.NotErrorIs(t, err, runtime.ErrStore, "ErrStore means the function did not run")
		require.Equal(t, 4, got, "the function ran; its results are returned with the error")
		require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).RecordFailed)
	})
}

func TestStoreComesFromContextThenDefaultThenEnvironment(t *testing.T) {
	t.Setenv(runtime.EnvStore, "")
	spec := newSpec(t, runtime.EffectNone, 0)
	one := func(context.Context) (int, error) { return 1, nil }

	_, err := do(context.Background(), spec, "k", "fp", one)
	require.ErrorIs(t, err, runtime.ErrNoStore)
	require.ErrorContains(t, err, "SetDefaultStore")

	def, own := memstore.New(), memstore.New()
	runtime.SetDefaultStore(def)
	t.Cleanup(func() { runtime.SetDefaultStore(nil) })
	_, err = do(context.Background(), spec, "k", "fp", one)
	require.NoError(t, err)
	_, err = def.Get(context.Background(), keyOf(t, spec, "k"))
	require.NoError(t, err, "the default store holds the record")

	_, err = do(runtime.WithStore(context.Background(), own), spec, "k2", "fp", one)
	require.NoError(t, err)
	_, err = own.Get(context.Background(), keyOf(t, spec, "k2"))
	require.NoError(t, err, "the context's store holds the record")
	_, err = def.Get(context.Background(), keyOf(t, spec, "k2"))
	require.ErrorIs(t, err, store.ErrNotFound)

	runtime.SetDefaultStore(nil)
	t.Setenv(runtime.EnvStore, "memory:")
	_, err = do(context.Background(), spec, "k3", "fp", one)
	require.NoError(t, err)

	t.Setenv(runtime.EnvStore, "etcd://x")
	_, err = do(context.Background(), spec, "k4", "fp", one)
	require.ErrorIs(t, err, runtime.ErrNoStore)
	require.ErrorContains(t, err, `"etcd"`)
}

func TestInvalidKeyDoesNotRun(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, 1)
	k.Float64(math.NaN())
	f.Begin(spec.Namespace, 1)
	var runs atomic.Int64
	_, err := runtime.Do(ctx, spec, &k, &f, func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	require.EqualValues(t, 0, runs.Load())
}

type recorder struct {
	mu     sync.Mutex
	events []runtime.EventKind
}

func (r *recorder) Observe(e runtime.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e.Kind)
}

func TestObserverReceivesOneEventPerOutcome(t *testing.T) {
	rec := &recorder{}
	ctx := runtime.WithObserver(runtime.WithStore(context.Background(), memstore.New()), rec)
	spec := newSpec(t, runtime.EffectNone, 2)
	c := &counted[int]{fn: func(_ context.Context, n int64) (int, error) {
		if n == 1 {
			return 0, runtime.NotApplied(errors.New("refused"))
		}
		return 1, nil
	}}
	_, err := do(ctx, spec, "k", "fp", c.call) // retried, executed
	require.NoError(t, err)
	_, err = do(ctx, spec, "k", "fp", c.call) // replayed
	require.NoError(t, err)
	_, err = do(ctx, spec, "k", "other", c.call) // key reused
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	_, err = do(ctx, spec, "x", "fp", func(context.Context) (int, error) { return 0, errors.New("unknown") })
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	_, err = do(ctx, spec, "y", "fp", func(context.Context) (int, error) { return 0, runtime.Permanent(errors.New("bad request")) })
	require.Error(t, err)

	require.Equal(t, []runtime.EventKind{
		runtime.EventRetried, runtime.EventExecuted,
		runtime.EventReplayed,
		runtime.EventKeyReused,
		runtime.EventIndeterminate,
		runtime.EventFailed,
	}, rec.events)
	require.Equal(t, runtime.Counters{Executed: 1, Replayed: 1, KeyReused: 1, Retried: 1, Indeterminate: 1, Failed: 1}, runtime.StatsFor(spec.Namespace))
	var found bool
	for _, s := range runtime.Stats() {
		found = found || s.Namespace == spec.Namespace
	}
	require.True(t, found)
	require.Equal(t, "key_reused", runtime.EventKeyReused.String())
}

func TestDefaultObserver(t *testing.T) {
	rec := &recorder{}
	runtime.SetDefaultObserver(rec)
	t.Cleanup(func() { runtime.SetDefaultObserver(nil) })
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	_, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	require.Equal(t, []runtime.EventKind{runtime.EventExecuted}, rec.events)
}

func TestContextEndedBeforeTheFirstAttemptReleases(t *testing.T) {
	s := memstore.New()
	spec := newSpec(t, runtime.EffectNone, 0)
	// The claim succeeds (memstore only checks ctx first); then the context
	// is already over when the attempt would start.
	ctx, cancel := context.WithCancel(runtime.WithStore(context.Background(), s))
	spy := &cancelAfterClaim{Store: s, cancel: cancel}
	var runs atomic.Int64
	_, err := do(runtime.WithStore(ctx, spy), spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 0, runs.Load())
	_, err = s.Get(context.Background(), keyOf(t, spec, "k"))
	require.ErrorIs(t, err, store.ErrNotFound, "a claim whose function never ran is released")
}

type cancelAfterClaim struct {
	store.Store
	cancel func()
}

func (s *cancelAfterClaim) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	res, err := s.Store.Claim(ctx, req)
	s.cancel()
	return res, err
}

// sweepSpy reports every finished background sweep.
type sweepSpy struct {
	*memstore.Store
	swept chan int
}

func (s *sweepSpy) Sweep(ctx context.Context, now time.Time) (int, error) {
	n, err := s.Store.Sweep(ctx, now)
	s.swept <- n
	return n, err
}

func TestExpiredRecordsAreSweptInTheBackground(t *testing.T) {
	clock := fakeclock.New(t0)
	s := &sweepSpy{Store: memstore.New(), swept: make(chan int, 4)}
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
	spec := newSpec(t, runtime.EffectNone, 0)
	spec.TTL = time.Minute
	one := func(context.Context) (int, error) { return 1, nil }
	_, err := do(ctx, spec, "old", "fp", one)
	require.NoError(t, err)
	require.Equal(t, 0, <-s.swept, "the first use of a store sweeps it; nothing has expired yet")

	clock.Advance(runtime.SweepInterval)
	_, err = do(ctx, spec, "new", "fp", one) // the interval has passed: sweeps
	require.NoError(t, err)
	require.Equal(t, 1, <-s.swept, "the expired record is swept")
	_, err = s.Get(context.Background(), keyOf(t, spec, "old"))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Get(context.Background(), keyOf(t, spec, "new"))
	require.NoError(t, err, "a live record is never swept")
}
