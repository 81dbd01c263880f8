package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

// server is a throwaway redis-server of one test, on a free loopback port:
// the tests that restart, flush or reconfigure a server never touch the
// shared one.
type server struct {
	t    *testing.T
	port int
	args []string
	dir  string
	cmd  *exec.Cmd
}

// startServer starts redis-server with args (after a base configuration
// without snapshots) and stops it when t ends.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: these tests start their own throwaway servers")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := &server{t: t, port: port, args: append([]string{path}, args...), dir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) start() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--dir", s.dir}, s.args[1:]...)
	s.cmd = exec.Command(s.args[0], args...)
	require.NoError(s.t, s.cmd.Start())
	c := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		require.Less(s.t, i, 3000, "redis-server on port %d did not answer within 30 s", s.port)
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL: what it had not persisted is lost.
func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// restart kills the server and starts it again on the same port and
// directory.
func (s *server) restart() {
	s.t.Helper()
	s.kill()
	s.start()
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }
func (s *server) url() string  { return "redis://" + s.addr() + "/0" }

// openUnsafe opens a store on the server that accepts its configuration
// (unsafe=accept-data-loss) and closes it when the test ends.
func (s *server) openUnsafe() *redisstore.Store {
	s.t.Helper()
	st, err := redisstore.Open(s.url() + "?unsafe=accept-data-loss")
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = st.Close() })
	return st
}

func (s *server) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.addr()})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// ledger counts executions per key the way the runtime runs a function:
// only a granted claim runs it, and it is completed at once.
type ledger struct {
	t    *testing.T
	s    store.Store
	runs map[store.Key]int
}

func newLedger(t *testing.T, s store.Store) *ledger {
	return &ledger{t: t, s: s, runs: map[store.Key]int{}}
}

// call claims key and, when granted, "runs" it (counts) and completes it
// with a result of size bytes. It returns the claim's or completion's
// error.
func (l *ledger) call(key store.Key, size int) error {
	ctx := context.Background()
	req := store.ClaimRequest{Key: key, Namespace: "loss", Owner: newOwner(l.t), Now: base,
		LeaseUntil: base.Add(time.Minute), RetainUntil: base.Add(time.Hour)}
	res, err := l.s.Claim(ctx, req)
	if err != nil {
		return err
	}
	if !res.Granted {
		return nil // replayed
	}
	l.runs[key]++
	return l.s.Complete(ctx, key, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, make([]byte, size), req.RetainUntil)
}

// requireNoRerun requires every key to have run at most once.
func (l *ledger) requireNoRerun() {
	l.t.Helper()
	twice := 0
	for _, n := range l.runs {
		if n > 1 {
			twice++
		}
	}
	require.Zero(l.t, twice, "keys that ran twice, of %d", len(l.runs))
}

func keyN(i int) store.Key {
	var k store.Key
	copy(k[:], fmt.Sprintf("loss-%08d", i))
	return k
}

// The conformance check of storetest.RecordsLost, for each way the store
// detects a lost data set.
func TestRecordsLostConformance(t *testing.T) {
	for _, how := range []string{"RestartWithoutPersistence", "FLUSHALL", "EpochDeleted"} {
		t.Run(how, func(t *testing.T) {
			srv := startServer(t, "--appendonly", "no")
			s, err := redisstore.Open(srv.url() + "?unsafe=accept-data-loss")
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			storetest.RecordsLost(t, s, func(t *testing.T) {
				switch how {
				case "RestartWithoutPersistence":
					srv.restart()
				case "FLUSHALL":
					require.NoError(t, srv.client().FlushAll(context.Background()).Err())
				case "EpochDeleted":
					require.NoError(t, srv.client().Del(context.Background(), redisstore.DefaultPrefix+"epoch").Err())
				}
			})
		})
	}
}

