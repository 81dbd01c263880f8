package runtime

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avast/retry-go/v4"

	"github.com/idem-go/idem/runtime/store"
)

// Do runs fn at most once per key and returns its results, recorded, to
// every later call with the same key. Generated wrappers call it; the
// semantics, in order:
//
//  1. The first call with a key claims it, runs fn, records its results and
//     returns them.
//  2. Later calls with the same key and fingerprint, within the record's
//     retention, return the recorded results without running fn.
//  3. A call whose fingerprint differs from the record's returns an error
//     matching ErrKeyReused without running fn.
//  4. Calls that find the key held by a live caller wait (bounded by ctx)
//     for it to finish and return its recorded results. The holder's lease
//     is renewed every Lease/3 while fn runs.
//  5. fn's context carries the key: see KeyFrom.
//  6. Errors marked NotApplied are retried under every effect; others that
//     are not marked Permanent and are not context errors are
//     indeterminate, and are retried only under EffectAPI and EffectQueue,
//     whose callee deduplicates on the key. Without a retry policy there is
//     one attempt.
//  7. When the last attempt fails, not-applied and permanent errors release
//     the claim. An indeterminate (or context) error under EffectNone marks
//     the record indeterminate and returns an error matching
//     ErrIndeterminate and the cause; every later call with the key returns
//     ErrIndeterminate without running until the retention passes or an
//     operator deletes the record. Under EffectAPI and EffectQueue the
//     claim is released.
//  8. A holder that died is taken over after its lease under EffectAPI and
//     EffectQueue; under EffectNone its record becomes indeterminate.
//  9. A panic in fn is handled as an indeterminate error, then re-panics.
//  10. Store failures fail closed: fn never runs without a successful
//     claim; such errors match ErrStore.
func Do[R any](ctx context.Context, spec *Spec, key, fingerprint *Encoder, fn func(context.Context) (R, error)) (R, error) {
	var c call
	if err := c.begin(ctx, spec, key, fingerprint); err != nil {
		var zero R
		return zero, err
	}
	if spec.Effect == EffectDB {
		var zero R
		return zero, fmt.Errorf("idem: %s: the db effect runs through DoSQL or DoPgx, which own the transaction; regenerate the wrapper with idemgen", spec.Namespace)
	}
	if err := c.useStore(ctx); err != nil {
		var zero R
		return zero, err
	}
	recorded, err := c.acquire(ctx)
	if c.granted {
		var out R
		err = c.execute(ctx, func(ctx context.Context) ([]byte, error) {
			r, err := fn(ctx)
			if err != nil {
				return nil, err
			}
			out = r
			data, err := marshalResult(&out)
			if err != nil {
				return nil, &markedError{class: classApplied, err: fmt.Errorf("idem: %s: the results cannot be recorded: %w", spec.Namespace, err)}
			}
			return data, nil
		})
		return out, err
	}
	var out R
	if err != nil {
		return out, err
	}
	if err := unmarshalResult(recorded, &out); err != nil {
		return out, fmt.Errorf("idem: %s: the recorded results cannot be decoded (did the result types change? bump //idem:version to start a fresh key space): %w", spec.Namespace, err)
	}
	return out, nil
}

// call is the state of one wrapped call.
type call struct {
	spec    *Spec
	store   Store
	clock   Clock
	obs     Observer
	ctrs    *counters
	key     Key
	fp      Fingerprint
	owner   store.Owner
	start   time.Time
	granted bool
	waited  bool
	fence   store.Fence
}

func (c *call) begin(ctx context.Context, spec *Spec, key, fingerprint *Encoder) error {
	c.spec = spec
	c.clock = clockFrom(ctx)
	c.obs = observerFrom(ctx)
	if c.obs != nil {
		// Reading the clock costs as much as a replay's store lookup;
		// only events need it.
		c.start = c.clock.Now()
	}
	c.ctrs = countersFor(spec.Namespace)
	var err error
	if c.key, err = key.SumContext(ctx); err != nil {
		return fmt.Errorf("%w: %s: key: %w", ErrInvalidKey, spec.Namespace, err)
	}
	if c.fp, err = fingerprint.SumFingerprintContext(ctx); err != nil {
		return fmt.Errorf("%w: %s: fingerprint: %w", ErrInvalidKey, spec.Namespace, err)
	}
	c.owner = newOwner()
	return nil
}

// useStore picks the store of a call that keeps its record in a store
// (every effect but db, whose records live in the caller's database).
func (c *call) useStore(ctx context.Context) error {
	var err error
	c.store, err = storeFrom(ctx)
	return err
}

