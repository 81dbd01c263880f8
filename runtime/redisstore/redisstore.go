// Package redisstore is a store.Store and store.Sweeper on Redis, through
// github.com/redis/go-redis/v9.
//
// Each record is one string value at the key prefix + the key's 64 hex
// characters (prefix "idem:" by default), in the layout below. Every write
// and every claim is one Lua script run atomically by Redis (EVALSHA,
// falling back to EVAL when the server does not have the script yet), so
// each is one round trip, and each touches the record's key and the epoch
// key of its hash slot only, so the store works on Redis Cluster too. The
// exception is the claim of a key without a record (a first call): one
// native SET NX GET, with the loss check pipelined behind it (see
// fresh.go). Get is one GET. It needs Redis 4.0 or later; claims of new
// keys take the script before Redis 7.0, which added SET NX GET. The scripts read no clock and
// draw no random numbers, so they replicate alike by script or by effects.
//
// # Safe configuration
//
// Redis acknowledges a write before it is durable unless told otherwise,
// and a lost record lets a call that already ran run again. The store's
// first operation therefore checks the server (every master of a cluster)
// with CONFIG GET, or INFO where CONFIG is disabled, and fails with
// ErrUnsafeConfig unless:
//
//   - appendonly yes: without the append-only file a restart loses every
//     record written since the last snapshot;
//   - appendfsync everysec (a crash of the machine loses at most about the
//     last second of writes) or always (loses none, at the cost of an
//     fsync per write); appendfsync no leaves flushing to the OS (about
//     30 s). INFO does not show appendfsync, so without CONFIG it is not
//     checked;
//   - maxmemory-policy noeviction: every other policy evicts records (the
//     volatile ones too: records carry a native expiry), and a server that
//     is full then refuses writes, which the store reports as errors.
//
// With replicas, add the URL parameter wait=N (WithWaitReplicas) with N
// the number of replicas, so that an operation returns only once its write
// is on every replica and a failover cannot promote one that misses it.
// The URL parameter unsafe=accept-data-loss (WithUnsafeAcceptDataLoss)
// skips the check, for tests and caches of effects that may repeat.
//
// # Lost records
//
// A store that lost records cannot tell a key that never ran from one whose
// record vanished, so it detects losses and fails closed with an error
// matching store.ErrRecordsLost, whose message says what happened and what
// to do; the runtime then runs nothing, like on any store error.
//
//   - The epoch: the first operation of a store creates, where missing, an
//     epoch key (prefix + "epoch"; on a cluster one per hash slot, prefix +
//     "epoch{tag}", all created together) holding a random id, and every
//     script checks that it still holds the id the store started with. A
//     restart without persistence, FLUSHALL, FLUSHDB, or the epoch key
//     evicted or deleted fails every later operation of the processes that
//     were running.
//   - Evictions: the epoch also records Redis' evicted_keys count when it
//     was created; a claim or script that finds the record it looks for
//     absent fails when Redis has evicted any key since, so an evicted
//     record never reads as a new key.
//   - Not detected: a process that opens the store after the server lost
//     everything cannot tell it from a new server and starts a new epoch
//     (the processes that were running still fail); a failover to a
//     replica that missed writes looks like an older data set (use wait=N
//     to prevent it); a redis.Ring client gets no detection at all (New
//     requires WithUnsafeAcceptDataLoss for it).
//
// Once the loss is understood (which calls may run again), start a new
// epoch: (*Store).ResetEpoch, or delete the epoch key(s) with redis-cli,
// and restart every process that uses the store. Get reads the record
// alone and does not check the epoch.
//
// # The record layout
//
// A record is readable text with fixed offsets, so that the scripts find
// each field without parsing and an operator can read it with redis-cli
// GET. For example (one line in Redis, wrapped here):
//
//	idem1 2 rs=+0000001893459600.000000000 tk=0000000000000001
//	 ow=<32 hex> ls=+0000001893456060.000000000 cs=+0000001893456000.000000000
//	 us=+0000001893456000.000000000 at=0000000001 fp=<64 hex>
//	 ns=0000000014:billing/charge res=<result>
//
// Each field follows its label; the 0-based byte offset of each value is:
//
//	0   "idem1 "  the layout's name and version (a new layout gets a new name)
//	6   state     '1' in progress, '2' completed, '3' indeterminate, '0' tombstone
//	11  rs=  RetainUntil                     42  tk=  token, 16 digits
//	62  ow=  owner, 32 hex digits            98  ls=  LeaseUntil
//	129 cs=  CreatedAt                       160 us=  UpdatedAt
//	191 at=  attempts, 10 digits             205 fp=  fingerprint, 64 hex digits
//	273 ns=  namespace length, 10 digits; then ':' and the namespace at 284
//
// The namespace field may end with a NUL byte and the fingerprint's
// per-part digests (store.Record.FingerprintParts) in hex digits; its
// length covers both. Binaries from before the parts read such a record
// unchanged, with the parts as part of the namespace, and records without
// the parts (written by them) read here with none.
//
// A time is 27 characters: a sign, 16 digits of Unix seconds, '.', 9 digits
// of nanoseconds. A completed record with a result ends with " res=" and
// the result's bytes (" res=" alone for an empty result, nothing for a nil
// one). The token, " ow=" and the owner (42 to 94) are adjacent: that
// substring is the fence every write compares. A tombstone is the first 58
// bytes: state '0', the retention and the token. Store.Get checks every
// label, digit and length, and reports a value in any other shape as a
// corrupt record rather than misread it; the scripts refuse a value that
// does not start with "idem1 ".
//
// The layout keeps the common paths short. A claim of a new key is a SET
// NX GET of the record to write (see fresh.go), answered with nil; a claim that replays a completed record is a GET and a
// comparison of the retention with the request's Now, answered with the
// record as stored; Complete is a GET, a fence comparison and a SET.
//
// A claim of a key this store last saw settled (it completed it, or a claim
// returned it completed or indeterminate) is first a plain GET, without a
// script: a replay costs what a GET costs. The GET's record is the answer
// only when it is completed or indeterminate and retained past the
// request's Now; anything else (no record, a tombstone, an in-progress or
// expired record) runs the claim script as usual. That GET does not check
// the epoch, and needs not: a record that exists is no loss (it is what
// the call that ran recorded), and an absent one goes through the script,
// which does.
//
// # Times
//
// Times are the caller's. Each is kept to the nanosecond, so it round-trips
// exactly, and the scripts compare the caller's Now with the record's
// lease and retention: a record whose RetainUntil is not after Now is
// treated as absent by Claim, whatever Redis' own clock says.
//
// Redis' native expiry is only a backstop that frees memory without Sweep.
// It is set relative to the write (SET with PX), never at an absolute time:
// a record retained for d past the caller's Now when it was granted
// expires in Redis d plus the margin (WithExpiryMargin, default one hour)
// after the grant (at least 1ms), and Complete, MarkIndeterminate, Release
// and Delete recompute it from UpdatedAt (the Now of the last claim that
// changed the record) as if no time had passed since, which overestimates
// the time left. So Redis never drops a record before the
// caller's clock has passed its retention, however far the caller's clock
// is from Redis' (a fake clock in a test), as long as the caller's clock
// does not run slower than real time by more than the margin over the
// record's life. A grant's expiry covers the later of its retention and
// its lease. Renew and a retried claim that move the lease forward shift
// the retention with it (store.ShiftRetention) and extend the expiry to
// cover the shifted retention (counted from UpdatedAt in the same way),
// never shortening it; a claim that marks a record indeterminate keeps it. WithoutNativeExpiry turns the backstop
// off, leaving removal to Sweep: a grant, Complete, MarkIndeterminate,
// Release and Delete then clear any expiry the key had.
//
// # Tokens
//
// A grant's token is one more than the token the key's value last had.
// Release and Delete leave a tombstone (the first 58 bytes of the layout:
// state '0', the retention and the token, which Get and Claim treat as
// absent) instead of deleting the key, so the next grant still gets a
// larger token; the tombstone goes with its native expiry or a Sweep after
// its retention. Once Redis no longer has the key (swept, natively
// expired), the sequence restarts; the owner in the fence still tells a
// former holder from the new one. The scripts count tokens exactly up to
// 2^53, far more grants than one key sees.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idem-go/idem/runtime/internal/settled"
	"github.com/idem-go/idem/runtime/store"
)

