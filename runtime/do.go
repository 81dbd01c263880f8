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
//  4. Calls that find the key held by a live caller report EventWaiting
//     and wait (bounded by ctx) for it to finish and return its recorded
//     results. The holder's lease is renewed every Lease/3 while fn runs;
//     a holder that cannot renew for a whole Lease is stopped: fn's context
//     is canceled with cause ErrLeaseLost (see ClockSkew).
//  5. fn's context carries the key: see KeyFrom.
//  6. Errors marked NotApplied are retried under every effect; others that
//     are not marked Permanent and are not context errors are
//     indeterminate, and are retried only under EffectAPI and EffectQueue,
//     whose callee deduplicates on the key. Errors of a wrapped call inside
//     fn that ran but could not record (ErrNotRecorded, ErrLeaseLost) are
//     never retried. Without a retry policy there is one attempt.
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
//  10. Store failures before fn runs fail closed: fn never runs without a
//     successful claim; such errors match ErrStore (or the caller's context
//     error, when that ended first). A claim whose answer was lost is
//     released in the background, so it never blocks the key.
//  11. The writes after fn ran (results, release, indeterminate mark) are
//     retried with backoff until the lease ends. The caller waits for them
//     until its context ends (DefaultStoreTimeout without a deadline); then
//     they continue in the background (EventRecordPending) and a successful
//     fn's results are returned. A write that fails for good returns an
//     error matching ErrNotRecorded (EventRecordFailed).
//  12. Results whose encoding exceeds the limit (SetMaxResultSize) are not
//     recorded: the call returns an error matching ErrResultTooLarge and
//     ErrIndeterminate, and the key is marked indeterminate.
//  13. Under EffectComposite every effect of fn is in a step (Step,
//     StepSQL): indeterminate errors are retried and a dead holder is
//     taken over as under EffectAPI, unless a none step is indeterminate,
//     which marks the record indeterminate; a failed call parks its claim
//     (in progress, lease ended) instead of releasing it, so that the next
//     call resumes from the recorded steps.
func Do[R any](ctx context.Context, spec *Spec, key, fingerprint *Encoder, fn func(context.Context) (R, error)) (R, error) {
	c := calls.Get().(*call)
	if err := c.begin(ctx, spec, key, fingerprint); err != nil {
		c.recycle()
		var zero R
		return zero, err
	}
	if spec.Effect == EffectDB {
		c.recycle()
		var zero R
		return zero, fmt.Errorf("idem: %s: the db effect runs through DoSQL or DoPgx, which own the transaction; regenerate the wrapper with idemgen", spec.Namespace)
	}
	if err := c.useStore(ctx); err != nil {
		if err == errPassthrough {
			return runPassthrough(ctx, c, fn)
		}
		c.recycle()
		var zero R
		return zero, err
	}
	recorded, err := c.acquire(ctx)
	if c.granted {
		r := &runOf[R]{fn: fn, namespace: spec.Namespace}
		err = c.execute(ctx, r, &r.ex)
		c.recycle()
		return r.out, err
	}
	k := c.key
	c.recycle() // recorded is the store's, not c's
	var out R
	if err != nil {
		return out, err
	}
	if err := unmarshalResult(recorded, &out); err != nil {
		return out, undecodableErr(spec.Namespace, k, err)
	}
	return out, nil
}

// calls holds the call state of finished calls of Do for reuse: a call
// allocates none in the common case (see recycle).
var calls = sync.Pool{New: func() any { return new(call) }}

// recycle returns c to calls once Do is done with it, unless something
// may still use it: a background write or lookup it started (detached),
// or a composite operation, whose steps reach the call from the
// function's context, which the function may keep. The heartbeat keeps a
// pointer to c but, once stopped, never reads through it.
func (c *call) recycle() {
	if c.detached || c.comp != nil || (c.spec != nil && c.spec.Effect == EffectComposite) {
		return
	}
	*c = call{}
	calls.Put(c)
}

// runOf runs a granted call's function and encodes its results; with the
// execution state it is the one allocation a granted call adds to a
// replay's.
type runOf[R any] struct {
	ex        execution
	fn        func(context.Context) (R, error)
	namespace string
	out       R
}

