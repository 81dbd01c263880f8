// Package sqlitestore is the embedded default store.Store: one SQLite file,
// driven through modernc.org/sqlite (pure Go, no cgo), safe for concurrent
// use by many goroutines and by many processes sharing the file on one host.
//
// # Durability
//
// Open configures every connection with journal_mode=WAL (readers never
// block the writer, so replays stay fast while claims commit); an operation
// waits up to BusyTimeout (five seconds) for another process's lock
// instead of failing with "database is locked", polling for it in Go rather
// than through SQLite's busy_timeout (see BusyTimeout for why).
//
// Only the claim must be on disk before the function runs, so by default
// (store.DurableClaims) a claim is answered only once an fsync of the
// write-ahead log has covered its commit (on disk even if the machine loses
// power right after), and Complete, Release and MarkIndeterminate are not
// synced: on disk with the next claim's fsync or a checkpoint. A first
// call costs one fsync, not two. A store made by Open commits every write
// with synchronous=NORMAL and runs that fsync itself after the commit,
// outside SQLite's write lock, shared by every writer of the store waiting
// at the time: other processes on the file take the lock meanwhile, and
// their fsyncs overlap instead of queueing. A store made by New commits
// claims as the caller's *sql.DB is configured (DSN: synchronous=FULL, the
// fsync under the lock) and the other writes through a second,
// synchronous=NORMAL connection. See WithDurability for the other choices,
// also given in a DSN as ?durability=claims|all|crash.
//
// # Protocol
//
// A claim whose answer is the existing record (completed, indeterminate, or
// held under another owner's live lease) is a single read and takes no write
// lock. Every other claim is written in a transaction that takes the write
// lock with its first statement (as ClaimTx does) and reads, decides and
// writes under it, so concurrent claims, in this process or another, are
// serialised. The claims of this store that wait at the same time share
// that transaction and its commit (group commit): one fsync for all of
// them, each decided in turn and none answered before the commit. Every
// write after the claim
// is one conditional UPDATE on key, owner, token and state; no affected row
// means store.ErrFenced.
//
// Released and deleted records stay in the table as tombstones (state 0)
// until their retention passes and Sweep removes them, so that the next
// grant of the key still gets a larger token than every grant before it.
//
// # Claims in the caller's transaction
//
// Migrate, ClaimTx and CompleteTx keep records in the caller's own database
// (the same idem_records table), inside a transaction the caller began, so
// that an effect on that database and its record commit or roll back
// together. The idem runtime uses them for functions with the db effect.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/idem-go/idem/runtime/internal/sqldialect"
	"github.com/idem-go/idem/runtime/internal/sqlexpr"
	"github.com/idem-go/idem/runtime/store"
)

// Schema creates the table and index the store uses, if they do not exist.
// Open and New run it themselves; it is exported so an operator can create
// the schema by hand or review it.
//
// Columns: key, fingerprint and owner are the raw bytes of store.Key (32),
// store.Fingerprint (32) and store.Owner (16); state is 0 for a tombstone
// (released or deleted, kept only to continue the key's token sequence),
// otherwise the store.State value (1 in_progress, 2 completed,
// 3 indeterminate); lease_until, retain_until, created_at and updated_at are
// Unix nanoseconds of the caller's clock; fingerprint_parts holds
// store.Record.FingerprintParts (NULL when the claim had none). The
// retain_until index serves Sweep.
//
// A table created before fingerprint_parts existed gets the column from
// Open, New and Migrate (ALTER TABLE idem_records ADD COLUMN
// fingerprint_parts BLOB, after checking pragma table_info); until then
// ErrKeyReused cannot say which arguments differ.
const Schema = sqldialect.SQLiteSchema

// BusyTimeout is how long an operation waits in total for a lock that
// another connection (usually another process) holds before it fails.
//
// The store waits by polling in Go, every 20 µs at first and at most every
// millisecond, with jitter, and leaves SQLite's busy_timeout at 0. SQLite's
// busy handler sleeps 1, 2, 5, ... up to 100 ms between tries, and that
// costs twice: the lock sits idle while its waiters sleep (two processes
// claiming the same keys ran four times slower with busy_timeout=10 than
// with the Go poll), and under sustained writes from one process a second
// process polling that slowly rarely catches the lock free and fails with
// "database is locked" after the timeout (measured here: 5 s stalls and an
// error with busy_timeout=5000; tens of milliseconds at most with the Go
// poll).
const BusyTimeout = 5 * time.Second

