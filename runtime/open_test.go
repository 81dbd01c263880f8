package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	_ "github.com/idem-go/idem/runtime/allstores"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

// slowScheme is a store scheme whose opens block until the test that
// owns the DSN lets them finish; see slowGate.
const slowScheme = "slowtest"

// slowGate controls the opens of one slowScheme DSN.
type slowGate struct {
	started atomic.Int64
	release chan struct{} // closed: opens finish
	mu      sync.Mutex
	opened  []*closeCounting // the stores opened, in order
}

var slowGates sync.Map // DSN -> *slowGate

// newSlowDSN returns a fresh slowScheme DSN and its gate.
func newSlowDSN(t *testing.T, g *slowGate, name string) string {
	dsn := slowScheme + ":" + randomNamespace(t) + "/" + name
	slowGates.Store(dsn, g)
	return dsn
}

func init() {
	store.Register(slowScheme, func(ctx context.Context, dsn string) (store.Store, error) {
		v, ok := slowGates.Load(dsn)
		if !ok {
			return nil, fmt.Errorf("no gate for %s", dsn)
		}
		g := v.(*slowGate)
		g.started.Add(1)
		select {
		case <-g.release:
			s := &closeCounting{Store: memstore.New()}
			g.mu.Lock()
			g.opened = append(g.opened, s)
			g.mu.Unlock()
			return s, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
}

// closeCounting counts its Close calls.
type closeCounting struct {
	store.Store
	closed atomic.Int64
}

func (s *closeCounting) Close() error { s.closed.Add(1); return s.Store.Close() }

func TestEveryStoreRegistersItsSchemes(t *testing.T) {
	// allstores is imported: every scheme the runtime names an import for
	// is registered, and nothing else but this test's own scheme.
	want := []string{slowScheme}
	for scheme := range runtime.StoreImports {
		want = append(want, scheme)
		_, ok := store.Lookup(strings.ToUpper(scheme))
		require.True(t, ok, "scheme %s is registered, case-insensitively", scheme)
	}
	require.ElementsMatch(t, want, store.Schemes())

	s, err := runtime.Open("memory:")
	require.NoError(t, err)
	require.IsType(t, &memstore.Store{}, s)
	require.NoError(t, s.Close())

	_, err = runtime.Open("etcd://x")
	require.ErrorContains(t, err, `scheme "etcd" is not understood`)
	require.NotErrorIs(t, err, runtime.ErrStore)
	_, err = runtime.Open("no-scheme")
	require.ErrorContains(t, err, "has no scheme")
}

// blackhole listens on loopback and accepts connections without ever
// answering, as a partitioned server does.
func blackhole(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestOpenContextIsBoundedAndReportsUnreachable(t *testing.T) {
	hole, refused := blackhole(t), closedPort(t)
	for _, tc := range []struct{ name, dsn string }{
		{"postgres blackholed", "postgres://idem:secret@" + hole + "/app?sslmode=disable&connect_timeout=60"},
		{"redis blackholed", "redis://" + hole + "/0?dial_timeout=60s"},
		{"postgres refused", "postgres://idem:secret@" + refused + "/app?sslmode=disable"},
		{"redis refused", "redis://" + refused + "/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const bound = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			start := time.Now()
			s, err := runtime.OpenContext(ctx, tc.dsn)
			took := time.Since(start)
			require.Nil(t, s)
			require.ErrorIs(t, err, runtime.ErrStoreUnreachable)
			require.ErrorIs(t, err, runtime.ErrStore)
			require.NotErrorIs(t, err, runtime.ErrNoStore)
			require.NotContains(t, err.Error(), "secret", "the password is redacted")
			require.NotContains(t, err.Error(), "WithoutMigrate", "no DDL advice for a store that cannot be reached")
			require.Less(t, took, bound+time.Second, "OpenContext returns by its deadline + 1 s")
		})
	}
}

// envKey is the key callEnvStore derives for key.
func envKey(t *testing.T, spec *runtime.Spec, key string) runtime.Key {
	var k runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	sum, err := k.Sum()
	require.NoError(t, err)
	return sum
}

// callEnvStore makes one wrapped call that uses the IDEM_STORE store.
func callEnvStore(ctx context.Context, t *testing.T, spec *runtime.Spec, key string, runs *atomic.Int64) error {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	_, err := runtime.Do(ctx, spec, &k, &f, func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	return err
}

func TestEnvStoreOpenNeverBlocksCallsPastTheirDeadlines(t *testing.T) {
	runtime.SetDefaultStore(nil)
	gate := &slowGate{release: make(chan struct{})}
	t.Setenv(runtime.EnvStore, newSlowDSN(t, gate, "one"))
	spec := &runtime.Spec{Namespace: randomNamespace(t), Version: 1}
	var runs atomic.Int64

	// Concurrent first calls share one open, and each gives up at its own
	// deadline while the open goes on.
	const callers = 8
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+10*i)*time.Millisecond)
			defer cancel()
			errs <- callEnvStore(ctx, t, spec, fmt.Sprint("k", i), &runs)
		}()
	}
	for range callers {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, runtime.ErrStoreUnreachable)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.NotErrorIs(t, err, runtime.ErrNoStore)
		case <-time.After(30 * time.Second):
			t.Fatal("a wrapped call waited for the store's open past its deadline")
		}
	}
	require.EqualValues(t, 1, gate.started.Load(), "concurrent first calls share one open")

	// A call with its own store is not held up by the open in flight.
	require.NoError(t, callEnvStore(runtime.WithStore(context.Background(), memstore.New()), t, spec, "own", &runs))
	require.EqualValues(t, 1, runs.Load())

	// Once the open finishes, calls use its store; it was opened once.
	close(gate.release)
	require.NoError(t, callEnvStore(context.Background(), t, spec, "k0", &runs))
	require.NoError(t, callEnvStore(context.Background(), t, spec, "k1", &runs))
	require.EqualValues(t, 3, runs.Load())
	require.EqualValues(t, 1, gate.started.Load())

	// A store replaced in IDEM_STORE is closed.
	t.Setenv(runtime.EnvStore, newSlowDSN(t, gate, "two"))
	require.NoError(t, callEnvStore(context.Background(), t, spec, "k2", &runs))
	require.EqualValues(t, 2, gate.started.Load())
	gate.mu.Lock()
	defer gate.mu.Unlock()
	require.Len(t, gate.opened, 2)
	// The replaced store is closed after the new one is installed (and the
	// calls waiting for it are let go), so the close may trail the call.
	require.Eventually(t, func() bool { return gate.opened[0].closed.Load() == 1 }, 10*time.Second, time.Millisecond,
		"the replaced store is closed")
	require.EqualValues(t, 0, gate.opened[1].closed.Load(), "the current store stays open")
	_, err := gate.opened[1].Get(context.Background(), envKey(t, spec, "k2"))
	require.NoError(t, err, "the call used the new store")
}

