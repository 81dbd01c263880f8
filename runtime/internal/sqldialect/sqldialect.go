// Package sqldialect keeps the records of the db effect in the caller's own
// database through database/sql, for the drivers it knows, without
// importing them. A dialect is data: its statements, the schema it creates
// when the table is missing, and the error codes that say a transaction
// rolled back and a new one may succeed. Errors are classified through the
// methods the drivers' error types have (Code() int for modernc.org/sqlite,
// SQLState() string for pgx) or their exported fields, read by reflection
// (github.com/mattn/go-sqlite3, github.com/go-sql-driver/mysql), never by
// their text (one exception: the MySQL driver's ErrInvalidConn, see
// mysqlInvalidConn).
//
// The table is the one the stores use (runtime/sqlitestore's Schema,
// runtime/pgstore's Schema; MySQL has no store, only the db effect), so a
// store on the same database sees the records; the claim applies
// store.Decide to the key's row, read under the database's write lock
// (SQLite) or a row lock (PostgreSQL, MySQL).
package sqldialect

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idem-go/idem/runtime/internal/sqlexpr"
	"github.com/idem-go/idem/runtime/store"
)

// Dialect is what the db effect needs to know of one database/sql driver.
type Dialect struct {
	// Name is the database's name, for messages.
	Name string
	// Driver is the import path of the database/sql driver.
	Driver string

	legacy      *Dialect // the same without the fingerprint_parts column (ForDB)
	schema      []string // create the tables, idempotently: one Exec each
	migrateLock string   // PostgreSQL: serializes migrations with pgstore's
	// hasParts selects whether the table has the fingerprint_parts
	// column, which addParts adds to a table created before it existed.
	hasParts, addParts string
	table              string // the table, as hasParts takes it
	insertFirst        bool   // SQLite: a claim's first statement is the insert, which takes the write lock
	// sel reads the key's row under the claim's lock (SQLite's write
	// lock, or a row lock); peek, when the dialect locks rows, reads it
	// without, so that a replay takes no lock.
	sel, peek, insert, grant, extend, mark, complete stmt

	// drawToken, for a database without RETURNING (MySQL), draws the
	// token of a grant before the write: its insert then only makes sure
	// the key has a row, which it locks, and the claim reads that row.
	drawToken func(ctx context.Context, tx *sql.Tx) (int64, error)

	missingTable func(error) bool
	transient    func(error) bool
	busy         func(error) bool // the statement did nothing, and waiting may let it through
}

// dialects are the supported drivers, by the package path of their
// driver type. A dialect is the database's SQL and error codes; drivers of
// one database share it.
var dialects = map[string]*Dialect{
	sqlite.Driver:       sqlite,
	mattnSQLite:         sqlite.forDriver(mattnSQLite),
	libsqlDriver:        libsql,
	postgres.Driver:     postgres,
	"github.com/lib/pq": postgres.forDriver("github.com/lib/pq"),
	mysql.Driver:        mysql,
}

// forDriver returns d for another driver of the same database.
func (d *Dialect) forDriver(path string) *Dialect {
	c, l := *d, *d.legacy
	c.Driver, l.Driver = path, path
	c.legacy, l.legacy = &l, &l
	return &c
}

// classify sets how d and its dialect without the fingerprint parts
// classify errors.
func (d *Dialect) classify(missingTable, transient, busy func(error) bool) {
	for _, x := range []*Dialect{d, d.legacy} {
		x.missingTable, x.transient, x.busy = missingTable, transient, busy
	}
}