func (r *runOf[R]) run(ctx context.Context) ([]byte, error) {
	out, err := r.fn(ctx)
	if err != nil {
		return nil, err
	}
	r.out = out
	data, err := marshalResult(&r.out)
	if err != nil {
		return nil, &markedError{class: classApplied, err: fmt.Errorf("idem: %s: the results cannot be recorded: %w", r.namespace, err)}
	}
	if limit := maxResultSize(); len(data) > limit {
		return nil, &markedError{class: classApplied, err: fmt.Errorf("%w: %s: the results encode to %d bytes, above the limit of %d (runtime.SetMaxResultSize); return a reference to large data instead", ErrResultTooLarge, r.namespace, len(data), limit)}
	}
	return data, nil
}

// runner is the function of a granted call, run by execute.
type runner interface {
	// run runs the function once and returns its encoded results.
	run(ctx context.Context) ([]byte, error)
}

// execution is the state execute keeps while the function runs: the
// function's context and the heartbeat, allocated with the runner.
type execution struct {
	ci callInfo
	hb heartbeat
}

// call is the state of one wrapped call.
type call struct {
	spec      *Spec
	ctx       context.Context // the caller's
	store     Store
	clock     Clock
	obs       Observer
	ctrs      *counters
	key       Key
	fp        Fingerprint
	parts     []byte // the fingerprint's per-part digests (key_parts.go), in partsBuf when short
	partsBuf  [40]byte
	owner     store.Owner
	start     time.Time
	granted   bool
	waited    bool
	detached  bool // a goroutine started by the call may still use it: see recycle
	inMemory  bool // store.IsInMemory(store): its calls need no timers to bound them
	fence     store.Fence
	claimedAt time.Time  // the Now of the claim that granted the key
	createdAt time.Time  // the granted record's CreatedAt: the generation of a composite's steps
	comp      *composite // a composite operation's step state

	retry         RetryPolicy // the generated policy with overrides; see policy
	retryErr      error
	retryResolved bool
}

// policy returns the call's retry policy: the generated one with any
// override (SetRetryOverride, IDEM_RETRY) in place, or the error of a
// malformed IDEM_RETRY. It is resolved once, where a retry decision first
// needs it, so that replays never read it.
func (c *call) policy() (RetryPolicy, error) {
	if !c.retryResolved {
		c.retry, c.retryErr = effectiveRetry(c.spec)
		if c.retryErr != nil {
			c.retryErr = fmt.Errorf("%s: %w", c.spec.Namespace, c.retryErr)
		}
		c.retryResolved = true
	}
	return c.retry, c.retryErr
}

func (c *call) begin(ctx context.Context, spec *Spec, key, fingerprint *Encoder) error {
	c.spec = spec
	c.ctx = ctx
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
	c.parts = fingerprint.appendParts(c.partsBuf[:0], c.key, c.fp)
	c.owner = newOwner()
	return nil
}

// useStore picks the store of a call that keeps its record in a store
// (every effect but db, whose records live in the caller's database).
func (c *call) useStore(ctx context.Context) error {
	var err error
	c.store, err = storeFrom(ctx)
	c.inMemory = err == nil && store.IsInMemory(c.store)
	return err
}

func (c *call) emit(kind EventKind, attempt int, err error) {
	c.ctrs[kind].Add(1)
	if c.obs != nil {
		c.obs.Observe(Event{Kind: kind, Namespace: c.spec.Namespace, Key: c.key, Duration: c.clock.Now().Sub(c.start), Attempt: attempt, Err: err})
	}
}

// keyReused reports a record whose fingerprint differs from the call's and
// returns the error the caller sees. recordedFP and recordedParts are the
// record's Fingerprint and FingerprintParts: the message names the parts
// that differ from the call's, or says why it cannot.
func (c *call) keyReused(recordedFP Fingerprint, recordedParts []byte) error {
	covers := "its fingerprinted arguments"
	if c.spec.Fingerprint != "" {
		covers = "its fingerprint (" + c.spec.Fingerprint + ")"
	}
	err := fmt.Errorf("%w: %s: key %s was recorded for a call with other values of %s; %s; the function is not run. "+
		"If another request derived the same key, add the arguments that tell requests apart to //idem:key. "+
		"If the values differ for the same request (a deploy changed a fingerprinted parameter, or an argument "+
		"the caller makes afresh on every call, such as a new UUID or time.Now(), is in the fingerprint), "+
		"pin the fingerprint to the arguments that identify the request with //idem:fingerprint", ErrKeyReused, c.spec.Namespace, c.key, covers,
		partsDiffer(c.spec.Fingerprint, recordedFP, recordedParts, c.fp, c.parts))
	c.emit(EventKeyReused, 0, err)
	return err
}

