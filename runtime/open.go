package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// EnvStore is the environment variable that names the store wrapped calls
// use when none is configured in code: memory:, sqlite:<path>,
// postgres://…, redis://…, in the syntax of Open. The store's package must
// be imported (see Open).
const EnvStore = "IDEM_STORE"

// OpenTimeout bounds Open, and the opening of the IDEM_STORE store by
// wrapped calls (which each wait for it only until their own context ends).
const OpenTimeout = 10 * time.Second

// ErrStoreUnreachable matches the error of a store that is configured but
// cannot be reached: its server refused the connection, its name does not
// resolve, or it did not answer within the bound of OpenContext. It matches
// ErrStore too; it never matches ErrNoStore.
var ErrStoreUnreachable error = &errStoreUnreachable{}

type errStoreUnreachable struct{}

func (*errStoreUnreachable) Error() string { return "idem: store unreachable" }
func (*errStoreUnreachable) Unwrap() error { return ErrStore }

// storeImports names the package that registers each scheme of this
// module's stores, for the error of a scheme that no imported package
// registered.
var storeImports = map[string]string{
	"memory":     "github.com/idem-go/idem/runtime/memstore",
	"mem":        "github.com/idem-go/idem/runtime/memstore",
	"sqlite":     "github.com/idem-go/idem/runtime/sqlitestore",
	"sqlite3":    "github.com/idem-go/idem/runtime/sqlitestore",
	"file":       "github.com/idem-go/idem/runtime/sqlitestore",
	"postgres":   "github.com/idem-go/idem/runtime/pgstore",
	"postgresql": "github.com/idem-go/idem/runtime/pgstore",
	"redis":      "github.com/idem-go/idem/runtime/redisstore",
	"rediss":     "github.com/idem-go/idem/runtime/redisstore",
}

// Open is OpenContext bounded by OpenTimeout.
func Open(dsn string) (Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
	defer cancel()
	return OpenContext(ctx, dsn)
}

// OpenContext opens the store a DSN names, and returns by the time ctx
// ends:
//
//	memory:                         in-process (import runtime/memstore); records die with the process
//	sqlite:<path>                   an embedded SQLite file (import runtime/sqlitestore), created if absent
//	postgres://… or postgresql://…  PostgreSQL (import runtime/pgstore); the schema is created on first use
//	redis://… or rediss://…         Redis (import runtime/redisstore)
//
// A scheme is accepted once the package that registers it (see
// store.Register) is imported, as database/sql drivers are; import
// github.com/idem-go/idem/runtime/allstores for all of them. The error for
// a scheme no imported package registered names the import to add.
//
// A store that cannot be reached, or does not answer before ctx's
// deadline, is an error matching ErrStoreUnreachable (and ErrStore); a
// canceled ctx is an error matching context.Canceled only; other failures
// match ErrStore. The caller closes the store it opened.
func OpenContext(ctx context.Context, dsn string) (Store, error) {
	open, err := opener(dsn)
	if err != nil {
		return nil, err
	}
	type opened struct {
		s   Store
		err error
	}
	done := make(chan opened, 1)
	go func() {
		s, err := open(ctx, dsn)
		done <- opened{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			if errors.Is(r.err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
				return nil, openEnded(ctx, dsn)
			}
			return nil, openError(dsn, r.err)
		}
		return r.s, nil
	case <-ctx.Done():
		// The opener did not honour ctx: leave it, and close what it
		// opens late.
		go func() {
			if r := <-done; r.err == nil {
				_ = r.s.Close()
			}
		}()
		return nil, openEnded(ctx, dsn)
	}
}

// openEnded is the error of an open whose context ended first: a canceled
// caller's (matching context.Canceled only), or a deadline the store did
// not answer by (matching ErrStoreUnreachable).
func openEnded(ctx context.Context, dsn string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("idem: open %s: canceled: %w", redactDSN(dsn), context.Cause(ctx))
	}
	return openError(dsn, fmt.Errorf("no answer before the open's deadline: %w", context.Cause(ctx)))
}

