package runtime

import (
	"context"
	"errors"
	"time"
)

// RetryAfter marks err with the least delay before the next attempt, as an
// HTTP server's Retry-After header asks. The runtime waits at least d
// before retrying (longer if the retry policy's backoff says so, and never
// past the call's context). It changes neither the error's class nor
// whether it is retried: combine it with NotApplied where the request was
// not processed. errors.Is and errors.As see through the mark.
// RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: d}
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retryAfterOf returns the least delay err asks for before the next
// attempt, or 0.
func retryAfterOf(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) && ra.d > 0 {
		return ra.d
	}
	return 0
}

// ErrInProgress is returned, under WithoutWaiting, by a call that finds
// its key held by another caller that is still running. The function is not
// run; a later call may replay the holder's results.
var ErrInProgress = errors.New("idem: the key is held by another caller that is still running")

type noWaitCtxKey struct{}

// WithoutWaiting returns a context whose wrapped calls do not wait for a
// live holder of their key: they fail at once with an error matching
// ErrInProgress (an HTTP server answers 409 Conflict with it, as the IETF
// Idempotency-Key draft says). By default a call waits, bounded by its
// context.
func WithoutWaiting(ctx context.Context) context.Context {
	return context.WithValue(ctx, noWaitCtxKey{}, true)
}

func waitingDisabled(ctx context.Context) bool {
	v, _ := ctx.Value(noWaitCtxKey{}).(bool)
	return v
}