// undecodable is the error of recorded results that cannot be decoded.
func (c *call) undecodable(err error) error {
	return undecodableErr(c.spec.Namespace, c.key, err)
}

func undecodableErr(namespace string, key Key, err error) error {
	return fmt.Errorf("idem: %s: key %s: the recorded results cannot be decoded into the current result types "+
		"(they changed incompatibly since the record was written); the function ran once for this key and is not run again: "+
		"calls fail until the record's retention passes or an operator deletes the record: %w", namespace, key, err)
}

// bounded returns ctx, or, for the context.Background of a wrapper whose
// function has no context parameter, a context bounded by
// DefaultStoreTimeout. (Comparing with context.Background never panics:
// a context of another type is simply unequal.)
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx != context.Background() {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultStoreTimeout)
}

// acquire claims the key. It returns with c.granted set, or with the
// recorded results of a completed call, or with an error.
func (c *call) acquire(ctx context.Context) ([]byte, error) {
	for {
		res, err := c.claim(ctx)
		if err != nil {
			c.forgetClaim()
			if errors.Is(err, ErrStore) {
				c.emit(EventStoreError, 0, err)
			} else {
				c.emit(EventFailed, 0, err)
			}
			return nil, err
		}
		if res.Granted {
			c.granted = true
			c.fence = store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}
			c.createdAt = res.Record.CreatedAt
			if res.TookOver {
				c.emit(EventTakeover, 0, nil)
			}
			return nil, nil
		}
		rec := &res.Record
		if rec.Fingerprint != c.fp {
			return nil, c.keyReused(rec.Fingerprint, rec.FingerprintParts)
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
				c.emit(EventFailed, 0, err)
				return nil, err
			}
		default:
			err := fmt.Errorf("%w: %s: key %s: the store returned a record in unknown state %s", ErrStore, c.spec.Namespace, c.key, rec.State)
			c.emit(EventStoreError, 0, err)
			return nil, err
		}
	}
}

// leaseFrom is the lease a claim or renewal made at now writes: the
// holder's own deadline plus ClockSkew.
func (c *call) leaseFrom(now time.Time) time.Time {
	return now.Add(c.spec.lease() + ClockSkew)
}

// claim asks the store for the key, retrying store failures (which are
// not applied by definition) under the retry policy.
func (c *call) claim(ctx context.Context) (store.ClaimResult, error) {
	req := store.ClaimRequest{
		Key:         c.key,
		Namespace:   c.spec.Namespace,
		Fingerprint: c.fp,
		Owner:       c.owner,
		Takeover:    c.rerunSafe(nil),

		FingerprintParts: c.parts,
	}
	try := func() (store.ClaimResult, error) {
		now := c.clock.Now()
		req.Now, req.LeaseUntil = now, c.leaseFrom(now)
		// The claim is retained a TTL past its lease, and renewals shift
		// the retention with the lease (see store.Store.Renew): a live
		// holder's record never expires, and a holder that dies leaves
		// its key blocked (indeterminate under none, taken over under
		// api and queue) for a TTL after its last sign of life, never
		// free to run again at once.
		req.RetainUntil = req.LeaseUntil.Add(c.spec.ttl())
		sctx, cancel := bounded(ctx)
		res, err := c.store.Claim(sctx, req)
		cancel()
		if err != nil {
			return res, c.storeError("claim", err)
		}
		if res.Granted {
			c.claimedAt = now
		}
		return res, nil
	}
	res, err := try()
	if err == nil {
		maybeSweep(c.store, req.Now)
		return res, nil
	}
	if p, perr := c.policy(); perr != nil || p.attempts() == 1 || ctx.Err() != nil {
		return res, err
	}
	attempt := 1
	return retry.DoWithData(func() (store.ClaimResult, error) {
		attempt++
		c.emit(EventRetried, attempt, err)
		res, err = try()
		return res, err
	}, c.retryOptions(ctx, c.retry.attempts()-1, func(error) bool { return ctx.Err() == nil })...)
}