// Defaults for the options.
const (
	// DefaultPrefix is the key prefix unless WithPrefix says otherwise.
	DefaultPrefix = "idem:"
	// DefaultExpiryMargin is how long past its retention (measured as
	// described in the package doc) Redis keeps a record before expiring
	// it natively, unless WithExpiryMargin says otherwise.
	DefaultExpiryMargin = time.Hour
	// DefaultSweepBatch is the SCAN COUNT hint of Sweep and the most keys
	// it checks per pipelined round trip, unless WithSweepBatch says
	// otherwise.
	DefaultSweepBatch = 500
)

var (
	//go:embed lua/prelude.lua
	preludeLua string
	//go:embed lua/helpers.lua
	helpersLua string
	//go:embed lua/lease.lua
	leaseLua string
	//go:embed lua/claim.lua
	claimLua string
	//go:embed lua/complete.lua
	completeLua string
	//go:embed lua/mark.lua
	markLua string
	//go:embed lua/renew.lua
	renewLua string
	//go:embed lua/release.lua
	releaseLua string
	//go:embed lua/delete.lua
	deleteLua string
	//go:embed lua/sweep.lua
	sweepLua string
	//go:embed lua/epoch.lua
	epochLua string
	//go:embed lua/unclaim.lua
	unclaimLua string
	//go:embed lua/check.lua
	checkLua string
)

