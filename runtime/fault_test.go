package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

// Store operations a faultStore can fail.
const (
	opClaim    = "claim"
	opComplete = "complete"
	opRelease  = "release"
	opMark     = "mark"
	opRenew    = "renew"
	opGet      = "get"
)

// fault says how the next calls of one store operation fail.
type fault struct {
	n    int   // how many calls fail; negative: every call
	err  error // the error they return (errDown if nil)
	lost bool  // the call is applied, then its answer is lost
	// block, when not nil, makes a failing call wait for it to close (or
	// for its context to end) before it is applied and answers.
	block chan struct{}
}

var errDown = errors.New("connection reset by peer")

// faultStore wraps a store and fails its operations on command; every call
// is counted and reported on calls (when not nil) after it returns.
type faultStore struct {
	store.Store
	mu     sync.Mutex
	faults map[string]*fault
	counts map[string]int
	calls  chan string
}

func newFaultStore(s store.Store) *faultStore {
	return &faultStore{Store: s, faults: map[string]*fault{}, counts: map[string]int{}}
}

// fail makes the next n calls of op fail (n < 0: all of them).
func (s *faultStore) fail(op string, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = &f
}

func (s *faultStore) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// do runs op's call through the fault plan.
func (s *faultStore) do(ctx context.Context, op string, call func(context.Context) error) error {
	s.mu.Lock()
	s.counts[op]++
	f := s.faults[op]
	failing := f != nil && f.n != 0
	if failing && f.n > 0 {
		f.n--
	}
	var plan fault
	if failing {
		plan = *f
	}
	s.mu.Unlock()
	defer func() {
		if s.calls != nil {
			s.calls <- op
		}
	}()
	if !failing {
		return call(ctx)
	}
	if plan.block != nil {
		select {
		case <-plan.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if plan.err == nil {
		plan.err = errDown
	}
	if plan.lost {
		if err := call(ctx); err != nil {
			return err
		}
	}
	return plan.err
}

func (s *faultStore) Claim(ctx context.Context, req store.ClaimRequest) (res store.ClaimResult, err error) {
	err = s.do(ctx, opClaim, func(ctx context.Context) error {
		res, err = s.Store.Claim(ctx, req)
		return err
	})
	return res, err
}

func (s *faultStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retain time.Time) error {
	return s.do(ctx, opComplete, func(ctx context.Context) error { return s.Store.Complete(ctx, key, f, result, retain) })
}

func (s *faultStore) Release(ctx context.Context, key store.Key, f store.Fence) error {
	return s.do(ctx, opRelease, func(ctx context.Context) error { return s.Store.Release(ctx, key, f) })
}

func (s *faultStore) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retain time.Time) error {
	return s.do(ctx, opMark, func(ctx context.Context) error { return s.Store.MarkIndeterminate(ctx, key, f, retain) })
}

func (s *faultStore) Renew(ctx context.Context, key store.Key, f store.Fence, lease time.Time) error {
	return s.do(ctx, opRenew, func(ctx context.Context) error { return s.Store.Renew(ctx, key, f, lease) })
}

func (s *faultStore) Get(ctx context.Context, key store.Key) (rec store.Record, err error) {
	err = s.do(ctx, opGet, func(ctx context.Context) error {
		rec, err = s.Store.Get(ctx, key)
		return err
	})
	return rec, err
}

// events records the events of wrapped calls, and reports each on ch when
// it is not nil.
type events struct {
	mu  sync.Mutex
	all []runtime.Event
	ch  chan runtime.Event
}

func (e *events) Observe(ev runtime.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	if e.ch != nil {
		e.ch <- ev
	}
}

func (e *events) kinds() []runtime.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []runtime.EventKind
	for _, ev := range e.all {
		out = append(out, ev.Kind)
	}
	return out
}

// recv receives from ch, or fails the test when nothing arrives within
// ten seconds (something that should happen never did).
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		require.FailNow(t, "nothing received within 10s")
		panic("unreachable")
	}
}