// Supported lists the supported drivers, for messages: "modernc.org/sqlite
// (SQLite), …".
func Supported() string {
	var names []string
	for path, d := range dialects {
		names = append(names, path+" ("+d.Name+")")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// For returns the dialect of db's driver, or an error naming the supported
// drivers.
func For(db *sql.DB) (*Dialect, error) {
	t := reflect.TypeOf(db.Driver())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if d, ok := dialects[t.PkgPath()]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("the db effect supports *sql.DB handles of the drivers %s, not %T (package %s); use one of them, or the pgx pool wrapper (a pgx.Tx parameter)", Supported(), db.Driver(), t.PkgPath())
}

// MissingTable reports whether err, returned by Claim, may mean that the
// records table does not exist yet: then Migrate, and claim once more.
func (d *Dialect) MissingTable(err error) bool { return d.missingTable(err) }

// Transient reports whether err says that the transaction rolled back
// (or never began) for a reason a new transaction may not meet:
// serialization failures, deadlocks, a busy database, a server shutting
// down, a lost connection.
func (d *Dialect) Transient(err error) bool { return d.transient(err) || ConnectionLost(err) }

// ConnectionLost reports errors that say the connection to the database
// failed (database/sql's driver.ErrBadConn, or a network error): a
// transaction on it that had not committed rolled back.
func ConnectionLost(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.As(err, &ne)
}

// Migrate creates the records table in db if it does not exist, and adds
// the fingerprint_parts column to a table created before it existed. When
// the column cannot be added (a role that may not alter the table), the
// table works without it: ForDB answers the dialect without the parts for
// db from then on, and Migrate succeeds.
func (d *Dialect) Migrate(ctx context.Context, db *sql.DB) error {
	err := d.migrate(ctx, db)
	if errors.Is(err, errAddParts) {
		noParts.Store(db, true)
		return nil
	}
	return err
}

// errAddParts marks a migration that failed to add the fingerprint_parts
// column to an existing table.
var errAddParts = errors.New("add the fingerprint_parts column")

// noParts holds the databases (*sql.DB) whose table lacks the
// fingerprint_parts column and could not get it.
var noParts sync.Map

// ForDB returns d for db: d, or d without the fingerprint parts when db's
// table could not get the column (see Migrate).
func (d *Dialect) ForDB(db *sql.DB) *Dialect {
	if _, ok := noParts.Load(db); ok {
		return d.legacy
	}
	return d
}

func (d *Dialect) migrate(ctx context.Context, db *sql.DB) error {
	if d.migrateLock == "" {
		for _, q := range d.schema {
			if err := d.waitBusy(ctx, func() error {
				_, err := db.ExecContext(ctx, q)
				return err
			}); err != nil {
				return err
			}
		}
		// SQLite and MySQL have no ADD COLUMN IF NOT EXISTS: an ALTER
		// that lost a race with another connection's is recognised by
		// looking again.
		if has, err := d.queryHasParts(ctx, db); err != nil || has {
			return err
		}
		err := d.waitBusy(ctx, func() error {
			_, err := db.ExecContext(ctx, d.addParts)
			return err
		})
		if has, herr := d.queryHasParts(ctx, db); err != nil && herr == nil && has {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errAddParts, err)
		}
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, d.migrateLock); err != nil {
		return err
	}
	// The column first: the ALTER's exclusive lock is then the
	// transaction's first lock on the table, never an upgrade of the
	// share lock CREATE INDEX takes, which could deadlock with a claim.
	var exists bool
	if err := tx.QueryRowContext(ctx, PostgresHasTable, d.table).Scan(&exists); err != nil {
		return err
	}
	if exists {
		has, err := d.queryHasParts(ctx, tx)
		if err != nil {
			return err
		}
		if !has {
			if _, err := tx.ExecContext(ctx, PostgresAlterLockTimeout); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, d.addParts); err != nil {
				return fmt.Errorf("%w: %w", errAddParts, err)
			}
		}
	}
	for _, q := range d.schema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// queryHasParts reports whether the table has the fingerprint_parts
// column.
func (d *Dialect) queryHasParts(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (bool, error) {
	var has bool
	err := d.waitBusy(ctx, func() error {
		return q.QueryRowContext(ctx, d.hasParts, d.table).Scan(&has)
	})
	return has, err
}

// maxClaimTries bounds how often a claim reads again because a concurrent
// transaction inserted the key between its read and its insert.
const maxClaimTries = 16

// tombstone is the state of a SQLite row that a release or delete left to
// continue the key's token sequence; it counts as no record.
const tombstone = 0

// Claim claims req.Key in tx with the rules of store.Decide: the record is
// written in tx and commits or rolls back with it.
func (d *Dialect) Claim(ctx context.Context, tx *sql.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	if err := store.CheckClaimTimes(req); err != nil {
		return store.ClaimResult{}, fmt.Errorf("claim key %s: %w", req.Key, err)
	}
	if d.insertFirst {
		// A write first, so that SQLite's deferred transaction takes the
		// write lock before it reads anything.
		res, ok, err := d.insertNew(ctx, tx, req)
		if err != nil || ok {
			return res, err
		}
	}
	if d.peek.text != "" {
		cur, found, live, err := d.read(ctx, tx, d.peek, req)
		if err != nil {
			return store.ClaimResult{}, err
		}
		// A completed or indeterminate record within its retention
		// changes only when an operator deletes it: answer from the
		// snapshot, without a lock. Anything else is decided under the
		// row's lock.
		if live && cur.State != store.StateInProgress {
			return store.ClaimResult{Record: cur}, nil
		}
		if !found {
			res, ok, err := d.insertNew(ctx, tx, req)
			if err != nil || ok {
				return res, err
			}
		}
	}
	for range maxClaimTries {
		cur, found, live, err := d.read(ctx, tx, d.sel, req)
		if err != nil {
			return store.ClaimResult{}, err
		}
		res, change := store.Decide(cur, found, live, req)
		rec := &res.Record
		switch {
		case change == store.NoChange:
			return res, nil
		case change == store.Grant && !found:
			res, ok, err := d.insertNew(ctx, tx, req)
			if err != nil || ok {
				return res, err
			}
			continue // a concurrent transaction inserted the key: read it
		case change == store.Grant:
			err = d.writeGrant(ctx, tx, &rec.Token, args{"key": req.Key[:], "namespace": rec.Namespace, "fingerprint": rec.Fingerprint[:],
				"owner": rec.Owner[:], "token": rec.Token, "lease": nanos(rec.LeaseUntil), "retain": nanos(rec.RetainUntil),
				"attempts": rec.Attempts, "created": nanos(rec.CreatedAt), "now": nanos(rec.UpdatedAt),
				"parts": nullBytes(rec.FingerprintParts)})
		case change == store.ExtendLease:
			_, err = d.extend.exec(ctx, tx, args{"key": req.Key[:], "lease": nanos(rec.LeaseUntil), "retain": nanos(rec.RetainUntil),
				"now": nanos(rec.UpdatedAt)})
		case change == store.MarkIndeterminate:
			_, err = d.mark.exec(ctx, tx, args{"key": req.Key[:], "now": nanos(rec.UpdatedAt)})
		}
		if err != nil {
			return store.ClaimResult{}, fmt.Errorf("claim key %s: %w", req.Key, err)
		}
		return res, nil
	}
	return store.ClaimResult{}, fmt.Errorf("claim key %s: the row changed under %d consecutive attempts; too many concurrent claims of one key", req.Key, maxClaimTries)
}

// read reads the row of req.Key through st (sel or peek): the record,
// whether the key has a row, and whether the row counts as a record (not a
// tombstone, and within its retention at req.Now).
func (d *Dialect) read(ctx context.Context, tx *sql.Tx, st stmt, req store.ClaimRequest) (cur store.Record, found, live bool, err error) {
	var r row
	if found, err = st.queryRow(ctx, tx, args{"key": req.Key[:]}).scan(&r); err != nil {
		return cur, false, false, fmt.Errorf("read key %s: %w", req.Key, err)
	}
	if cur, err = r.record(req.Key); err != nil {
		return cur, false, false, err
	}
	return cur, found, found && r.state != tombstone && cur.RetainUntil.After(req.Now), nil
}

// insertNew writes a fresh grant of req.Key if the key has no row, and
// reports whether it did.
func (d *Dialect) insertNew(ctx context.Context, tx *sql.Tx, req store.ClaimRequest) (store.ClaimResult, bool, error) {
	res, _ := store.Decide(store.Record{}, false, false, req)
	rec := &res.Record
	var ok bool
	err := d.waitBusy(ctx, func() error {
		a := args{"key": req.Key[:], "namespace": rec.Namespace, "fingerprint": rec.Fingerprint[:],
			"owner": rec.Owner[:], "token": rec.Token, "lease": nanos(rec.LeaseUntil), "retain": nanos(rec.RetainUntil),
			"now": nanos(rec.CreatedAt), "parts": nullBytes(rec.FingerprintParts)}
		if d.drawToken != nil {
			// The statement inserts the row or locks the key's; the
			// claim then reads it under that lock (ok stays false).
			if err := d.draw(ctx, tx, a); err != nil {
				return err
			}
			_, err := d.insert.exec(ctx, tx, a)
			return err
		}
		var err error
		ok, err = d.insert.queryRow(ctx, tx, a).scan(&rec.Token)
		return err
	})
	if err != nil {
		return store.ClaimResult{}, false, fmt.Errorf("claim key %s: %w", req.Key, err)
	}
	return res, ok, nil
}

// writeGrant writes a grant to the row the claim holds locked and sets
// *token to the token it wrote: the one the grant returns, or, where the
// dialect draws tokens, the one drawn for it.
func (d *Dialect) writeGrant(ctx context.Context, tx *sql.Tx, token *int64, a args) error {
	if d.drawToken == nil {
		return d.grant.queryRow(ctx, tx, a).scanToken(token)
	}
	if err := d.draw(ctx, tx, a); err != nil {
		return err
	}
	n, err := d.grant.exec(ctx, tx, a)
	if err == nil && n == 0 {
		err = errGrantVanished
	}
	if err == nil {
		*token = a["token"].(int64)
	}
	return err
}

// draw sets a's token to one drawToken draws, or to the one store.Decide
// put there (the key's row's token plus one) if that is larger: a drawn
// token exceeds every token drawn before it from one server, and the
// row's keeps the key's tokens increasing where servers draw from
// interleaved ranges (a multi-primary cluster's auto_increment_offset).
func (d *Dialect) draw(ctx context.Context, tx *sql.Tx, a args) error {
	t, err := d.drawToken(ctx, tx)
	if err != nil {
		return fmt.Errorf("draw a fencing token: %w", err)
	}
	a["token"] = max(t, a["token"].(int64))
	return nil
}

var errGrantVanished = errors.New("the row to grant vanished under the claim's lock")

// Complete records result for key in tx, moves the record to completed and
// sets its retention, only if it is in progress under exactly f; otherwise
// it fails with store.ErrFenced and writes nothing.
func (d *Dialect) Complete(ctx context.Context, tx *sql.Tx, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("complete key %s: %w", key, err)
	}
	if result == nil {
		result = []byte{}
	}
	n, err := d.complete.exec(ctx, tx, args{"key": key[:], "owner": f.Owner[:], "token": f.Token, "result": result, "retain": nanos(retainUntil)})
	if err != nil {
		return fmt.Errorf("complete key %s: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("complete key %s (owner %s, token %d): %w", key, f.Owner, f.Token, store.ErrFenced)
	}
	return nil
}

// busyTimeout bounds how long a statement waits for another connection's
// lock; it is sqlitestore.BusyTimeout.
const busyTimeout = 5 * time.Second

// waitBusy runs f until it returns anything but an error d.busy
// recognises, polling with jittered waits from 20 µs up to 1 ms, for at
// most busyTimeout or until ctx ends. f must have had no effect when it
// reports such an error.
func (d *Dialect) waitBusy(ctx context.Context, f func() error) error {
	err := f()
	if err == nil || d.busy == nil || !d.busy(err) {
		return err
	}
	deadline := time.Now().Add(busyTimeout)
	wait := 20 * time.Microsecond
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting for a lock: %w)", ctx.Err(), err)
		case <-timer.C:
		}
		if err = f(); err == nil || !d.busy(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the database stayed locked for %v; another connection is writing without pause or holds a transaction open: %w", busyTimeout, err)
		}
		wait = min(2*wait, time.Millisecond)
	}
}