// scripts are one store's Lua scripts. go-redis' Script caches its digest,
// so each store has its own.
type scripts struct {
	claim, complete, mark, renew, release, delete, sweep, epoch, unclaim, check *redis.Script
}

func newScripts() scripts {
	// claim and complete, on the hot paths, do without the helpers; claim
	// defines the lease rules only past its hot paths.
	hot := func(src string) *redis.Script { return redis.NewScript(preludeLua + "\n" + src) }
	s := func(src string) *redis.Script {
		return redis.NewScript(preludeLua + "\n" + helpersLua + "\n" + leaseLua + "\n" + src)
	}
	return scripts{
		claim: hot(strings.Replace(claimLua, "--#lease.lua\n", leaseLua, 1)), complete: hot(completeLua), mark: s(markLua), renew: s(renewLua),
		release: s(releaseLua), delete: s(deleteLua), sweep: s(sweepLua), epoch: redis.NewScript(epochLua),
		unclaim: redis.NewScript(unclaimLua), check: redis.NewScript(checkLua),
	}
}

// Store is a store.Store and store.Sweeper on Redis. It is safe for
// concurrent use by many goroutines and by many processes sharing the
// server.
type Store struct {
	client     redis.UniversalClient
	ownsClient bool
	prefix     string
	native     bool  // whether records get a native expiry
	marginMS   int64 // its margin
	margin     any   // the margin for the scripts: decimal milliseconds, "" for no native expiry (boxed once)
	sweepBatch int
	sc         scripts
	closeOnce  sync.Once
	closeErr   error

	unsafe  bool // the caller accepts a server configuration that can lose records
	waitN   int  // replicas every script waits for (WithWaitReplicas); 0 for none
	waitFor time.Duration
	settled settled.Keys // keys last seen settled: their claims GET first
	noEpoch bool         // no loss detection (a Ring)
	epochs  epochKeys    // the epoch keys (see epoch.go)
	initMu  sync.Mutex
	epoch   atomic.Pointer[string] // the epoch id, once established ("" for noEpoch)
	fresh   freshState             // claims of absent keys without a script (see fresh.go)
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Sweeper = (*Store)(nil)
)

// Option configures New and Open.
type Option func(*config) error

type config struct {
	prefix     string
	margin     time.Duration
	native     bool
	sweepBatch int
	unsafe     bool
	waitN      int
	waitFor    time.Duration
}

// DefaultWaitTimeout is how long a write waits for its replicas
// (WithWaitReplicas) unless the URL's wait-timeout says otherwise.
const DefaultWaitTimeout = time.Second