func TestCanceledOpenIsNotAStoreFailure(t *testing.T) {
	gate := &slowGate{release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runtime.OpenContext(ctx, newSlowDSN(t, gate, "canceled"))
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, runtime.ErrStore)

	runtime.SetDefaultStore(nil)
	t.Setenv(runtime.EnvStore, newSlowDSN(t, gate, "env"))
	var runs atomic.Int64
	err = callEnvStore(ctx, t, &runtime.Spec{Namespace: randomNamespace(t), Version: 1}, "k", &runs)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, runtime.ErrStore)
	require.Zero(t, runs.Load())
	close(gate.release) // let the background open finish
}

func TestEnvStoreUnreachableIsNotNoStore(t *testing.T) {
	runtime.SetDefaultStore(nil)
	t.Setenv(runtime.EnvStore, "postgres://idem@"+closedPort(t)+"/app?sslmode=disable")
	spec := &runtime.Spec{Namespace: randomNamespace(t), Version: 1}
	var runs atomic.Int64
	err := callEnvStore(context.Background(), t, spec, "k", &runs)
	require.ErrorIs(t, err, runtime.ErrStoreUnreachable)
	require.ErrorIs(t, err, runtime.ErrStore)
	require.NotErrorIs(t, err, runtime.ErrNoStore)
	require.NotContains(t, err.Error(), "WithoutMigrate")
	require.Contains(t, err.Error(), runtime.EnvStore)
	require.Zero(t, runs.Load())
	var opErr *net.OpError
	require.True(t, errors.As(err, &opErr), "the dial's error is kept: %v", err)
}