// claimAs claims key on s as another process would, at now.
func claimAs(t *testing.T, s store.Store, spec *runtime.Spec, owner byte, now time.Time) store.ClaimResult {
	t.Helper()
	res, err := s.Claim(context.Background(), store.ClaimRequest{
		Key: keyOf(t, spec, "k"), Namespace: spec.Namespace, Fingerprint: fpOf(t, spec, "fp"), Owner: store.Owner{owner}, Now: now,
		LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour), Takeover: true,
	})
	require.NoError(t, err)
	return res
}

// 15.2: a live holder keeps its key, whatever the TTL: its record is
// retained at least as long as its lease, and renewals extend both.
// This relies on the store contract that Renew raises RetainUntil to at
// least the new lease (stores branch); without it the record expires at
// the first claim's retention and a second caller is granted the key.
func TestLiveHolderKeepsItsKeyWhateverTheTTL(t *testing.T) {
	for _, effect := range []runtime.Effect{runtime.EffectNone, runtime.EffectAPI} {
		t.Run(effect.String(), func(t *testing.T) {
			clock := fakeclock.New(t0)
			s := memstore.New()
			ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
			spec := newSpec(t, effect, 0)
			spec.TTL, spec.Lease = time.Second, 30*time.Second
			release := make(chan struct{})
			var once sync.Once
			free := func() { once.Do(func() { close(release) }) }
			defer free()
			var runs atomic.Int64
			done := make(chan error, 1)
			go func() {
				_, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) {
					runs.Add(1)
					<-release
					return 1, nil
				})
				done <- err
			}()
			blockUntil(t, clock, 1, "the timers the call waits on never came") // granted; the first beat waits
			rec, err := s.Get(context.Background(), keyOf(t, spec, "k"))
			require.NoError(t, err)
			require.False(t, rec.RetainUntil.Before(rec.LeaseUntil), "a claim is retained at least as long as its lease")
			require.Equal(t, t0.Add(spec.Lease+runtime.ClockSkew), rec.LeaseUntil, "the lease includes the clock-skew tolerance")
			for range 12 { // four leases, 120 TTLs
				clock.Advance(10 * time.Second)
				blockUntil(t, clock, 2, "the timers the call waits on never came") // renewed
				res := claimAs(t, s, spec, 7, clock.Now())
				require.False(t, res.Granted, "a second caller was granted the key of a live holder at %s", clock.Now().Sub(t0))
				require.Equal(t, store.StateInProgress, res.Record.State)
			}
			free()
			require.NoError(t, recv(t, done))
			require.EqualValues(t, 1, runs.Load())
		})
	}
}

// 15.3: a store failure after the function ran is ErrNotRecorded, which no
// wrapper retries: an outer wrapped function calling an inner one whose
// results could not be recorded runs once.
func TestNotRecordedIsNeverRetriedByAnOuterWrapper(t *testing.T) {
	for _, effect := range []runtime.Effect{runtime.EffectNone, runtime.EffectAPI} {
		t.Run(effect.String(), func(t *testing.T) {
			fs := newFaultStore(memstore.New())
			fs.fail(opComplete, fault{n: -1})
			ctx := runtime.WithStore(context.Background(), fs)
			inner := newSpec(t, runtime.EffectNone, 3)
			inner.Lease = 50 * time.Millisecond // the write is retried until it ends
			outer := newSpec(t, effect, 3)
			var sent atomic.Int64
			_, err := do(ctx, outer, "order", "fp", func(ctx context.Context) (int, error) {
				return do(ctx, inner, "mail", "fp", func(context.Context) (int, error) {
					sent.Add(1) // the e-mail goes out
					return 1, nil
				})
			})
			require.ErrorIs(t, err, runtime.ErrNotRecorded)
			require.ErrorIs(t, err, errDown)
			require.NotErrorIs(t, err, runtime.ErrStore)
			require.EqualValues(t, 1, sent.Load(), "the inner effect ran again")
			require.EqualValues(t, 0, runtime.StatsFor(outer.Namespace).Retried)
			require.Greater(t, fs.count(opComplete), 1, "the inner write is retried")
		})
	}
}