// MaxConns is the size of the connection pool Open creates: enough for
// concurrent readers; writers are serialised by SQLite anyway.
const MaxConns = 8

// sweepBatch is how many rows one Sweep statement deletes, so that a large
// sweep releases the write lock between batches.
const sweepBatch = 1000

// tombstone is the state column of a released or deleted record.
const tombstone = 0

const columns = `namespace, fingerprint, state, owner, token, lease_until, retain_until, result, attempts, created_at, updated_at, fingerprint_parts`

const (
	// sqlSelect reads a record. Its result columns are unnamed, and all but
	// namespace are expressions (unary + is a no-op on every value), because
	// the driver converts every result column's name and declared type to
	// Go strings on every query: this read is the replay path, and that is
	// a third of its allocations. namespace keeps its declared type, so that
	// a caller's DSN with _texttotime never parses it as a time.
	sqlSelect = `SELECT namespace AS "", +fingerprint AS "", +state AS "", +owner AS "", +token AS "",
	+lease_until AS "", +retain_until AS "", +result AS "", +attempts AS "", +created_at AS "", +updated_at AS "",
	+fingerprint_parts AS ""
FROM idem_records WHERE key = ?`
	sqlInsert = `INSERT INTO idem_records (key, ` + columns + `)
VALUES (?, ?, ?, 1, ?, ?, ?, ?, NULL, ?, ?, ?, ?)`
	// sqlInsertNew writes a fresh grant of a key that has no row, and does
	// nothing when it has one. It is Claim's write for a new key, and the
	// first statement of ClaimTx: a write, so that a deferred transaction
	// takes the write lock before it reads anything.
	sqlInsertNew = sqlInsert + ` ON CONFLICT (key) DO NOTHING`
	sqlUpsert    = sqlInsert + `
ON CONFLICT (key) DO UPDATE SET
	namespace = excluded.namespace, fingerprint = excluded.fingerprint,
	state = 1, owner = excluded.owner, token = excluded.token,
	lease_until = excluded.lease_until, retain_until = excluded.retain_until,
	result = NULL, attempts = excluded.attempts,
	created_at = excluded.created_at, updated_at = excluded.updated_at,
	fingerprint_parts = excluded.fingerprint_parts`
	sqlClaimLease    = `UPDATE idem_records SET lease_until = ?, retain_until = ?, updated_at = ? WHERE key = ?`
	sqlClaimMark     = `UPDATE idem_records SET state = 3, updated_at = ? WHERE key = ?`
	fenced           = ` WHERE key = ? AND owner = ? AND token = ? AND state = 1`
	sqlComplete      = `UPDATE idem_records SET state = 2, result = ?, retain_until = ?` + fenced
	sqlRelease       = `UPDATE idem_records SET state = 0, result = NULL` + fenced
	sqlIndeterminate = `UPDATE idem_records SET state = 3, retain_until = ?` + fenced
	sqlDelete        = `UPDATE idem_records SET state = 0, result = NULL WHERE key = ? AND state <> 0`
	sqlSweep         = `DELETE FROM idem_records WHERE rowid IN
	(SELECT rowid FROM idem_records WHERE retain_until <= ? AND state <> 1 LIMIT ?) RETURNING state`
)

// sqlRenew sets the lease and shifts the retention with it
// (store.ShiftRetention).
var sqlRenew = `UPDATE idem_records SET lease_until = ?1, retain_until = ` + sqlexpr.ShiftRetention("?1") + fenced

