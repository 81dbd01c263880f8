// Package pgstore is a store.Store and store.Sweeper on PostgreSQL, through
// github.com/jackc/pgx/v5.
//
// Records live in one table (idem_records by default, see Schema), created
// with its claim function on first use by New unless WithoutMigrate is
// given. Every operation is one statement, and so one round trip once pgx
// has prepared it on a connection:
//
//   - Claim is a single SELECT of the key's row that calls the table's
//     claim function (a PL/pgSQL function of Schema) only when the claim
//     must write. Replaying a completed, indeterminate or live-held key is a
//     plain primary-key read that writes nothing. Only when a concurrent
//     claim changes the row between the statement's snapshot and the
//     function's write does Claim run the statement again (see claimSQL).
//   - Complete, Release, MarkIndeterminate and Renew are UPDATE or DELETE
//     statements conditional on the key, the fence (owner and token) and
//     the in-progress state; no row affected means store.ErrFenced.
//
// Times are the caller's, kept as bigint nanoseconds since the Unix epoch,
// so they round-trip and compare exactly; the database's clock is never
// read. Times must lie between the years 1678 and 2262 (the int64
// nanosecond range) or be the zero time.Time.
//
// Fencing tokens come from a sequence per table, so a new grant's token is
// larger than every token granted before, even after the key's row was
// released, deleted or swept.
//
// It needs PostgreSQL 10 or later. Sessions may use any default isolation
// level: a statement that fails with a serialization failure is run again.
//
// # Claims in the caller's transaction
//
// MigratePool, ClaimTx and CompleteTx (and MigrateSQL, ClaimSQLTx and
// CompleteSQLTx for database/sql through github.com/jackc/pgx/v5/stdlib)
// keep records in the default table of the caller's own database, inside a
// transaction the caller began, with the store's own statements, so that an
// effect on that database and its record commit or roll back together. The
// idem runtime uses them for functions with the db effect.
package pgstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idem-go/idem/runtime/store"
)

// DefaultSweepBatch is how many rows one Sweep statement deletes at most
// unless WithSweepBatch says otherwise.
const DefaultSweepBatch = 1000

// maxClaimTries bounds how often a statement is run again when concurrent
// claims keep changing the row under it. Each re-run follows a committed
// change by another claimer, so this is reached only under pathological
// contention on one key.
const maxClaimTries = 16

// Store is a store.Store and store.Sweeper on a PostgreSQL table. It is safe
// for concurrent use by many goroutines and by many processes sharing the
// database.
type Store struct {
	pool       *pgxpool.Pool
	ownsPool   bool
	table      tableName
	q          queries
	sweepBatch int
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Sweeper = (*Store)(nil)
)

// Option configures New and Open.
type Option func(*config) error

type config struct {
	table      string
	migrate    bool
	sweepBatch int
}

// WithTable makes the store keep its records in table instead of
// DefaultTable: a lowercase SQL identifier, optionally schema-qualified
// ("idem.records"), of at most 46 bytes, so that the derived index and
// sequence names fit PostgreSQL's identifier limit. The schema must exist.
func WithTable(table string) Option {
	return func(c *config) error {
		if _, err := parseTable(table); err != nil {
			return err
		}
		c.table = table
		return nil
	}
}

// WithoutMigrate makes New skip Migrate: the table, index, sequence and
// claim function of SchemaSQL must already exist (created by an operator,
// for a role that may not run DDL). An operator who created the schema by
// hand for an earlier version of this package runs SchemaSQL again: it adds
// the claim function and leaves the rest as it is.
func WithoutMigrate() Option {
	return func(c *config) error {
		c.migrate = false
		return nil
	}
}

// WithSweepBatch sets how many rows each statement of Sweep deletes at
// most (n > 0), bounding how long one statement holds its row locks.
func WithSweepBatch(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("pgstore: sweep batch %d: must be positive", n)
		}
		c.sweepBatch = n
		return nil
	}
}

