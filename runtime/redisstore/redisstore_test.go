package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newClient connects to the test server and closes the client when tb ends.
func newClient(tb testing.TB) *redis.Client {
	tb.Helper()
	o, err := redis.ParseURL(testenv.RedisURL(tb))
	require.NoError(tb, err)
	c := redis.NewClient(o)
	tb.Cleanup(func() { _ = c.Close() })
	require.NoError(tb, c.Ping(context.Background()).Err(), "Redis at IDEM_TEST_REDIS_URL")
	return c
}

// freshPrefix returns an unused key prefix and, when c is not nil, deletes
// every key under it when tb ends.
func freshPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	prefix := "idemtest:" + hex.EncodeToString(b) + ":"
	if c != nil {
		tb.Cleanup(func() { deleteUnder(tb, c, prefix) })
	}
	return prefix
}

func deleteUnder(tb testing.TB, c *redis.Client, prefix string) {
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if !assert.NoError(tb, err) {
			return
		}
		if len(keys) > 0 {
			pipe := c.Pipeline()
			for _, k := range keys {
				pipe.Del(ctx, k)
			}
			_, err := pipe.Exec(ctx)
			assert.NoError(tb, err)
		}
		if next == 0 {
			return
		}
		cursor = next
	}
}

func newStore(tb testing.TB, c *redis.Client, opts ...redisstore.Option) *redisstore.Store {
	tb.Helper()
	// The shared test server runs without an append-only file.
	opts = append([]redisstore.Option{redisstore.WithPrefix(freshPrefix(tb, c)), redisstore.WithUnsafeAcceptDataLoss()}, opts...)
	s, err := redisstore.New(c, opts...)
	require.NoError(tb, err)
	return s
}

func TestConformance(t *testing.T) {
	c := newClient(t)
	variants := []struct {
		name string
		opts []redisstore.Option
	}{
		{"Default", nil},
		{"NoNativeExpiry", []redisstore.Option{redisstore.WithoutNativeExpiry()}},
		{"ZeroMarginSweepBatch1", []redisstore.Option{redisstore.WithExpiryMargin(0), redisstore.WithSweepBatch(1)}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, c, v.opts...) })
		})
	}
	// New keys claimed by the claim script, as against Redis before 7.0.
	t.Run("ScriptClaims", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return redisstore.ScriptClaimsOnly(newStore(t, c)) })
	})
}

func newKey(tb testing.TB) store.Key {
	var k store.Key
	_, err := rand.Read(k[:])
	require.NoError(tb, err)
	return k
}

func newOwner(tb testing.TB) store.Owner {
	var o store.Owner
	_, err := rand.Read(o[:])
	require.NoError(tb, err)
	return o
}

func request(tb testing.TB, key store.Key, now time.Time) store.ClaimRequest {
	return store.ClaimRequest{
		Key:         key,
		Namespace:   "redisstore_test",
		Owner:       newOwner(tb),
		Now:         now,
		LeaseUntil:  now.Add(time.Minute),
		RetainUntil: now.Add(time.Hour),
	}
}

func fenceOf(r store.Record) store.Fence { return store.Fence{Owner: r.Owner, Token: r.Token} }

