// Package idempgx runs functions with the db effect in transactions of a
// pgx connection pool (github.com/jackc/pgx/v5/pgxpool). Wrappers that
// idemgen writes for functions whose transaction parameter is a pgx.Tx
// import it; the runtime itself links no database driver.
package idempgx

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/internal/sqldialect"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/store"
)

// DoPgx is runtime.DoSQL for a pgx connection pool: fn receives a pgx.Tx
// begun on pool, and the key's record (in the idem_records table of
// runtime/pgstore, created on first use) commits in the same transaction.
// Transient errors that rolled the transaction back (serialization
// failures, deadlocks, the server shutting down, lost connections) are
// retried under the retry policy.
func DoPgx[R any](ctx context.Context, spec *runtime.Spec, pool *pgxpool.Pool, key, fingerprint *runtime.Encoder, fn func(context.Context, pgx.Tx) (R, error)) (R, error) {
	return runtime.DoTx(ctx, spec, key, fingerprint, TxOps(pool), fn)
}

// TxOps returns the runtime.TxOps of DoPgx for pool.
func TxOps(pool *pgxpool.Pool) runtime.TxOps[pgx.Tx] { return poolOps{pool: pool} }

type poolOps struct{ pool *pgxpool.Pool }

func (o poolOps) Begin(ctx context.Context) (pgx.Tx, error)   { return o.pool.Begin(ctx) }
func (o poolOps) Commit(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) }
func (o poolOps) Rollback(tx pgx.Tx)                          { _ = tx.Rollback(context.Background()) }
func (o poolOps) Migrate(ctx context.Context) error           { return pgstore.MigratePool(ctx, o.pool) }
func (o poolOps) MissingTable(err error) bool                 { return sqldialect.PostgresMissingSchema(err) }
func (o poolOps) Transient(err error) bool {
	return sqldialect.PostgresTransient(err) || sqldialect.ConnectionLost(err)
}
func (o poolOps) Claim(ctx context.Context, tx pgx.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	return pgstore.ClaimTx(ctx, tx, req)
}
func (o poolOps) Complete(ctx context.Context, tx pgx.Tx, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return pgstore.CompleteTx(ctx, tx, key, f, result, retainUntil)
}

// StepPgx is runtime.StepSQL for a pgx connection pool: a step of a
// composite operation whose writes run in a pgx.Tx begun on pool, with the
// step's record (in the idem_records table of runtime/pgstore) committed
// in the same transaction.
func StepPgx[T any](ctx context.Context, name string, pool *pgxpool.Pool, fn func(ctx context.Context, tx pgx.Tx) (T, error)) (T, error) {
	return runtime.StepTx(ctx, name, TxOps(pool), fn)
}