// 15.3: an error the function returns is never guessed "not applied" from
// its kind: a none function that applied an effect and then failed to dial
// runs once, and its key is indeterminate.
func TestADialErrorOfTheFunctionIsNotGuessedNotApplied(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 6)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	for _, cause := range []error{refused, &net.DNSError{Err: "no such host", Name: "audit.invalid"}, fmt.Errorf("%w: inner claim", runtime.ErrStore)} {
		var runs atomic.Int64
		key := cause.Error()
		_, err := do(ctx, spec, key, "fp", func(context.Context) (int, error) {
			runs.Add(1) // the effect is applied, then the second request fails
			return 0, fmt.Errorf("audit log: %w", cause)
		})
		require.ErrorIs(t, err, runtime.ErrIndeterminate)
		require.EqualValues(t, 1, runs.Load(), "%v", cause)
		_, err = do(ctx, spec, key, "fp", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
		require.ErrorIs(t, err, runtime.ErrIndeterminate)
		require.EqualValues(t, 1, runs.Load())
	}
}

// 15.4: a claim on a store that does not answer ends with the caller's
// deadline (plus at most a second), and matches the context's error, not
// ErrStore; a function without a context has each store call bounded by
// DefaultStoreTimeout.
func TestAHangingClaimEndsWithTheCallersDeadline(t *testing.T) {
	fs := newFaultStore(memstore.New())
	hang := make(chan struct{})
	defer close(hang)
	fs.fail(opClaim, fault{n: -1, block: hang})
	spec := newSpec(t, runtime.EffectNone, 3)
	ctx, cancel := context.WithTimeout(runtime.WithStore(context.Background(), fs), 100*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var runs atomic.Int64
	_, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, runtime.ErrStore)
	require.Less(t, time.Since(deadline), time.Second, "returned past its deadline + 1s")
	require.EqualValues(t, 0, runs.Load())

	// A function without a context: its wrapper passes context.Background.
	seen := make(chan time.Time, 1)
	runtime.SetDefaultStore(&deadlineProbe{Store: memstore.New(), seen: seen})
	t.Cleanup(func() { runtime.SetDefaultStore(nil) })
	start := time.Now()
	_, err = do(context.Background(), spec, "k2", "fp", func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	d := <-seen
	require.False(t, d.IsZero(), "a store call without a deadline")
	require.WithinDuration(t, start.Add(runtime.DefaultStoreTimeout), d, time.Second)
}

// deadlineProbe reports the deadline of each claim's context.
type deadlineProbe struct {
	store.Store
	seen chan time.Time
}

func (p *deadlineProbe) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	d, _ := ctx.Deadline()
	select {
	case p.seen <- d:
	default:
	}
	return p.Store.Claim(ctx, req)
}