// forgetClaim runs after a claim that failed: its request may have reached
// the store and granted the key while the answer was lost. Left alone, such
// a grant would block the key until its lease passed and then, under
// EffectNone, leave a key indeterminate whose function never ran. So it is
// looked up and released, in the background, until its lease would end.
func (c *call) forgetClaim() {
	select {
	case forgetters <- struct{}{}:
	default:
		// An outage fails many claims at once; past maxForgetters the
		// lookups would only load the store as it recovers. A lost grant
		// left behind is handled like a holder that died (row 9).
		return
	}
	until := c.leaseFrom(c.clock.Now())
	c.detached = true
	go func() {
		defer func() { <-forgetters }()
		err := c.persist(func() time.Time { return until }, func(ctx context.Context) error {
			rec, err := c.store.Get(ctx, c.key)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if rec.State != store.StateInProgress || rec.Owner != c.owner {
				return nil // never granted to this call, or released
			}
			err = c.letGo(ctx, store.Fence{Owner: rec.Owner, Token: rec.Token})
			if errors.Is(err, store.ErrFenced) {
				return nil // no longer this call's
			}
			return err
		})
		if err != nil {
			c.emit(EventRecordFailed, 0, c.notRecorded("release the claim whose answer was lost", err))
		}
	}()
}

// forgetters bounds the background lookups of claims whose answer was
// lost that run at once in a process.
var forgetters = make(chan struct{}, maxForgetters)

const maxForgetters = 64

// storeError is the error of a failed store operation before the function
// ran: it matches ErrStore, unless the caller's context ended, which is
// then the reason.
func (c *call) storeError(op string, err error) error {
	if c.ctx != nil && c.ctx.Err() != nil {
		return fmt.Errorf("idem: %s: %s: %w (store: %v)", c.spec.Namespace, op, ctxError(c.ctx), err)
	}
	if errors.Is(err, ErrStore) {
		return err
	}
	return fmt.Errorf("%w: %s: %s: %w", ErrStore, c.spec.Namespace, op, err)
}

// ctxError is the error of an ended context: it matches ctx.Err() and the
// context's cause.
func ctxError(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return fmt.Errorf("%w: %w", ctx.Err(), cause)
	}
	return ctx.Err()
}

// notRecorded is the error of a write after the function ran that failed
// for good.
func (c *call) notRecorded(op string, err error) error {
	if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotRecorded) {
		return err
	}
	return fmt.Errorf("%w: %s: key %s: %s: %w", ErrNotRecorded, c.spec.Namespace, c.key, op, err)
}

