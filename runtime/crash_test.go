package runtime_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
)

// The crash tests run a holder in a child process (this test binary, run
// again), kill it with SIGKILL in the middle of the wrapped function, and
// check what the next caller does with the key it left behind.

const (
	crashChildEnv = "IDEM_CRASH_CHILD"
	crashStoreEnv = "IDEM_CRASH_STORE"
	crashNSEnv    = "IDEM_CRASH_NAMESPACE"
	crashEffEnv   = "IDEM_CRASH_EFFECT"
)

// durableStores lists the DSNs of the durable stores available to this
// test run: SQLite always, PostgreSQL and Redis where the test environment
// provides them (and under CI=true it must).
func durableStores(t *testing.T) map[string]string {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "idem.db")}
	// One subtest per server, so that a missing PostgreSQL (a skip, or a
	// failure under CI) does not stop Redis from being looked up.
	t.Run("postgres", func(t *testing.T) { dsns["postgres"] = testenv.PostgresDSN(t) })
	t.Run("redis", func(t *testing.T) { dsns["redis"] = testenv.RedisURL(t) })
	for k, v := range dsns {
		if v == "" {
			delete(dsns, k)
		}
	}
	return dsns
}

func randomNamespace(t *testing.T) string {
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "crash/" + hex.EncodeToString(b[:])
}

func TestCrashedHolderIsTakenOverOrIndeterminate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for name, dsn := range durableStores(t) {
		for _, effect := range []runtime.Effect{runtime.EffectAPI, runtime.EffectQueue, runtime.EffectNone} {
			t.Run(name+"/"+effect.String(), func(t *testing.T) {
				ns := randomNamespace(t)
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
				cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashStoreEnv+"="+dsn, crashNSEnv+"="+ns, crashEffEnv+"="+strconv.Itoa(int(effect)))
				out, err := cmd.StdoutPipe()
				require.NoError(t, err)
				cmd.Stderr = os.Stderr
				require.NoError(t, cmd.Start())
				lines := bufio.NewScanner(out)
				started := false
				for lines.Scan() {
					if lines.Text() == "holder started" {
						started = true
						break
					}
				}
				require.True(t, started, "the child never reached the wrapped function")
				require.NoError(t, cmd.Process.Kill()) // SIGKILL: no deferred cleanup runs
				_ = cmd.Wait()

				s, err := runtime.Open(dsn)
				require.NoError(t, err)
				defer s.Close()
				// The next caller's clock is past the dead holder's lease.
				clock := fakeclock.New(time.Now().Add(time.Minute))
				ctx := runtime.WithClock(runtime.WithStore(context.Background(), s), clock)
				spec := &runtime.Spec{Namespace: ns, Version: 1, Effect: effect, Lease: 5 * time.Second}
				c := &counted[string]{fn: func(context.Context, int64) (string, error) { return "successor", nil }}
				got, err := do(ctx, spec, "order-1", "fp", c.call)
				if effect == runtime.EffectNone {
					require.ErrorIs(t, err, runtime.ErrIndeterminate)
					require.EqualValues(t, 0, c.n.Load(), "under effect none a dead holder's key must not run again")
					return
				}
				require.NoError(t, err)
				require.Equal(t, "successor", got)
				require.EqualValues(t, 1, c.n.Load())
				require.EqualValues(t, 1, runtime.StatsFor(ns).Takeover)
				got, err = do(ctx, spec, "order-1", "fp", c.call)
				require.NoError(t, err)
				require.Equal(t, "successor", got, "the successor's result is recorded")
				require.EqualValues(t, 1, c.n.Load())
			})
		}
	}
}

// TestCrashChild is the holder that TestCrashedHolderIsTakenOverOrIndeterminate
// kills. It does nothing unless run by that test.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		testenv.NotApplicable(t, "helper process, run only by TestCrashedHolderIsTakenOverOrIndeterminate")
	}
	s, err := runtime.Open(os.Getenv(crashStoreEnv))
	require.NoError(t, err)
	effect, err := strconv.Atoi(os.Getenv(crashEffEnv))
	require.NoError(t, err)
	spec := &runtime.Spec{Namespace: os.Getenv(crashNSEnv), Version: 1, Effect: runtime.Effect(effect), Lease: 5 * time.Second}
	_, _ = do(runtime.WithStore(context.Background(), s), spec, "order-1", "fp", func(context.Context) (string, error) {
		os.Stdout.WriteString("holder started\n")
		select {} // killed here
	})
}