// 15.4, 15.5: when recording outlasts the caller's deadline, a successful
// function's results are returned by the deadline (+1s), the record is
// written in the background and the observer hears both.
func TestRecordingContinuesInTheBackgroundPastTheCallersDeadline(t *testing.T) {
	fs := newFaultStore(memstore.New())
	unblock := make(chan struct{})
	// The first try is cut short by the caller's deadline; the second,
	// in the background, waits for the store to answer again.
	fs.fail(opComplete, fault{n: 2, block: unblock})
	obs := &events{ch: make(chan runtime.Event, 16)}
	spec := newSpec(t, runtime.EffectNone, 0)
	ctx, cancel := context.WithTimeout(runtime.WithObserver(runtime.WithStore(context.Background(), fs), obs), 100*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var runs atomic.Int64
	got, err := do(ctx, spec, "k", "fp", func(context.Context) (string, error) { runs.Add(1); return "receipt", nil })
	require.NoError(t, err)
	require.Equal(t, "receipt", got)
	require.Less(t, time.Since(deadline), time.Second, "returned past its deadline + 1s")
	require.Equal(t, runtime.EventRecordPending, recv(t, obs.ch).Kind)

	close(unblock) // the store answers again: the blocked try fails, a retry records
	require.Equal(t, runtime.EventExecuted, recv(t, obs.ch).Kind)
	got, err = do(runtime.WithStore(context.Background(), fs), spec, "k", "fp", func(context.Context) (string, error) { runs.Add(1); return "again", nil })
	require.NoError(t, err)
	require.Equal(t, "receipt", got, "the result recorded in the background replays")
	require.EqualValues(t, 1, runs.Load())
}

// 15.5: a short outage after the function ran does not lose its results:
// the writes retry with backoff, far more than three times.
func TestWritesAfterTheFunctionRanRideOutAShortOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   string
		fn   func(context.Context) (int, error)
		want error
	}{
		{"complete", opComplete, func(context.Context) (int, error) { return 3, nil }, nil},
		{"release", opRelease, func(context.Context) (int, error) { return 0, runtime.NotApplied(errDown) }, errDown},
		{"mark indeterminate", opMark, func(context.Context) (int, error) { return 0, errors.New("timeout") }, runtime.ErrIndeterminate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFaultStore(memstore.New())
			fs.fail(tc.op, fault{n: 5})
			ctx := runtime.WithStore(context.Background(), fs)
			spec := newSpec(t, runtime.EffectNone, 0)
			_, err := do(ctx, spec, "k", "fp", tc.fn)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
			require.NotErrorIs(t, err, runtime.ErrNotRecorded)
			require.Equal(t, 6, fs.count(tc.op), "retried past the outage")
			require.EqualValues(t, 0, runtime.StatsFor(spec.Namespace).RecordFailed)
			rec, err := fs.Store.Get(context.Background(), keyOf(t, spec, "k"))
			switch tc.op {
			case opComplete:
				require.NoError(t, err)
				require.Equal(t, store.StateCompleted, rec.State)
			case opRelease:
				require.ErrorIs(t, err, store.ErrNotFound)
			case opMark:
				require.NoError(t, err)
				require.Equal(t, store.StateIndeterminate, rec.State)
			}
		})
	}
}

// 15.5: a release that fails for good leaves the key held; the caller must
// not take the function's not-applied error at face value.
func TestAFailedReleaseIsNotRecorded(t *testing.T) {
	fs := newFaultStore(memstore.New())
	fs.fail(opRelease, fault{n: -1})
	spec := newSpec(t, runtime.EffectNone, 0)
	spec.Lease = 50 * time.Millisecond
	_, err := do(runtime.WithStore(context.Background(), fs), spec, "k", "fp", func(context.Context) (int, error) {
		return 0, runtime.NotApplied(errors.New("rejected"))
	})
	require.ErrorIs(t, err, runtime.ErrNotRecorded)
	require.ErrorContains(t, err, "rejected")
	require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).RecordFailed)
}

// 15.5: a claim whose answer was lost never leaves a key indeterminate
// whose function never ran: the grant is found and released.
func TestAClaimWhoseAnswerWasLostIsReleased(t *testing.T) {
	clock := fakeclock.New(t0)
	fs := newFaultStore(memstore.New())
	fs.fail(opClaim, fault{n: 1, lost: true})
	fs.calls = make(chan string, 16)
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), fs), clock)
	spec := newSpec(t, runtime.EffectNone, 0)
	var runs atomic.Int64
	_, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.ErrorIs(t, err, runtime.ErrStore)
	for op := range fs.calls {
		if op == opRelease {
			break
		}
	}
	clock.Advance(time.Hour / 2) // the lost grant's lease is long past
	got, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 2, nil })
	require.NoError(t, err, "the key was left blocked by a claim that never ran")
	require.Equal(t, 2, got)
	require.EqualValues(t, 1, runs.Load())
}