func (c *call) retryOptions(ctx context.Context, attempts uint, retryIf func(error) bool) []retry.Option {
	return []retry.Option{
		retry.Context(ctx),
		retry.Attempts(attempts),
		retry.Delay(c.retry.delay()),
		retry.MaxDelay(c.retry.maxDelay()),
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
	c.ctrs[EventWaiting].Add(1)
	if c.obs != nil {
		c.obs.Observe(Event{Kind: EventWaiting, Namespace: c.spec.Namespace, Key: c.key, Duration: c.clock.Now().Sub(c.start), LeaseUntil: held.LeaseUntil})
	}
	delay := waitPollMin
	for {
		untilLease := held.LeaseUntil.Sub(c.clock.Now())
		if untilLease <= 0 {
			return nil
		}
		d := min(delay, untilLease)
		select {
		case <-ctx.Done():
			return fmt.Errorf("idem: %s: key %s: gave up waiting for the caller that holds the key (its lease ends at %s): %w", c.spec.Namespace, c.key, held.LeaseUntil.UTC().Format(time.RFC3339), ctxError(ctx))
		case <-c.clock.After(d):
		}
		delay = min(2*delay, waitPollMax)
		sctx, cancel := bounded(ctx)
		rec, err := c.store.Get(sctx, c.key)
		cancel()
		if err != nil || rec.State != store.StateInProgress || rec.Owner != held.Owner || rec.Token != held.Token {
			return nil
		}
		held = rec
	}
}

// execute runs the function under the granted claim with heartbeats and
// retries, then records the outcome. ex holds the state it keeps.
func (c *call) execute(ctx context.Context, r runner, ex *execution) error {
	inner, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ex.ci.Context, ex.ci.key, ex.ci.namespace = inner, c.key, c.spec.Namespace
	inner = &ex.ci
	hb := c.heartbeat(&ex.hb, inner, cancel)

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
				hb.stop()
				c.finish(ctx, inner, hb, attempt, nil, &markedError{class: classApplied, err: fmt.Errorf("idem: %s: panic: %v", c.spec.Namespace, p)})
				panic(p)
			}
		}()
		data, err = r.run(c.attemptCtx(inner, hb))
		lastErr = err
		return err
	}
	_, perr := c.policy()
	var err error
	switch {
	case perr != nil:
		err = perr // a malformed IDEM_RETRY: the function does not run
	case inner.Err() != nil:
		err = context.Cause(inner)
	case c.retry.attempts() == 1:
		err = once()
	default:
		err = retry.Do(once, c.retryOptions(inner, c.retry.attempts(), func(err error) bool { return c.retryable(inner, err) })...)
	}
	// The writes that follow are tried until the lease that holds now
	// ends; renewing it further could hold the key forever for a write
	// the store keeps refusing.
	hb.stop()
	if lastErr == nil && err != nil {
		// No attempt ran: the context ended before the first one, or
		// the retry policy could not be read.
		if perr == nil {
			err = ctxError(inner)
		}
		if werr, _ := c.settle(ctx, hb, "release", (*call).release, nil); werr != nil {
			err = fmt.Errorf("%w; the function did not run, but its claim could not be released: %w", err, werr)
		}
		c.emit(EventFailed, 0, err)
		return err
	}
	return c.finish(ctx, inner, hb, attempt, data, lastErr)
}

// retryable says whether err, returned by an attempt, may be followed by
// another attempt with the same key.
func (c *call) retryable(inner context.Context, err error) bool {
	if inner.Err() != nil {
		return false
	}
	switch classifySpecIn(inner, c.spec, err) {
	case classNotApplied:
		return true
	case classIndeterminate:
		return c.rerunSafe(err)
	}
	return false
}

// finish records the outcome of the last attempt and returns the error the
// caller sees.
func (c *call) finish(ctx, inner context.Context, hb *heartbeat, attempt int, data []byte, err error) error {
	if errors.Is(context.Cause(inner), ErrLeaseLost) {
		err = fmt.Errorf("%w: %s: key %s: %w", ErrLeaseLost, c.spec.Namespace, c.key, errOrDone(err))
		c.emit(EventFailed, attempt, err)
		return err
	}
	if err == nil {
		werr, pending := c.settle(ctx, hb, "complete", (*call).complete, data)
		switch {
		case pending:
			c.emit(EventRecordPending, attempt, nil)
		case werr != nil:
			c.emit(EventRecordFailed, attempt, werr)
			return werr
		default:
			c.emit(EventExecuted, attempt, nil)
		}
		return nil
	}
	cls := classifySpecIn(ctx, c.spec, err)
	if !c.stepBlocked() && (cls == classNotApplied || cls == classPermanent || c.rerunSafe(err)) {
		werr, pending := c.settle(ctx, hb, "release", (*call).release, nil)
		c.emit(EventFailed, attempt, err)
		c.reportWrite(attempt, werr, pending)
		if werr != nil && (cls == classNotApplied || cls == classPermanent) {
			// The function's effect did not happen, but the key stays
			// held until the lease passes, then (EffectNone) becomes
			// indeterminate: the caller must not take the error as
			// "not applied" any more.
			return fmt.Errorf("%w (the function's error: %w)", werr, err)
		}
		return err
	}
	werr, pending := c.settle(ctx, hb, "mark indeterminate", (*call).markIndeterminate, nil)
	err = fmt.Errorf("%w: %s: key %s: %w", ErrIndeterminate, c.spec.Namespace, c.key, err)
	c.emit(EventIndeterminate, attempt, err)
	c.reportWrite(attempt, werr, pending)
	return err
}

