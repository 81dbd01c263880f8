package runtime

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// Composite operations (//idem:effect composite) are wrapped functions
// whose every effect runs in a step: Step for effects none, api and queue,
// StepSQL (or StepTx, idempgx.StepPgx) for database writes. A step records
// its result under a key derived from the operation's key and the step's
// name; a later execution of the operation (a retry, a takeover, a
// redelivered message) replays every completed step and runs the first one
// that did not complete.
//
// A composite operation that fails is not released but parked: its record
// stays in progress with a lease that has ended, so the next call takes it
// over at once and keeps its generation. (Sweeping never deletes an
// in-progress record: a parked record is replaced by the first claim after
// its retention, or deleted by an operator.)
//
// Where the records live. A Step's record is an ordinary record in the
// operation's store; a StepSQL's record is a row of the database's
// idem_records table, written in the step's own transaction. Both are
// keyed by the operation's key, the generation of the operation's record
// (its CreatedAt, which a takeover keeps and a fresh record after Delete,
// Sweep or expiry replaces) and the step's name: a fresh operation never
// sees the steps of a deleted or expired one, so deleting the operation's
// record deletes its steps as far as every later call can tell, and the
// unreachable step records are swept once their retention (the
// operation's TTL from the step's completion) passes. The key a step
// passes downstream (KeyFrom inside the step) depends on the operation's
// key and the step's name only.
//
// Fencing. A step's claim carries the operation holder's lease as its own
// (so a successor that took over the operation finds every step its
// predecessor left in progress expired), and a step neither starts nor
// records its result once the holder's own deadline has passed (the
// heartbeat cancels the operation's context with ErrLeaseLost then).

// ErrStepOutsideComposite is returned by Step, StepSQL and StepTx called
// outside a composite operation (a function without //idem:effect
// composite, or inside another step).
var ErrStepOutsideComposite = errors.New("idem: a step runs only inside a composite operation: mark the function //idem:effect composite and call Step or StepSQL from it directly (not from another step or another wrapped function)")

// composite is the state of a composite operation's execution, shared by
// its steps.
type composite struct {
	c  *call
	hb *heartbeat
	// blocked is set once a none step is indeterminate: the operation is
	// not retried and its record becomes indeterminate.
	blocked atomic.Bool

	mu    sync.Mutex
	names map[string]struct{} // step names used by the current attempt
}

// attemptCtx returns the context of one attempt of the function: for a
// composite operation it carries the operation's step state, with the
// names used reset.
func (c *call) attemptCtx(inner context.Context, hb *heartbeat) context.Context {
	if c.spec.Effect != EffectComposite {
		return inner
	}
	if c.comp == nil {
		c.comp = &composite{c: c, hb: hb}
	}
	c.comp.mu.Lock()
	c.comp.names = map[string]struct{}{}
	c.comp.mu.Unlock()
	return withCall(inner, c.key, c.spec.Namespace, c.comp)
}

// letGo gives up the claim held under f so that a later call may run
// again: it releases the record, except for a composite operation, whose
// record is kept in progress with a lease that ends now (a later call
// takes it over at once), so that the generation its steps are keyed
// under survives until the record's retention passes or an operator
// deletes it.
func (c *call) letGo(ctx context.Context, f store.Fence) error {
	if c.spec.Effect == EffectComposite {
		return c.store.Renew(ctx, c.key, f, c.clock.Now())
	}
	return c.store.Release(ctx, c.key, f)
}

// stepBlocked reports whether a none step of this call was indeterminate.
func (c *call) stepBlocked() bool { return c.comp != nil && c.comp.blocked.Load() }

// rerunSafe reports whether running the function again after err (an
// attempt that may have applied its effect) is safe: its effect
// deduplicates downstream, or it is a composite whose steps record or
// deduplicate every effect and none of them is indeterminate.
func (c *call) rerunSafe(err error) bool {
	if errors.Is(err, ErrResultTooLarge) || c.stepBlocked() {
		return false
	}
	return c.spec.Effect.dedupesDownstream() || c.spec.Effect == EffectComposite
}

