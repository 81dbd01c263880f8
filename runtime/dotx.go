package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/avast/retry-go/v4"

	"github.com/idem-go/idem/runtime/internal/sqldialect"
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
// deadlocks, busy databases, a server shutting down such as PostgreSQL's
// 57P01, connections lost, and errors marked NotApplied) are retried under
// the retry policy; a commit whose answer was lost is retried too, and the
// retry finds the committed record and replays it. Other errors of fn roll
// back and are returned; nothing is recorded.
//
// db's driver must be one of a supported database, SQLite
// (modernc.org/sqlite, github.com/mattn/go-sqlite3), PostgreSQL
// (github.com/jackc/pgx/v5/stdlib, github.com/lib/pq) or MySQL and MariaDB
// (github.com/go-sql-driver/mysql): the dialect (SQL
// and error codes) is chosen by the package of the driver's type on every
// call, and another driver is an error naming the supported ones. The
// runtime imports none of them. For transaction types built on *sql.Tx
// (sqlx, sqlc's *Queries), see DoSQLAs. Open SQLite in WAL mode
// (sqlitestore.DSN; _journal_mode=WAL for mattn/go-sqlite3) without a busy
// timeout of the driver's own: the db effect waits for a concurrent
// claimer's lock itself, within the call's deadline, whereas a driver's
// busy timeout blocks inside SQLite past it (mattn/go-sqlite3 waits 5 s
// unless the DSN says _busy_timeout=0). In rollback-journal mode a commit
// can fail on a concurrent claimer's lock. On PostgreSQL the
// table is created unqualified, in the first schema of the session's
// search_path. For a pgx pool, see package runtime/idempgx.
func DoSQL[R any](ctx context.Context, spec *Spec, db *sql.DB, key, fingerprint *Encoder, fn func(context.Context, *sql.Tx) (R, error)) (R, error) {
	if passthrough(ctx) {
		var c call
		if err := c.begin(ctx, spec, key, fingerprint); err != nil {
			var zero R
			return zero, err
		}
		o := sqlTxOps{db: db} // any driver: the dialect is not needed
		return runPassthroughTx(ctx, &c, o.Begin, o.Commit, o.Rollback, fn)
	}
	ops, err := SQLTxOps(db)
	if err != nil {
		var zero R
		return zero, fmt.Errorf("idem: %s: %w", spec.Namespace, err)
	}
	return DoTx(ctx, spec, key, fingerprint, ops, fn)
}

// DoSQLAs is DoSQL for a transaction type built on *sql.Tx: a sqlc
// *Queries made with WithTx (or New) on the transaction, a *sqlx.Tx (see
// runtime/idemsqlx), or any type of the user's. begin begins a transaction
// on db and returns it both as the Tx that fn takes and as the *sql.Tx
// under it, in which the key's record is kept; WrapSQLTx makes begin from
// a function that wraps a *sql.Tx. For a sqlc package dbq, idemgen emits:
//
//	idemrt.DoSQLAs(ctx, &spec, db, &key, &fp, idemrt.WrapSQLTx(db, dbq.New), run)
//
// where run calls the original with the *dbq.Queries. db's driver must be
// one DoSQL supports.
func DoSQLAs[R, Tx any](ctx context.Context, spec *Spec, db *sql.DB, key, fingerprint *Encoder, begin func(context.Context) (Tx, *sql.Tx, error), fn func(context.Context, Tx) (R, error)) (R, error) {
	ops := sqlAsOps[Tx]{sqlTxOps: sqlTxOps{db: db}, begin: begin}
	if !passthrough(ctx) {
		d, err := sqldialect.For(db)
		if err != nil {
			var zero R
			return zero, fmt.Errorf("idem: %s: %w", spec.Namespace, err)
		}
		ops.d = d
	}
	return DoTx(ctx, spec, key, fingerprint, TxOps[sqlAsTx[Tx]](ops), func(ctx context.Context, tx sqlAsTx[Tx]) (R, error) {
		return fn(ctx, tx.tx)
	})
}