func (c *call) reportWrite(attempt int, werr error, pending bool) {
	switch {
	case pending:
		c.emit(EventRecordPending, attempt, nil)
	case werr != nil:
		c.emit(EventRecordFailed, attempt, werr)
	}
}

func errOrDone(err error) error {
	if err == nil {
		return errors.New("the function returned after its lease was lost; its results were not recorded")
	}
	return err
}

// release gives up the claim so that a later call may run again.
func (c *call) release(ctx context.Context, _ []byte) error {
	return c.letGo(ctx, c.fence)
}

// complete records data, the encoded results, under the claim.
func (c *call) complete(ctx context.Context, data []byte) error {
	return c.store.Complete(ctx, c.key, c.fence, data, c.clock.Now().Add(c.spec.ttl()))
}

// markIndeterminate marks the claim's record indeterminate.
func (c *call) markIndeterminate(ctx context.Context, _ []byte) error {
	return c.store.MarkIndeterminate(ctx, c.key, c.fence, c.clock.Now().Add(c.spec.ttl()))
}

// postRunGrace is how long past its context's end a caller still waits
// for the writes after its function ran before it leaves them to the
// background; it keeps a call within its deadline plus one second.
const postRunGrace = 200 * time.Millisecond

// settle performs a write after the function ran (op names it), retrying
// store failures in the background with backoff until the lease ends (the heartbeat, stopped,
// no longer extends it). The caller waits for it until ctx ends (plus
// postRunGrace; DefaultStoreTimeout for a function without a context),
// and at most until the write ends; after that it returns pending, the write continues in the
// background, and its outcome is reported to the observer: EventExecuted
// for a completion, EventRecordFailed for a write that failed for good.
// A write that failed for good returns an error matching ErrNotRecorded or
// ErrLeaseLost.
//
// write is a method expression ((*call).complete, ...), given data: the
// common case, a first try that succeeds, allocates no closure.
func (c *call) settle(ctx context.Context, hb *heartbeat, op string, write func(*call, context.Context, []byte) error, data []byte) (err error, pending bool) {
	// The first try runs on the caller's goroutine, bounded by its context
	// (a try cut short is harmless: the writes are fenced, and a lost
	// answer is recognised): most writes succeed at once.
	failed := false
	if left := hb.holdUntil().Sub(c.clock.Now()); left > 0 && ctx.Err() == nil {
		var err error
		if c.inMemory {
			err = write(c, ctx, data) // it cannot outlast the bounds below
		} else {
			bctx, cancel := bounded(ctx)
			tctx, tcancel := context.WithTimeout(bctx, min(left, DefaultStoreTimeout))
			err = write(c, tctx, data)
			tcancel()
			cancel()
		}
		if err == nil {
			return nil, false
		}
		if errors.Is(err, store.ErrFenced) {
			err = c.fencedError(op, err)
		}
		if errors.Is(err, ErrLeaseLost) {
			return c.notRecorded(op, err), false
		}
		failed = true
	}
	w := c.recognizeLostAnswerFrom(c.key, c.fence, op, func(ctx context.Context) error { return write(c, ctx, data) }, failed)
	var (
		mu   sync.Mutex
		gone bool // the caller returned before the write finished
		werr error
	)
	done := make(chan struct{})
	c.detached = true
	go func() {
		e := c.persist(hb.holdUntil, w)
		if e != nil {
			e = c.notRecorded(op, e)
		}
		mu.Lock()
		werr = e
		g := gone
		mu.Unlock()
		close(done)
		if g {
			switch {
			case e != nil:
				c.emit(EventRecordFailed, 0, e)
			case op == "complete":
				c.emit(EventExecuted, 0, nil)
			}
		}
	}()
	bctx, cancel := bounded(ctx)
	defer cancel()
	select {
	case <-done:
		return werr, false
	case <-bctx.Done():
	}
	grace := time.NewTimer(postRunGrace)
	defer grace.Stop()
	select {
	case <-done:
		return werr, false
	case <-grace.C:
	}
	mu.Lock()
	defer mu.Unlock()
	if werr != nil || isClosed(done) {
		return werr, false
	}
	gone = true
	return nil, true
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// recognizeLostAnswerOf wraps a fenced write of the record of key held
// under fence (the call's, or a composite's step) so that a retry of a
// write whose first answer was lost succeeds: when a retried write is
// fenced, the record is looked up, and if it is in the state the write
// sets, under this fence, the earlier attempt applied.
func (c *call) recognizeLostAnswerOf(key store.Key, fence store.Fence, op string, w func(context.Context) error) func(context.Context) error {
	return c.recognizeLostAnswerFrom(key, fence, op, w, false)
}

// recognizeLostAnswerFrom is recognizeLostAnswerOf for a write already
// tried once, which failed if failed is set.
func (c *call) recognizeLostAnswerFrom(key store.Key, fence store.Fence, op string, w func(context.Context) error, failed bool) func(context.Context) error {
	want := store.State(0)
	switch op {
	case "complete":
		want = store.StateCompleted
	case "mark indeterminate":
		want = store.StateIndeterminate
	}
	return func(ctx context.Context) error {
		err := w(ctx)
		if errors.Is(err, store.ErrFenced) && failed && want != 0 {
			rec, gerr := c.store.Get(ctx, key)
			if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
				return gerr // retried: the lookup decides
			}
			if gerr == nil && rec.State == want && rec.Owner == fence.Owner && rec.Token == fence.Token {
				return nil
			}
		}
		if errors.Is(err, store.ErrFenced) {
			return c.fencedError(op, err)
		}
		failed = failed || err != nil
		return err
	}
}