// A data set lost by a restart without persistence or by FLUSHALL never
// lets a completed key run again: every later call fails with
// store.ErrRecordsLost, and so does the holder of an in-progress key when
// it completes.
func TestLostDataSetFailsClosed(t *testing.T) {
	for _, how := range []string{"RestartWithoutPersistence", "FLUSHALL", "FLUSHDB", "EpochDeleted"} {
		t.Run(how, func(t *testing.T) {
			srv := startServer(t, "--appendonly", "no")
			s, err := redisstore.Open(srv.url() + "?unsafe=accept-data-loss")
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			l := newLedger(t, s)
			const n = 200
			for i := range n {
				require.NoError(t, l.call(keyN(i), 16))
			}
			ctx := context.Background()
			holder, err := s.Claim(ctx, store.ClaimRequest{Key: keyN(n), Now: base, LeaseUntil: base.Add(time.Minute), RetainUntil: base.Add(time.Hour)})
			require.NoError(t, err)
			require.True(t, holder.Granted)

			c := srv.client()
			switch how {
			case "RestartWithoutPersistence":
				srv.restart()
			case "FLUSHALL":
				require.NoError(t, c.FlushAll(ctx).Err())
			case "FLUSHDB":
				require.NoError(t, c.FlushDB(ctx).Err())
			case "EpochDeleted":
				// The epoch alone evicted or deleted: as good as a lost
				// data set, since the store can no longer vouch for it.
				require.NoError(t, c.Del(ctx, redisstore.DefaultPrefix+"epoch").Err())
			}

			for i := range n {
				err := l.call(keyN(i), 16)
				if how == "EpochDeleted" && err == nil {
					continue // the record survived and replayed: no run (requireNoRerun)
				}
				require.ErrorIs(t, err, store.ErrRecordsLost, "key %d after the loss", i)
				assert.ErrorContains(t, err, "appendonly yes")
			}
			require.ErrorIs(t, l.call(keyN(n+1), 16), store.ErrRecordsLost, "a new key after the loss")
			// Its claim (SET NX GET, checked after) was withdrawn: no
			// record blocks the key once the operator starts a new epoch.
			require.Zero(t, c.Exists(ctx, redisstore.DefaultPrefix+keyN(n+1).String()).Val(), "the refused claim of a new key left a record")
			err = s.Complete(ctx, keyN(n), store.Fence{Owner: holder.Record.Owner, Token: holder.Record.Token}, nil, base.Add(time.Hour))
			require.ErrorIs(t, err, store.ErrRecordsLost, "the holder's Complete after the loss")
			for _, op := range []error{
				s.Renew(ctx, keyN(n), store.Fence{Owner: holder.Record.Owner, Token: holder.Record.Token}, base.Add(2*time.Minute)),
				s.Release(ctx, keyN(n), store.Fence{Owner: holder.Record.Owner, Token: holder.Record.Token}),
				s.MarkIndeterminate(ctx, keyN(n), store.Fence{Owner: holder.Record.Owner, Token: holder.Record.Token}, base.Add(time.Hour)),
				s.Delete(ctx, keyN(0)),
			} {
				require.ErrorIs(t, op, store.ErrRecordsLost)
			}
			_, err = s.Sweep(ctx, base)
			require.ErrorIs(t, err, store.ErrRecordsLost)
			l.requireNoRerun()

			// A process that opens the store after the loss cannot tell the
			// emptied server from a new one and starts a new epoch; the
			// process that saw the old one still fails closed.
			if how != "EpochDeleted" {
				fresh, err := redisstore.Open(srv.url() + "?unsafe=accept-data-loss")
				require.NoError(t, err)
				t.Cleanup(func() { _ = fresh.Close() })
				_, err = fresh.Get(ctx, keyN(0))
				require.ErrorIs(t, err, store.ErrNotFound)
				require.NoError(t, newLedger(t, fresh).call(keyN(n+2), 16))
				require.ErrorIs(t, l.call(keyN(0), 16), store.ErrRecordsLost, "the old process after a new epoch")
			}

			// The operator starts a new epoch once the loss is dealt with.
			require.NoError(t, s.ResetEpoch(ctx))
			require.NoError(t, l.call(keyN(0), 16))
			if how == "EpochDeleted" {
				assert.Equal(t, 1, l.runs[keyN(0)], "the records survived: the key replays")
			} else {
				assert.Equal(t, 2, l.runs[keyN(0)], "after ResetEpoch a lost key runs again, as the operator decided")
			}
		})
	}
}

