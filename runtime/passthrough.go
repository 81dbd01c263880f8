package runtime

import (
	"context"
	"errors"
)

// WithPassthrough returns a context under which wrapped calls run their
// function once, directly, without deduplication: no store is used (none
// need be configured), nothing is claimed, recorded or replayed, nothing is
// retried, and the function's results and error are returned exactly as it
// returns them. KeyFrom still gives the function its key. A db-effect
// wrapper begins a transaction on the handle, passes it to the function and
// commits it when the function succeeds (rolls it back otherwise), whatever
// the database/sql driver.
//
// It is meant for tests of a wrapped function's own logic (see package
// runtime/idemtest, whose Passthrough calls it); never use it in
// production code. A WithStore deeper in the same context turns
// deduplication back on for its call tree.
func WithPassthrough(ctx context.Context) context.Context {
	return context.WithValue(ctx, storeCtxKey, passthroughMark{})
}

// passthroughMark is the value WithPassthrough puts under storeCtxKey; it is
// not a Store, so storeFrom looks at it only on its path without a store.
type passthroughMark struct{}

// errPassthrough is what storeFrom returns under WithPassthrough: Do runs
// the function directly when it sees it.
var errPassthrough = errors.New("idem: passthrough")

func passthrough(ctx context.Context) bool {
	_, ok := ctx.Value(storeCtxKey).(passthroughMark)
	return ok
}

// runPassthrough runs fn once under WithPassthrough, with the key on its
// context.
func runPassthrough[R any](ctx context.Context, c *call, fn func(context.Context) (R, error)) (R, error) {
	return fn(withCall(ctx, c.key, c.spec.Namespace, nil))
}

// runPassthroughTx runs fn once under WithPassthrough in a transaction
// begun through ops, committed when fn succeeds and rolled back otherwise.
func runPassthroughTx[R, Tx any](ctx context.Context, c *call, begin func(context.Context) (Tx, error), commit func(context.Context, Tx) error, rollback func(Tx), fn func(context.Context, Tx) (R, error)) (R, error) {
	tx, err := begin(ctx)
	if err != nil {
		var zero R
		return zero, err
	}
	done := false
	defer func() {
		if !done {
			rollback(tx) // fn panicked
		}
	}()
	r, err := runPassthrough(ctx, c, func(ctx context.Context) (R, error) { return fn(ctx, tx) })
	done = true
	if err != nil {
		rollback(tx)
		return r, err
	}
	return r, commit(ctx, tx)
}
