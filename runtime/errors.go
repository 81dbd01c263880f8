package runtime

import (
	"context"
	"errors"
)

var (
	// ErrKeyReused is returned when a key is used again with arguments whose
	// fingerprint differs from the recorded call's. The function is not run.
	ErrKeyReused = errors.New("idem: key reused with different arguments")
	// ErrIndeterminate is returned when an earlier attempt for this key may
	// or may not have applied its effect and the effect does not deduplicate
	// downstream. The function is not run again until the record's retention
	// passes or an operator deletes it.
	ErrIndeterminate = errors.New("idem: outcome indeterminate: the effect may have happened")
	// ErrStore is matched by errors of a store that failed before the
	// function ran: the function never runs without a successful claim, so
	// a call that returns ErrStore did not run it. A store failure after
	// the function ran is ErrNotRecorded instead. A call whose own context
	// ended matches context.Canceled or context.DeadlineExceeded, not
	// ErrStore.
	ErrStore = errors.New("idem: store failure")
	// ErrNotRecorded is returned when the function ran but the store failed
	// to record its outcome (its results, the release of the claim or the
	// indeterminate mark) until the call's lease ended. The effect has
	// happened or may have: the error is never retried, by this wrapper or
	// by a wrapped function that calls it and returns the error. The key
	// stays in progress until its lease passes, then is taken over (api,
	// queue) or becomes indeterminate (none). It does not match ErrStore.
	ErrNotRecorded = errors.New("idem: the function ran but its outcome could not be recorded")
	// ErrResultTooLarge is returned when the function succeeded with
	// results whose encoding exceeds the limit (see SetMaxResultSize). The
	// results are not recorded; the key is marked indeterminate, so the
	// function is not run again for it until the retention passes or an
	// operator deletes the record. The error also matches ErrIndeterminate.
	ErrResultTooLarge = errors.New("idem: results too large to record")
	// ErrNoStore is returned when no store is configured for a call.
	ErrNoStore = errors.New("idem: no store configured: call runtime.SetDefaultStore, pass one with runtime.WithStore, or set IDEM_STORE (memory:, sqlite:<path>, postgres://…, redis://…)")
	// ErrInvalidKey is returned when a key or fingerprint argument cannot be
	// encoded (for example a NaN float). The function is not run.
	ErrInvalidKey = errors.New("idem: invalid key argument")
	// ErrLeaseLost is the cause of the context cancellation a running
	// function sees when its claim was taken over by another caller, or when
	// its holder could not renew the lease in time (see ClockSkew). The
	// call returns an error matching it; its results were not recorded.
	ErrLeaseLost = errors.New("idem: lease lost: another caller took over this key, or the lease could not be renewed in time")
)

// NotApplied marks err as an error after which the effect certainly did not
// happen (the request never left, the transaction rolled back). Such errors
// are retried under every effect, and the claim is released if the last
// attempt fails. errors.Is and errors.As see through the mark to err.
// NotApplied(nil) is nil.
func NotApplied(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, class: classNotApplied}
}

// Permanent marks err as an error that must not be retried; the claim is
// released, so a later call with the same key runs again. errors.Is and
// errors.As see through the mark to err. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, class: classPermanent}
}

type errClass uint8

const (
	// classIndeterminate: the effect may have happened.
	classIndeterminate errClass = iota
	// classNotApplied: the effect certainly did not happen.
	classNotApplied
	// classPermanent: must not be retried; the effect did not happen.
	classPermanent
	// classContext: the call was canceled or timed out; never retried.
	classContext
	// classApplied: the effect happened (or may have) and must not be
	// retried: a panic, or results that cannot be recorded.
	classApplied
)

func (c errClass) String() string {
	switch c {
	case classNotApplied:
		return "not applied"
	case classPermanent:
		return "permanent"
	case classContext:
		return "canceled"
	case classApplied:
		return "applied"
	}
	return "indeterminate"
}

type markedError struct {
	err   error
	class errClass
}

func (e *markedError) Error() string { return e.err.Error() }
func (e *markedError) Unwrap() error { return e.err }

// classifyIn is classify for an error returned while ctx was the call's
// context. A context error counts as the call's cancellation only when ctx
// itself is done: a deadline of the function's own (an HTTP client's
// timeout, say) ends an attempt whose request may have been applied, so it
// is indeterminate.
func classifyIn(ctx context.Context, err error) errClass { return classifySpecIn(ctx, nil, err) }

// classifySpecIn is classifyIn with spec's classifiers (see Class).
func classifySpecIn(ctx context.Context, spec *Spec, err error) errClass {
	c := classifySpec(spec, err)
	if c == classContext && ctx.Err() == nil {
		return classIndeterminate
	}
	return c
}

// classify decides what an error returned by the wrapped function means for
// retries and for the record, without a function's classifiers.
func classify(err error) errClass { return classifySpec(nil, err) }

// classifySpec decides what an error returned by the wrapped function of
// spec means for retries and for the record. A wrapped call inside the
// function that ran and could not record its outcome (or lost its lease) is
// applied, whatever any classifier says; then explicit marks win; then the
// function's classifiers (spec.Classify, then RegisterClassifier's for its
// namespace); then context errors; everything else is indeterminate.
// Nothing is guessed from the error's kind: a refused dial or a store error
// returned by the function may follow an effect the function already
// applied, so only the function's author can mark it NotApplied.
func classifySpec(spec *Spec, err error) errClass {
	if errors.Is(err, ErrNotRecorded) || errors.Is(err, ErrLeaseLost) {
		return classApplied
	}
	var m *markedError
	if errors.As(err, &m) {
		return m.class
	}
	if spec != nil {
		if c := spec.classOf(err); c != ClassDefault {
			return c.internal()
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return classContext
	}
	return classIndeterminate
}

// safeToRetry recognises errors that report themselves safe to retry
// (pgconn's SafeToRetry: the query was never sent). It proves only that
// this one request was not sent, so it is no evidence about a function's
// earlier effects; the db effect uses it, where every error rolls the
// whole transaction back.
func safeToRetry(err error) bool {
	var safe interface{ SafeToRetry() bool }
	return errors.As(err, &safe) && safe.SafeToRetry()
}