// Store is a store.Store and store.Sweeper on one SQLite database. Create it
// with Open or New.
type Store struct {
	db     *sql.DB
	ownsDB bool
	opts   options
	// lazy is the connection of the writes that need no fsync of their
	// own (see WithDurability), or nil when they go through db.
	lazy      *sql.DB
	lazyStmts map[string]*sql.Stmt
	// wal, for a store made by Open with claims or all writes durable,
	// syncs the write-ahead log after the commits that must be on disk
	// (db commits with synchronous=NORMAL; see walSync). nil otherwise.
	wal *walSync

	// writer serialises this store's writes, so that they queue here
	// instead of polling for SQLite's lock; other processes (and other
	// stores on the same file) contend for that lock through retryBusy.
	writer chan struct{}
	// queue holds the claims waiting for a group commit (see
	// claimGrouped).
	queueMu sync.Mutex
	queue   []*pendingClaim
	groups  atomic.Int64 // group transactions written, for tests

	initMu sync.Mutex
	ready  atomic.Bool
	closed bool // guarded by initMu
	stmts  map[string]*sql.Stmt
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Sweeper = (*Store)(nil)
)

// DSN returns the modernc.org/sqlite data source name Open uses for path: a
// file: URI (path escaped) with the pragmas journal_mode=WAL and
// synchronous=FULL. It sets no busy_timeout: the store waits for locks itself
// (see BusyTimeout), so statements of your own on such a *sql.DB fail at once
// with SQLITE_BUSY while another process writes unless you retry them. Use
// it to open a *sql.DB for New with the same guarantees as Open.
func DSN(path string) string { return dsn(path, "FULL") }

// Open opens (creating if needed) the SQLite file at path, creates the schema
// and returns a store that owns the connection pool: Close closes it. path is
// a file path, not a URI; every process that opens the same file shares its
// records. The default durability is store.DurableClaims (see
// WithDurability).
func Open(path string, opts ...Option) (*Store, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	// Every connection commits without an fsync of its own; the writes
	// that must be on disk sync the log after their commit, outside the
	// write lock, sharing the fsync with the writers waiting for it (see
	// walSync).
	db, err := sql.Open("sqlite", dsn(path, "NORMAL"))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	s := newStore(db, true, o)
	if o.durability != store.DurableCrash {
		abs, err := filepath.Abs(path)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
		}
		s.wal = newWALSync(abs)
	}
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	return s, nil
}

// New returns a store on a database the caller opened with the "sqlite"
// driver of modernc.org/sqlite. The schema is created on first use. The
// caller owns db: Close leaves it open. Open db with DSN(path) to get WAL
// and synchronous=FULL; a busy_timeout of the caller's own makes waits for
// another process's lock slower and less fair (see BusyTimeout).
func New(db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlitestore: New needs a *sql.DB opened with the \"sqlite\" driver; got nil")
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: new: %w", err)
	}
	return newStore(db, false, o), nil
}

func newStore(db *sql.DB, owns bool, o options) *Store {
	return &Store{db: db, ownsDB: owns, opts: o, writer: make(chan struct{}, 1)}
}

// lazyWrites are the statements that run on the lazy connection (see
// WithDurability).
var lazyWrites = []string{sqlComplete, sqlRelease, sqlIndeterminate}

// init creates the schema and prepares the statements, once.
func (s *Store) init(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	if s.ready.Load() {
		return nil
	}
	if s.closed {
		return errors.New("the store is closed; open a new one")
	}
	if err := migrate(ctx, s.db); err != nil {
		return err
	}
	stmts := make(map[string]*sql.Stmt)
	for _, q := range []string{sqlSelect, sqlInsertNew,
		sqlComplete, sqlRelease, sqlIndeterminate, sqlRenew, sqlDelete} {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return fmt.Errorf("prepare statements: %w", err)
		}
		stmts[q] = st
	}
	if s.opts.durability == store.DurableClaims && s.wal == nil {
		if err := s.openLazy(ctx); err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return err
		}
	}
	s.stmts = stmts
	s.ready.Store(true)
	return nil
}

// primaryCodeMask selects the primary result code of an extended one:
// SQLite defines every extended result code as its primary code plus a
// multiple of 256 (https://sqlite.org/rescode.html).
const primaryCodeMask = 0xff