// Native expiry follows the caller's clock, not Redis': a record granted at
// a caller's Now years from Redis' clock gets the TTL of its retention left
// plus the margin, and Complete and MarkIndeterminate recompute it from the
// grant.
func TestNativeExpiryIsRelative(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	const margin = 10 * time.Minute
	s := newStore(t, c, redisstore.WithExpiryMargin(margin))
	pttl := func(key store.Key) time.Duration {
		d, err := c.PTTL(ctx, s.Prefix()+key.String()).Result()
		require.NoError(t, err)
		return d
	}
	// within asserts a TTL set just now to want: Redis counts down in real
	// time, so allow for the time this test took since.
	within := func(want, got time.Duration) {
		t.Helper()
		assert.LessOrEqual(t, got, want)
		assert.Greater(t, got, want-time.Minute, "want about %v, got %v", want, got)
	}

	for _, now := range []time.Time{
		time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), // long before Redis' clock
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), // long after
	} {
		key := newKey(t)
		req := request(t, key, now)
		req.RetainUntil = now.Add(3 * time.Hour)
		r, err := s.Claim(ctx, req)
		require.NoError(t, err)
		within(3*time.Hour+margin, pttl(key))

		// Completing two hours into the grant keeps retention for five
		// hours from the grant (the store does not know the caller's clock
		// at Complete, so it counts from the grant: never too short).
		require.NoError(t, s.Complete(ctx, key, fenceOf(r.Record), []byte("x"), now.Add(5*time.Hour)))
		within(5*time.Hour+margin, pttl(key))

		k2 := newKey(t)
		r, err = s.Claim(ctx, request(t, k2, now))
		require.NoError(t, err)
		require.NoError(t, s.MarkIndeterminate(ctx, k2, fenceOf(r.Record), now.Add(48*time.Hour)))
		within(48*time.Hour+margin, pttl(k2))

		// A takeover is a new grant: its retention counts from its Now.
		k3 := newKey(t)
		_, err = s.Claim(ctx, request(t, k3, now))
		require.NoError(t, err)
		over := request(t, k3, now.Add(2*time.Minute))
		over.Takeover = true
		over.RetainUntil = over.Now.Add(7 * time.Hour)
		r, err = s.Claim(ctx, over)
		require.NoError(t, err)
		require.True(t, r.TookOver)
		within(7*time.Hour+margin, pttl(k3))

		// A retention (and lease) already passed at the grant still lives
		// the margin.
		k4 := newKey(t)
		past := request(t, k4, now)
		past.RetainUntil = now.Add(-time.Hour)
		past.LeaseUntil = now.Add(-time.Hour)
		_, err = s.Claim(ctx, past)
		require.NoError(t, err)
		within(margin, pttl(k4))
	}

	// Without native expiry nothing expires, and a store switched to it
	// clears an expiry it set before on the next grant.
	off := newStore(t, c, redisstore.WithoutNativeExpiry())
	key := newKey(t)
	r, err := off.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	d, err := c.PTTL(ctx, off.Prefix()+key.String()).Result()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), d, "no expiry")
	require.NoError(t, off.Complete(ctx, key, fenceOf(r.Record), nil, base.Add(time.Hour)))
	d, err = c.PTTL(ctx, off.Prefix()+key.String()).Result()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), d, "no expiry after Complete")
}

// The backstop really removes a record: with a zero margin and a retention
// that has passed at the grant, Redis expires the key at once.
func TestNativeExpiryRemoves(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s := newStore(t, c, redisstore.WithExpiryMargin(time.Millisecond))
	req := request(t, newKey(t), base)
	req.RetainUntil = base
	req.LeaseUntil = base
	_, err := s.Claim(ctx, req)
	require.NoError(t, err)
	gone := false
	for range 200 { // bounded: Redis expires a 1ms key within a few ms
		if _, err := s.Get(ctx, req.Key); err != nil {
			require.ErrorIs(t, err, store.ErrNotFound)
			gone = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.True(t, gone, "Redis did not expire the record")
}

// Release and Delete leave a tombstone that keeps the token sequence; Get
// and Claim treat it as absent, and Sweep deletes it without counting it.
func TestTombstones(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s := newStore(t, c)
	key := newKey(t)
	rk := s.Prefix() + key.String()

	r, err := s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	require.NoError(t, s.Release(ctx, key, fenceOf(r.Record)))
	v, err := c.Get(ctx, rk).Result()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("idem1 0 rs=+%016d.000000000 tk=0000000000000001", base.Add(time.Hour).Unix()), v,
		"a tombstone keeps only state, retention and token")
	_, err = s.Get(ctx, key)
	require.ErrorIs(t, err, store.ErrNotFound)

	r, err = s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	assert.True(t, r.Granted)
	assert.Equal(t, int64(2), r.Record.Token)
	assert.Equal(t, 1, r.Record.Attempts)

	require.NoError(t, s.Delete(ctx, key))
	require.NoError(t, s.Delete(ctx, key))
	v, err = c.Get(ctx, rk).Result()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("idem1 0 rs=+%016d.000000000 tk=0000000000000002", base.Add(time.Hour).Unix()), v)
	r, err = s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	assert.Equal(t, int64(3), r.Record.Token, "the token sequence survives Delete")

	// Delete of a key that never existed creates nothing.
	absent := newKey(t)
	require.NoError(t, s.Delete(ctx, absent))
	n, err := c.Exists(ctx, s.Prefix()+absent.String()).Result()
	require.NoError(t, err)
	assert.Zero(t, n)

	// Sweep removes a due tombstone but does not count it.
	require.NoError(t, s.Delete(ctx, key))
	n2, err := s.Sweep(ctx, base.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n2)
	n, err = c.Exists(ctx, rk).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the due tombstone was swept")
}