func (c *call) emit(kind EventKind, attempt int, err error) {
	c.ctrs[kind].Add(1)
	if c.obs != nil {
		c.obs.Observe(Event{Kind: kind, Namespace: c.spec.Namespace, Key: c.key, Duration: c.clock.Now().Sub(c.start), Attempt: attempt, Err: err})
	}
}

// acquire claims the key. It returns with c.granted set, or with the
// recorded results of a completed call, or with an error.
func (c *call) acquire(ctx context.Context) ([]byte, error) {
	for {
		res, err := c.claim(ctx)
		if err != nil {
			c.emit(EventStoreError, 0, err)
			return nil, err
		}
		if res.Granted {
			c.granted = true
			c.fence = store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}
			if res.TookOver {
				c.emit(EventTakeover, 0, nil)
			}
			return nil, nil
		}
		rec := &res.Record
		if rec.Fingerprint != c.fp {
			err := fmt.Errorf("%w: %s: key %s was recorded for a call with other arguments; derive the key from the arguments that identify the operation, or bump //idem:version if their meaning changed", ErrKeyReused, c.spec.Namespace, c.key)
			c.emit(EventKeyReused, 0, err)
			return nil, err
		}
		switch rec.State {
		case store.StateCompleted:
			if c.waited {
				c.emit(EventWaited, 0, nil)
			} else {
				c.emit(EventReplayed, 0, nil)
			}
			return rec.Result, nil
		case store.StateIndeterminate:
			err := fmt.Errorf("%w: %s: key %s: an earlier attempt may have applied its effect; it is not run again until %s, unless an operator deletes the record after checking the effect", ErrIndeterminate, c.spec.Namespace, c.key, rec.RetainUntil.UTC().Format(time.RFC3339))
			c.emit(EventIndeterminate, 0, err)
			return nil, err
		case store.StateInProgress:
			if waitingDisabled(ctx) {
				err := fmt.Errorf("%w: %s: key %s: its holder's lease runs until %s", ErrInProgress, c.spec.Namespace, c.key, rec.LeaseUntil.UTC().Format(time.RFC3339))
				c.emit(EventFailed, 0, err)
				return nil, err
			}
			c.waited = true
			if err := c.wait(ctx, *rec); err != nil {
				return nil, err
			}
		default:
			err := fmt.Errorf("%w: %s: key %s: the store returned a record in unknown state %s", ErrStore, c.spec.Namespace, c.key, rec.State)
			c.emit(EventStoreError, 0, err)
			return nil, err
		}
	}
}

// claim asks the store for the key, retrying store failures (which are
// not applied by definition) under the retry policy.
func (c *call) claim(ctx context.Context) (store.ClaimResult, error) {
	req := store.ClaimRequest{
		Key:         c.key,
		Namespace:   c.spec.Namespace,
		Fingerprint: c.fp,
		Owner:       c.owner,
		Takeover:    c.spec.Effect.dedupesDownstream(),
	}
	try := func() (store.ClaimResult, error) {
		now := c.clock.Now()
		req.Now, req.LeaseUntil, req.RetainUntil = now, now.Add(c.spec.lease()), now.Add(c.spec.ttl())
		res, err := c.store.Claim(ctx, req)
		if err != nil {
			return res, c.storeError("claim", err)
		}
		return res, nil
	}
	res, err := try()
	if err == nil {
		maybeSweep(c.store, req.Now)
		return res, nil
	}
	if c.spec.attempts() == 1 || ctx.Err() != nil {
		return res, err
	}
	attempt := 1
	return retry.DoWithData(func() (store.ClaimResult, error) {
		attempt++
		c.emit(EventRetried, attempt, err)
		res, err = try()
		return res, err
	}, c.retryOptions(ctx, c.spec.attempts()-1, func(error) bool { return ctx.Err() == nil })...)
}

func (c *call) storeError(op string, err error) error {
	if errors.Is(err, ErrStore) {
		return err
	}
	return fmt.Errorf("%w: %s: %s: %w", ErrStore, c.spec.Namespace, op, err)
}

func (c *call) retryOptions(ctx context.Context, attempts uint, retryIf func(error) bool) []retry.Option {
	return []retry.Option{
		retry.Context(ctx),
		retry.Attempts(attempts),
		retry.Delay(c.spec.retryDelay()),
		retry.MaxDelay(c.spec.retryMaxDelay()),
		retry.DelayType(func(n uint, err error, cfg *retry.Config) time.Duration {
			return max(retry.FullJitterBackoffDelay(n, err, cfg), retryAfterOf(err))
		}),
		retry.LastErrorOnly(true),
		retry.WithTimer(c.clock),
		// A custom RetryIf replaces retry-go's own check for
		// retry.Unrecoverable, so keep it.
		retry.RetryIf(func(err error) bool { return retry.IsRecoverable(err) && retryIf(err) }),
	}
}