// fencedError is the error of a write op refused with store.ErrFenced: the
// claim was lost.
func (c *call) fencedError(op string, err error) error {
	return fmt.Errorf("%w: %s: key %s: %s: %w", ErrLeaseLost, c.spec.Namespace, c.key, op, err)
}

// Backoff of the writes after the function ran.
const (
	persistDelay    = 10 * time.Millisecond
	persistMaxDelay = time.Second
)

// persist performs w until it succeeds, fails with ErrLeaseLost, or until
// passes, with exponential backoff and full jitter; each try is bounded by
// DefaultStoreTimeout and by until. It returns w's last error.
func (c *call) persist(until func() time.Time, w func(context.Context) error) error {
	base := context.WithoutCancel(c.ctx)
	var lastErr error
	try := func() error {
		left := until().Sub(c.clock.Now())
		if left <= 0 {
			if lastErr == nil {
				lastErr = errors.New("the lease ended before the write could be tried")
			}
			return retry.Unrecoverable(lastErr)
		}
		tctx, cancel := context.WithTimeout(base, min(left, DefaultStoreTimeout))
		defer cancel()
		lastErr = w(tctx)
		return lastErr
	}
	retryable := func(err error) bool {
		return retry.IsRecoverable(err) && !errors.Is(err, ErrLeaseLost) && c.clock.Now().Before(until())
	}
	if err := try(); err == nil || !retryable(err) {
		return lastErr
	}
	<-c.clock.After(persistDelay) // retry.Do tries at once
	_ = retry.Do(try,
		retry.Attempts(0), // until the lease ends
		retry.Delay(persistDelay),
		retry.MaxDelay(persistMaxDelay),
		retry.DelayType(retry.FullJitterBackoffDelay),
		retry.LastErrorOnly(true),
		retry.WithTimer(c.clock),
		retry.RetryIf(retryable),
	)
	return lastErr
}

// heartbeat renews the lease every Lease/3 from the grant until stop is
// called; stop waits for a renewal in flight. If a renewal is fenced, the
// claim was taken over; if no renewal succeeded for a whole Lease (by this
// process's clock), the lease may be about to pass for other hosts: either
// way the function's context is canceled with ErrLeaseLost. No goroutine
// waits between renewals.
//
// Until the first beat only its timer is armed: the holder's own deadline
// (a Lease after the grant) cannot come before the first beat (Lease/3
// after it), so the first beat arms the deadline's timer, and a function
// that returns within Lease/3 (nearly all) costs one timer, not two.
//
// hb is zero; it is not a field of call, which would grow every replay's
// allocation.
func (c *call) heartbeat(hb *heartbeat, inner context.Context, cancel context.CancelCauseFunc) *heartbeat {
	lease := c.spec.lease()
	hb.c, hb.base, hb.cancel, hb.hold = c, inner, cancel, c.claimedAt.Add(lease)
	hb.mu.Lock()
	hb.stopBeat = afterFunc(c.clock, lease/3, hb.beat)
	hb.mu.Unlock()
	return hb
}

