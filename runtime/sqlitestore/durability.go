package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/idem-go/idem/runtime/store"
)

// Option configures Open and New.
type Option func(*options)

type options struct {
	durability store.Durability
}

// WithDurability sets which writes are on disk when they return; the
// default is store.DurableClaims: a claim (and a renewal, a delete and a
// sweep) returns once an fsync of the write-ahead log has covered its
// commit, and Complete, Release and MarkIndeterminate return without one,
// reaching the disk with the next claim's fsync (one fsync of the log
// covers every frame before it) or a checkpoint. store.DurableAll syncs
// every write; store.DurableCrash syncs none. With Open, every connection
// commits with synchronous=NORMAL and the store runs the fsync after the
// commit, outside the write lock, shared by the writers waiting for it.
// With New, claims are as durable as the caller's *sql.DB is configured
// (DSN gives FULL, an fsync at commit), and DurableClaims opens a second,
// synchronous=NORMAL connection to the same file for completions.
func WithDurability(d store.Durability) Option {
	return func(o *options) { o.durability = d }
}

func newOptions(opts []Option) (options, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if !o.durability.Valid() {
		return o, fmt.Errorf("unknown %v; use store.DurableClaims, DurableAll or DurableCrash", o.durability)
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
		d, err := store.ParseDurability(vs[0])
		if err != nil {
			return "", nil, err
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
// MarkIndeterminate write through under store.DurableClaims: the file of db's
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