// nanos is a time as the table keeps it: Unix nanoseconds, the zero time
// as math.MinInt64, as the stores keep them. t must have passed
// store.CheckTime, which Claim and Complete apply first.
func nanos(t time.Time) int64 { return sqlexpr.Nanos(t) }

func fromNanos(n int64) time.Time { return sqlexpr.Time(n) }

// row is a scanned row of sel.
type row struct {
	namespace                                               string
	fingerprint, owner, result, parts                       []byte
	state, token, lease, retain, attempts, created, updated int64
}

func (r *row) dest() []any {
	return []any{&r.namespace, &r.fingerprint, &r.state, &r.owner, &r.token, &r.lease, &r.retain, &r.result, &r.attempts, &r.created, &r.updated, &r.parts}
}

// nullBytes is b, or NULL for no bytes.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// record is r as a store.Record (the zero Record for no row).
func (r *row) record(key store.Key) (store.Record, error) {
	var rec store.Record
	if r.fingerprint == nil {
		return rec, nil
	}
	if len(r.fingerprint) != len(rec.Fingerprint) || len(r.owner) != len(rec.Owner) {
		return rec, fmt.Errorf("corrupt record for key %s: fingerprint of %d bytes, owner of %d bytes; delete the row", key, len(r.fingerprint), len(r.owner))
	}
	rec.Key = key
	rec.Namespace = r.namespace
	copy(rec.Fingerprint[:], r.fingerprint)
	copy(rec.Owner[:], r.owner)
	rec.State = store.State(r.state)
	rec.Token = r.token
	rec.LeaseUntil, rec.RetainUntil = fromNanos(r.lease), fromNanos(r.retain)
	rec.Result = r.result
	rec.Attempts = int(r.attempts)
	rec.CreatedAt, rec.UpdatedAt = fromNanos(r.created), fromNanos(r.updated)
	rec.FingerprintParts = r.parts
	return rec, nil
}