// Poll intervals while waiting for another holder.
const (
	waitPollMin = 5 * time.Millisecond
	waitPollMax = 250 * time.Millisecond
)

// wait polls the record held by another caller until it is no longer in
// progress under that holder or the holder's lease has passed; then the
// caller claims again.
func (c *call) wait(ctx context.Context, held store.Record) error {
	delay := waitPollMin
	for {
		untilLease := held.LeaseUntil.Sub(c.clock.Now())
		if untilLease <= 0 {
			return nil
		}
		d := min(delay, untilLease)
		select {
		case <-ctx.Done():
			err := fmt.Errorf("idem: %s: key %s: gave up waiting for the caller that holds the key: %w", c.spec.Namespace, c.key, context.Cause(ctx))
			return err
		case <-c.clock.After(d):
		}
		delay = min(2*delay, waitPollMax)
		rec, err := c.store.Get(ctx, c.key)
		if err != nil || rec.State != store.StateInProgress || rec.Owner != held.Owner || rec.Token != held.Token {
			return nil
		}
		held = rec
	}
}

// execute runs the function under the granted claim with heartbeats and
// retries, then records the outcome.
func (c *call) execute(ctx context.Context, run func(context.Context) ([]byte, error)) error {
	inner, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	inner = context.WithValue(inner, callCtxKey, &callInfo{key: c.key.String(), namespace: c.spec.Namespace})
	stop := c.heartbeat(inner, cancel)
	defer stop()

	attempt := 0
	var data []byte
	var lastErr error
	once := func() (err error) {
		attempt++
		if attempt > 1 {
			c.emit(EventRetried, attempt, lastErr)
		}
		defer func() {
			if p := recover(); p != nil {
				stop()
				c.finish(ctx, inner, attempt, nil, &markedError{class: classApplied, err: fmt.Errorf("idem: %s: panic: %v", c.spec.Namespace, p)})
				panic(p)
			}
		}()
		data, err = run(inner)
		lastErr = err
		return err
	}
	var err error
	switch {
	case inner.Err() != nil:
		err = context.Cause(inner)
	case c.spec.attempts() == 1:
		err = once()
	default:
		err = retry.Do(once, c.retryOptions(inner, c.spec.attempts(), func(err error) bool { return c.retryable(inner, err) })...)
	}
	stop()
	if lastErr == nil && err != nil {
		// No attempt ran: the context ended before the first one.
		c.release(ctx)
		c.emit(EventFailed, 0, err)
		return err
	}
	return c.finish(ctx, inner, attempt, data, lastErr)
}

// retryable says whether err, returned by an attempt, may be followed by
// another attempt with the same key.
func (c *call) retryable(inner context.Context, err error) bool {
	if inner.Err() != nil {
		return false
	}
	switch classifyIn(inner, err) {
	case classNotApplied:
		return true
	case classIndeterminate:
		return c.spec.Effect.dedupesDownstream()
	}
	return false
}

// finish records the outcome of the last attempt and returns the error the
// caller sees.
func (c *call) finish(ctx, inner context.Context, attempt int, data []byte, err error) error {
	if errors.Is(context.Cause(inner), ErrLeaseLost) {
		err = fmt.Errorf("%w: %s: key %s: %w", ErrLeaseLost, c.spec.Namespace, c.key, errOrDone(err))
		c.emit(EventFailed, attempt, err)
		return err
	}
	wctx, cancel := c.writeContext(ctx)
	defer cancel()
	if err == nil {
		werr := c.write(wctx, "complete", func(ctx context.Context) error {
			return c.store.Complete(ctx, c.key, c.fence, data, c.clock.Now().Add(c.spec.ttl()))
		})
		if werr != nil {
			c.emit(EventStoreError, attempt, werr)
			return werr
		}
		c.emit(EventExecuted, attempt, nil)
		return nil
	}
	switch classifyIn(ctx, err) {
	case classNotApplied, classPermanent:
		c.release(ctx)
		c.emit(EventFailed, attempt, err)
		return err
	}
	if c.spec.Effect.dedupesDownstream() {
		c.release(ctx)
		c.emit(EventFailed, attempt, err)
		return err
	}
	werr := c.write(wctx, "mark indeterminate", func(ctx context.Context) error {
		return c.store.MarkIndeterminate(ctx, c.key, c.fence, c.clock.Now().Add(c.spec.ttl()))
	})
	if werr != nil {
		c.emit(EventStoreError, attempt, werr)
	}
	err = fmt.Errorf("%w: %s: key %s: %w", ErrIndeterminate, c.spec.Namespace, c.key, err)
	c.emit(EventIndeterminate, attempt, err)
	return err
}

