// Package pgstore is a store.Store and store.Sweeper on PostgreSQL, through
// github.com/jackc/pgx/v5.
//
// Records live in one table (idem_records by default, see Schema), created
// on first use by New unless WithoutMigrate is given. Every operation but
// a claim of a key that has a row is one statement, and so one round trip
// once pgx has prepared it on a connection:
//
//   - Claim is decided by store.Decide, in Go, like every store of this
//     module. A first claim is one INSERT ... ON CONFLICT DO NOTHING of the
//     fresh grant. When it finds the key taken, one statement reads the
//     key's row and inserts the fresh grant when there is none: the claim
//     of a completed, indeterminate or live-held key is one more round
//     trip, and writes nothing. When the row exists and Decide says the
//     claim changes it (a takeover, a passed lease marked indeterminate, an
//     expired record replaced, the same owner claiming again with a later
//     lease), a further statement writes Decide's record, conditional on
//     the row still being the version read; a concurrent claim that changed
//     it first makes the claim start over (see claimSQL).
//   - A claim of a key this store last saw settled (it completed it, or a
//     claim returned it completed or indeterminate) is first the prepared
//     primary-key SELECT of Get, answered from when the record is settled
//     and retained past the request's Now: a replay costs what a read by
//     primary key costs. Anything else takes the claim statement.
//   - Complete, Release, MarkIndeterminate and Renew are UPDATE or DELETE
//     statements conditional on the key, the fence (owner and token) and
//     the in-progress state; no row affected means store.ErrFenced.
//
// # Durability
//
// Only the claim must be durable before the function runs. By default
// (store.DurableClaims) claims and renewals commit as the session is
// configured (synchronous_commit on, PostgreSQL's default: on disk, and on
// a synchronous standby, before they return), while Complete, Release and
// MarkIndeterminate commit with synchronous_commit off, set for their own
// transaction by the statement itself (still one round trip): they return
// without waiting for the WAL flush, and reach the disk within PostgreSQL's
// wal_writer_delay (200ms by default) or with the next synchronous commit.
// A crash of the database server or its machine can take back the last of
// them, never a claim; a crash of the application loses nothing. See
// WithDurability for the other choices, also given in a DSN as
// ?durability=claims|all|crash.
//
// Times are the caller's, kept as bigint nanoseconds since the Unix epoch,
// so they round-trip and compare exactly; the database's clock is never
// read. Times outside store.MinTime to store.MaxTime (the int64 nanosecond
// range) other than the zero time.Time are refused (store.CheckTime).
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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idem-go/idem/runtime/internal/settled"
	"github.com/idem-go/idem/runtime/internal/sqldialect"
	"github.com/idem-go/idem/runtime/internal/sqlexpr"
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
	settled    settled.Keys // keys last seen settled: their claims read first
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
	durability store.Durability
}

// WithDurability sets which writes are durable when they return; the
// default is store.DurableClaims (see the package doc).
// store.DurableAll commits every write as the session is configured.
// store.DurableCrash also commits claims and renewals with
// synchronous_commit off, on a pool Open creates (a pool given to New
// commits claims as it is configured): a crash of the database server or
// its machine can then take back claims, after which a function that ran
// may run again.
func WithDurability(d store.Durability) Option {
	return func(c *config) error {
		if !d.Valid() {
			return fmt.Errorf("pgstore: unknown %v; use store.DurableClaims, DurableAll or DurableCrash", d)
		}
		c.durability = d
		return nil
	}
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
// SchemaSQL must already exist (created by an operator, for a role that may
// not run DDL). A table created before the fingerprint_parts column
// existed works without it (New looks once; ErrKeyReused then cannot name
// the arguments that differ) until an operator runs ALTER TABLE
// idem_records ADD COLUMN IF NOT EXISTS fingerprint_parts bytea (with the
// store's table name) and the store is opened again.
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
	s := &Store{pool: pool, table: n, q: buildQueries(n, true), sweepBatch: c.sweepBatch}
	if c.migrate {
		err := s.Migrate(ctx)
		if errors.Is(err, errAddParts) {
			// A role that may create the table but not alter it: the
			// table works without the column, as under WithoutMigrate.
			s.q = buildQueries(n, false)
		} else if err != nil {
			return nil, err
		}
	} else {
		// A table an operator created before the fingerprint_parts
		// column existed works without it (ErrKeyReused then cannot say
		// which arguments differ) until the column is added.
		var has bool
		if err := pool.QueryRow(ctx, s.q.hasParts, n.quoted()).Scan(&has); err != nil {
			return nil, fmt.Errorf("pgstore: look up the columns of table %s: %w", n, err)
		}
		if !has {
			s.q = buildQueries(n, false)
		}
	}
	if c.durability != store.DurableAll {
		s.q.complete, s.q.release, s.q.mark = asyncCommit(s.q.complete), asyncCommit(s.q.release), asyncCommit(s.q.mark)
	}
	return s, nil
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value connection string, as pgxpool.ParseConfig accepts) and returns
// a store that owns the connection pool: Close closes it.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	pool, err := newPool(ctx, dsn, opts)
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