// primaryCode returns the primary SQLite result code of the *sqlite.Error
// in err's chain (sqlite3.SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT, say), and
// false when err holds none. Errors are classified by these codes only,
// never by message text.
func primaryCode(err error) (int, bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return 0, false
	}
	return e.Code() & primaryCodeMask, true
}

// extendedCode returns the extended SQLite result code of the
// *sqlite.Error in err's chain, and false when err holds none.
func extendedCode(err error) (int, bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return 0, false
	}
	return e.Code(), true
}

// isBusy reports whether err is SQLite's SQLITE_BUSY, in any of its
// extended forms: another connection holds a lock this one needs.
func isBusy(err error) bool {
	c, ok := primaryCode(err)
	return ok && c == sqlite3.SQLITE_BUSY
}

// retryBusy runs f until it returns anything but SQLITE_BUSY, polling with
// jittered waits from 20 µs up to 1 ms, for at most BusyTimeout or until ctx
// ends. f must have had no effect when it reports SQLITE_BUSY, which holds
// for a single statement or a BEGIN.
func retryBusy(ctx context.Context, f func() error) error {
	return retryWhile(ctx, isBusy, f)
}

// retryWhile is retryBusy for the errors busy recognises.
func retryWhile(ctx context.Context, busy func(error) bool, f func() error) error {
	err := f()
	if err == nil || !busy(err) {
		return err
	}
	deadline := time.Now().Add(BusyTimeout) // a wait bound, not a record time
	wait := 20 * time.Microsecond
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting for a lock: %v)", ctx.Err(), err)
		case <-timer.C:
		}
		if err = f(); err == nil || !busy(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the database stayed locked for %v; another connection is writing without pause or holds a transaction open: %w", BusyTimeout, err)
		}
		wait = min(2*wait, time.Millisecond)
	}
}

// lockWriter takes this process's writer slot, or fails when ctx ends first.
func (s *Store) lockWriter(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// nanos encodes t as Unix nanoseconds. The zero time maps to MinInt64 and
// back. t must have passed store.CheckTime, which every operation applies
// first: the table keeps exactly the range store.MinTime to store.MaxTime.
func nanos(t time.Time) int64 { return sqlexpr.Nanos(t) }

func fromNanos(n int64) time.Time { return sqlexpr.Time(n) }

// row is a scanned idem_records row.
type row struct {
	rec   store.Record
	state int64 // raw state column; tombstone for a removed record
	// lease and retain are the raw lease_until and retain_until columns.
	lease, retain int64
}

type scanner interface{ Scan(dest ...any) error }

// scanned holds what scan reads: its fields are the scan destinations,
// together in one allocation (each destination passed to Scan escapes).
type scanned struct {
	r                          row
	fp, owner                  sql.RawBytes
	result, parts              []byte
	attempts, created, updated int64
}

// scan reads one row of sqlSelect.
func scan(sc scanner, key store.Key) (row, bool, error) {
	d := new(scanned)
	r := &d.r
	dest := [...]any{&r.rec.Namespace, &d.fp, &r.state, &d.owner, &r.rec.Token,
		&r.lease, &r.retain, &d.result, &d.attempts, &d.created, &d.updated, &d.parts}
	if err := sc.Scan(dest[:]...); err != nil {
		return row{}, false, err
	}
	if len(d.fp) != len(r.rec.Fingerprint) || len(d.owner) != len(r.rec.Owner) {
		return row{}, false, fmt.Errorf("corrupt record for key %s: fingerprint of %d bytes, owner of %d bytes; delete the row", key, len(d.fp), len(d.owner))
	}
	r.rec.Key = key
	copy(r.rec.Fingerprint[:], d.fp)
	copy(r.rec.Owner[:], d.owner)
	r.rec.State = store.State(r.state)
	r.rec.LeaseUntil = fromNanos(r.lease)
	r.rec.RetainUntil = fromNanos(r.retain)
	r.rec.Result = d.result
	r.rec.Attempts = int(d.attempts)
	r.rec.CreatedAt = fromNanos(d.created)
	r.rec.UpdatedAt = fromNanos(d.updated)
	r.rec.FingerprintParts = d.parts
	return *r, true, nil
}

// scanRows reads the one row of rs (a query by primary key) and closes rs.
// found is false when there is no row for the key.
func scanRows(rs *sql.Rows, key store.Key) (r row, found bool, err error) {
	defer rs.Close()
	if !rs.Next() {
		return row{}, false, rs.Err()
	}
	if r, found, err = scan(rs, key); err != nil {
		return row{}, false, err
	}
	return r, found, rs.Close()
}

// action is the write a claim needs: the protocol's store.Change.
type action = store.Change

const (
	noWrite   = store.NoChange
	grantNew  = store.Grant             // write the whole record (new, replaced, or taken over)
	extend    = store.ExtendLease       // same owner again: extend the lease
	markIndet = store.MarkIndeterminate // expired lease without Takeover: mark indeterminate
)

// decide applies the claim protocol (store.Decide) to the key's row: r,
// and found false when the file has none; a tombstone or a record past its
// retention keeps the token sequence but no longer counts.
func decide(r row, found bool, req store.ClaimRequest) (store.ClaimResult, action) {
	live := found && r.state != tombstone && r.rec.RetainUntil.After(req.Now)
	return store.Decide(r.rec, found, live, req)
}

// Claim implements store.Store. An answer that leaves the record unchanged
// is served by one read; a grant, a lease extension or a mark as
// indeterminate is decided again and written under the write lock, in a
// group commit with the claims that wait at the same time (see
// claimGrouped).
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	if err := store.CheckClaimTimes(req); err != nil {
		return store.ClaimResult{}, fmt.Errorf("sqlitestore: claim key %s: %w", req.Key, err)
	}
	if err := s.init(ctx); err != nil {
		return store.ClaimResult{}, fmt.Errorf("sqlitestore: claim key %s: %w", req.Key, err)
	}
	r, found, err := s.read(ctx, req.Key)
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("sqlitestore: claim key %s: %w", req.Key, err)
	}
	res, act := decide(r, found, req)
	if act == noWrite {
		return res, nil
	}
	res, err = s.claimGrouped(ctx, req)
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("sqlitestore: claim key %s: %w", req.Key, err)
	}
	return res, nil
}