// Redis evicting records (allkeys-lru or volatile-lru with a small
// maxmemory) never lets an
// evicted key run again: once Redis has evicted a key, a claim that finds
// its record absent fails with store.ErrRecordsLost; records still present
// replay.
func TestEvictionFailsClosed(t *testing.T) {
	// volatile-lru evicts only keys with an expiry: records, never the
	// epoch, so that only the count of evictions can tell.
	for _, policy := range []string{"allkeys-lru", "volatile-lru"} {
		t.Run(policy, func(t *testing.T) { testEviction(t, policy, false) })
	}
	// New keys claimed by the claim script (Redis before 7.0), whose
	// check runs inside it.
	t.Run("ScriptClaims", func(t *testing.T) { testEviction(t, "volatile-lru", true) })
}

func testEviction(t *testing.T, policy string, scriptClaims bool) {
	srv := startServer(t, "--appendonly", "no", "--maxmemory", "3mb", "--maxmemory-policy", policy)
	s := srv.openUnsafe()
	if scriptClaims {
		redisstore.ScriptClaimsOnly(s)
	}
	l := newLedger(t, s)
	ctx := context.Background()
	c := srv.client()
	written := 0
	for ; written < 5000; written++ {
		if err := l.call(keyN(written), 4096); err != nil {
			require.ErrorIs(t, err, store.ErrRecordsLost, "key %d", written)
			break
		}
	}
	evicted := func() int {
		info, err := c.Info(ctx, "stats").Result()
		require.NoError(t, err)
		var n int
		for _, line := range splitLines(info) {
			if _, err := fmt.Sscanf(line, "evicted_keys:%d", &n); err == nil {
				return n
			}
		}
		t.Fatal("no evicted_keys in INFO stats")
		return 0
	}
	require.Positive(t, evicted(), "Redis evicted nothing: the test needs a smaller maxmemory")

	lost, replayed := 0, 0
	for i := range written {
		err := l.call(keyN(i), 16)
		switch {
		case err == nil:
			replayed++
		default:
			require.ErrorIs(t, err, store.ErrRecordsLost, "key %d", i)
			// The refused claim wrote nothing that stays (see fresh.go).
			require.Zero(t, c.Exists(ctx, redisstore.DefaultPrefix+keyN(i).String()).Val(), "the refused claim of key %d left a record", i)
			lost++
		}
	}
	t.Logf("%d keys written before the first eviction was detected, %d evicted keys, %d replayed, %d refused", written, evicted(), replayed, lost)
	require.Positive(t, lost, "no claim noticed the evictions")
	l.requireNoRerun()
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// The loss check behind the SET NX GET of a new key (check.lua, see
// fresh.go) works when the server has lost its scripts (SCRIPT FLUSH, a
// restart): it is loaded and run after the SET, and still fails closed,
// leaving no record, when the epoch is gone.
func TestFreshClaimCheckAfterScriptFlush(t *testing.T) {
	srv := startServer(t, "--appendonly", "no")
	s := srv.openUnsafe()
	l := newLedger(t, s)
	ctx := context.Background()
	c := srv.client()
	require.NoError(t, l.call(keyN(1), 16))

	require.NoError(t, c.ScriptFlush(ctx).Err())
	require.NoError(t, l.call(keyN(2), 16), "a new key after SCRIPT FLUSH")
	assert.Equal(t, 1, l.runs[keyN(2)])

	require.NoError(t, c.ScriptFlush(ctx).Err())
	require.NoError(t, c.Del(ctx, redisstore.DefaultPrefix+"epoch").Err())
	require.ErrorIs(t, l.call(keyN(3), 16), store.ErrRecordsLost, "a new key after SCRIPT FLUSH and the epoch's loss")
	require.Zero(t, c.Exists(ctx, redisstore.DefaultPrefix+keyN(3).String()).Val(), "the refused claim left a record")
	assert.Zero(t, l.runs[keyN(3)])
}

// A server that can lose records is refused on the store's first
// operation with redisstore.ErrUnsafeConfig, naming the fix and the URL
// parameter that accepts the risk; a safe one is accepted; where CONFIG is
// disabled the store reads INFO.
func TestUnsafeConfigRefused(t *testing.T) {
	cases := []struct {
		name string
		args []string
		safe bool
		why  string
	}{
		{"NoAOF", []string{"--appendonly", "no"}, false, "appendonly"},
		{"FsyncNo", []string{"--appendonly", "yes", "--appendfsync", "no"}, false, "appendfsync"},
		{"Eviction", []string{"--appendonly", "yes", "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"}, false, "maxmemory-policy"},
		{"VolatileEviction", []string{"--appendonly", "yes", "--maxmemory-policy", "volatile-lru"}, false, "maxmemory-policy"},
		{"Safe", []string{"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"}, true, ""},
		{"SafeAlways", []string{"--appendonly", "yes", "--appendfsync", "always"}, true, ""},
		{"NoConfigCommandUnsafe", []string{"--appendonly", "no", "--rename-command", "CONFIG", ""}, false, "appendonly"},
		{"NoConfigCommandSafe", []string{"--appendonly", "yes", "--rename-command", "CONFIG", ""}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.args...)
			s, err := redisstore.Open(srv.url())
			require.NoError(t, err, "Open does not contact the server")
			t.Cleanup(func() { _ = s.Close() })
			l := newLedger(t, s)
			err = l.call(keyN(1), 1)
			if tc.safe {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, redisstore.ErrUnsafeConfig)
			assert.ErrorContains(t, err, tc.why)
			assert.ErrorContains(t, err, "unsafe=accept-data-loss")
			assert.Empty(t, l.runs, "a refused store ran something")

			accepting, err := redisstore.Open(srv.url() + "?unsafe=accept-data-loss")
			require.NoError(t, err)
			t.Cleanup(func() { _ = accepting.Close() })
			require.NoError(t, newLedger(t, accepting).call(keyN(1), 1))
		})
	}
	_, err := redisstore.Open("redis://127.0.0.1:1/0?unsafe=yes")
	require.ErrorContains(t, err, "accept-data-loss")
	_, err = redisstore.New(redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}}))
	require.ErrorContains(t, err, "WithUnsafeAcceptDataLoss")
}