// Stores with different prefixes on one server do not see each other's
// records, in Claim, Get or Sweep, even when one prefix extends the other
// or holds glob characters.
func TestPrefixIsolation(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	root := freshPrefix(t, c)
	prefixes := []string{root, root + "x:", root + "[a-f]*?\\^:"}
	stores := make([]*redisstore.Store, len(prefixes))
	for i, p := range prefixes {
		s, err := redisstore.New(c, redisstore.WithPrefix(p), redisstore.WithUnsafeAcceptDataLoss())
		require.NoError(t, err)
		stores[i] = s
	}
	key := newKey(t)
	for i, s := range stores {
		req := request(t, key, base)
		req.Namespace = prefixes[i]
		r, err := s.Claim(ctx, req)
		require.NoError(t, err)
		require.True(t, r.Granted, "store %d", i)
		require.NoError(t, s.Complete(ctx, key, fenceOf(r.Record), nil, req.RetainUntil))
	}
	for i, s := range stores {
		r, err := s.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, prefixes[i], r.Namespace)
	}
	// Each sweep deletes its own record only.
	for i, s := range stores {
		n, err := s.Sweep(ctx, base.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "store %d", i)
		for j, other := range stores[i+1:] {
			_, err := other.Get(ctx, key)
			assert.NoError(t, err, "store %d's sweep deleted store %d's record", i, i+1+j)
		}
	}
}

// Times compare exactly in the scripts, to the nanosecond, across the whole
// range of years a caller may pass, and round-trip exactly.
func TestTimesExact(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s := newStore(t, c)
	for _, now := range []time.Time{
		store.MinTime,
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2031, 2, 3, 4, 5, 6, 789, time.FixedZone("x", 3600)),
		store.MaxTime.Add(-2 * time.Hour),
	} {
		key := newKey(t)
		req := request(t, key, now)
		req.LeaseUntil = now.Add(time.Nanosecond)
		req.RetainUntil = now.Add(time.Nanosecond + 1)
		r, err := s.Claim(ctx, req)
		require.NoError(t, err)
		require.True(t, r.Granted)
		got, err := s.Get(ctx, key)
		require.NoError(t, err)
		assert.True(t, got.CreatedAt.Equal(now), "CreatedAt %v, want %v", got.CreatedAt, now)
		assert.True(t, got.LeaseUntil.Equal(req.LeaseUntil), "LeaseUntil %v", got.LeaseUntil)

		held, err := s.Claim(ctx, request(t, key, now)) // lease after Now by 1ns
		require.NoError(t, err)
		assert.Equal(t, store.StateInProgress, held.Record.State, "at %v", now)
		passed, err := s.Claim(ctx, request(t, key, now.Add(time.Nanosecond)))
		require.NoError(t, err)
		assert.Equal(t, store.StateIndeterminate, passed.Record.State, "at %v", now)
		again, err := s.Claim(ctx, request(t, key, now.Add(time.Nanosecond+1)))
		require.NoError(t, err)
		assert.True(t, again.Granted, "retention passed at %v", now)
	}
	// The zero time is a time like any other.
	key := newKey(t)
	req := request(t, key, base)
	req.RetainUntil = time.Time{}
	_, err := s.Claim(ctx, req)
	require.NoError(t, err)
	got, err := s.Get(ctx, key)
	require.NoError(t, err)
	assert.True(t, got.RetainUntil.IsZero())

	// Times outside store.MinTime to store.MaxTime are refused.
	far := time.Unix(1<<60, 0)
	req = request(t, newKey(t), base)
	req.RetainUntil = far
	_, err = s.Claim(ctx, req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RetainUntil")
	assert.Error(t, s.Complete(ctx, key, store.Fence{}, nil, far))
	assert.Error(t, s.Renew(ctx, key, store.Fence{}, far))
	assert.Error(t, s.MarkIndeterminate(ctx, key, store.Fence{}, far))
	_, err = s.Sweep(ctx, far)
	assert.Error(t, err)
}