// New returns a store on pool, which the caller keeps owning: Close leaves it
// open. Unless WithoutMigrate is given, New creates the table, index,
// sequence and claim function if they do not exist (see Migrate).
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New needs a *pgxpool.Pool; use Open to connect from a DSN")
	}
	c := config{table: DefaultTable, migrate: true, sweepBatch: DefaultSweepBatch}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	n, err := parseTable(c.table)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, table: n, q: buildQueries(n), sweepBatch: c.sweepBatch}
	if c.migrate {
		if err := s.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value connection string, as pgxpool.ParseConfig accepts) and returns
// a store that owns the connection pool: Close closes it.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// Migrate creates the store's table, index and sequence (SchemaSQL) if they
// do not exist, and its claim function unless the function already exists
// with the same body (so that a role that does not own a function an
// operator created can still open the store). It is safe to run
// concurrently from many processes: a transaction-scoped advisory lock
// serializes it.
func (s *Store) Migrate(ctx context.Context) error {
	return migratePool(ctx, s.pool, s.table, &s.q)
}

// migratePool runs the schema statements of table n (see migrateIn) in one
// transaction of pool.
func migratePool(ctx context.Context, pool *pgxpool.Pool, n tableName, q *queries) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return migrateIn(n, q,
			func(sql string, args ...any) error {
				_, err := tx.Exec(ctx, sql, args...)
				return err
			},
			func(sql string, args ...any) (bool, error) {
				var b bool
				err := tx.QueryRow(ctx, sql, args...).Scan(&b)
				return b, err
			})
	})
	if err != nil {
		return migrateError(n, err)
	}
	return nil
}