// WithWaitReplicas makes every script wait, with Redis' WAIT on the same
// connection, until n replicas have its writes, for at most timeout; an
// operation that fewer replicas acknowledged fails (its write stands on
// the master). With n equal to the number of replicas, a failover can no
// longer promote a replica that misses an acknowledged claim or result,
// which the store could not detect. The URL parameters wait=N and
// wait-timeout=D (a Go duration, default DefaultWaitTimeout) of Open do
// the same. Not available on a redis.Ring.
func WithWaitReplicas(n int, timeout time.Duration) Option {
	return func(c *config) error {
		if n < 0 || timeout <= 0 {
			return fmt.Errorf("redisstore: WithWaitReplicas(%d, %v): the count must not be negative and the timeout must be positive", n, timeout)
		}
		c.waitN, c.waitFor = n, timeout
		return nil
	}
}

// The URL parameter of Open that accepts a server configuration that can
// lose records: unsafe=accept-data-loss (see WithUnsafeAcceptDataLoss).
const (
	unsafeParam = "unsafe"
	unsafeValue = "accept-data-loss"
)

// WithUnsafeAcceptDataLoss makes the store work with a server whose
// configuration can lose acknowledged records (no append-only file,
// appendfsync no, an eviction policy other than noeviction), which it
// otherwise refuses with ErrUnsafeConfig on its first operation. The URL
// parameter unsafe=accept-data-loss of Open does the same. Loss detection
// (see the package doc) stays on: a loss it detects still fails closed
// with store.ErrRecordsLost; losses it cannot detect (a failover to a
// replica that missed writes, a restart before any process opened the
// store) can run a completed call again. It is also required with a
// redis.Ring client, on which the store cannot detect losses at all.
func WithUnsafeAcceptDataLoss() Option {
	return func(c *config) error {
		c.unsafe = true
		return nil
	}
}

// WithPrefix makes the store keep its records under prefix instead of
// DefaultPrefix. Stores with different prefixes on one server are
// independent, provided no prefix is another's prefix followed by exactly
// 64 hexadecimal characters. An empty prefix is refused.
func WithPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix == "" {
			return errors.New("redisstore: the key prefix must not be empty; use DefaultPrefix (\"idem:\") or another non-empty prefix")
		}
		c.prefix = prefix
		return nil
	}
}

// WithExpiryMargin sets how long (d >= 0, rounded up to milliseconds)
// beyond its retention Redis keeps a record before expiring it natively;
// see the package doc.
func WithExpiryMargin(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("redisstore: expiry margin %v is negative; use WithoutNativeExpiry to turn native expiry off", d)
		}
		c.margin = d
		c.native = true
		return nil
	}
}

// WithoutNativeExpiry makes the store set no Redis expiry: records and
// tombstones stay until Sweep or Delete removes them.
func WithoutNativeExpiry() Option {
	return func(c *config) error {
		c.native = false
		return nil
	}
}

// WithSweepBatch sets the SCAN COUNT hint of Sweep and the most keys it
// checks per pipelined round trip (n > 0).
func WithSweepBatch(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("redisstore: sweep batch %d: must be positive", n)
		}
		c.sweepBatch = n
		return nil
	}
}

// New returns a store on client, which the caller keeps owning: Close leaves
// it open. It does not contact the server; the store's first operation
// checks the server's configuration and establishes its epoch (see the
// package doc). Set ContextTimeoutEnabled in the client's options so that
// its timeouts follow the operations' contexts, as Open does.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: New needs a redis.UniversalClient; use Open to connect from a URL")
	}
	c := config{prefix: DefaultPrefix, margin: DefaultExpiryMargin, native: true, sweepBatch: DefaultSweepBatch}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	s := &Store{client: client, prefix: c.prefix, margin: "", sweepBatch: c.sweepBatch, sc: newScripts(), unsafe: c.unsafe,
		waitN: c.waitN, waitFor: c.waitFor}
	switch client.(type) {
	case *redis.Ring:
		if c.waitN > 0 {
			return nil, errors.New("redisstore: WithWaitReplicas needs a single server, Sentinel or Cluster client, not a redis.Ring")
		}
		if !c.unsafe {
			return nil, errors.New("redisstore: on a redis.Ring the store cannot detect lost records (its epoch key cannot share a server with every record); use a single server, Sentinel or Cluster, or accept the risk with WithUnsafeAcceptDataLoss")
		}
		s.noEpoch = true
	case *redis.ClusterClient:
		s.epochs = newEpochKeys(c.prefix, true)
	default:
		s.epochs = newEpochKeys(c.prefix, false)
	}
	if c.native {
		s.native = true
		s.marginMS = ceilMillis(c.margin)
		s.margin = strconv.FormatInt(s.marginMS, 10)
	}
	return s, nil
}