// newPool connects a pool to dsn; under store.DurableCrash every session
// commits with synchronous_commit off.
func newPool(ctx context.Context, dsn string, opts []Option) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	var c config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.durability == store.DurableCrash {
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Migrate creates the store's table, index and sequence (SchemaSQL) if they
// do not exist. It is safe to run concurrently from many processes: a
// transaction-scoped advisory lock serializes it.
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

// migrateIn runs the schema statements of table n in a transaction, through
// exec and query: it takes the table's advisory lock, creates the table,
// index and sequence if they do not exist, and adds the fingerprint_parts
// column to a table created before it existed. The column is looked up
// first, so that a table that has it is not locked by an ALTER TABLE, and
// added before the other statements, so that the ALTER's exclusive lock is
// the transaction's first lock on the table, never an upgrade of the share
// lock CREATE INDEX takes, which could deadlock with a claim or a sweep.
func migrateIn(n tableName, q *queries, exec func(sql string, args ...any) error, query func(sql string, args ...any) (bool, error)) error {
	if err := exec("SELECT pg_advisory_xact_lock($1)", n.lockID()); err != nil {
		return err
	}
	exists, err := query(sqldialect.PostgresHasTable, n.quoted())
	if err != nil {
		return err
	}
	if exists {
		has, err := query(q.hasParts, n.quoted())
		if err != nil {
			return err
		}
		if !has {
			if err := exec(sqldialect.PostgresAlterLockTimeout); err != nil {
				return err
			}
			if err := exec(q.addParts); err != nil {
				return fmt.Errorf("%w: %w", errAddParts, err)
			}
		}
	}
	return exec(q.migrate)
}

// errAddParts marks a migration that could not add the fingerprint_parts
// column to an existing table.
var errAddParts = errors.New("add the fingerprint_parts column")

func migrateError(n tableName, err error) error {
	return fmt.Errorf("pgstore: create table %s (run SchemaSQL by hand and use WithoutMigrate if this role may not run DDL): %w", n, err)
}

// Table returns the (possibly schema-qualified) name of the store's table.
func (s *Store) Table() string { return s.table.String() }

// Claim implements store.Store; see the package doc.
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return store.ClaimResult{}, err
	}
	exists := false // whether the key is known to have a row: then claimNewSQL would insert nothing
	if s.settled.Has(req.Key) && store.CheckClaimTimes(req) == nil {
		// Most likely a replay: one prepared primary-key read, answered
		// from when the record is settled and retained (see
		// internal/settled).
		rec, err := s.Get(ctx, req.Key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ClaimResult{}, err
		}
		if res, ok := settled.Answer(rec, req); err == nil && ok {
			return res, nil
		}
		exists = err == nil
	}
	res, err := claim(ctx, req, "", false, exists, &s.q, func(sql string, args []any) rowScanner {
		return s.pool.QueryRow(ctx, sql, args...)
	})
	if err == nil && !res.Granted && res.Record.State != store.StateInProgress {
		s.settled.Add(req.Key)
	}
	return res, err
}

// rowScanner is the one row a statement returns: a pgx.Row or a *sql.Row.
type rowScanner interface {
	Scan(dest ...any) error
}

