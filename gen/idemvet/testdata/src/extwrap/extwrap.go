package extwrap // want package:"wraps \\(\\*extlib.Queries\\).Insert by InsertIdem, extlib.Send by SendIdem"

import (
	"context"

	"extlib"
)

// The package declares wrappers of extlib's functions with //idem:wrap
// (its doc comment would move the package fact's position).

// Send is wrapped.
//
//idem:wrap extlib.Send
//idem:key id
//idem:effect api
var _ = extlib.Send

// Insert is wrapped.
//
//idem:wrap (*extlib.Queries).Insert
//idem:key id
var _ = (*extlib.Queries).Insert

func bypass(ctx context.Context, q *extlib.Queries) error {
	if err := extlib.Send(ctx, "a"); err != nil { // want `call SendIdem: extlib.Send is wrapped by //idem:wrap and is not idempotent on its own`
		return err
	}
	if err := extlib.Other(ctx); err != nil {
		return err
	}
	return q.Insert(ctx, "b") // want `call InsertIdem: \(\*extlib.Queries\).Insert is wrapped`
}
