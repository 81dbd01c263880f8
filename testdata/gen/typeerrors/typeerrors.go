// Package typeerrors is a golden case of idemgen: a marked function whose
// signature does not type-check.
package typeerrors

import "context"

// Broken takes a parameter of an undefined type.
//
//idem:key id
func Broken(ctx context.Context, id string, x Undefined) error { return nil }

// Fine type-checks, but uses the wrapper of another function, which does
// not exist while idemgen loads the package: that is not an error.
func Fine(ctx context.Context) error { return OtherIdem(ctx, "x") }

// Other is wrapped.
//
//idem:key id
func Other(ctx context.Context, id string) error { return nil }