// claim decides req with store.Decide on the key's row and writes the
// decision, running q's claimNewSQL (unless exists says the key has a
// row), claimSQL and writeSQL through run, until it answers. where is ""
// for the store's own autocommitted statements and " in a transaction"
// for a caller's transaction.
//
// A claim whose insert or conditional write found the row changed by a
// concurrent claim after its snapshot starts over, and the next statement
// (under READ COMMITTED a new snapshot) sees the change. Under REPEATABLE
// READ or SERIALIZABLE the server reports that race as a serialization
// failure instead: the store's own statement, alone in its transaction,
// runs again; inTx returns it, since it has aborted the caller's
// transaction and only running the whole transaction again can succeed.
func claim(ctx context.Context, req store.ClaimRequest, where string, inTx, exists bool, q *queries, run func(sql string, args []any) rowScanner) (store.ClaimResult, error) {
	fail := func(err error) (store.ClaimResult, error) {
		return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: %w", req.Key, where, err)
	}
	if err := store.CheckClaimTimes(req); err != nil {
		return fail(err)
	}
	// The grant of a key that has no record; its token is drawn from the
	// sequence.
	fresh, _ := store.Decide(store.Record{}, false, false, req)
	insertArgs := append([]any{req.Key[:]}, recordArgs(&fresh.Record)...)
	if q.parts {
		insertArgs = append(insertArgs, nullBytes(req.FingerprintParts)) // $11
	}
	again := func(err error) bool {
		return errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) || (!inTx && isSerializationFailure(err))
	}
	if !exists {
		var token int64
		err := run(q.claimNew, insertArgs).Scan(&token)
		if err == nil {
			res := fresh
			res.Record.Token = token
			return res, nil
		}
		if !again(err) {
			return fail(err)
		}
		// The key has a row (or a serialization failure): claimSQL reads it.
	}
	for range maxClaimTries {
		var (
			r        row
			inserted pgtype.Int8
		)
		err := run(q.claim, insertArgs).Scan(append(r.dest(), &inserted)...)
		if err == nil && inserted.Valid {
			res := fresh
			res.Record.Token = inserted.Int64
			return res, nil
		}
		if err == nil && !r.found() {
			err = pgx.ErrNoRows // a concurrent claim inserted the key after the snapshot
		}
		if again(err) {
			if err := ctx.Err(); err != nil {
				return store.ClaimResult{}, err
			}
			continue
		}
		if err != nil {
			return fail(err)
		}
		cur, err := r.record(req.Key)
		if err != nil {
			return fail(err)
		}
		res, change := store.Decide(cur, true, cur.RetainUntil.After(req.Now), req)
		if change == store.NoChange {
			return res, nil
		}
		w := recordArgs(&res.Record)
		args := append([]any{req.Key[:], w[0], w[1], w[2], w[3], change == store.Grant}, w[4:]...)
		args = append(args, r.token.Int64, r.owner, r.state.Int16, r.leaseUntil.Int64, r.retainUntil.Int64)
		if q.parts {
			args = append(args, nullBytes(res.Record.FingerprintParts)) // $17
		}
		var token int64
		err = run(q.write, args).Scan(&token)
		if again(err) {
			if err := ctx.Err(); err != nil {
				return store.ClaimResult{}, err
			}
			continue
		}
		if err != nil {
			return fail(err)
		}
		res.Record.Token = token
		return res, nil
	}
	return fail(fmt.Errorf("the row changed under %d consecutive attempts; too many concurrent claims of one key", maxClaimTries))
}

// recordArgs returns the columns of rec that claimSQL inserts ($2 to $10)
// and writeSQL writes (the same, with whether to draw a new token after
// the owner): namespace, fingerprint, state, owner, lease_until,
// retain_until, attempts, created_at, updated_at. rec's times are the
// request's (checked by store.CheckClaimTimes) or the row's.
func recordArgs(rec *store.Record) []any {
	return []any{rec.Namespace, rec.Fingerprint[:], int16(rec.State), rec.Owner[:],
		nanos(rec.LeaseUntil), nanos(rec.RetainUntil), int32(rec.Attempts), nanos(rec.CreatedAt), nanos(rec.UpdatedAt)}
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
	if err := s.fenced(ctx, "complete", key, f, s.q.complete, result, retain); err != nil {
		return err
	}
	s.settled.Add(key)
	return nil
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

// Renew implements store.Store: it sets the lease and shifts the retention
// with it (store.ShiftRetention), in one conditional UPDATE.
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
	parts                                                []byte
}

func (r *row) dest() []any {
	return []any{&r.namespace, &r.fingerprint, &r.state, &r.owner, &r.token,
		&r.leaseUntil, &r.retainUntil, &r.result, &r.attempts, &r.createdAt, &r.updatedAt, &r.parts}
}

// nullBytes is b, or NULL for no bytes.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
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
	rec.FingerprintParts = r.parts
	return rec, nil
}

// toNanos converts a caller's time to what the table keeps, refusing the
// times store.CheckTime refuses.
func toNanos(field string, t time.Time) (int64, error) {
	if err := store.CheckTime(field, t); err != nil {
		return 0, fmt.Errorf("pgstore: %w", err)
	}
	return nanos(t), nil
}

// nanos converts a time that passed store.CheckTime to what the table
// keeps.
func nanos(t time.Time) int64 { return sqlexpr.Nanos(t) }

// fromNanos is the inverse of toNanos. Times come back in UTC.
func fromNanos(n int64) time.Time { return sqlexpr.Time(n) }