func errOrDone(err error) error {
	if err == nil {
		return errors.New("the function returned after its lease was lost; its results were not recorded")
	}
	return err
}

// release gives up the claim so that a later call may run again.
func (c *call) release(ctx context.Context) {
	wctx, cancel := c.writeContext(ctx)
	defer cancel()
	if err := c.write(wctx, "release", func(ctx context.Context) error {
		return c.store.Release(ctx, c.key, c.fence)
	}); err != nil {
		c.emit(EventStoreError, 0, err)
	}
}

// writeContext bounds the post-claim writes. They must happen even when
// the caller's context has ended, or a finished call would hold its key
// until the lease passes.
func (c *call) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.spec.lease())
}

// postClaimWriteAttempts bounds the retries of one post-claim write; the
// writes are conditional on the fence, so repeating them is harmless.
const postClaimWriteAttempts = 3

// write performs a fenced write, retrying store failures. A fenced write
// is not retried: the key belongs to another caller now.
func (c *call) write(ctx context.Context, op string, w func(context.Context) error) error {
	var err error
	for i := 0; i < postClaimWriteAttempts; i++ {
		if err = w(ctx); err == nil {
			return nil
		}
		if errors.Is(err, store.ErrFenced) {
			return fmt.Errorf("%w: %s: key %s: %s: %w", ErrLeaseLost, c.spec.Namespace, c.key, op, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return c.storeError(op, err)
}

// heartbeat renews the lease every Lease/3 until stop is called; stop
// waits for a renewal in flight. If a renewal is fenced, the claim was taken
// over: the function's context is canceled with ErrLeaseLost. No goroutine
// waits between renewals.
func (c *call) heartbeat(inner context.Context, cancel context.CancelCauseFunc) (stop func()) {
	hb := &heartbeat{c: c, inner: inner, cancel: cancel}
	hb.mu.Lock()
	hb.stopTimer = afterFunc(c.clock, c.spec.lease()/3, hb.beat)
	hb.mu.Unlock()
	return hb.stop
}

type heartbeat struct {
	c         *call
	inner     context.Context
	cancel    context.CancelCauseFunc
	mu        sync.Mutex // held by a renewal in flight
	stopped   bool
	stopTimer func() bool
}

func (hb *heartbeat) beat() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.stopped {
		return
	}
	c, lease := hb.c, hb.c.spec.lease()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(hb.inner), lease/3)
	err := c.store.Renew(rctx, c.key, c.fence, c.clock.Now().Add(lease))
	rcancel()
	if errors.Is(err, store.ErrFenced) {
		hb.cancel(ErrLeaseLost)
		return
	}
	// Any other failure is tried again at the next beat: the lease is
	// renewed three times per period.
	hb.stopTimer = afterFunc(c.clock, lease/3, hb.beat)
}

func (hb *heartbeat) stop() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if !hb.stopped {
		hb.stopped = true
		hb.stopTimer()
	}
}

// AfterFuncClock is implemented by clocks that can call a function once a
// duration has passed without a goroutine waiting meanwhile; the runtime's
// heartbeats use it where the clock has it. The real clock does.
type AfterFuncClock interface {
	Clock
	// AfterFunc calls f in its own goroutine once d has passed, unless
	// stop is called first; stop reports whether it prevented the call.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// afterFunc calls f once d has passed on c.
func afterFunc(c Clock, d time.Duration, f func()) (stop func() bool) {
	if af, ok := c.(AfterFuncClock); ok {
		return af.AfterFunc(d, f)
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case <-c.After(d):
			f()
		case <-done:
		}
	}()
	return func() bool {
		stopped := false
		once.Do(func() { close(done); stopped = true })
		return stopped
	}
}

// owners makes call owners unique across processes (a random prefix) and
// within one (a counter), without allocating.
var owners struct {
	prefix [8]byte
	next   atomic.Uint64
}

func init() {
	if _, err := rand.Read(owners.prefix[:]); err != nil {
		panic("idem: cannot read random bytes for owner ids: " + err.Error())
	}
}

func newOwner() store.Owner {
	var o store.Owner
	copy(o[:8], owners.prefix[:])
	binary.BigEndian.PutUint64(o[8:], owners.next.Add(1))
	return o
}