// read returns the row of key, tombstone or not.
func (s *Store) read(ctx context.Context, key store.Key) (r row, found bool, err error) {
	st := s.stmts[sqlSelect]
	r, found, err = readOnce(ctx, st, key)
	if err == nil || !isBusy(err) {
		return r, found, err
	}
	err = retryBusy(ctx, func() error {
		r, found, err = readOnce(ctx, st, key)
		return err
	})
	return r, found, err
}

// readOnce runs the prepared sqlSelect st once.
func readOnce(ctx context.Context, st *sql.Stmt, key store.Key) (row, bool, error) {
	rs, err := st.QueryContext(ctx, key[:])
	if err != nil {
		return row{}, false, err
	}
	return scanRows(rs, key)
}

// exec runs the prepared statement q with args, waiting for another
// connection's write lock, and returns how many rows it changed. The
// caller holds the writer slot.
func (s *Store) exec(ctx context.Context, q string, args []any) (n int64, err error) {
	st := s.stmts[q]
	if lst, ok := s.lazyStmts[q]; ok {
		st = lst
	}
	err = retryBusy(ctx, func() error {
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// querier is what a claim needs of a connection or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// claimLocked reads the row of req.Key through q, decides and writes the
// decision. q must hold the database's write lock already, so that nothing
// changes between the read and the write.
func claimLocked(ctx context.Context, q querier, req store.ClaimRequest) (store.ClaimResult, error) {
	if err := store.CheckClaimTimes(req); err != nil {
		return store.ClaimResult{}, err
	}
	rs, err := q.QueryContext(ctx, sqlSelect, req.Key[:])
	if err != nil {
		return store.ClaimResult{}, err
	}
	r, found, err := scanRows(rs, req.Key)
	if err != nil {
		return store.ClaimResult{}, err
	}
	res, act := decide(r, found, req)
	rec := res.Record
	switch act {
	case grantNew:
		_, err = q.ExecContext(ctx, sqlUpsert, grantArgs(rec)...)
	case extend:
		_, err = q.ExecContext(ctx, sqlClaimLease, nanos(rec.LeaseUntil), nanos(rec.RetainUntil), nanos(rec.UpdatedAt), req.Key[:])
	case markIndet:
		_, err = q.ExecContext(ctx, sqlClaimMark, nanos(rec.UpdatedAt), req.Key[:])
	}
	if err != nil {
		return store.ClaimResult{}, err
	}
	return res, nil
}

// grantArgs are the parameters of sqlInsert (and so of sqlUpsert and
// sqlInsertNew) that write the in-progress record rec.
func grantArgs(rec store.Record) []any {
	return []any{rec.Key[:], rec.Namespace, rec.Fingerprint[:], rec.Owner[:], rec.Token,
		nanos(rec.LeaseUntil), nanos(rec.RetainUntil), rec.Attempts, nanos(rec.CreatedAt), nanos(rec.UpdatedAt),
		nullBytes(rec.FingerprintParts)}
}

// nullBytes is b, or NULL for no bytes.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// fencedWrite runs one conditional UPDATE and maps "no row" to ErrFenced.
func (s *Store) fencedWrite(ctx context.Context, op string, key store.Key, f store.Fence, q string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.init(ctx); err != nil {
		return fmt.Errorf("sqlitestore: %s key %s: %w", op, key, err)
	}
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return err
	}
	args = append(args, key[:], f.Owner[:], f.Token)
	n, err := s.exec(ctx, q, args)
	unlock()
	if err != nil {
		return fmt.Errorf("sqlitestore: %s key %s: %w", op, key, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: %s key %s (owner %s, token %d): %w", op, key, f.Owner, f.Token, store.ErrFenced)
	}
	if err := s.synced(ctx, q); err != nil {
		return fmt.Errorf("sqlitestore: %s key %s: %w", op, key, err)
	}
	return nil
}

// synced returns once a write of statement q that committed is as durable
// as the store's durability says: at once, or after an fsync of the log
// (for a store made by Open). q is "" for a claim.
func (s *Store) synced(ctx context.Context, q string) error {
	if s.wal == nil || s.opts.durability == store.DurableClaims && slices.Contains(lazyWrites, q) {
		return nil
	}
	return s.wal.sync(ctx)
}

// Complete implements store.Store.
func (s *Store) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("sqlitestore: complete key %s: %w", key, err)
	}
	if result == nil {
		result = []byte{}
	}
	return s.fencedWrite(ctx, "complete", key, f, sqlComplete, result, nanos(retainUntil))
}

// Release implements store.Store. The row becomes a tombstone that Get and
// Claim treat as absent.
func (s *Store) Release(ctx context.Context, key store.Key, f store.Fence) error {
	return s.fencedWrite(ctx, "release", key, f, sqlRelease)
}

// MarkIndeterminate implements store.Store.
func (s *Store) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retainUntil time.Time) error {
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("sqlitestore: mark indeterminate key %s: %w", key, err)
	}
	return s.fencedWrite(ctx, "mark indeterminate", key, f, sqlIndeterminate, nanos(retainUntil))
}

