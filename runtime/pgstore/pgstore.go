// Package pgstore is a store.Store and store.Sweeper on PostgreSQL, through
// github.com/jackc/pgx/v5.
//
// Records live in one table (idem_records by default, see Schema), created
// on first use by New unless WithoutMigrate is given. Every operation is
// one statement, and so one round trip once pgx has prepared it on a
// connection:
//
//   - Claim is a single INSERT ... ON CONFLICT DO UPDATE with CTEs. Replaying
//     a completed, indeterminate or live-held key writes nothing. Only when a
//     concurrent claim changes the row between the statement's snapshot and
//     its row lock does Claim run the statement again (see claimSQL).
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
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// WithoutMigrate makes New skip Migrate: the table, index and sequence of
// SchemaSQL must already exist (created by an operator, for a role that
// may not run DDL).
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
// open. Unless WithoutMigrate is given, New creates the table, index and
// sequence if they do not exist (see Migrate).
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
// do not exist. It is safe to run concurrently from many processes: a
// transaction-scoped advisory lock serializes it.
func (s *Store) Migrate(ctx context.Context) error {
	return migratePool(ctx, s.pool, s.table, s.q.migrate)
}

// migratePool runs the schema statements migrate of table n in one
// transaction of pool, under the table's advisory lock.
func migratePool(ctx context.Context, pool *pgxpool.Pool, n tableName, migrate string) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", n.lockID()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, migrate)
		return err
	})
	if err != nil {
		return migrateError(n, err)
	}
	return nil
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
	return claim(ctx, req, "", false, func(args []any) rowScanner {
		return s.pool.QueryRow(ctx, s.q.claim, args...)
	})
}

// rowScanner is the one row a statement returns: a pgx.Row or a *sql.Row.
type rowScanner interface {
	Scan(dest ...any) error
}

// claim runs the claim statement (claimSQL), through run, until it
// answers. where is "" for the store's own autocommitted statements and
// " in a transaction" for a caller's transaction.
//
// A statement that returns no row saw a concurrent claim change the row
// after its snapshot; it runs again, and the next run (a new statement, and
// so under READ COMMITTED a new snapshot) sees the change. Under REPEATABLE
// READ or SERIALIZABLE the server reports that race as a serialization
// failure instead: the store's own statement, alone in its transaction,
// runs again; inTx returns it, since it has aborted the caller's
// transaction and only running the whole transaction again can succeed.
func claim(ctx context.Context, req store.ClaimRequest, where string, inTx bool, run func(args []any) rowScanner) (store.ClaimResult, error) {
	args, err := claimArgs(req)
	if err != nil {
		return store.ClaimResult{}, err
	}
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
		rec, err := r.record()
		if err != nil {
			return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: %w", req.Key, where, err)
		}
		granted := changed && rec.State == store.StateInProgress && rec.Owner == req.Owner
		return store.ClaimResult{
			Granted:  granted,
			TookOver: granted && fresh && rec.Attempts > 1,
			Record:   rec,
		}, nil
	}
	return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: the row changed under %d consecutive attempts; too many concurrent claims of one key", req.Key, where, maxClaimTries)
}

// claimArgs returns the parameters of claimSQL for req.
func claimArgs(req store.ClaimRequest) ([]any, error) {
	now, err := toNanos("Now", req.Now)
	if err != nil {
		return nil, err
	}
	lease, err := toNanos("LeaseUntil", req.LeaseUntil)
	if err != nil {
		return nil, err
	}
	retain, err := toNanos("RetainUntil", req.RetainUntil)
	if err != nil {
		return nil, err
	}
	return []any{req.Key[:], req.Namespace, req.Fingerprint[:], req.Owner[:], now, lease, retain, req.Takeover}, nil
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
	rec, err := r.record()
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

// row receives one record as the statements return it (see columns).
type row struct {
	key, fingerprint, owner, result []byte
	namespace                       string
	state                           int16
	token                           int64
	leaseUntil, retainUntil         int64
	attempts                        int32
	createdAt, updatedAt            int64
}

func (r *row) dest() []any {
	return []any{&r.key, &r.namespace, &r.fingerprint, &r.state, &r.owner, &r.token,
		&r.leaseUntil, &r.retainUntil, &r.result, &r.attempts, &r.createdAt, &r.updatedAt}
}

func (r *row) record() (store.Record, error) {
	var rec store.Record
	if len(r.key) != len(rec.Key) || len(r.fingerprint) != len(rec.Fingerprint) || len(r.owner) != len(rec.Owner) {
		return rec, fmt.Errorf("corrupt row: key, fingerprint or owner has the wrong length (%d, %d, %d bytes)", len(r.key), len(r.fingerprint), len(r.owner))
	}
	copy(rec.Key[:], r.key)
	copy(rec.Fingerprint[:], r.fingerprint)
	copy(rec.Owner[:], r.owner)
	rec.Namespace = r.namespace
	rec.State = store.State(r.state)
	rec.Token = r.token
	rec.LeaseUntil = fromNanos(r.leaseUntil)
	rec.RetainUntil = fromNanos(r.retainUntil)
	rec.Result = r.result
	rec.Attempts = int(r.attempts)
	rec.CreatedAt = fromNanos(r.createdAt)
	rec.UpdatedAt = fromNanos(r.updatedAt)
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