// Open connects to the server named by rawURL (redis://, rediss:// or
// unix://, as redis.ParseURL accepts) and returns a store that owns the
// client: Close closes it. It does not contact the server; the first
// operation checks its configuration and establishes the store's epoch
// (see the package doc). Besides redis.ParseURL's parameters, the URL may
// carry unsafe=accept-data-loss (WithUnsafeAcceptDataLoss). The client's
// timeouts follow the operations' contexts (ContextTimeoutEnabled).
func Open(rawURL string, opts ...Option) (*Store, error) {
	rest, own, err := splitParams(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: open: %w", err)
	}
	o, err := redis.ParseURL(rest)
	if err != nil {
		return nil, fmt.Errorf("redisstore: open: %w", err)
	}
	o.ContextTimeoutEnabled = true
	opts = append(own, opts...)
	client := redis.NewClient(o)
	s, err := New(client, opts...)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	s.ownsClient = true
	return s, nil
}

// splitParams removes this package's own parameters from a Redis URL
// (unsafe, wait, wait-timeout), which redis.ParseURL would refuse, and
// returns them as options.
func splitParams(rawURL string) (rest string, opts []Option, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	if q.Has(unsafeParam) {
		if v := q.Get(unsafeParam); v != unsafeValue {
			return "", nil, fmt.Errorf("the URL parameter %s=%q is not understood; the only value is %s=%s, which accepts a server configuration that can lose records", unsafeParam, v, unsafeParam, unsafeValue)
		}
		opts = append(opts, WithUnsafeAcceptDataLoss())
	}
	if q.Has("wait") || q.Has("wait-timeout") {
		n, timeout := 0, DefaultWaitTimeout
		if q.Has("wait") {
			if n, err = strconv.Atoi(q.Get("wait")); err != nil || n < 0 {
				return "", nil, fmt.Errorf("the URL parameter wait=%q is not a count of replicas (wait=1 waits for one replica)", q.Get("wait"))
			}
		}
		if q.Has("wait-timeout") {
			if timeout, err = time.ParseDuration(q.Get("wait-timeout")); err != nil || timeout <= 0 {
				return "", nil, fmt.Errorf("the URL parameter wait-timeout=%q is not a positive Go duration (wait-timeout=500ms)", q.Get("wait-timeout"))
			}
		}
		opts = append(opts, WithWaitReplicas(n, timeout))
	}
	for _, p := range []string{unsafeParam, "wait", "wait-timeout"} {
		q.Del(p)
	}
	u.RawQuery = q.Encode()
	return u.String(), opts, nil
}