// Renew implements store.Store: it sets the lease and shifts the retention
// with it (store.ShiftRetention), in one conditional UPDATE.
func (s *Store) Renew(ctx context.Context, key store.Key, f store.Fence, leaseUntil time.Time) error {
	if err := store.CheckTime("leaseUntil", leaseUntil); err != nil {
		return fmt.Errorf("sqlitestore: renew key %s: %w", key, err)
	}
	return s.fencedWrite(ctx, "renew", key, f, sqlRenew, nanos(leaseUntil))
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := s.init(ctx); err != nil {
		return store.Record{}, fmt.Errorf("sqlitestore: get key %s: %w", key, err)
	}
	r, found, err := s.read(ctx, key)
	if err != nil {
		return store.Record{}, fmt.Errorf("sqlitestore: get key %s: %w", key, err)
	}
	if !found || r.state == tombstone {
		return store.Record{}, fmt.Errorf("sqlitestore: get key %s: %w", key, store.ErrNotFound)
	}
	return r.rec, nil
}

// Delete implements store.Store. The row becomes a tombstone, like a
// released one, until Sweep removes it after its retention.
func (s *Store) Delete(ctx context.Context, key store.Key) error {
	if err := s.init(ctx); err != nil {
		return fmt.Errorf("sqlitestore: delete key %s: %w", key, err)
	}
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return err
	}
	err = retryBusy(ctx, func() error {
		_, err := s.stmts[sqlDelete].ExecContext(ctx, key[:])
		return err
	})
	unlock()
	if err == nil {
		err = s.synced(ctx, sqlDelete)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: delete key %s: %w", key, err)
	}
	return nil
}

