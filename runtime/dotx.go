package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/avast/retry-go/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// DoSQL runs fn exactly once per key for the db effect: it begins a
// transaction on db, claims the key in that transaction (the record lives in
// db itself, in the idem_records table, created on first use), calls fn
// with the transaction, records fn's results in it and commits. A crash
// anywhere leaves either nothing or everything: the effect and its record
// commit together.
//
// Later calls with the key replay the recorded results, and a call with
// other arguments gets ErrKeyReused, as with Do. Errors after which the
// transaction rolled back and that are transient (serialization failures,
// deadlocks, busy databases, connections lost, and errors marked
// NotApplied) are retried under the retry policy; a commit whose answer was
// lost is retried too, and the retry finds the committed record and replays
// it. Other errors of fn roll back and are returned; nothing is recorded.
//
// db must be a PostgreSQL database through github.com/jackc/pgx/v5/stdlib or
// a SQLite database through modernc.org/sqlite. Open SQLite with
// sqlitestore.DSN (WAL mode), or set a busy timeout: in rollback-journal
// mode a commit can fail on a concurrent claimer's lock. On PostgreSQL the
// table is created unqualified, in the first schema of the session's
// search_path.
func DoSQL[R any](ctx context.Context, spec *Spec, db *sql.DB, key, fingerprint *Encoder, fn func(context.Context, *sql.Tx) (R, error)) (R, error) {
	ops, err := sqlTxOpsFor(db)
	if err != nil {
		var zero R
		return zero, fmt.Errorf("idem: %s: %w", spec.Namespace, err)
	}
	return doTx(ctx, spec, key, fingerprint, ops, fn)
}

// DoPgx is DoSQL for a pgx connection pool: fn receives a pgx.Tx begun on
// pool.
func DoPgx[R any](ctx context.Context, spec *Spec, pool *pgxpool.Pool, key, fingerprint *Encoder, fn func(context.Context, pgx.Tx) (R, error)) (R, error) {
	return doTx(ctx, spec, key, fingerprint, &pgxTxOps{pool: pool}, fn)
}

// txOps is what the db effect needs from one kind of transaction.
type txOps[Tx any] interface {
	begin(ctx context.Context) (Tx, error)
	commit(ctx context.Context, tx Tx) error
	rollback(tx Tx)
	claim(ctx context.Context, tx Tx, req store.ClaimRequest) (store.ClaimResult, error)
	complete(ctx context.Context, tx Tx, key Key, f store.Fence, result []byte, c *call) error
	// migrate creates the records table; it runs when a claim finds the
	// table missing, so that nothing needs remembering per handle.
	migrate(ctx context.Context) error
}

// beginClaim begins a transaction and claims the key in it. On a database
// without the records table it creates the table and tries once more.
func beginClaim[Tx any](ctx context.Context, ops txOps[Tx], req store.ClaimRequest) (Tx, store.ClaimResult, error) {
	for migrated := false; ; migrated = true {
		tx, err := ops.begin(ctx)
		if err != nil {
			var zero Tx
			return zero, store.ClaimResult{}, fmt.Errorf("begin transaction: %w", err)
		}
		res, err := ops.claim(ctx, tx, req)
		if err == nil {
			return tx, res, nil
		}
		ops.rollback(tx)
		if migrated || !missingTable(err) {
			var zero Tx
			return zero, res, err
		}
		if err := ops.migrate(ctx); err != nil {
			var zero Tx
			return zero, res, fmt.Errorf("create the records table: %w", err)
		}
	}
}

// missingTable recognises the error of a claim on a database that has no
// records table yet.
func missingTable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "42P01" // undefined_table
	}
	return strings.Contains(err.Error(), "no such table")
}