// init checks the server's configuration (unless the caller accepted the
// risk) and establishes the store's epoch, once; it returns the epoch id
// ("" without loss detection). A failure is returned to the operation and
// init runs again on the next one.
func (s *Store) init(ctx context.Context) (string, error) {
	if p := s.epoch.Load(); p != nil {
		return *p, nil
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	if p := s.epoch.Load(); p != nil {
		return *p, nil
	}
	if !s.unsafe {
		if err := s.checkConfig(ctx); err != nil {
			return "", err
		}
	}
	id := ""
	if !s.noEpoch {
		var err error
		if id, err = s.establish(ctx); err != nil {
			return "", fmt.Errorf("establish the store epoch: %w", err)
		}
	}
	s.epoch.Store(&id)
	return id, nil
}

// run runs script sc on the record key rk with the store's epoch check
// (see lua/prelude.lua): the epoch key of rk's slot is the second key and
// the epoch id the first argument. It establishes the epoch first, and
// turns a detected loss into an error matching store.ErrRecordsLost.
func (s *Store) run(ctx context.Context, sc *redis.Script, rk string, args ...any) *redis.Cmd {
	id, err := s.init(ctx)
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	keys := []string{rk}
	if !s.noEpoch {
		keys = append(keys, s.epochs.of(rk))
	}
	args = append([]any{id}, args...)
	var cmd *redis.Cmd
	if s.waitN > 0 {
		cmd = s.runWaiting(ctx, sc, keys, args)
	} else {
		cmd = sc.Run(ctx, s.client, keys, args...)
	}
	if err := cmd.Err(); err != nil {
		cmd.SetErr(lostError(err))
	}
	return cmd
}

// runWaiting runs sc and then WAIT for s.waitN replicas in one pipeline
// on the connection of the master of keys[0] (WAIT counts the writes of
// its own connection), loading the script first when the server lacks it.
func (s *Store) runWaiting(ctx context.Context, sc *redis.Script, keys []string, args []any) *redis.Cmd {
	fail := func(err error) *redis.Cmd {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	node, err := s.master(ctx, keys[0])
	if err != nil {
		return fail(fmt.Errorf("WithWaitReplicas: %w", err))
	}
	for try := 0; ; try++ {
		pipe := node.Pipeline()
		cmd := sc.EvalSha(ctx, pipe, keys, args...)
		wait := pipe.Do(ctx, "WAIT", s.waitN, s.waitFor.Milliseconds())
		_, _ = pipe.Exec(ctx)
		if err := cmd.Err(); err != nil {
			if try == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
				if err := sc.Load(ctx, node).Err(); err != nil {
					return fail(err)
				}
				continue
			}
			return cmd
		}
		if err := s.checkWait(wait); err != nil {
			return fail(err)
		}
		return cmd
	}
}

// checkWait returns an error unless the WAIT command wait, sent after a
// write on its connection, counted s.waitN replicas.
func (s *Store) checkWait(wait *redis.Cmd) error {
	acked, err := wait.Int64()
	if err != nil {
		return fmt.Errorf("WAIT for %d replicas: %w", s.waitN, err)
	}
	if acked < int64(s.waitN) {
		return fmt.Errorf("only %d of the %d replicas the store waits for (wait=%d) acknowledged the write within %v; it stands on the master but a failover now could lose it", acked, s.waitN, s.waitN, s.waitFor)
	}
	return nil
}

// Prefix returns the key prefix of the store's records.
func (s *Store) Prefix() string { return s.prefix }

// redisKey returns the Redis key of key: the prefix and the key's 64
// lowercase hex characters (key.String()), built in one allocation.
func (s *Store) redisKey(key store.Key) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + 2*len(key))
	b.WriteString(s.prefix)
	for _, c := range key {
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// Claim implements store.Store with one script. The request travels as the
// record a fresh grant writes, and a fresh grant answers with its token
// only, so that the common paths carry little: a first call sends one
// record and reads one integer, a replay reads one string.
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return store.ClaimResult{}, err
	}
	if err := store.CheckClaimTimes(req); err != nil {
		return store.ClaimResult{}, fmt.Errorf("redisstore: claim key %s: %w", req.Key, err)
	}
	tried := false // whether the key is known to have a record
	if s.settled.Has(req.Key) {
		// Most likely a replay: one GET, answered from when the record
		// is settled and retained (see internal/settled). A record that
		// exists is no loss; an absent one takes the script, which
		// checks the epoch.
		rec, err := s.Get(ctx, req.Key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ClaimResult{}, fmt.Errorf("redisstore: claim key %s: %w", req.Key, err)
		}
		if res, ok := settled.Answer(rec, req); err == nil && ok {
			return res, nil
		}
		if err == nil {
			tried = true // a record is there: SET NX GET would not write
		}
	}
	takeover := "0"
	if req.Takeover {
		takeover = "1"
	}
	var expiry any = ""
	if s.native {
		// Covering the later of the retention and the lease.
		cover := req.RetainUntil
		if req.LeaseUntil.After(cover) {
			cover = req.LeaseUntil
		}
		left := cover.Sub(req.Now)
		if left < 0 {
			left = 0
		}
		// At least 1ms, which SET PX accepts: a record already past its
		// retention is absent to the caller anyway.
		expiry = max(ceilMillis(left)+s.marginMS, 1)
	}
	grant := appendGrant(make([]byte, 0, grantLen(&req)), &req)
	rk := s.redisKey(req.Key)
	if !tried {
		if res, done, err := s.claimFresh(ctx, &req, rk, grant, expiry); done {
			if err != nil {
				return store.ClaimResult{}, fmt.Errorf("redisstore: claim key %s: %w", req.Key, err)
			}
			return res, nil
		}
	}
	v, err := s.run(ctx, s.sc.claim, rk, grant, takeover, expiry, s.margin).Result()
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("redisstore: claim key %s: %w", req.Key, err)
	}
	var res store.ClaimResult
	switch v := v.(type) {
	case int64:
		return store.ClaimResult{Granted: true, Record: grantRecord(&req, v)}, nil
	case string:
		if v != "" {
			switch v[0] {
			case 'G':
				res.Granted, v = true, v[1:]
			case 'T':
				res.Granted, res.TookOver, v = true, true, v[1:]
			}
		}
		var found bool
		res.Record, found, err = parseRecord(req.Key, v)
		if err == nil && !found {
			err = errors.New("the script returned a tombstone")
		}
	default:
		err = fmt.Errorf("the script returned a %T", v)
	}
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("redisstore: claim key %s: %w", req.Key, err)
	}
	if !res.Granted && res.Record.State != store.StateInProgress {
		s.settled.Add(req.Key)
	}
	return res, nil
}