// stmt is a statement with named parameters (@name), bound positionally in
// the dialect's placeholder style.
type stmt struct {
	text  string
	names []string // the name of each positional parameter
}

// args are a statement's parameters by name.
type args map[string]any

// compile turns the @name parameters of q into placeholder(1),
// placeholder(2), …; a name used twice is one parameter. A nil placeholder
// writes a "?" for every use, each bound on its own (MySQL).
func compile(q string, placeholder func(int) string) stmt {
	var s stmt
	var b strings.Builder
	for {
		i := strings.IndexByte(q, '@')
		if i < 0 {
			b.WriteString(q)
			break
		}
		b.WriteString(q[:i])
		q = q[i+1:]
		j := 0
		for j < len(q) && (q[j] == '_' || 'a' <= q[j] && q[j] <= 'z') {
			j++
		}
		name := q[:j]
		q = q[j:]
		if placeholder == nil {
			s.names = append(s.names, name)
			b.WriteByte('?')
			continue
		}
		n := -1
		for k, have := range s.names {
			if have == name {
				n = k
			}
		}
		if n < 0 {
			s.names = append(s.names, name)
			n = len(s.names) - 1
		}
		b.WriteString(placeholder(n + 1))
	}
	s.text = b.String()
	return s
}

func (s stmt) bind(a args) []any {
	out := make([]any, len(s.names))
	for i, n := range s.names {
		v, ok := a[n]
		if !ok {
			panic("sqldialect: statement parameter @" + n + " has no value")
		}
		out[i] = v
	}
	return out
}

