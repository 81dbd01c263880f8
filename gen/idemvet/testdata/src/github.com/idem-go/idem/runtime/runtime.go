// Package runtime declares, for the analyzer's tests, the step functions of
// github.com/idem-go/idem/runtime with their signatures.
package runtime

import (
	"context"
	"database/sql"
)

type Effect uint8

const (
	EffectNone Effect = iota
	EffectAPI
	EffectQueue
)

func Step[T any](ctx context.Context, name string, effect Effect, fn func(ctx context.Context) (T, error)) (T, error) {
	return fn(ctx)
}

func StepSQL[T any](ctx context.Context, name string, db *sql.DB, fn func(ctx context.Context, tx *sql.Tx) (T, error)) (T, error) {
	var zero T
	return zero, nil
}