// fenced runs a script conditional on the fence and maps its 0 answer to
// store.ErrFenced. The script's arguments are the fence, then t (a time in
// the layout) unless it is the zero time.Time, then more.
func (s *Store) fenced(ctx context.Context, op string, sc *redis.Script, key store.Key, f store.Fence, t *time.Time, more ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// One buffer for the fence and the time.
	b := appendFence(make([]byte, 0, fenceLen+timeLen), f)
	args := make([]any, 0, 2+len(more))
	args = append(args, b)
	if t != nil {
		b = appendTime(b, *t)
		args[0], args = b[:len(b)-timeLen], append(args, b[len(b)-timeLen:])
	}
	args = append(args, more...)
	n, err := s.run(ctx, sc, s.redisKey(key), args...).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: %s key %s: %w", op, key, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: %s key %s (owner %s, token %d): %w", op, key, f.Owner, f.Token, store.ErrFenced)
	}
	return nil
}

// Complete implements store.Store. A nil and an empty result both read back
// as they were written.
func (s *Store) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("redisstore: complete key %s: %w", key, err)
	}
	var err error
	if result == nil {
		err = s.fenced(ctx, "complete", s.sc.complete, key, f, &retainUntil, s.margin)
	} else {
		err = s.fenced(ctx, "complete", s.sc.complete, key, f, &retainUntil, s.margin, result)
	}
	if err == nil {
		s.settled.Add(key)
	}
	return err
}

// Release implements store.Store. The record becomes a tombstone that Get
// and Claim treat as absent (see the package doc).
func (s *Store) Release(ctx context.Context, key store.Key, f store.Fence) error {
	return s.fenced(ctx, "release", s.sc.release, key, f, nil, s.margin)
}

// MarkIndeterminate implements store.Store.
func (s *Store) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retainUntil time.Time) error {
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("redisstore: mark indeterminate key %s: %w", key, err)
	}
	return s.fenced(ctx, "mark indeterminate", s.sc.mark, key, f, &retainUntil, s.margin)
}

// Renew implements store.Store: it sets the lease, shifts the retention
// with it (store.ShiftRetention), and extends (never shortens) the native expiry to cover the
// retention.
func (s *Store) Renew(ctx context.Context, key store.Key, f store.Fence, leaseUntil time.Time) error {
	if err := store.CheckTime("leaseUntil", leaseUntil); err != nil {
		return fmt.Errorf("redisstore: renew key %s: %w", key, err)
	}
	return s.fenced(ctx, "renew", s.sc.renew, key, f, &leaseUntil, s.margin)
}