// A value that is not a well-formed record is reported, not misread.
func TestCorruptRecord(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s := newStore(t, c)
	key := newKey(t)
	rk := s.Prefix() + key.String()
	_, err := s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	good, err := c.Get(ctx, rk).Result()
	require.NoError(t, err)
	_, err = s.Get(ctx, key)
	require.NoError(t, err)

	for name, bad := range map[string]string{
		"token not a number":   good[:42] + "not a number...." + good[58:],
		"owner missing":        good[:58] + good[94:],
		"not hexadecimal":      good[:62] + "zz" + good[64:],
		"bad state":            good[:6] + "7" + good[7:],
		"bad sign":             good[:11] + "*" + good[12:],
		"truncated":            good[:200],
		"namespace too long":   good[:273] + "0000099999" + good[283:],
		"junk after namespace": good + "junk",
		"another layout":       "idem2" + good[5:],
		"empty":                "",
	} {
		require.NoError(t, c.Set(ctx, rk, bad, 0).Err())
		_, err = s.Get(ctx, key)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "corrupt record", name)
		assert.NotErrorIs(t, err, store.ErrNotFound, name)
	}

	// The scripts refuse a value in another layout rather than overwrite it.
	require.NoError(t, c.Set(ctx, rk, "idem2"+good[5:], 0).Err())
	_, err = s.Claim(ctx, request(t, key, base))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not an idem record")
	got, err := c.Get(ctx, rk).Result()
	require.NoError(t, err)
	assert.Equal(t, "idem2"+good[5:], got, "the value is left alone")
	assert.Error(t, s.Delete(ctx, key))

	require.NoError(t, c.Del(ctx, rk).Err())
	require.NoError(t, c.HSet(ctx, rk, "st", "2").Err())
	_, err = s.Claim(ctx, request(t, key, base))
	require.Error(t, err, "Claim on a key of the wrong type")
	_, err = s.Get(ctx, key)
	require.Error(t, err)
	assert.NotErrorIs(t, err, store.ErrNotFound)
}

// Every operation on a closed client returns an error, not a panic nor a
// protocol answer.
func TestClosedClient(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	prefix := freshPrefix(t, c)
	s, err := redisstore.Open(testenv.RedisURL(t)+"?unsafe=accept-data-loss", redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	key := newKey(t)
	r, err := s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	f := fenceOf(r.Record)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close")

	check := func(name string, err error) {
		t.Helper()
		require.Error(t, err, name)
		assert.NotErrorIs(t, err, store.ErrFenced, name)
		assert.NotErrorIs(t, err, store.ErrNotFound, name)
		assert.Contains(t, err.Error(), "redisstore:", name)
	}
	_, err = s.Claim(ctx, request(t, key, base))
	check("Claim", err)
	check("Complete", s.Complete(ctx, key, f, []byte("x"), base.Add(time.Hour)))
	check("Release", s.Release(ctx, key, f))
	check("MarkIndeterminate", s.MarkIndeterminate(ctx, key, f, base.Add(time.Hour)))
	check("Renew", s.Renew(ctx, key, f, base.Add(time.Hour)))
	_, err = s.Get(ctx, key)
	check("Get", err)
	check("Delete", s.Delete(ctx, key))
	_, err = s.Sweep(ctx, base)
	check("Sweep", err)

	// New leaves the caller's client open.
	borrowed, err := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithUnsafeAcceptDataLoss())
	require.NoError(t, err)
	require.NoError(t, borrowed.Close())
	got, err := borrowed.Get(ctx, key)
	require.NoError(t, err, "New's Close closed the caller's client")
	assert.Equal(t, store.StateInProgress, got.State, "the record is untouched")
}

func TestOptions(t *testing.T) {
	_, err := redisstore.New(nil)
	require.Error(t, err)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	for _, o := range []redisstore.Option{
		redisstore.WithPrefix(""), redisstore.WithExpiryMargin(-time.Second), redisstore.WithSweepBatch(0),
	} {
		_, err := redisstore.New(c, o)
		assert.Error(t, err)
	}
	s, err := redisstore.New(c)
	require.NoError(t, err)
	assert.Equal(t, redisstore.DefaultPrefix, s.Prefix())
	_, err = redisstore.Open("http://not-redis")
	require.Error(t, err)
	_, err = redisstore.Open("redis://127.0.0.1:1/0", redisstore.WithSweepBatch(-1))
	require.Error(t, err)
}

func BenchmarkStore(b *testing.B) {
	c := newClient(b)
	storetest.Benchmark(b, func(b *testing.B) store.Store { return newStore(b, c) })
}