// functionCurrentSQL reports whether the function with signature $1 exists
// with body $2.
const functionCurrentSQL = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE oid = to_regprocedure($1) AND prosrc = $2)`

// migrateIn runs the schema statements of table n in a transaction, through
// exec and queryBool: it takes the table's advisory lock, creates the table,
// index and sequence if they do not exist, and creates or replaces the
// claim function unless it exists with the same body already.
func migrateIn(n tableName, q *queries, exec func(sql string, args ...any) error, queryBool func(sql string, args ...any) (bool, error)) error {
	if err := exec("SELECT pg_advisory_xact_lock($1)", n.lockID()); err != nil {
		return err
	}
	if err := exec(q.migrate); err != nil {
		return err
	}
	current, err := queryBool(functionCurrentSQL, q.functionSignature, q.functionBody)
	if err != nil || current {
		return err
	}
	return exec(q.function)
}

func migrateError(n tableName, err error) error {
	return fmt.Errorf("pgstore: create table %s (run SchemaSQL by hand and use WithoutMigrate if this role may not run DDL): %w", n, err)
}

// Table returns the (possibly schema-qualified) name of the store's table.
func (s *Store) Table() string { return s.table.String() }

// Claim implements store.Store in one statement; see the package doc.
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return store.ClaimResult{}, err
	}
	res, err := claim(ctx, req, "", false, func(args []any) rowScanner {
		return s.pool.QueryRow(ctx, s.q.claim, args...)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42883" { // undefined_function
		err = fmt.Errorf("%w (the table's claim function is missing, as in a schema created by hand for an earlier version of pgstore: run SchemaSQL(%q) again, or open the store without WithoutMigrate)", err, s.table.String())
	}
	return res, err
}

// rowScanner is the one row a statement returns: a pgx.Row or a *sql.Row.
type rowScanner interface {
	Scan(dest ...any) error
}

// claim runs the claim statement (claimSQL), through run, until it
// answers. where is "" for the store's own autocommitted statements and
// " in a transaction" for a caller's transaction.
//
// A statement whose write found the row changed after its snapshot (by a
// concurrent claim) runs again, and the next run (a new statement, and so
// under READ COMMITTED a new snapshot) sees the change. Under REPEATABLE
// READ or SERIALIZABLE the server reports that race as a serialization
// failure instead: the store's own statement, alone in its transaction,
// runs again; inTx returns it, since it has aborted the caller's
// transaction and only running the whole transaction again can succeed.
func claim(ctx context.Context, req store.ClaimRequest, where string, inTx bool, run func(args []any) rowScanner) (store.ClaimResult, error) {
	t, err := claimTimes(req)
	if err != nil {
		return store.ClaimResult{}, err
	}
	args := t.args(req)
	for range maxClaimTries {
		var (
			r              row
			fresh, changed bool
		)
		err := run(args).Scan(append(r.dest(), &fresh, &changed)...)
		if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) || (!inTx && isSerializationFailure(err)) {
			if err := ctx.Err(); err != nil {
				return store.ClaimResult{}, err
			}
			continue
		}
		if err != nil {
			return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: %w", req.Key, where, err)
		}
		res, again, err := r.claimResult(req, t, fresh, changed)
		if err != nil {
			return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: %w", req.Key, where, err)
		}
		if again {
			if err := ctx.Err(); err != nil {
				return store.ClaimResult{}, err
			}
			continue
		}
		return res, nil
	}
	return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: the row changed under %d consecutive attempts; too many concurrent claims of one key", req.Key, where, maxClaimTries)
}

// claimNanos are a request's times as the table keeps them.
type claimNanos struct{ now, lease, retain int64 }

// claimTimes converts req's times, failing for times the table cannot keep.
func claimTimes(req store.ClaimRequest) (claimNanos, error) {
	var t claimNanos
	var err error
	if t.now, err = toNanos("Now", req.Now); err != nil {
		return t, err
	}
	if t.lease, err = toNanos("LeaseUntil", req.LeaseUntil); err != nil {
		return t, err
	}
	if t.retain, err = toNanos("RetainUntil", req.RetainUntil); err != nil {
		return t, err
	}
	return t, nil
}

// args returns the parameters of claimSQL for req.
func (t claimNanos) args(req store.ClaimRequest) []any {
	return []any{req.Key[:], req.Namespace, req.Fingerprint[:], req.Owner[:], t.now, t.lease, t.retain, req.Takeover}
}

// claimArgs returns the parameters of claimSQL for req.
func claimArgs(req store.ClaimRequest) ([]any, error) {
	t, err := claimTimes(req)
	if err != nil {
		return nil, err
	}
	return t.args(req), nil
}

// decide is the claim protocol of package store, as claimSQL decides it: the
// write a claim needs, given the key's row r (r.found() false when the key
// has none) and the request. It must agree with the CASE expressions of
// claimSQL.
func decide(r *row, req *store.ClaimRequest, t claimNanos) decision {
	switch {
	case !r.found():
		return insertNew
	case r.retainUntil.Int64 <= t.now:
		return replace
	case r.state.Int16 != int16(store.StateInProgress):
		return settled
	case bytes.Equal(r.owner, req.Owner[:]):
		return regrant
	case r.leaseUntil.Int64 > t.now || (req.Takeover && !bytes.Equal(r.fingerprint, req.Fingerprint[:])):
		return settled
	case req.Takeover:
		return takeOver
	}
	return markIndet
}

// claimResult is the answer to req, given what claimSQL returned: the row
// it read (r, with the written token in place of the row's when changed),
// fresh and changed. again reports that the claim function found the row
// changed by a concurrent claim and wrote nothing: the statement must run
// again.
func (r *row) claimResult(req store.ClaimRequest, t claimNanos, fresh, changed bool) (res store.ClaimResult, again bool, err error) {
	d := decide(r, &req, t)
	if d == settled {
		if changed {
			return res, false, errors.New("the claim function wrote a row the store took as settled; the function does not match this version of pgstore: run Migrate or SchemaSQL again")
		}
		rec, err := r.record(req.Key)
		return store.ClaimResult{Record: rec}, false, err
	}
	if !changed {
		return res, true, nil
	}
	if wantFresh := d == insertNew || d == replace || d == takeOver; fresh != wantFresh || !r.token.Valid {
		return res, false, fmt.Errorf("the claim function answered decision %d with fresh=%t and token %v; it does not match this version of pgstore: run Migrate or SchemaSQL again", d, fresh, r.token)
	}
	switch d {
	case insertNew, replace:
		rec := store.Record{
			Key:         req.Key,
			Namespace:   req.Namespace,
			Fingerprint: req.Fingerprint,
			State:       store.StateInProgress,
			Owner:       req.Owner,
			Token:       r.token.Int64,
			LeaseUntil:  fromNanos(t.lease),
			RetainUntil: fromNanos(t.retain),
			Attempts:    1,
			CreatedAt:   fromNanos(t.now),
			UpdatedAt:   fromNanos(t.now),
		}
		return store.ClaimResult{Granted: true, Record: rec}, false, nil
	case regrant:
		if t.lease > r.leaseUntil.Int64 {
			r.leaseUntil.Int64 = t.lease
			r.updatedAt.Int64 = t.now
		}
		rec, err := r.record(req.Key)
		return store.ClaimResult{Granted: true, Record: rec}, false, err
	case takeOver:
		rec, err := r.record(req.Key)
		if err != nil {
			return res, false, err
		}
		rec.Namespace = req.Namespace
		rec.Owner = req.Owner
		rec.LeaseUntil = fromNanos(t.lease)
		rec.RetainUntil = fromNanos(t.retain)
		rec.Result = nil
		rec.Attempts++
		rec.UpdatedAt = fromNanos(t.now)
		return store.ClaimResult{Granted: true, TookOver: true, Record: rec}, false, nil
	default: // markIndet
		r.state.Int16 = int16(store.StateIndeterminate)
		r.updatedAt.Int64 = t.now
		rec, err := r.record(req.Key)
		return store.ClaimResult{Record: rec}, false, err
	}
}

// fenced runs a write conditional on the fence and maps "no row" to
// store.ErrFenced.
func (s *Store) fenced(ctx context.Context, op string, key store.Key, f store.Fence, sql string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.exec(ctx, sql, append([]any{key[:], f.Owner[:], f.Token}, args...)...)
	if err != nil {
		return fmt.Errorf("pgstore: %s key %s: %w", op, key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: %s key %s (owner %s, token %d): %w", op, key, f.Owner, f.Token, store.ErrFenced)
	}
	return nil
}

// Complete implements store.Store. A nil result is stored as NULL and an
// empty one as empty bytes; both read back as an empty result.
func (s *Store) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	retain, err := toNanos("retainUntil", retainUntil)
	if err != nil {
		return err
	}
	return s.fenced(ctx, "complete", key, f, s.q.complete, result, retain)
}

// Release implements store.Store: it deletes the row. The table's token
// sequence keeps the next grant's token larger.
func (s *Store) Release(ctx context.Context, key store.Key, f store.Fence) error {
	return s.fenced(ctx, "release", key, f, s.q.release)
}

// MarkIndeterminate implements store.Store.
func (s *Store) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retainUntil time.Time) error {
	retain, err := toNanos("retainUntil", retainUntil)
	if err != nil {
		return err
	}
	return s.fenced(ctx, "mark indeterminate", key, f, s.q.mark, retain)
}

// Renew implements store.Store.
func (s *Store) Renew(ctx context.Context, key store.Key, f store.Fence, leaseUntil time.Time) error {
	lease, err := toNanos("leaseUntil", leaseUntil)
	if err != nil {
		return err
	}
	return s.fenced(ctx, "renew", key, f, s.q.renew, lease)
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	var r row
	err := s.pool.QueryRow(ctx, s.q.get, key[:]).Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, fmt.Errorf("pgstore: get key %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("pgstore: get key %s: %w", key, err)
	}
	rec, err := r.record(key)
	if err != nil {
		return store.Record{}, fmt.Errorf("pgstore: get key %s: %w", key, err)
	}
	return rec, nil
}

// Delete implements store.Store: it deletes the row. The table's token
// sequence keeps the next grant's token larger.
func (s *Store) Delete(ctx context.Context, key store.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.exec(ctx, s.q.delete, key[:]); err != nil {
		return fmt.Errorf("pgstore: delete key %s: %w", key, err)
	}
	return nil
}

// Sweep implements store.Sweeper. It deletes in batches (WithSweepBatch),
// one statement and transaction each, until a batch comes back short, and
// returns how many rows it deleted. Rows locked by a concurrent claim at
// that moment are left for a later sweep.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	at, err := toNanos("now", now)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		tag, err := s.exec(ctx, s.q.sweep, at, s.sweepBatch)
		if err != nil {
			return total, fmt.Errorf("pgstore: sweep %s: %w", s.table, err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < s.sweepBatch {
			return total, nil
		}
	}
}

// Close implements store.Store. It closes the pool when the store was made
// by Open, and leaves a caller's pool (New) open.
func (s *Store) Close() error {
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// exec runs one statement, again when a concurrent write made it fail with
// a serialization failure (possible only when the pool's sessions default
// to REPEATABLE READ or SERIALIZABLE): every statement of the store is a
// single autocommitted statement, so running it again is safe.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	for i := 1; ; i++ {
		tag, err := s.pool.Exec(ctx, sql, args...)
		if !isSerializationFailure(err) || i == maxClaimTries || ctx.Err() != nil {
			return tag, err
		}
	}
}

// isSerializationFailure reports SQLSTATE 40001.
func isSerializationFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40001"
}

// row receives one record as the statements return it (see columns). Its
// fields are nullable: claimSQL returns NULLs for a key that has no row.
type row struct {
	namespace                                            pgtype.Text
	fingerprint, owner, result                           []byte
	state                                                pgtype.Int2
	token, leaseUntil, retainUntil, createdAt, updatedAt pgtype.Int8
	attempts                                             pgtype.Int4
}

func (r *row) dest() []any {
	return []any{&r.namespace, &r.fingerprint, &r.state, &r.owner, &r.token,
		&r.leaseUntil, &r.retainUntil, &r.result, &r.attempts, &r.createdAt, &r.updatedAt}
}

// found reports whether r holds a row (state is NOT NULL in the table).
func (r *row) found() bool { return r.state.Valid }

// record returns r as the record of key.
func (r *row) record(key store.Key) (store.Record, error) {
	var rec store.Record
	if !r.namespace.Valid || !r.state.Valid || !r.token.Valid || !r.leaseUntil.Valid || !r.retainUntil.Valid ||
		!r.attempts.Valid || !r.createdAt.Valid || !r.updatedAt.Valid {
		return rec, errors.New("corrupt row: a NOT NULL column is NULL")
	}
	if len(r.fingerprint) != len(rec.Fingerprint) || len(r.owner) != len(rec.Owner) {
		return rec, fmt.Errorf("corrupt row: fingerprint or owner has the wrong length (%d, %d bytes)", len(r.fingerprint), len(r.owner))
	}
	rec.Key = key
	copy(rec.Fingerprint[:], r.fingerprint)
	copy(rec.Owner[:], r.owner)
	rec.Namespace = r.namespace.String
	rec.State = store.State(r.state.Int16)
	rec.Token = r.token.Int64
	rec.LeaseUntil = fromNanos(r.leaseUntil.Int64)
	rec.RetainUntil = fromNanos(r.retainUntil.Int64)
	rec.Result = r.result
	rec.Attempts = int(r.attempts.Int32)
	rec.CreatedAt = fromNanos(r.createdAt.Int64)
	rec.UpdatedAt = fromNanos(r.updatedAt.Int64)
	return rec, nil
}

// zeroNanos stands for the zero time.Time, which has no UnixNano.
const zeroNanos = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// toNanos converts a caller's time to what the table keeps.
func toNanos(field string, t time.Time) (int64, error) {
	if t.IsZero() {
		return zeroNanos, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("pgstore: %s %v is outside the range the store keeps exactly (%v to %v): pass a time in that range", field, t, minTime.UTC(), maxTime.UTC())
	}
	return t.UnixNano(), nil
}

// fromNanos is the inverse of toNanos. Times come back in UTC.
func fromNanos(n int64) time.Time {
	if n == zeroNanos {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