func doTx[R, Tx any](ctx context.Context, spec *Spec, key, fingerprint *Encoder, ops txOps[Tx], fn func(context.Context, Tx) (R, error)) (R, error) {
	var out R
	var c call
	if err := c.begin(ctx, spec, key, fingerprint); err != nil {
		return out, err
	}
	inner := context.WithValue(ctx, callCtxKey, &callInfo{key: c.key.String(), namespace: spec.Namespace})
	var (
		attempt  int
		lastErr  error
		final    error  // an outcome that ends the call without running fn
		recorded []byte // results replayed from an earlier call
		ownsRec  bool   // the replayed record was committed by this call
		ran      bool
	)
	once := func() error {
		attempt++
		if attempt > 1 {
			c.emit(EventRetried, attempt, lastErr)
		}
		now := c.clock.Now()
		tx, res, err := beginClaim(ctx, ops, store.ClaimRequest{
			Key: c.key, Namespace: spec.Namespace, Fingerprint: c.fp, Owner: c.owner,
			Now: now, LeaseUntil: now.Add(spec.lease()), RetainUntil: now.Add(spec.ttl()), Takeover: true,
		})
		if err != nil {
			lastErr = NotApplied(c.storeError("claim in transaction", err))
			return lastErr
		}
		done := false
		defer func() {
			if !done {
				ops.rollback(tx)
			}
		}()
		if !res.Granted {
			final = c.settled(&res.Record)
			if final == nil {
				recorded = res.Record.Result
				ownsRec = res.Record.Owner == c.owner
			}
			return nil
		}
		r, err := fn(inner, tx)
		ran = true
		if err != nil {
			lastErr = err
			return err
		}
		data, err := marshalResult(&r)
		if err != nil {
			lastErr = Permanent(fmt.Errorf("idem: %s: the results cannot be recorded: %w", spec.Namespace, err))
			return lastErr
		}
		fence := store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}
		if err := ops.complete(ctx, tx, c.key, fence, data, &c); err != nil {
			lastErr = NotApplied(c.storeError("record results in transaction", err))
			return lastErr
		}
		done = true
		if err := ops.commit(ctx, tx); err != nil {
			// The commit's outcome is unknown; a retry finds the
			// committed record if there is one, and replays it.
			lastErr = NotApplied(fmt.Errorf("idem: %s: commit: %w", spec.Namespace, err))
			return lastErr
		}
		out, lastErr = r, nil
		return nil
	}
	err := retry.Do(once, c.retryOptions(ctx, spec.attempts(), func(err error) bool {
		return ctx.Err() == nil && (classify(err) == classNotApplied || transientDBError(err) || safeToRetry(err))
	})...)
	switch {
	case final != nil:
		return out, final
	case recorded != nil || (err == nil && !ran):
		var replay R
		if derr := unmarshalResult(recorded, &replay); derr != nil {
			return replay, c.undecodable(derr)
		}
		if ownsRec {
			// A retry found the record its own lost commit wrote.
			c.emit(EventExecuted, attempt, nil)
		} else {
			c.emit(EventReplayed, 0, nil)
		}
		return replay, nil
	case err == nil:
		c.emit(EventExecuted, attempt, nil)
		return out, nil
	}
	if lastErr == nil {
		lastErr = err
	}
	if errors.Is(lastErr, ErrStore) {
		c.emit(EventStoreError, attempt, lastErr)
	} else {
		c.emit(EventFailed, attempt, lastErr)
	}
	return out, lastErr
}

// settled handles a claim in a transaction that found the key's record: nil
// means replay it.
func (c *call) settled(rec *store.Record) error {
	if rec.Fingerprint != c.fp {
		return c.keyReused()
	}
	if rec.State == store.StateCompleted {
		return nil
	}
	err := fmt.Errorf("%w: %s: key %s is %s in the database's idem_records table, which the db effect never leaves behind; was the key also used by a function with another effect?", ErrStore, c.spec.Namespace, c.key, rec.State)
	c.emit(EventStoreError, 0, err)
	return err
}

// transientDBError recognises errors after which the database rolled the
// transaction back and a new one may succeed.
func transientDBError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	return false
}

type sqlTxOps struct {
	db        *sql.DB
	claimFn   func(context.Context, *sql.Tx, store.ClaimRequest) (store.ClaimResult, error)
	compFn    func(context.Context, *sql.Tx, store.Key, store.Fence, []byte, time.Time) error
	migrateFn func(context.Context, *sql.DB) error
}

func sqlTxOpsFor(db *sql.DB) (*sqlTxOps, error) {
	switch db.Driver().(type) {
	case *sqlite.Driver:
		return &sqlTxOps{db, sqlitestore.ClaimTx, sqlitestore.CompleteTx, sqlitestore.Migrate}, nil
	case *stdlib.Driver:
		return &sqlTxOps{db, pgstore.ClaimSQLTx, pgstore.CompleteSQLTx, pgstore.MigrateSQL}, nil
	}
	return nil, fmt.Errorf("the db effect supports *sql.DB handles of modernc.org/sqlite and github.com/jackc/pgx/v5/stdlib, not %T", db.Driver())
}

func (o *sqlTxOps) migrate(ctx context.Context) error          { return o.migrateFn(ctx, o.db) }
func (o *sqlTxOps) begin(ctx context.Context) (*sql.Tx, error) { return o.db.BeginTx(ctx, nil) }
func (o *sqlTxOps) commit(_ context.Context, tx *sql.Tx) error { return tx.Commit() }
func (o *sqlTxOps) rollback(tx *sql.Tx)                        { _ = tx.Rollback() }
func (o *sqlTxOps) claim(ctx context.Context, tx *sql.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	return o.claimFn(ctx, tx, req)
}
func (o *sqlTxOps) complete(ctx context.Context, tx *sql.Tx, key Key, f store.Fence, result []byte, c *call) error {
	return o.compFn(ctx, tx, key, f, result, c.clock.Now().Add(c.spec.ttl()))
}

type pgxTxOps struct{ pool *pgxpool.Pool }

func (o *pgxTxOps) migrate(ctx context.Context) error           { return pgstore.MigratePool(ctx, o.pool) }
func (o *pgxTxOps) begin(ctx context.Context) (pgx.Tx, error)   { return o.pool.Begin(ctx) }
func (o *pgxTxOps) commit(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) }
func (o *pgxTxOps) rollback(tx pgx.Tx)                          { _ = tx.Rollback(context.Background()) }
func (o *pgxTxOps) claim(ctx context.Context, tx pgx.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	return pgstore.ClaimTx(ctx, tx, req)
}
func (o *pgxTxOps) complete(ctx context.Context, tx pgx.Tx, key Key, f store.Fence, result []byte, c *call) error {
	return pgstore.CompleteTx(ctx, tx, key, f, result, c.clock.Now().Add(c.spec.ttl()))
}