// 15.5: a claim retried by the same owner after a lost answer gets its
// grant back.
func TestARetriedClaimGetsItsLostGrantBack(t *testing.T) {
	fs := newFaultStore(memstore.New())
	fs.fail(opClaim, fault{n: 1, lost: true})
	spec := newSpec(t, runtime.EffectNone, 2)
	var runs atomic.Int64
	got, err := do(runtime.WithStore(context.Background(), fs), spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 5, nil })
	require.NoError(t, err)
	require.Equal(t, 5, got)
	require.EqualValues(t, 1, runs.Load())
	require.Equal(t, 2, fs.count(opClaim))
}

// 15.6: two hosts whose clocks differ by less than ClockSkew never hold one
// key at once: a holder that cannot renew stops itself (ErrLeaseLost)
// before the host ahead of it can claim the key.
func TestAHolderThatCannotRenewStopsBeforeItsSuccessorCanClaim(t *testing.T) {
	const eps = time.Millisecond
	a := fakeclock.New(t0)                              // the holder's clock
	b := fakeclock.New(t0.Add(runtime.ClockSkew - eps)) // a host ahead by the tolerance - ε
	fs := newFaultStore(memstore.New())
	fs.fail(opRenew, fault{n: -1})
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), fs), a)
	spec := newSpec(t, runtime.EffectAPI, 0)
	spec.Lease = 30 * time.Second
	stopped := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		_, err := do(ctx, spec, "k", "fp", func(ctx context.Context) (int, error) {
			<-ctx.Done()
			stopped <- context.Cause(ctx)
			return 0, ctx.Err()
		})
		done <- err
	}()
	holding := true
	for step := time.Duration(0); step < spec.Lease+runtime.ClockSkew; step += time.Second {
		// Granted (the first beat waits), or a renewal failed and the next
		// one waits with the holder's deadline.
		blockUntil(t, a, min(int(step/(spec.Lease/3))+1, 2), "the timers the call waits on never came")
		a.Advance(time.Second)
		b.Advance(time.Second)
		if holding && !a.Now().Before(t0.Add(spec.Lease)) {
			require.ErrorIs(t, recv(t, stopped), runtime.ErrLeaseLost, "the holder stops at its own deadline")
			holding = false
			break
		}
		res := claimAs(t, fs.Store, spec, 7, b.Now())
		require.False(t, res.Granted, "the successor was granted the key while the holder runs (holder at %s)", a.Now().Sub(t0))
	}
	require.False(t, holding)
	require.ErrorIs(t, recv(t, done), runtime.ErrLeaseLost)
	res := claimAs(t, fs.Store, spec, 7, b.Now())
	require.False(t, res.Granted, "at the holder's deadline, its lease still holds for a host ahead by less than the tolerance")
	b.Advance(eps)
	res = claimAs(t, fs.Store, spec, 7, b.Now())
	require.True(t, res.Granted, "once the holder stopped and the lease passed for the host ahead, it takes over")
	require.GreaterOrEqual(t, fs.count(opRenew), 2)
}

// 15.6 (14): a temporary Renew error is retried at the next beat and the
// holder keeps its key.
func TestATemporaryRenewErrorIsRetriedAtTheNextBeat(t *testing.T) {
	clock := fakeclock.New(t0)
	fs := newFaultStore(memstore.New())
	fs.fail(opRenew, fault{n: 1})
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), fs), clock)
	spec := newSpec(t, runtime.EffectAPI, 0)
	spec.Lease = 30 * time.Second
	release := make(chan struct{})
	var canceled atomic.Bool
	done := make(chan error, 1)
	go func() {
		_, err := do(ctx, spec, "k", "fp", func(ctx context.Context) (int, error) {
			<-release
			canceled.Store(ctx.Err() != nil)
			return 1, nil
		})
		done <- err
	}()
	for i := range 9 { // a failed renewal, then eight that succeed: 90 s
		blockUntil(t, clock, min(i+1, 2), fmt.Sprintf("the heartbeat stopped after renewal %d", i))
		clock.Advance(10 * time.Second)
	}
	blockUntil(t, clock, 2, "the heartbeat stopped")
	require.Equal(t, 9, fs.count(opRenew))
	require.False(t, claimAs(t, fs.Store, spec, 7, clock.Now()).Granted)
	close(release)
	require.NoError(t, recv(t, done))
	require.False(t, canceled.Load(), "a failed renewal does not stop the holder")
}

