package main

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// backend is one store under measurement, with the raw operations it is
// compared against on the same connection pool.
type backend struct {
	name  string
	store runtime.Store
	// insert writes a new row (key, val): the first-call baseline.
	insert func(ctx context.Context, key, val []byte) error
	// read returns the val of key, failing when it is absent: the replay
	// baseline.
	read func(ctx context.Context, key []byte) ([]byte, error)
	// insertDesc and readDesc say what insert and read send.
	insertDesc, readDesc string
	// trips returns the round trips to the server so far, counted below the
	// store (pgx tracer, go-redis hook); nil where there is no server.
	trips func() int64
	// targets reports whether the targets apply (not to memory, whose
	// baseline is a bare map operation).
	targets bool
	// setup describes the connection settings, for the report.
	setup string
	// cleanup removes what the run created and closes the connections.
	cleanup func(ctx context.Context) error
}

// names are the identifiers one run uses; the run id keeps concurrent or
// earlier runs apart.
type names struct {
	run string // 16 hexadecimal characters
}

func newNames() names {
	var b [8]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return names{run: hex.EncodeToString(b[:])}
}

func (n names) pgRecords() string   { return "idembench_" + n.run + "_rec" }
func (n names) pgRaw() string       { return "idembench_" + n.run + "_raw" }
func (n names) sqliteRaw() string   { return "idembench_" + n.run + "_raw" }
func (n names) redisPrefix() string { return "idembench:" + n.run + ":" }
func (n names) redisRecords() string {
	return n.redisPrefix() + "rec:"
}
func (n names) redisRaw() string  { return n.redisPrefix() + "raw:" }
func (n names) namespace() string { return "idembench/" + n.run }

// openMemory returns memstore against a mutex-guarded map.
func openMemory() *backend {
	var (
		mu sync.RWMutex
		m  = make(map[[32]byte][]byte)
	)
	return &backend{
		name:  "memory",
		store: memstore.New(),
		insert: func(ctx context.Context, key, val []byte) error {
			k := [32]byte(key)
			mu.Lock()
			if _, ok := m[k]; !ok {
				m[k] = val
			}
			mu.Unlock()
			return nil
		},
		read: func(ctx context.Context, key []byte) ([]byte, error) {
			mu.RLock()
			v, ok := m[[32]byte(key)]
			mu.RUnlock()
			if !ok {
				return nil, fmt.Errorf("memory baseline: no value for key %x", key)
			}
			return v, nil
		},
		insertDesc: "insert-if-absent into a sync.RWMutex-guarded map",
		readDesc:   "read of that map under its read lock",
		setup:      "in process",
		cleanup:    func(context.Context) error { return nil },
	}
}

