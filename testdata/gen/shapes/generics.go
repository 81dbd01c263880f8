package shapes

import "context"

// Number is a constraint with a union of approximations.
type Number interface {
	~int | ~int64 | ~float64
}

// Sum is generic in two type parameters; its key holds values of both.
//
//idem:key id, xs
func Sum[N Number, K comparable](ctx context.Context, id K, xs []N) (N, error) {
	called(ctx, "Sum")
	var s N
	for _, x := range xs {
		s += x
	}
	return s, nil
}

// Pair is a generic struct.
type Pair[A, B any] struct {
	First  A
	Second B
}

// Swap keys on a generic struct whose fields have type parameter types.
//
//idem:key p
func Swap[A, B any](ctx context.Context, p Pair[A, B]) (Pair[B, A], error) {
	called(ctx, "Swap")
	return Pair[B, A]{First: p.Second, Second: p.First}, nil
}

// Box is a generic type with a method.
type Box[T any] struct {
	V T
}

// Put is a method of a generic type.
//
//idem:key id
func (b *Box[T]) Put(ctx context.Context, id string, v T) (T, error) {
	called(ctx, "Put")
	b.V = v
	return v, nil
}

// Echo has an inline constraint.
//
//idem:key v
func Echo[T ~string | ~int](ctx context.Context, v T) (T, error) {
	called(ctx, "Echo")
	return v, nil
}