type heartbeat struct {
	c        *call
	base     context.Context // the function's context; renewals run without its cancellation
	cancel   context.CancelCauseFunc
	inflight sync.Mutex // held by a renewal in flight

	mu         sync.Mutex // guards the fields below
	stopped    bool
	lost       bool
	hold       time.Time // the holder's own deadline: last renewal's start + Lease
	stopBeat   timerStop
	stopExpiry timerStop // zero until the first beat arms the deadline
}

func (hb *heartbeat) beat() {
	hb.inflight.Lock()
	defer hb.inflight.Unlock()
	hb.mu.Lock()
	done := hb.stopped || hb.lost
	if !done && hb.stopExpiry.zero() {
		hb.stopExpiry = afterFunc(hb.c.clock, hb.hold.Sub(hb.c.clock.Now()), hb.expire)
	}
	hb.mu.Unlock()
	if done {
		return
	}
	c, lease := hb.c, hb.c.spec.lease()
	now := c.clock.Now()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(hb.base), lease/3)
	err := c.store.Renew(rctx, c.key, c.fence, c.leaseFrom(now))
	rcancel()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.stopped || hb.lost {
		return
	}
	switch {
	case err == nil:
		if hold := now.Add(lease); hold.After(hb.hold) {
			hb.hold = hold
			hb.stopExpiry.stop()
			hb.stopExpiry = afterFunc(c.clock, hold.Sub(c.clock.Now()), hb.expire)
		}
	case errors.Is(err, store.ErrFenced):
		hb.lost = true
		hb.stopExpiry.stop()
		hb.cancel(ErrLeaseLost)
		return
	}
	// Any other failure is tried again at the next beat: the lease is
	// renewed three times per period.
	hb.stopBeat = afterFunc(c.clock, lease/3, hb.beat)
}

// expire stops a holder that has not renewed its lease in time.
func (hb *heartbeat) expire() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.stopped || hb.lost || hb.c.clock.Now().Before(hb.hold) {
		return
	}
	hb.lost = true
	hb.stopBeat.stop()
	hb.cancel(ErrLeaseLost)
}

// lostOrPast reports whether the claim was lost or the holder's own
// deadline is not after now.
func (hb *heartbeat) lostOrPast(now time.Time) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.lost || !now.Before(hb.hold)
}

// holdUntil is the holder's own deadline: the writes after the function
// ran are tried until then.
func (hb *heartbeat) holdUntil() time.Time {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.hold
}

func (hb *heartbeat) stop() {
	hb.mu.Lock()
	if !hb.stopped {
		hb.stopped = true
		hb.stopBeat.stop()
		if !hb.stopExpiry.zero() {
			hb.stopExpiry.stop()
		}
	}
	hb.mu.Unlock()
	hb.inflight.Lock() // wait for a renewal in flight
	hb.inflight.Unlock()
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

// timerStop stops a call of afterFunc: a *time.Timer of the real clock,
// kept as is (a method value of its Stop would allocate), or the stop
// function of another clock.
type timerStop struct {
	t *time.Timer
	f func() bool
}

func (s timerStop) zero() bool { return s.t == nil && s.f == nil }

// Stop reports whether it prevented the call.
func (s timerStop) stop() bool {
	if s.t != nil {
		return s.t.Stop()
	}
	return s.f()
}

// afterFunc calls f once d has passed on c.
func afterFunc(c Clock, d time.Duration, f func()) timerStop {
	if _, ok := c.(systemClock); ok {
		return timerStop{t: time.AfterFunc(d, f)}
	}
	if af, ok := c.(AfterFuncClock); ok {
		return timerStop{f: af.AfterFunc(d, f)}
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
	return timerStop{f: func() bool {
		stopped := false
		once.Do(func() { close(done); stopped = true })
		return stopped
	}}
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
