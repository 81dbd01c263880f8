// Package extuser calls extlib directly and through extwrap's wrappers.
package extuser

import (
	"context"

	"extlib"
	"extwrap"
)

func calls(ctx context.Context, q *extlib.Queries) error {
	if err := extwrap.SendIdem(ctx, "a"); err != nil {
		return err
	}
	if err := extwrap.InsertIdem(q, ctx, "b"); err != nil {
		return err
	}
	if err := extlib.Send(ctx, "c"); err != nil { // want `call extwrap.SendIdem: extlib.Send is wrapped by //idem:wrap and is not idempotent on its own`
		return err
	}
	return (*extlib.Queries).Insert(q, ctx, "d") // want `call extwrap.InsertIdem: \(\*extlib.Queries\).Insert is wrapped by //idem:wrap and is not idempotent on its own; InsertIdem takes the receiver as its first argument`
}
