package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
)

// Durability says which of the store's writes are on disk when they
// return, and so what a crash of the machine can take back. Choose it with
// WithDurability, or in a DSN with ?durability=claims|all|crash.
type Durability int

const (
	// DurableClaims, the default: a claim is on disk (SQLite's
	// synchronous=FULL, an fsync of the write-ahead log) before Claim
	// returns, so the function never runs on a claim a power loss can
	// take back. Complete, Release and MarkIndeterminate commit without an
	// fsync of their own (synchronous=NORMAL on a connection of their own)
	// and are on disk with the next claim's fsync or checkpoint, so a
	// first call costs one fsync instead of two. A process crash loses
	// nothing; a power loss or an OS crash can lose the completions of
	// the last moments, which turns those records back into claims whose
	// lease passes: the next caller of a none function gets
	// ErrIndeterminate (the effect may have happened), an api or queue
	// function takes the key over and runs again (the callee deduplicates
	// by key), and a db function is unaffected (its record commits in the
	// caller's transaction).
	DurableClaims Durability = iota
	// DurableAll: every write is on disk when it returns (two fsyncs per
	// first call). A power loss loses nothing acknowledged.
	DurableAll
	// DurableCrash: no write waits for an fsync (synchronous=NORMAL for
	// claims too), DBOS's trade-off. A process crash loses nothing; a
	// power loss or an OS crash can lose acknowledged claims too, after
	// which a function that ran may run again.
	DurableCrash
)

// durabilityNames are the DSN spellings of the Durability values.
var durabilityNames = map[string]Durability{"claims": DurableClaims, "all": DurableAll, "crash": DurableCrash}

// String returns "claims", "all" or "crash": the DSN spelling.
func (d Durability) String() string {
	for n, v := range durabilityNames {
		if v == d {
			return n
		}
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// Option configures Open and New.
type Option func(*options)

type options struct {
	durability Durability
}

// WithDurability sets which writes are on disk when they return (see
// Durability); the default is DurableClaims. With New, claims are as
// durable as the caller's *sql.DB is configured (DSN gives FULL), and
// DurableClaims opens a second connection to the same file for
// completions.
func WithDurability(d Durability) Option {
	return func(o *options) { o.durability = d }
}

func newOptions(opts []Option) (options, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if _, ok := durabilityNames[o.durability.String()]; !ok {
		return o, fmt.Errorf("unknown %v; use DurableClaims, DurableAll or DurableCrash", o.durability)
	}
	return o, nil
}

// parseDSN splits a sqlite: DSN's rest (after the scheme) into the file
// path and the options of its query (?durability=claims|all|crash).
func parseDSN(rest string) (string, []Option, error) {
	path, query, ok := strings.Cut(rest, "?")
	if !ok {
		return path, nil, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("parse the options after '?': %w", err)
	}
	var opts []Option
	for k, vs := range q {
		if k != "durability" || len(vs) != 1 {
			return "", nil, fmt.Errorf("unknown option %q; the one option is durability=claims|all|crash", k)
		}
		d, ok := durabilityNames[vs[0]]
		if !ok {
			return "", nil, fmt.Errorf("durability=%s: use claims (the default), all or crash", vs[0])
		}
		opts = append(opts, WithDurability(d))
	}
	return path, opts, nil
}

// dsn is DSN with SQLite's synchronous setting sync (FULL or NORMAL).
func dsn(path, sync string) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	u.RawQuery = q.Encode()
	return u.String()
}

// openLazy opens the connection that Complete, Release and
// MarkIndeterminate write through under DurableClaims: the file of db's
// main database with synchronous=NORMAL, so their commits append to the
// write-ahead log without an fsync, and the next synced commit (a claim's,
// on another connection) or checkpoint puts them on disk, since one fsync
// of the log covers every frame before it. It returns nil for a database
// without a file (in memory), which has nothing to sync.
func openLazy(ctx context.Context, db *sql.DB) (*sql.DB, error) {
	var (
		seq        int
		name, file string
	)
	if err := db.QueryRowContext(ctx, `SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'`).Scan(&seq, &name, &file); err != nil {
		return nil, fmt.Errorf("find the database file: %w", err)
	}
	if file == "" {
		return nil, nil
	}
	lazy, err := sql.Open("sqlite", dsn(file, "NORMAL"))
	if err != nil {
		return nil, err
	}
	// The store's writes are serialised (Store.writer): one connection.
	lazy.SetMaxOpenConns(1)
	lazy.SetMaxIdleConns(1)
	return lazy, nil
}

// openLazy opens s.lazy and prepares its statements (see openLazy), or
// leaves them nil for a database without a file.
func (s *Store) openLazy(ctx context.Context) error {
	lazy, err := openLazy(ctx, s.db)
	if err != nil || lazy == nil {
		return err
	}
	stmts := make(map[string]*sql.Stmt)
	for _, q := range lazyWrites {
		st, err := lazy.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			lazy.Close()
			return fmt.Errorf("prepare statements: %w", err)
		}
		stmts[q] = st
	}
	s.lazy, s.lazyStmts = lazy, stmts
	return nil
}
