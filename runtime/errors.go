package runtime

import (
	"context"
	"errors"
	"net"
	"syscall"
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
	// ErrStore is matched by every error that comes from the store. The
	// function never runs without a successful claim.
	ErrStore = errors.New("idem: store failure")
	// ErrNoStore is returned when no store is configured for a call.
	ErrNoStore = errors.New("idem: no store configured: call runtime.SetDefaultStore, pass one with runtime.WithStore, or set IDEM_STORE (memory:, sqlite:<path>, postgres://…, redis://…)")
	// ErrInvalidKey is returned when a key or fingerprint argument cannot be
	// encoded (for example a NaN float). The function is not run.
	ErrInvalidKey = errors.New("idem: invalid key argument")
	// ErrLeaseLost is the cause of the context cancellation a running
	// function sees when its claim was taken over by another caller.
	ErrLeaseLost = errors.New("idem: lease lost: another caller took over this key")
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
func classifyIn(ctx context.Context, err error) errClass {
	c := classify(err)
	if c == classContext && ctx.Err() == nil {
		return classIndeterminate
	}
	return c
}

// classify decides what an error returned by the wrapped function means for
// retries and for the record. Explicit marks win; then context errors; then
// errors that prove the request never reached its destination.
func classify(err error) errClass {
	var m *markedError
	if errors.As(err, &m) {
		return m.class
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return classContext
	}
	if errors.Is(err, ErrStore) {
		return classNotApplied
	}
	if isNotApplied(err) {
		return classNotApplied
	}
	return classIndeterminate
}

// isNotApplied recognises, without marks, errors that prove the request
// never reached its destination: refused or failed dials, DNS failures, and
// errors that report themselves safe to retry (pgconn's SafeToRetry).
func isNotApplied(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var safe interface{ SafeToRetry() bool }
	if errors.As(err, &safe) && safe.SafeToRetry() {
		return true
	}
	return false
}