// The client Open makes follows the context's deadline: a call to a server
// that does not answer returns at the deadline, not after go-redis' own
// read timeout.
func TestContextDeadlineFollowed(t *testing.T) {
	srv := startServer(t, "--appendonly", "yes")
	s, err := redisstore.Open(srv.url())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, newLedger(t, s).call(keyN(1), 1)) // connected, epoch established
	require.NoError(t, srv.client().Do(context.Background(), "CLIENT", "PAUSE", "4000", "ALL").Err())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Get(ctx, keyN(1))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "the call outlived its 200ms deadline")
}

// With wait=N every write waits for N replicas: with the replica up, calls
// succeed and their records are on the replica when they return; with it
// gone, a call fails at the wait timeout instead of acknowledging a write a
// failover could lose.
func TestWaitReplicas(t *testing.T) {
	master := startServer(t, "--appendonly", "yes")
	replica := startServer(t, "--appendonly", "yes", "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	rc := replica.client()
	ctx := context.Background()
	for i := 0; ; i++ {
		info, err := rc.Info(ctx, "replication").Result()
		require.NoError(t, err)
		if strings.Contains(info, "master_link_status:up") {
			break
		}
		require.Less(t, i, 3000, "the replica did not catch up within 30 s")
		time.Sleep(10 * time.Millisecond)
	}
	s, err := redisstore.Open(master.url() + "?wait=1&wait-timeout=300ms")
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	l := newLedger(t, s)
	for i := range 20 {
		require.NoError(t, l.call(keyN(i), 16))
		v, err := rc.Get(ctx, redisstore.DefaultPrefix+keyN(i).String()).Result()
		require.NoError(t, err, "key %d is not on the replica when its call returned", i)
		assert.Contains(t, v, "idem1 2", "key %d is completed on the replica", i)
	}

	replica.kill()
	start := time.Now()
	err = l.call(keyN(100), 16)
	require.Error(t, err)
	assert.ErrorContains(t, err, "replicas")
	assert.Less(t, time.Since(start), 3*time.Second)

	_, err = redisstore.Open(master.url() + "?wait=x")
	require.ErrorContains(t, err, "wait=")
	_, err = redisstore.Open(master.url() + "?wait=1&wait-timeout=-1s")
	require.ErrorContains(t, err, "wait-timeout")
}