// Sweep implements store.Sweeper. It deletes rows whose retention is not
// after now, except in-progress records, in batches of a thousand, each its own transaction, and counts
// the records among them (tombstones are deleted but not counted). If it
// fails partway, the batches already deleted stay deleted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := store.CheckTime("now", now); err != nil {
		return 0, fmt.Errorf("sqlitestore: sweep: %w", err)
	}
	if err := s.init(ctx); err != nil {
		return 0, fmt.Errorf("sqlitestore: sweep: %w", err)
	}
	total := 0
	for {
		n, rows, err := s.sweepBatch(ctx, now)
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlitestore: sweep: %w", err)
		}
		if rows < sweepBatch {
			if err := s.synced(ctx, "sweep"); err != nil {
				return total, fmt.Errorf("sqlitestore: sweep: %w", err)
			}
			return total, nil
		}
	}
}

// sweepBatch deletes up to sweepBatch expired rows and returns how many of
// them were records and how many rows it deleted.
func (s *Store) sweepBatch(ctx context.Context, now time.Time) (records, rows int, err error) {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	err = retryBusy(ctx, func() error {
		records, rows = 0, 0
		rs, err := s.db.QueryContext(ctx, sqlSweep, nanos(now), sweepBatch)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var state int64
			if err := rs.Scan(&state); err != nil {
				return err
			}
			rows++
			if state != tombstone {
				records++
			}
		}
		if err := rs.Err(); err != nil {
			return err
		}
		return rs.Close()
	})
	if err != nil {
		return 0, 0, err
	}
	return records, rows, nil
}

// Close implements store.Store. It closes the prepared statements and, for a
// store made by Open, the database; a database passed to New stays open.
// Operations must have returned before Close is called; afterwards they fail.
func (s *Store) Close() error {
	s.initMu.Lock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	for _, st := range s.lazyStmts {
		errs = append(errs, st.Close())
	}
	s.lazyStmts = nil
	if s.lazy != nil {
		errs = append(errs, s.lazy.Close())
		s.lazy = nil
	}
	if s.wal != nil {
		errs = append(errs, s.wal.close())
	}
	s.closed = true
	s.ready.Store(false)
	s.initMu.Unlock()
	if s.ownsDB {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// missingTable reports whether err, returned by a statement on q, is due to
// a missing idem_records table: SQLite reports that only as the generic
// SQLITE_ERROR, so the table's absence is checked in the schema rather than
// read from the message.
func missingTable(ctx context.Context, q querier, err error) bool {
	if c, ok := primaryCode(err); !ok || c != sqlite3.SQLITE_ERROR {
		return false
	}
	rs, qerr := q.QueryContext(ctx, `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'idem_records'`)
	if qerr != nil {
		return false
	}
	defer rs.Close()
	return !rs.Next() && rs.Err() == nil
}

// missingParts reports whether err, returned by a statement on q, may be
// due to a table created before the fingerprint_parts column existed.
func missingParts(ctx context.Context, q querier, err error) bool {
	if c, ok := primaryCode(err); !ok || c != sqlite3.SQLITE_ERROR {
		return false
	}
	var has bool
	if rs, qerr := q.QueryContext(ctx, sqldialect.SQLiteHasParts, "idem_records"); qerr == nil {
		defer rs.Close()
		if rs.Next() && rs.Scan(&has) == nil {
			return !has
		}
	}
	return false
}