// 15.6 (14): a fenced Renew stops the holder at once.
func TestAFencedRenewStopsTheHolder(t *testing.T) {
	clock := fakeclock.New(t0)
	fs := newFaultStore(memstore.New())
	fs.fail(opRenew, fault{n: -1, err: fmt.Errorf("redis: renew: %w", store.ErrFenced)})
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), fs), clock)
	spec := newSpec(t, runtime.EffectAPI, 0)
	spec.Lease = 30 * time.Second
	cause := make(chan error, 1)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_, err := do(ctx, spec, "k", "fp", func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return 0, ctx.Err()
		})
		done <- err
	}()
	// The function runs before the beat is fenced: a call whose lease is
	// lost before its function starts never runs it.
	<-started
	blockUntil(t, clock, 1, "the timers the call waits on never came")
	clock.Advance(10 * time.Second)
	require.ErrorIs(t, recv(t, cause), runtime.ErrLeaseLost)
	require.ErrorIs(t, recv(t, done), runtime.ErrLeaseLost)
	require.Equal(t, 1, fs.count(opRenew))
}

// 15.10: a lost answer to a Complete that applied is recognised on the
// retry, and the call succeeds.
func TestALostAnswerToAnAppliedCompleteSucceeds(t *testing.T) {
	fs := newFaultStore(memstore.New())
	fs.fail(opComplete, fault{n: 1, lost: true})
	obs := &events{}
	ctx := runtime.WithObserver(runtime.WithStore(context.Background(), fs), obs)
	spec := newSpec(t, runtime.EffectNone, 0)
	var runs atomic.Int64
	got, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 8, nil })
	require.NoError(t, err)
	require.Equal(t, 8, got)
	require.Equal(t, []runtime.EventKind{runtime.EventExecuted}, obs.kinds())
	got, err = do(ctx, spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 9, nil })
	require.NoError(t, err)
	require.Equal(t, 8, got)
	require.EqualValues(t, 1, runs.Load())
}

// 15.10: a caller whose context is canceled during the claim gets
// context.Canceled, not ErrStore.
func TestACanceledCallerIsNotAStoreError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	spec := newSpec(t, runtime.EffectNone, 3)
	canceling := &cancelOnClaim{Store: memstore.New(), cancel: cancel}
	var runs atomic.Int64
	_, err := do(runtime.WithStore(ctx, canceling), spec, "k", "fp", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, runtime.ErrStore)
	require.EqualValues(t, 0, runs.Load())
	require.EqualValues(t, 0, runtime.StatsFor(spec.Namespace).StoreError)
}

// cancelOnClaim cancels the caller's context while its claim is in flight.
type cancelOnClaim struct {
	store.Store
	cancel func()
}

func (s *cancelOnClaim) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	s.cancel()
	return s.Store.Claim(ctx, req)
}

// Issue 7: a call that waits for another holder says so when the wait
// starts, with the holder's lease end.
func TestWaitingIsReportedWithTheHoldersLeaseEnd(t *testing.T) {
	clock := fakeclock.New(t0)
	s := memstore.New()
	spec := newSpec(t, runtime.EffectNone, 0)
	deadHolder(t, s, spec, clock) // a crashed holder: lease until t0+30s
	obs := &events{ch: make(chan runtime.Event, 4)}
	ctx := runtime.WithObserver(runtime.WithClock(runtime.WithStore(context.Background(), s), clock), obs)
	done := make(chan error, 1)
	go func() {
		_, err := do(ctx, spec, "k", "fp", func(context.Context) (int, error) { return 1, nil })
		done <- err
	}()
	ev := recv(t, obs.ch)
	require.Equal(t, runtime.EventWaiting, ev.Kind)
	require.Equal(t, t0.Add(30*time.Second), ev.LeaseUntil)
	require.Equal(t, keyOf(t, spec, "k"), ev.Key)
	blockUntil(t, clock, 1, "the timers the call waits on never came")
	clock.Advance(31 * time.Second)
	require.ErrorIs(t, recv(t, done), runtime.ErrIndeterminate, "the holder died under none")
	require.EqualValues(t, 1, runtime.StatsFor(spec.Namespace).Waiting)
}