// beginStep begins the step named name of the composite operation ctx
// belongs to.
func beginStep(ctx context.Context, name string) (*stepOf, error) {
	comp, err := compositeFrom(ctx)
	if err != nil {
		return nil, err
	}
	return comp.begin(name)
}

// compositeFrom returns the composite operation ctx belongs to.
func compositeFrom(ctx context.Context) (*composite, error) {
	ci, ok := ctx.Value(callCtxKey).(*callInfo)
	if !ok || ci.comp == nil {
		return nil, Permanent(ErrStepOutsideComposite)
	}
	return ci.comp, nil
}

// stepOf is one step of one execution.
type stepOf struct {
	comp    *composite
	name    string
	recKey  Key // the record's key
	key     Key // passed downstream, derived on first use (keyDone)
	keyDone bool
	start   time.Time
	ctrs    *counters
}

// visible names the step in errors.
func (st *stepOf) visible() string {
	return fmt.Sprintf("%s: step %q", st.comp.c.spec.Namespace, st.name)
}

// stepKey is the key the step passes downstream.
func (st *stepOf) stepKey() Key {
	if !st.keyDone {
		st.key, st.keyDone = stepKey(st.comp.c.key, st.name), true
	}
	return st.key
}

// begin checks the step's name and that the holder still holds the
// operation, and derives the step's keys.
func (s *composite) begin(name string) (*stepOf, error) {
	c := s.c
	if name == "" {
		return nil, Permanent(fmt.Errorf("idem: %s: a step needs a name", c.spec.Namespace))
	}
	s.mu.Lock()
	_, dup := s.names[name]
	s.names[name] = struct{}{}
	s.mu.Unlock()
	if dup {
		return nil, Permanent(fmt.Errorf("idem: %s: step name %q used twice in one execution; give each step its own name (names may be computed, e.g. \"notify-\"+user.ID)", c.spec.Namespace, name))
	}
	st := &stepOf{comp: s, name: name, ctrs: stepCountersFor(c.spec.Namespace, name),
		recKey: stepRecordKey(c.key, c.createdAt, name)}
	if c.obs != nil {
		st.start = c.clock.Now()
	}
	return st, s.live()
}

// stepKey derives a step's downstream key from the operation's key and
// the step's name.
func stepKey(op Key, name string) Key {
	var buf [128]byte
	b := append(buf[:0], "idem step\x00"...)
	b = append(b, op[:]...)
	return sha256.Sum256(append(b, name...))
}