// openSQLite returns sqlitestore on path (a temporary file when path is
// empty) against raw statements on the same *sql.DB, opened with
// sqlitestore.DSN and the pool size of sqlitestore.Open.
func openSQLite(ctx context.Context, path string, n names) (b *backend, usedPath string, err error) {
	var cleanups []func() error
	cleanup := func(context.Context) error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, cleanup(ctx))
		}
	}()
	created := false
	if path == "" {
		dir, err := os.MkdirTemp("", "idembench-")
		if err != nil {
			return nil, "", fmt.Errorf("sqlite: create a temporary directory (set TMPDIR, or pass -sqlite PATH): %w", err)
		}
		cleanups = append(cleanups, func() error { return os.RemoveAll(dir) })
		path = dir + "/idembench.db"
		created = true
	} else if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	if err != nil {
		return nil, path, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(sqlitestore.MaxConns)
	db.SetMaxIdleConns(sqlitestore.MaxConns)
	cleanups = append(cleanups, func() error {
		err := db.Close()
		if created {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if rerr := os.Remove(path + suffix); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
					err = errors.Join(err, rerr)
				}
			}
		}
		return err
	})
	st, err := sqlitestore.New(db)
	if err != nil {
		return nil, path, fmt.Errorf("sqlite: %w", err)
	}
	// Create the store's schema now (Get runs the store's init), so that
	// cleanup finds its table whatever happens next.
	if _, err := st.Get(ctx, store.Key{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, path, fmt.Errorf("sqlite: %w", err)
	}
	raw := n.sqliteRaw()
	if err := retryBusy(ctx, func() error {
		_, err := db.ExecContext(ctx, `CREATE TABLE `+raw+` (key BLOB NOT NULL PRIMARY KEY, val BLOB NOT NULL)`)
		return err
	}); err != nil {
		return nil, path, fmt.Errorf("sqlite: create the baseline table in %s: %w", path, err)
	}
	cleanups = append(cleanups, func() error {
		if created {
			return nil // the file goes
		}
		// A file of the user's: remove our table and our records only.
		ctx := context.Background()
		// Namespaces of this run lie in [ns/, ns0): '0' follows '/'.
		return errors.Join(
			retryBusy(ctx, func() error {
				_, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS `+raw)
				return err
			}),
			retryBusy(ctx, func() error {
				_, err := db.ExecContext(ctx, `DELETE FROM idem_records WHERE namespace >= ? AND namespace < ?`,
					n.namespace()+"/", n.namespace()+"0")
				return err
			}))
	})
	insertSQL := `INSERT INTO ` + raw + ` (key, val) VALUES (?, ?)`
	readSQL := `SELECT val FROM ` + raw + ` WHERE key = ?`
	ins, err := db.PrepareContext(ctx, insertSQL)
	if err != nil {
		return nil, path, fmt.Errorf("sqlite: prepare %q: %w", insertSQL, err)
	}
	sel, err := db.PrepareContext(ctx, readSQL)
	if err != nil {
		ins.Close()
		return nil, path, fmt.Errorf("sqlite: prepare %q: %w", readSQL, err)
	}
	// Statements close before the database (cleanups run last first).
	cleanups = append(cleanups, func() error { return errors.Join(st.Close(), ins.Close(), sel.Close()) })
	// Like the store, the baseline queues its writes in the process rather
	// than polling SQLite's lock, and polls only for other processes.
	writer := make(chan struct{}, 1)
	return &backend{
		name:  "sqlite",
		store: st,
		insert: func(ctx context.Context, key, val []byte) error {
			writer <- struct{}{}
			defer func() { <-writer }()
			return retryBusy(ctx, func() error {
				_, err := ins.ExecContext(ctx, key, val)
				return err
			})
		},
		read: func(ctx context.Context, key []byte) ([]byte, error) {
			var v []byte
			err := retryBusy(ctx, func() error { return sel.QueryRowContext(ctx, key).Scan(&v) })
			return v, err
		},
		insertDesc: insertSQL + " (prepared; writes queued in-process like the store's)",
		readDesc:   readSQL + " (prepared)",
		targets:    true,
		setup:      fmt.Sprintf("one *sql.DB on %s, sqlitestore.DSN (WAL, synchronous=FULL), %d connections", path, sqlitestore.MaxConns),
		cleanup:    cleanup,
	}, path, nil
}

// retryBusy runs f until it returns anything but SQLITE_BUSY, for at most
// sqlitestore.BusyTimeout, polling like the store does.
func retryBusy(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(sqlitestore.BusyTimeout)
	wait := 20 * time.Microsecond
	for {
		err := f()
		var e *sqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting for a lock: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Millisecond)
	}
}

// pgTrips counts the statements pgx sends (queries and prepares): each is
// one round trip.
type pgTrips struct{ n atomic.Int64 }

func (t *pgTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.n.Add(1)
	return ctx
}
func (t *pgTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (t *pgTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	t.n.Add(1)
	return ctx
}
func (t *pgTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// openPostgres returns pgstore on a fresh table against raw statements on a
// second fresh table, both through one pgxpool of conns connections.
func openPostgres(ctx context.Context, dsn string, conns int, n names) (b *backend, err error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse the DSN (a postgres:// URL or key=value string): %w", err)
	}
	pc.MaxConns = int32(conns)
	trips := &pgTrips{}
	pc.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	recs, raw := n.pgRecords(), n.pgRaw()
	cleanup := func(ctx context.Context) error {
		defer pool.Close()
		_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+recs+`, `+raw+`; DROP SEQUENCE IF EXISTS `+recs+`_token_seq; DROP FUNCTION IF EXISTS `+recs+`_claim`)
		if err != nil {
			return fmt.Errorf("postgres: drop tables %s, %s, sequence %s_token_seq and function %s_claim: %w", recs, raw, recs, recs, err)
		}
		return nil
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, cleanup(context.WithoutCancel(ctx)))
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("postgres: connect to %s (is the server running? `source scripts/services.sh` starts one): %w", redact(dsn), err)
	}
	st, err := pgstore.New(ctx, pool, pgstore.WithTable(recs))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE `+raw+` (key bytea PRIMARY KEY, val bytea NOT NULL)`); err != nil {
		return nil, fmt.Errorf("postgres: create the baseline table %s: %w", raw, err)
	}
	insertSQL := `INSERT INTO ` + raw + ` (key, val) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	readSQL := `SELECT val FROM ` + raw + ` WHERE key = $1`
	return &backend{
		name:  "postgres",
		store: st,
		insert: func(ctx context.Context, key, val []byte) error {
			_, err := pool.Exec(ctx, insertSQL, key, val)
			return err
		},
		read: func(ctx context.Context, key []byte) ([]byte, error) {
			var v []byte
			err := pool.QueryRow(ctx, readSQL, key).Scan(&v)
			return v, err
		},
		insertDesc: insertSQL,
		readDesc:   readSQL,
		trips:      trips.n.Load,
		targets:    true,
		setup:      fmt.Sprintf("one pgxpool (MaxConns=%d) on %s; store table %s (pgstore.WithTable), baseline table %s", conns, redact(dsn), recs, raw),
		cleanup:    cleanup,
	}, nil
}

// redisTrips counts the commands go-redis sends; a pipeline is one round
// trip.
type redisTrips struct{ n atomic.Int64 }

func (t *redisTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (t *redisTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		t.n.Add(1)
		return next(ctx, cmd)
	}
}
func (t *redisTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		t.n.Add(1)
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*redisTrips)(nil)

// openRedis returns redisstore under a fresh prefix against raw SET NX and
// GET under another, both through one client with a pool of conns
// connections.
func openRedis(ctx context.Context, rawURL string, conns int, n names) (b *backend, err error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: parse the URL (redis://host:port/db): %w", err)
	}
	opt.PoolSize = conns
	client := redis.NewClient(opt)
	trips := &redisTrips{}
	client.AddHook(trips)
	cleanup := func(ctx context.Context) error {
		defer client.Close()
		var errs []error
		iter := client.Scan(ctx, 0, n.redisPrefix()+"*", 1000).Iterator()
		batch := make([]string, 0, 1000)
		flush := func() {
			if len(batch) > 0 {
				errs = append(errs, client.Unlink(ctx, batch...).Err())
				batch = batch[:0]
			}
		}
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == cap(batch) {
				flush()
			}
		}
		flush()
		errs = append(errs, iter.Err())
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("redis: delete the keys under %s: %w", n.redisPrefix(), err)
		}
		return nil
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, cleanup(context.WithoutCancel(ctx)))
		}
	}()
	if err := client.Ping(ctx).Err(); err != nil {
		var ne net.Error
		hint := ""
		if errors.As(err, &ne) {
			hint = " (is the server running? `source scripts/services.sh` starts one)"
		}
		return nil, fmt.Errorf("redis: connect to %s%s: %w", redact(rawURL), hint, err)
	}
	st, err := redisstore.New(client, redisstore.WithPrefix(n.redisRecords()), redisstore.WithUnsafeAcceptDataLoss()) // a benchmark: throughput, not durability
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	rawPrefix := n.redisRaw()
	rawKey := func(key []byte) string {
		buf := make([]byte, 0, len(rawPrefix)+2*len(key))
		buf = append(buf, rawPrefix...)
		return string(hex.AppendEncode(buf, key))
	}
	return &backend{
		name:  "redis",
		store: st,
		insert: func(ctx context.Context, key, val []byte) error {
			err := client.SetArgs(ctx, rawKey(key), val, redis.SetArgs{Mode: "NX"}).Err()
			if errors.Is(err, redis.Nil) {
				return nil // the key existed: NX did nothing, like ON CONFLICT DO NOTHING
			}
			return err
		},
		read: func(ctx context.Context, key []byte) ([]byte, error) {
			return client.Get(ctx, rawKey(key)).Bytes()
		},
		insertDesc: "SET " + rawPrefix + "<64 hex> <val> NX",
		readDesc:   "GET " + rawPrefix + "<64 hex>",
		trips:      trips.n.Load,
		targets:    true,
		setup:      fmt.Sprintf("one go-redis client (PoolSize=%d) on %s; store prefix %s (redisstore.WithPrefix), baseline prefix %s", conns, redact(rawURL), n.redisRecords(), rawPrefix),
		cleanup:    cleanup,
	}, nil
}