func (s stmt) exec(ctx context.Context, tx *sql.Tx, a args) (int64, error) {
	res, err := tx.ExecContext(ctx, s.text, s.bind(a)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type rowResult struct{ *sql.Row }

func (s stmt) queryRow(ctx context.Context, tx *sql.Tx, a args) rowResult {
	return rowResult{tx.QueryRowContext(ctx, s.text, s.bind(a)...)}
}

// scan scans the row into r (a *row or an *int64) and reports whether
// there was one.
func (r rowResult) scan(into any) (bool, error) {
	var err error
	switch v := into.(type) {
	case *row:
		err = r.Scan(v.dest()...)
	default:
		err = r.Scan(v)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// scanToken scans the token a grant returns; no row is an error, since
// the claim holds the row's lock.
func (r rowResult) scanToken(token *int64) error {
	ok, err := r.scan(token)
	if err == nil && !ok {
		err = errGrantVanished
	}
	return err
}

// The statements, in every dialect. {token} is how a grant gets its token:
// the one store.Decide computed or the dialect drew (@token), or the
// sequence's next value; {conflict} ends the insert (do nothing when the key
// has a row, and return the token), {returning} the grant (return the
// token): see syntax.
const (
	columns = `namespace, fingerprint, state, owner, token, lease_until, retain_until, result, attempts, created_at, updated_at, fingerprint_parts`
	selSQL  = `SELECT ` + columns + ` FROM idem_records WHERE key = @key`
	// insertSQL writes a fresh grant of a key without a row and does
	// nothing when it has one.
	insertSQL = `INSERT INTO idem_records (key, ` + columns + `)
VALUES (@key, @namespace, @fingerprint, 1, @owner, {token}, @lease, @retain, NULL, 1, @now, @now, @parts)
{conflict}`
	// grantSQL, extendSQL and markSQL write the row the claim read under
	// its lock.
	grantSQL = `UPDATE idem_records SET namespace = @namespace, fingerprint = @fingerprint, state = 1, owner = @owner,
	token = {token}, lease_until = @lease, retain_until = @retain, result = NULL, attempts = @attempts,
	created_at = @created, updated_at = @now, fingerprint_parts = @parts
WHERE key = @key{returning}`
	extendSQL   = `UPDATE idem_records SET lease_until = @lease, retain_until = @retain, updated_at = @now WHERE key = @key`
	markSQL     = `UPDATE idem_records SET state = 3, updated_at = @now WHERE key = @key`
	completeSQL = `UPDATE idem_records SET state = 2, result = @result, retain_until = @retain
WHERE key = @key AND owner = @owner AND token = @token AND state = 1`
)

// syntax is how a dialect's SQL differs in the statements' templates.
type syntax struct {
	placeholder func(int) string // the n-th parameter; nil: "?" for each use
	token       string           // {token}
	lockRow     string           // ends sel: the row lock, where the dialect locks rows
	conflict    string           // {conflict}
	returning   string           // {returning}
	keyColumn   string           // how the column key is written, where the word is reserved
}

// The insert's and grant's endings in SQLite and PostgreSQL, which return
// the token they wrote.
const (
	onConflictReturning = "ON CONFLICT (key) DO NOTHING RETURNING token"
	returningToken      = " RETURNING token"
)

// keyWord is the column key in a compiled statement (whose @key
// parameters are placeholders by then).
var keyWord = regexp.MustCompile(`\bkey\b`)

// build fills d's statements from the templates, and d.legacy's, the
// same without the fingerprint_parts column.
func (d *Dialect) build(s syntax) *Dialect {
	legacy := *d
	d.fill(s, strings.NewReplacer("{token}", s.token, "{conflict}", s.conflict, "{returning}", s.returning))
	legacy.fill(s, strings.NewReplacer("{token}", s.token, "{conflict}", s.conflict, "{returning}", s.returning,
		"updated_at, fingerprint_parts)", "updated_at)", "@now, @parts)", "@now)",
		", fingerprint_parts = @parts", "", "updated_at, fingerprint_parts FROM", "updated_at, NULL FROM"))
	legacy.legacy = &legacy
	d.legacy = &legacy
	return d
}

// fill compiles d's statements from the templates through r.
func (d *Dialect) fill(s syntax, r *strings.Replacer) {
	c := func(q string) stmt {
		st := compile(r.Replace(q), s.placeholder)
		if s.keyColumn != "" {
			st.text = keyWord.ReplaceAllLiteralString(st.text, s.keyColumn)
		}
		return st
	}
	d.sel = c(selSQL + s.lockRow)
	if s.lockRow != "" {
		d.peek = c(selSQL)
	}
	d.insert = c(insertSQL)
	d.grant = c(grantSQL)
	d.extend = c(extendSQL)
	d.mark = c(markSQL)
	d.complete = c(completeSQL)
}

// SQLite result codes (https://www.sqlite.org/rescode.html), as
// modernc.org/sqlite's *sqlite.Error reports them through Code() int: an
// extended code whose low byte is the primary code.
const (
	sqliteError        = 1        // SQLITE_ERROR: a generic error, "no such table" among them
	sqliteBusy         = 5        // SQLITE_BUSY
	sqliteLocked       = 6        // SQLITE_LOCKED
	sqliteBusySnapshot = 5 | 2<<8 // SQLITE_BUSY_SNAPSHOT: the transaction's snapshot is stale for good
)

// sqliteCode returns the SQLite result code in err's chain:
// modernc.org/sqlite's errors have a method Code() int, and
// github.com/mattn/go-sqlite3's sqlite3.Error an exported field
// ExtendedCode (read by reflection: the runtime does not import the
// driver, which needs cgo).
func sqliteCode(err error) (int, bool) {
	var e interface{ Code() int }
	if errors.As(err, &e) {
		return e.Code(), true
	}
	if f, ok := driverErrorField(err, mattnSQLite, "Error", "ExtendedCode"); ok && f.CanInt() {
		return int(f.Int()), true
	}
	return 0, false
}

// driverErrorField returns the field of the first error in err's tree
// whose type (or the type it points to) is the struct pkg.name: how the
// errors of a driver the runtime does not import are read.
func driverErrorField(err error, pkg, name, field string) (f reflect.Value, ok bool) {
	anyError(err, func(err error) bool {
		v := reflect.ValueOf(err)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if t := v.Type(); v.Kind() == reflect.Struct && t.PkgPath() == pkg && t.Name() == name {
			f = v.FieldByName(field)
			ok = f.IsValid()
		}
		return ok
	})
	return f, ok
}

// anyError reports whether match holds for an error in err's tree, in the
// order errors.As visits it.
func anyError(err error, match func(error) bool) bool {
	for err != nil {
		if match(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if anyError(e, match) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

const mattnSQLite = "github.com/mattn/go-sqlite3"

// libsqlDriver is the package of libSQL's database/sql driver (Turso's
// SQLite fork: local files, and embedded replicas of a Turso database).
const libsqlDriver = "github.com/tursodatabase/go-libsql"

// libsql is SQLite through github.com/tursodatabase/go-libsql. That
// driver's errors carry no result code: they are plain errors whose text
// ends in "SQLite failure: `<sqlite3_errmsg>`", so this dialect reads the
// code from that message (libsqlCode), the one place the package goes by
// an error's text. sqldialect's libsql_test.go pins the messages on real
// errors of the driver, so a release that changes them fails the tests
// instead of turning a busy database into a failed call.
var libsql = func() *Dialect {
	d := sqlite.forDriver(libsqlDriver)
	code := func(err error) int {
		c, _ := libsqlCode(err)
		return c
	}
	// The claim is its transaction's first statement, so its SQLITE_BUSY
	// is never a stale snapshot (which the message could not tell apart):
	// waiting lets it through.
	d.classify(
		func(err error) bool { return code(err) == sqliteError },
		func(err error) bool { c := code(err); return c == sqliteBusy || c == sqliteLocked },
		func(err error) bool { return code(err) == sqliteBusy })
	return d
}()

// libsqlMessages maps the SQLite messages (sqlite3_errstr, and the
// prefixes of sqlite3_errmsg for a missing table or column) that the db
// effect acts on to their primary result codes.
var libsqlMessages = []struct {
	prefix string
	code   int
}{
	{"database is locked", sqliteBusy},
	{"database table is locked", sqliteLocked},
	{"no such table: ", sqliteError},
	// A table created before the fingerprint_parts column: migrated like a
	// missing one.
	{"no such column: ", sqliteError},
	{"table idem_records has no column named ", sqliteError},
}

// libsqlCode returns the primary SQLite result code of the last
// go-libsql error in err's chain, for the messages in libsqlMessages.
func libsqlCode(err error) (int, bool) {
	const mark = "SQLite failure: `"
	if err == nil {
		return 0, false
	}
	text := err.Error()
	i := strings.LastIndex(text, mark)
	if i < 0 {
		return 0, false
	}
	msg := text[i+len(mark):]
	for _, m := range libsqlMessages {
		if strings.HasPrefix(msg, m.prefix) {
			return m.code, true
		}
	}
	return 0, false
}

// statements splits a schema into its statements (each ends with ";" at
// the end of a line), for drivers that run one statement per call.
func statements(schema string) []string {
	var out []string
	for _, s := range strings.SplitAfter(schema, ";\n") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// SQLiteSchema is the SQLite table and index of the records: the db effect
// creates them when they are missing, and runtime/sqlitestore's Schema is
// this (defined once, here, because this package imports no store).
const SQLiteSchema = `CREATE TABLE IF NOT EXISTS idem_records (
	key          BLOB    NOT NULL PRIMARY KEY,
	namespace    TEXT    NOT NULL,
	fingerprint  BLOB    NOT NULL,
	state        INTEGER NOT NULL,
	owner        BLOB    NOT NULL,
	token        INTEGER NOT NULL,
	lease_until  INTEGER NOT NULL,
	retain_until INTEGER NOT NULL,
	result       BLOB,
	attempts     INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	fingerprint_parts BLOB
);
CREATE INDEX IF NOT EXISTS idem_records_retain_until ON idem_records (retain_until);
`

// SQLiteAddParts adds the fingerprint_parts column to a table created
// before it existed; run it when SQLiteHasParts finds none.
const SQLiteAddParts = `ALTER TABLE idem_records ADD COLUMN fingerprint_parts BLOB`

// SQLiteHasParts selects whether the table named by ?1 has the
// fingerprint_parts column; false for a missing table.
const SQLiteHasParts = `SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = 'fingerprint_parts')`

var sqlite = (&Dialect{
	Name:        "SQLite",
	Driver:      "modernc.org/sqlite",
	schema:      statements(SQLiteSchema), // one statement per Exec: go-libsql runs no more
	hasParts:    SQLiteHasParts,
	table:       "idem_records",
	addParts:    SQLiteAddParts,
	insertFirst: true,
	// The table's absence is a generic SQLITE_ERROR; Migrate is harmless
	// when the table exists, and the claim is tried once more only.
	missingTable: func(err error) bool {
		code, ok := sqliteCode(err)
		return ok && code&0xff == sqliteError
	},
	transient: func(err error) bool {
		code, ok := sqliteCode(err)
		return ok && (code&0xff == sqliteBusy || code&0xff == sqliteLocked)
	},
	busy: func(err error) bool {
		code, ok := sqliteCode(err)
		return ok && code&0xff == sqliteBusy && code != sqliteBusySnapshot
	},
}).build(syntax{placeholder: func(n int) string { return "?" + strconv.Itoa(n) }, token: "@token",
	conflict: onConflictReturning, returning: returningToken})

// PostgreSQL SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html),
// as pgx's *pgconn.PgError reports them through SQLState() string.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgAdminShutdown        = "57P01" // the server terminated the session: its transaction rolled back
	pgCrashShutdown        = "57P02"
	pgCannotConnectNow     = "57P03"
	pgUndefinedTable       = "42P01"
	pgUndefinedColumn      = "42703"
	pgUndefinedFunction    = "42883"
	pgConnectionException  = "08" // the class of lost and failed connections
)

// SQLState returns the SQLSTATE in err's chain.
func SQLState(err error) (string, bool) {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState(), true
	}
	return "", false
}

// PostgresTransient reports the PostgreSQL errors after which the
// transaction did not commit and a new one may succeed: serialization
// failures, deadlocks, the server shutting down or refusing connections
// while it starts, and lost connections.
func PostgresTransient(err error) bool {
	code, ok := SQLState(err)
	if !ok {
		return false
	}
	switch code {
	case pgSerializationFailure, pgDeadlockDetected, pgAdminShutdown, pgCrashShutdown, pgCannotConnectNow:
		return true
	}
	return strings.HasPrefix(code, pgConnectionException)
}

// PostgresMissingSchema reports the errors of a claim on a database that
// lacks the records table (or, for pgstore's claim, its claim function).
func PostgresMissingSchema(err error) bool {
	code, _ := SQLState(err)
	return code == pgUndefinedTable || code == pgUndefinedFunction || code == pgUndefinedColumn
}

// postgresSchema is the PostgreSQL table, index and sequence of the
// records, which runtime/pgstore's Schema is (defined once, here, because
// this package imports no store).
const postgresSchema = `CREATE TABLE IF NOT EXISTS "idem_records" (
    key          bytea    NOT NULL PRIMARY KEY CHECK (octet_length(key) = 32),
    namespace    text     NOT NULL,
    fingerprint  bytea    NOT NULL,
    state        smallint NOT NULL CHECK (state IN (1, 2, 3)),
    owner        bytea    NOT NULL,
    token        bigint   NOT NULL,
    lease_until  bigint   NOT NULL,
    retain_until bigint   NOT NULL,
    result       bytea,
    attempts     integer  NOT NULL,
    created_at   bigint   NOT NULL,
    updated_at   bigint   NOT NULL,
    fingerprint_parts bytea
);
CREATE INDEX IF NOT EXISTS "idem_records_retain_until_idx" ON "idem_records" (retain_until);
CREATE SEQUENCE IF NOT EXISTS "idem_records_token_seq" AS bigint;
`

// PostgresSchema is the part of runtime/pgstore's Schema that the db effect
// creates when the table is missing.
const PostgresSchema = postgresSchema

// PostgresAddParts adds the fingerprint_parts column to a table created
// before it existed (PostgresHasParts tells).
const PostgresAddParts = `ALTER TABLE "idem_records" ADD COLUMN IF NOT EXISTS fingerprint_parts bytea`

// PostgresAlterLockTimeout bounds how long the ALTER of PostgresAddParts
// waits for the table's lock, in the migration's transaction: while it
// waits, every claim on the table queues behind it. When it times out, the
// table works without the column until a later migration adds it.
const PostgresAlterLockTimeout = `SET LOCAL lock_timeout = '1s'`

// PostgresHasTable selects whether the table named by $1 (as for
// PostgresHasParts) exists.
const PostgresHasTable = `SELECT to_regclass($1::text) IS NOT NULL`

// PostgresHasParts selects whether the table named by $1 (quoted and
// possibly schema-qualified, as to_regclass reads it) has the
// fingerprint_parts column; false for a missing table.
const PostgresHasParts = `SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1::text)
    AND attname = 'fingerprint_parts' AND NOT attisdropped)`

// postgresLockID is the advisory lock runtime/pgstore takes to migrate its
// default table, so that the two never create it at once.
func postgresLockID() int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/idem-go/idem/runtime/pgstore:idem_records"))
	return int64(h.Sum64())
}

var postgres = (&Dialect{
	Name:        "PostgreSQL",
	Driver:      "github.com/jackc/pgx/v5/stdlib",
	schema:      statements(postgresSchema),
	migrateLock: "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(postgresLockID(), 10) + ")",
	hasParts:    PostgresHasParts,
	table:       `"idem_records"`,
	addParts:    PostgresAddParts,
	// A table created before the fingerprint_parts column existed is
	// migrated like a missing one.
	missingTable: func(err error) bool {
		code, _ := SQLState(err)
		return code == pgUndefinedTable || code == pgUndefinedColumn
	},
	transient: PostgresTransient,
}).build(syntax{placeholder: func(n int) string { return "$" + strconv.Itoa(n) }, token: `nextval('"idem_records_token_seq"')`,
	lockRow: " FOR UPDATE", conflict: onConflictReturning, returning: returningToken})