// stepRecordKey derives a step record's key from the operation's key, the
// generation of the operation's record and the step's name.
func stepRecordKey(op Key, generation time.Time, name string) Key {
	var buf [128]byte
	b := append(buf[:0], "idem step record\x00"...)
	b = append(b, op[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(generation.UnixNano()))
	return sha256.Sum256(append(b, name...))
}

// live returns an error matching ErrLeaseLost when the holder's own
// deadline has passed or its claim was lost.
func (s *composite) live() error {
	if s.hb.lostOrPast(s.c.clock.Now()) {
		return fmt.Errorf("%w: %s: key %s: a step cannot start or record its result", ErrLeaseLost, s.c.spec.Namespace, s.c.key)
	}
	return nil
}

// lease is the lease a step's claim carries: the operation's, as last
// written by the holder.
func (s *composite) lease() time.Time { return s.hb.holdUntil().Add(ClockSkew) }

func (st *stepOf) emit(kind EventKind, err error) {
	st.ctrs[kind].Add(1)
	c := st.comp.c
	if c.obs != nil {
		c.obs.Observe(Event{Kind: kind, Namespace: c.spec.Namespace, Step: st.name, Key: st.stepKey(), Duration: c.clock.Now().Sub(st.start), Err: err})
	}
}

// ctx is the context fn runs in: the operation's, with the step's key.
func (st *stepOf) ctx(ctx context.Context) context.Context {
	return withCall(ctx, st.stepKey(), st.comp.c.spec.Namespace, nil)
}

// indeterminate blocks the operation after a none step that may have
// applied its effect and returns the step's error.
func (st *stepOf) indeterminate(why string, cause error) error {
	st.comp.blocked.Store(true)
	err := fmt.Errorf("%w: %s (step key %s): %s; the operation is not run again until its retention passes, unless an operator deletes its record after checking the step's effect", ErrIndeterminate, st.visible(), st.stepKey(), why)
	if cause != nil {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	st.emit(EventIndeterminate, err)
	return err
}

// Step runs fn once for the composite operation that ctx belongs to and
// records its result under the step's name; a later execution of the
// operation returns the recorded result without running fn. effect is how
// fn's effect deduplicates: EffectAPI or EffectQueue (fn passes
// KeyFrom(ctx), the step's own key, downstream; a step that may have run
// runs again with the same key) or EffectNone (a step that may have run is
// never run again: Step returns ErrIndeterminate naming the operation and
// the step, and the operation's record becomes indeterminate).
//
// Errors of fn are returned as they are; the operation's retry policy
// decides (see EffectComposite). Step outside a composite operation
// returns ErrStepOutsideComposite; a name used twice in one execution is a
// permanent error.
func Step[T any](ctx context.Context, name string, effect Effect, fn func(ctx context.Context) (T, error)) (T, error) {
	var out T
	if effect != EffectNone && !effect.dedupesDownstream() {
		return out, Permanent(fmt.Errorf("idem: step %q: Step runs effects none, api and queue; use StepSQL for a database write (effect %s)", name, effect))
	}
	st, err := beginStep(ctx, name)
	if err != nil {
		return out, err
	}
	recorded, replayed, err := st.run(ctx, effect, func(ctx context.Context) ([]byte, error) {
		r, err := fn(ctx)
		if err != nil {
			return nil, err
		}
		out = r
		return marshalStep(st, &out)
	})
	if err != nil || !replayed {
		return out, err
	}
	return out, unmarshalStep(st, recorded, &out)
}

func marshalStep[T any](st *stepOf, out *T) ([]byte, error) {
	data, err := marshalResult(out)
	if err != nil {
		return nil, &markedError{class: classApplied, err: fmt.Errorf("idem: %s: the results cannot be recorded: %w", st.visible(), err)}
	}
	if limit := maxResultSize(); len(data) > limit {
		return nil, &markedError{class: classApplied, err: fmt.Errorf("%w: %s: the results encode to %d bytes, above the limit of %d", ErrResultTooLarge, st.visible(), len(data), limit)}
	}
	return data, nil
}

func unmarshalStep[T any](st *stepOf, data []byte, out *T) error {
	if err := unmarshalResult(data, out); err != nil {
		return Permanent(fmt.Errorf("idem: %s: the recorded results cannot be decoded into the current result types: %w", st.visible(), err))
	}
	return nil
}

// run claims the step's record in the operation's store and runs fn, or
// returns the recorded results of a completed step (replayed).
func (st *stepOf) run(ctx context.Context, effect Effect, fn func(context.Context) ([]byte, error)) (data []byte, replayed bool, err error) {
	c := st.comp.c
	for {
		now := c.clock.Now()
		lease := st.comp.lease()
		req := store.ClaimRequest{
			Key: st.recKey, Namespace: c.spec.Namespace + "#" + st.name, Fingerprint: c.fp, Owner: c.owner,
			Now: now, LeaseUntil: lease, RetainUntil: later(now.Add(c.spec.ttl()), lease),
			Takeover:         effect.dedupesDownstream(),
			FingerprintParts: c.parts,
		}
		sctx, cancel := bounded(ctx)
		res, err := c.store.Claim(sctx, req)
		cancel()
		if err != nil {
			// Not applied: a claim whose answer was lost is granted
			// again to this call's owner.
			return nil, false, NotApplied(fmt.Errorf("%w: %s: claim: %w", ErrStore, st.visible(), err))
		}
		if res.Granted {
			return nil, false, st.execute(ctx, effect, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, fn)
		}
		rec := res.Record
		switch {
		case rec.Fingerprint != c.fp:
			return nil, false, Permanent(fmt.Errorf("%w: %s: the step's record belongs to other arguments (%s)", ErrKeyReused, st.visible(), partsDiffer(c.spec.Fingerprint, rec.Fingerprint, rec.FingerprintParts, c.fp, c.parts)))
		case rec.State == store.StateCompleted:
			st.emit(EventReplayed, nil)
			return rec.Result, true, nil
		case rec.State == store.StateIndeterminate:
			return nil, false, st.indeterminate("an earlier execution started the step and may have applied its effect", nil)
		case rec.State == store.StateInProgress:
			// A predecessor's claim whose lease (the operation's, as
			// seen by its holder) has not passed on this clock yet.
			if err := st.waitFor(ctx, rec.LeaseUntil); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, fmt.Errorf("%w: %s: the store returned a record in unknown state %s", ErrStore, st.visible(), rec.State)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitFor waits until the clock passes until, the holder's lease lapses
// or ctx ends.
func (st *stepOf) waitFor(ctx context.Context, until time.Time) error {
	c := st.comp.c
	for {
		if err := st.comp.live(); err != nil {
			return err
		}
		d := until.Sub(c.clock.Now())
		if d < 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("idem: %s: waiting for an earlier holder's step claim to expire: %w", st.visible(), ctxError(ctx))
		case <-c.clock.After(min(d, waitPollMax)):
		}
	}
}

// execute runs fn under the step's claim and records its outcome.
func (st *stepOf) execute(ctx context.Context, effect Effect, f store.Fence, fn func(context.Context) ([]byte, error)) (err error) {
	c := st.comp.c
	write := func(op string, w func(context.Context) error) error {
		// A retry whose first answer was lost is recognised; a fenced
		// write is ErrLeaseLost.
		fenced := c.recognizeLostAnswerOf(st.recKey, f, op, w)
		// The first try on the operation's context (most writes succeed
		// at once); then with backoff until the holder's deadline.
		if ctx.Err() == nil && ctx != context.Background() {
			if err := fenced(ctx); err == nil {
				return nil
			}
		}
		werr := c.persist(st.comp.hb.holdUntil, fenced)
		if werr != nil {
			return fmt.Errorf("%w: %s: %s: %w", ErrNotRecorded, st.visible(), op, werr)
		}
		return nil
	}
	var data []byte
	func() {
		defer func() {
			if p := recover(); p != nil {
				// As Do does: a none step may have applied its effect;
				// an api or queue step is released, to run again.
				if effect == EffectNone {
					st.comp.blocked.Store(true)
					_ = write("mark indeterminate", func(ctx context.Context) error {
						return c.store.MarkIndeterminate(ctx, st.recKey, f, c.clock.Now().Add(c.spec.ttl()))
					})
				} else {
					_ = write("release", func(ctx context.Context) error { return c.store.Release(ctx, st.recKey, f) })
				}
				panic(p)
			}
		}()
		data, err = fn(st.ctx(ctx))
	}()
	if err == nil {
		if err := st.comp.live(); err != nil {
			if effect == EffectNone {
				return st.indeterminate("the step ran, but the holder lost the operation's lease before recording it", err)
			}
			return err
		}
		if werr := write("complete", func(ctx context.Context) error {
			return c.store.Complete(ctx, st.recKey, f, data, c.clock.Now().Add(c.spec.ttl()))
		}); werr != nil {
			if effect == EffectNone {
				return st.indeterminate("the step ran, but its result could not be recorded", werr)
			}
			return werr
		}
		st.emit(EventExecuted, nil)
		return nil
	}
	cls := classifyIn(ctx, err)
	if effect == EffectNone && cls != classNotApplied && cls != classPermanent {
		werr := write("mark indeterminate", func(ctx context.Context) error {
			return c.store.MarkIndeterminate(ctx, st.recKey, f, c.clock.Now().Add(c.spec.ttl()))
		})
		if werr != nil {
			err = fmt.Errorf("%w (and the step's record: %w)", err, werr)
		}
		return st.indeterminate("the step failed after it may have applied its effect", err)
	}
	if werr := write("release", func(ctx context.Context) error { return c.store.Release(ctx, st.recKey, f) }); werr != nil && effect == EffectNone {
		return st.indeterminate("the step failed but its claim could not be released", fmt.Errorf("%w (the step's error: %w)", werr, err))
	}
	st.emit(EventFailed, err)
	return err
}

// StepSQL is Step for a database write: it begins a transaction on db,
// claims the step's record in it (in db's idem_records table, as DoSQL
// does), calls fn with the transaction, records fn's results in it and
// commits, so the step's writes and its record commit together. A step
// whose holder died ran in a transaction that never committed, so it runs
// again. db must be a database DoSQL supports.
func StepSQL[T any](ctx context.Context, name string, db *sql.DB, fn func(ctx context.Context, tx *sql.Tx) (T, error)) (T, error) {
	ops, err := SQLTxOps(db)
	if err != nil {
		var zero T
		return zero, Permanent(fmt.Errorf("idem: step %q: %w", name, err))
	}
	return StepTx(ctx, name, ops, fn)
}

// StepTx is StepSQL for any kind of transaction (see TxOps);
// runtime/idempgx.StepPgx calls it for pgx pools.
func StepTx[T, Tx any](ctx context.Context, name string, ops TxOps[Tx], fn func(ctx context.Context, tx Tx) (T, error)) (T, error) {
	var out T
	st, err := beginStep(ctx, name)
	if err != nil {
		return out, err
	}
	comp := st.comp
	c := comp.c
	now := c.clock.Now()
	lease := comp.lease()
	tx, res, err := beginClaim(ctx, ops, store.ClaimRequest{
		Key: st.recKey, Namespace: c.spec.Namespace + "#" + name, Fingerprint: c.fp, Owner: c.owner,
		Now: now, LeaseUntil: lease, RetainUntil: later(now.Add(c.spec.ttl()), lease), Takeover: true,
		FingerprintParts: c.parts,
	})
	if err != nil {
		return out, NotApplied(fmt.Errorf("%w: %s: claim in transaction: %w", ErrStore, st.visible(), err))
	}
	committed := false
	defer func() {
		if !committed {
			ops.Rollback(tx)
		}
	}()
	if !res.Granted {
		rec := res.Record
		if rec.Fingerprint != c.fp {
			return out, Permanent(fmt.Errorf("%w: %s: the step's record in the database is %s with another fingerprint (%s); was its key used elsewhere?", ErrStore, st.visible(), rec.State, partsDiffer(c.spec.Fingerprint, rec.Fingerprint, rec.FingerprintParts, c.fp, c.parts)))
		}
		if rec.State != store.StateCompleted {
			return out, Permanent(fmt.Errorf("%w: %s: the step's record in the database is %s with another state; was its key used elsewhere?", ErrStore, st.visible(), rec.State))
		}
		st.emit(EventReplayed, nil)
		return out, unmarshalStep(st, rec.Result, &out)
	}
	r, err := fn(st.ctx(ctx), tx)
	if err != nil {
		st.emit(EventFailed, err)
		return out, err
	}
	data, err := marshalStep(st, &r)
	if err != nil {
		return out, err
	}
	if err := comp.live(); err != nil {
		return out, err
	}
	fence := store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}
	if err := ops.Complete(ctx, tx, st.recKey, fence, data, c.clock.Now().Add(c.spec.ttl())); err != nil {
		return out, NotApplied(fmt.Errorf("%w: %s: record results in transaction: %w", ErrStore, st.visible(), err))
	}
	committed = true
	if err := ops.Commit(ctx, tx); err != nil {
		// The commit's outcome is unknown: the operation's next
		// attempt finds the committed record, if any, and replays it.
		return out, NotApplied(fmt.Errorf("idem: %s: commit: %w", st.visible(), err))
	}
	st.emit(EventExecuted, nil)
	return r, nil
}

// stepStats holds the process-wide counters of steps by namespace and
// step name.
var stepStats sync.Map // stepID -> *counters

type stepID struct{ namespace, step string }

func stepCountersFor(namespace, step string) *counters {
	id := stepID{namespace, step}
	if c, ok := stepStats.Load(id); ok {
		return c.(*counters)
	}
	c, _ := stepStats.LoadOrStore(id, new(counters))
	return c.(*counters)
}

// StepStatsFor returns the counters of the steps named step of the
// composite operations of namespace in this process: Executed, Replayed,
// Indeterminate and Failed.
func StepStatsFor(namespace, step string) Counters {
	if c, ok := stepStats.Load(stepID{namespace, step}); ok {
		return c.(*counters).snapshot()
	}
	return Counters{}
}