// WrapSQLTx returns a begin function for DoSQLAs that begins a
// transaction on db and wraps it with wrap: sqlc's New (whose parameter,
// DBTX, is an interface *sql.Tx implements), or a *Queries' WithTx method
// value (DBTX is then *sql.Tx). It panics on the first call if *sql.Tx does
// not implement DBTX.
func WrapSQLTx[Tx, DBTX any](db *sql.DB, wrap func(DBTX) Tx) func(context.Context) (Tx, *sql.Tx, error) {
	return func(ctx context.Context) (Tx, *sql.Tx, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			var zero Tx
			return zero, nil, err
		}
		return wrap(any(tx).(DBTX)), tx, nil
	}
}

// sqlAsTx is a user's transaction with the *sql.Tx under it.
type sqlAsTx[Tx any] struct {
	tx  Tx
	sql *sql.Tx
}

// sqlAsOps is TxOps for DoSQLAs: DoSQL's, on the *sql.Tx under the user's
// transaction.
type sqlAsOps[Tx any] struct {
	sqlTxOps
	begin func(context.Context) (Tx, *sql.Tx, error)
}

func (o sqlAsOps[Tx]) Begin(ctx context.Context) (sqlAsTx[Tx], error) {
	tx, s, err := o.begin(ctx)
	if err == nil && s == nil {
		err = errors.New("idem: DoSQLAs: begin returned no *sql.Tx")
	}
	return sqlAsTx[Tx]{tx: tx, sql: s}, err
}
func (o sqlAsOps[Tx]) Commit(ctx context.Context, tx sqlAsTx[Tx]) error {
	return o.sqlTxOps.Commit(ctx, tx.sql)
}
func (o sqlAsOps[Tx]) Rollback(tx sqlAsTx[Tx]) { o.sqlTxOps.Rollback(tx.sql) }
func (o sqlAsOps[Tx]) Claim(ctx context.Context, tx sqlAsTx[Tx], req store.ClaimRequest) (store.ClaimResult, error) {
	return o.sqlTxOps.Claim(ctx, tx.sql, req)
}
func (o sqlAsOps[Tx]) Complete(ctx context.Context, tx sqlAsTx[Tx], key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return o.sqlTxOps.Complete(ctx, tx.sql, key, f, result, retainUntil)
}

// SQLTxOps returns the TxOps of DoSQL for db, whose driver must be one
// DoSQL supports (the error names them). Code that keeps the db effect's
// records through another transaction type built on *sql.Tx wraps it.
func SQLTxOps(db *sql.DB) (TxOps[*sql.Tx], error) {
	d, err := sqldialect.For(db)
	if err != nil {
		return nil, err
	}
	return sqlTxOps{db: db, d: d}, nil
}