// opener returns the registered OpenFunc for dsn's scheme.
func opener(dsn string) (store.OpenFunc, error) {
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("idem: store DSN %q has no scheme; use memory:, sqlite:<path>, postgres://… or redis://…", redactDSN(dsn))
	}
	if open, ok := store.Lookup(scheme); ok {
		return open, nil
	}
	registered := strings.Join(store.Schemes(), ", ")
	if registered == "" {
		registered = "none"
	}
	if pkg, ok := storeImports[strings.ToLower(scheme)]; ok {
		return nil, fmt.Errorf("idem: store DSN scheme %q is provided by %s, which this program does not import: add import _ %q (or import _ \"github.com/idem-go/idem/runtime/allstores\" for every store); registered schemes: %s", scheme, pkg, pkg, registered)
	}
	return nil, fmt.Errorf("idem: store DSN scheme %q is not understood; registered schemes: %s (import a store package, or github.com/idem-go/idem/runtime/allstores, to register its schemes)", scheme, registered)
}

// openError classifies a failure to open the store dsn names.
func openError(dsn string, err error) error {
	if unreachable(err) {
		return fmt.Errorf("%w: %s: %w", ErrStoreUnreachable, redactDSN(dsn), err)
	}
	return fmt.Errorf("%w: open %s: %w", ErrStore, redactDSN(dsn), err)
}

// unreachable recognises errors that say the store's server could not be
// reached: a refused or failed dial, a name that does not resolve, a
// timeout, or the caller's deadline.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dns *net.DNSError
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial") || (errors.As(err, &ne) && ne.Timeout())
}

// redactDSN hides the password of a URL-shaped DSN, for error messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}

// envStores is the store IDEM_STORE names, opened once per distinct value.
// The mutex guards only the bookkeeping, never an open: opens run in the
// background, and wrapped calls wait for them only until their own
// contexts end.
var envStores struct {
	current atomic.Pointer[envStoreEntry] // the open store, read without the lock
	mu      sync.Mutex
	opening *envOpen // the open in flight, if any
}

type envStoreEntry struct {
	dsn string
	s   Store
}

// envOpen is one open of IDEM_STORE's store, shared by every wrapped call
// that needs it while it runs.
type envOpen struct {
	dsn  string
	done chan struct{} // closed when s and err are set
	s    Store
	err  error
}

// envStore returns the store IDEM_STORE names, opening it if needed. One
// open runs at a time per value, in the background, bounded by OpenTimeout
// and carrying the values of the context of the call that started it;
// every call waits for it until its own context ends. When IDEM_STORE
// changes, the store of the previous value is closed once the new one is
// open (calls still using it then fail with ErrStore).
func envStore(ctx context.Context) (Store, error) {
	dsn := os.Getenv(EnvStore)
	if dsn == "" {
		return nil, ErrNoStore
	}
	if e := envStores.current.Load(); e != nil && e.dsn == dsn {
		return e.s, nil
	}
	envStores.mu.Lock()
	if e := envStores.current.Load(); e != nil && e.dsn == dsn {
		envStores.mu.Unlock()
		return e.s, nil
	}
	op := envStores.opening
	if op == nil || op.dsn != dsn {
		op = &envOpen{dsn: dsn, done: make(chan struct{})}
		envStores.opening = op
		go op.run(context.WithoutCancel(ctx))
	}
	envStores.mu.Unlock()
	select {
	case <-op.done:
		if op.err == nil {
			return op.s, nil
		}
		if errors.Is(op.err, ErrStore) {
			return nil, fmt.Errorf("%s=%q: %w", EnvStore, redactDSN(dsn), op.err)
		}
		return nil, fmt.Errorf("%w: %s=%q: %w", ErrNoStore, EnvStore, redactDSN(dsn), op.err)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("idem: %s=%q: canceled while the store was opening: %w", EnvStore, redactDSN(dsn), context.Cause(ctx))
		}
		return nil, fmt.Errorf("%w: %s=%q: the store did not open before the call's context ended (the open goes on in the background, for at most %v): %w",
			ErrStoreUnreachable, EnvStore, redactDSN(dsn), OpenTimeout, context.Cause(ctx))
	}
}

// run opens the store and installs it as the current IDEM_STORE store,
// closing the one it replaces.
func (op *envOpen) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	s, err := OpenContext(ctx, op.dsn)
	var old Store
	envStores.mu.Lock()
	if envStores.opening == op {
		envStores.opening = nil
	}
	if err == nil {
		if e := envStores.current.Load(); e != nil {
			old = e.s
		}
		envStores.current.Store(&envStoreEntry{dsn: op.dsn, s: s})
	}
	op.s, op.err = s, err
	close(op.done)
	envStores.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}