// Issue 7: no message advises bumping //idem:version; key reuse says how
// to pin the fingerprint, and undecodable results say the function is not
// run again.
func TestMessagesNeverAdviseBumpingTheVersion(t *testing.T) {
	s := memstore.New()
	ctx := runtime.WithStore(context.Background(), s)
	spec := newSpec(t, runtime.EffectNone, 0)
	var runs atomic.Int64
	_, err := do(ctx, spec, "k", "v1", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.NoError(t, err)
	_, err = do(ctx, spec, "k", "v2", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.ErrorContains(t, err, "//idem:fingerprint")
	require.NotContains(t, err.Error(), "//idem:version")

	// A record whose results no longer decode into the result type.
	_, err = do(ctx, spec, "k", "v1", func(context.Context) (struct{ A, B []string }, error) {
		runs.Add(1)
		return struct{ A, B []string }{}, nil
	})
	require.Error(t, err)
	require.ErrorContains(t, err, "not run again")
	require.NotContains(t, err.Error(), "//idem:version")
	require.EqualValues(t, 1, runs.Load())
}

// 15.7: results above the limit are refused without running the function
// again: the key is marked indeterminate whatever the effect.
func TestResultsAboveTheLimitAreRefusedAndNotRunAgain(t *testing.T) {
	runtime.SetMaxResultSize(64)
	t.Cleanup(func() { runtime.SetMaxResultSize(0) })
	for _, effect := range []runtime.Effect{runtime.EffectNone, runtime.EffectAPI} {
		t.Run(effect.String(), func(t *testing.T) {
			ctx := runtime.WithStore(context.Background(), memstore.New())
			spec := newSpec(t, effect, 3)
			big := strings.Repeat("x", 100)
			var runs atomic.Int64
			got, err := do(ctx, spec, "k", "fp", func(context.Context) (string, error) { runs.Add(1); return big, nil })
			require.ErrorIs(t, err, runtime.ErrResultTooLarge)
			require.ErrorIs(t, err, runtime.ErrIndeterminate)
			require.ErrorContains(t, err, "SetMaxResultSize")
			require.Equal(t, big, got, "the function ran: its results are returned with the error")
			require.EqualValues(t, 1, runs.Load(), "never retried")
			_, err = do(ctx, spec, "k", "fp", func(context.Context) (string, error) { runs.Add(1); return big, nil })
			require.ErrorIs(t, err, runtime.ErrIndeterminate)
			require.EqualValues(t, 1, runs.Load(), "not run again")

			got, err = do(ctx, spec, "small", "fp", func(context.Context) (string, error) { return "ok", nil })
			require.NoError(t, err)
			require.Equal(t, "ok", got)
		})
	}
	runtime.SetMaxResultSize(0)
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	_, err := do(ctx, spec, "k", "fp", func(context.Context) ([]byte, error) { return make([]byte, runtime.DefaultMaxResultSize-64), nil })
	require.NoError(t, err, "the default limit is 1 MiB")
	_, err = do(ctx, spec, "k2", "fp", func(context.Context) ([]byte, error) { return make([]byte, runtime.DefaultMaxResultSize+1), nil })
	require.ErrorIs(t, err, runtime.ErrResultTooLarge)
}

// blockUntil is clock.BlockUntil(n) that fails the test, naming why, when
// the waiters do not come within ten seconds (a heartbeat that stopped
// beating would otherwise hang the test).
func blockUntil(t *testing.T, clock *fakeclock.Clock, n int, why string) {
	t.Helper()
	ok := make(chan struct{})
	go func() { clock.BlockUntil(n); close(ok) }()
	select {
	case <-ok:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: fewer than %d timers wait on the clock", why, n)
	}
}