// TxOps is what the db effect needs from one kind of transaction: DoTx
// runs a wrapped function in transactions it begins through TxOps, and
// keeps the key's record in the same transaction. DoSQL provides it for
// database/sql; package runtime/idempgx for pgx pools.
type TxOps[Tx any] interface {
	// Begin begins a transaction.
	Begin(ctx context.Context) (Tx, error)
	// Commit commits tx.
	Commit(ctx context.Context, tx Tx) error
	// Rollback rolls tx back; DoTx ignores its error.
	Rollback(tx Tx)
	// Claim claims req.Key inside tx with the rules of store.Decide; the
	// record commits or rolls back with tx.
	Claim(ctx context.Context, tx Tx, req store.ClaimRequest) (store.ClaimResult, error)
	// Complete records result inside tx and moves the record of key to
	// completed, only if it is in progress under exactly f (else
	// store.ErrFenced).
	Complete(ctx context.Context, tx Tx, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error
	// MissingTable reports whether err, returned by Claim, may mean that
	// the records table does not exist yet; DoTx then calls Migrate and
	// claims once more.
	MissingTable(err error) bool
	// Migrate creates the records table if it does not exist.
	Migrate(ctx context.Context) error
	// Transient reports whether err says that the transaction did not
	// commit and a new one may succeed; DoTx retries such errors under the
	// retry policy.
	Transient(err error) bool
}

// beginClaim begins a transaction and claims the key in it. On a database
// without the records table it creates the table and tries once more.
func beginClaim[Tx any](ctx context.Context, ops TxOps[Tx], req store.ClaimRequest) (Tx, store.ClaimResult, error) {
	for migrated := false; ; migrated = true {
		tx, err := ops.Begin(ctx)
		if err != nil {
			var zero Tx
			return zero, store.ClaimResult{}, fmt.Errorf("begin transaction: %w", err)
		}
		res, err := ops.Claim(ctx, tx, req)
		if err == nil {
			return tx, res, nil
		}
		ops.Rollback(tx)
		if migrated || !ops.MissingTable(err) {
			var zero Tx
			return zero, res, err
		}
		if err := ops.Migrate(ctx); err != nil {
			var zero Tx
			return zero, res, fmt.Errorf("create the records table: %w", err)
		}
	}
}

// DoTx is the db effect for any kind of transaction: Do's protocol, with
// the key's record claimed, completed and committed in the transaction
// that fn writes in (see DoSQL). Generated wrappers call DoSQL, or a
// driver package's function built on DoTx (runtime/idempgx.DoPgx).
func DoTx[R, Tx any](ctx context.Context, spec *Spec, key, fingerprint *Encoder, ops TxOps[Tx], fn func(context.Context, Tx) (R, error)) (R, error) {
	var out R
	var c call
	if err := c.begin(ctx, spec, key, fingerprint); err != nil {
		return out, err
	}
	if passthrough(ctx) {
		return runPassthroughTx(ctx, &c, ops.Begin, ops.Commit, ops.Rollback, fn)
	}
	inner := withCall(ctx, c.key, spec.Namespace, nil)
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
			FingerprintParts: c.parts,
		})
		if err != nil {
			lastErr = NotApplied(c.storeError("claim in transaction", err))
			return lastErr
		}
		done := false
		defer func() {
			if !done {
				ops.Rollback(tx)
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
		if err := ops.Complete(ctx, tx, c.key, fence, data, c.clock.Now().Add(spec.ttl())); err != nil {
			lastErr = NotApplied(c.storeError("record results in transaction", err))
			return lastErr
		}
		done = true
		if err := ops.Commit(ctx, tx); err != nil {
			// The commit's outcome is unknown; a retry finds the
			// committed record if there is one, and replays it.
			lastErr = NotApplied(fmt.Errorf("idem: %s: commit: %w", spec.Namespace, err))
			return lastErr
		}
		out, lastErr = r, nil
		return nil
	}
	p, perr := c.policy()
	if perr != nil {
		var zero R
		c.emit(EventFailed, 0, perr)
		return zero, perr
	}
	err := retry.Do(once, c.retryOptions(ctx, p.attempts(), func(err error) bool {
		return ctx.Err() == nil && (classifySpec(spec, err) == classNotApplied || ops.Transient(err) || safeToRetry(err))
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
		return c.keyReused(rec.Fingerprint, rec.FingerprintParts)
	}
	if rec.State == store.StateCompleted {
		return nil
	}
	err := fmt.Errorf("%w: %s: key %s is %s in the database's idem_records table, which the db effect never leaves behind; was the key also used by a function with another effect?", ErrStore, c.spec.Namespace, c.key, rec.State)
	c.emit(EventStoreError, 0, err)
	return err
}

// sqlTxOps is TxOps for database/sql, through a dialect.
type sqlTxOps struct {
	db *sql.DB
	d  *sqldialect.Dialect
}

func (o sqlTxOps) Begin(ctx context.Context) (*sql.Tx, error) { return o.db.BeginTx(ctx, nil) }
func (o sqlTxOps) Commit(_ context.Context, tx *sql.Tx) error { return tx.Commit() }
func (o sqlTxOps) Rollback(tx *sql.Tx)                        { _ = tx.Rollback() }
func (o sqlTxOps) Migrate(ctx context.Context) error          { return o.d.Migrate(ctx, o.db) }
func (o sqlTxOps) MissingTable(err error) bool                { return o.d.MissingTable(err) }
func (o sqlTxOps) Transient(err error) bool                   { return o.d.Transient(err) }
func (o sqlTxOps) Claim(ctx context.Context, tx *sql.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	return o.d.ForDB(o.db).Claim(ctx, tx, req)
}
func (o sqlTxOps) Complete(ctx context.Context, tx *sql.Tx, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return o.d.Complete(ctx, tx, key, f, result, retainUntil)
}