// Get implements store.Store: one GET.
func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	v, err := s.client.Get(ctx, s.redisKey(key)).Result()
	if errors.Is(err, redis.Nil) {
		return store.Record{}, fmt.Errorf("redisstore: get key %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: get key %s: %w", key, err)
	}
	rec, found, err := parseRecord(key, v)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: get key %s: %w", key, err)
	}
	if !found {
		return store.Record{}, fmt.Errorf("redisstore: get key %s: %w", key, store.ErrNotFound)
	}
	return rec, nil
}

// Delete implements store.Store. The record becomes a tombstone that Get
// and Claim treat as absent (see the package doc).
func (s *Store) Delete(ctx context.Context, key store.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.run(ctx, s.sc.delete, s.redisKey(key), s.margin).Err(); err != nil {
		return fmt.Errorf("redisstore: delete key %s: %w", key, err)
	}
	return nil
}

// Sweep implements store.Sweeper. It SCANs the store's keys (every master
// of a cluster, every shard of a ring) and checks them in pipelined batches
// of WithSweepBatch keys, each check one script that deletes the record or
// tombstone when its retention is not after now. It returns how many
// records (not tombstones) it deleted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := store.CheckTime("now", now); err != nil {
		return 0, fmt.Errorf("redisstore: sweep: %w", err)
	}
	id, err := s.init(ctx)
	if err == nil && !s.noEpoch {
		// A server that lost everything has nothing to scan: check the
		// epoch itself.
		err = s.verifyEpoch(ctx, id)
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: sweep %q: %w", s.prefix, err)
	}
	at := formatTime(now)
	var (
		mu    sync.Mutex
		total int
	)
	each := func(ctx context.Context, node *redis.Client) error {
		n, err := s.sweepNode(ctx, node, id, at)
		mu.Lock()
		total += n
		mu.Unlock()
		return err
	}
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, each)
	case *redis.Ring:
		err = c.ForEachShard(ctx, each)
	default:
		var n int
		n, err = s.sweepNode(ctx, s.client, id, at)
		total = n
	}
	if err != nil {
		return total, fmt.Errorf("redisstore: sweep %q: %w", s.prefix, lostError(err))
	}
	return total, nil
}

// node is what Sweep needs of one server.
type node interface {
	redis.Cmdable
	redis.Scripter
}

func (s *Store) sweepNode(ctx context.Context, c node, id, at string) (int, error) {
	if err := s.sc.sweep.Load(ctx, c).Err(); err != nil {
		return 0, err
	}
	match := globEscape(s.prefix) + strings.Repeat("[0-9a-f]", 2*len(store.Key{}))
	total := 0
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, match, int64(s.sweepBatch)).Result()
		if err != nil {
			return total, err
		}
		for len(keys) > 0 {
			batch := keys[:min(len(keys), s.sweepBatch)]
			keys = keys[len(batch):]
			n, err := s.sweepKeys(ctx, c, batch, id, at)
			total += n
			if err != nil {
				return total, err
			}
		}
		if next == 0 {
			return total, nil
		}
		cursor = next
	}
}

// sweepKeys runs the sweep script on each of keys in one pipeline. The
// script was loaded just before; a server that lost it since (SCRIPT FLUSH)
// fails the sweep with NOSCRIPT, and the next Sweep loads it again.
func (s *Store) sweepKeys(ctx context.Context, c node, keys []string, id, at string) (int, error) {
	pipe := c.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		ks := []string{k}
		if !s.noEpoch {
			ks = append(ks, s.epochs.of(k))
		}
		cmds[i] = s.sc.sweep.EvalSha(ctx, pipe, ks, id, at)
	}
	_, err := pipe.Exec(ctx)
	n := 0
	for _, cmd := range cmds {
		if v, e := cmd.Int64(); e == nil {
			n += int(v)
		}
	}
	return n, err
}

// Close implements store.Store. It closes the client when the store was
// made by Open, and leaves a caller's client (New) open.
func (s *Store) Close() error {
	if !s.ownsClient {
		return nil
	}
	s.closeOnce.Do(func() { s.closeErr = s.client.Close() })
	return s.closeErr
}

// ceilMillis rounds d (>= 0) up to whole milliseconds.
func ceilMillis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// globEscape escapes the characters that are special in a SCAN MATCH
// pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\', '^':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
