package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/store"
)

// A record is stored in the layout the package doc describes, byte for
// byte, through every state.
func TestLayout(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s := newStore(t, c)
	key := newKey(t)
	rk := s.Prefix() + key.String()
	req := store.ClaimRequest{
		Key:         key,
		Namespace:   "billing/charge",
		Fingerprint: store.Fingerprint{0: 0xab, 31: 0x01},
		Owner:       store.Owner{0: 0xff, 15: 0x10},
		Now:         time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC), // negative seconds
		LeaseUntil:  time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC),
		RetainUntil: time.Date(1960, 1, 1, 0, 0, 0, 123456789, time.UTC).AddDate(100, 0, 0),
	}
	ts := func(t time.Time) string {
		sign, sec := "+", t.Unix()
		if sec < 0 {
			sign, sec = "-", -sec
		}
		return fmt.Sprintf("%s%016d.%09d", sign, sec, t.Nanosecond())
	}
	fp := "ab" + strings.Repeat("00", 30) + "01"
	ow := "ff" + strings.Repeat("00", 14) + "10"
	body := func(state string, retain time.Time) string {
		return "idem1 " + state + " rs=" + ts(retain) + " tk=0000000000000001 ow=" + ow +
			" ls=" + ts(req.LeaseUntil) + " cs=" + ts(req.Now) + " us=" + ts(req.Now) +
			" at=0000000001 fp=" + fp + " ns=0000000014:billing/charge"
	}
	raw := func() string {
		t.Helper()
		v, err := c.Get(ctx, rk).Result()
		require.NoError(t, err)
		return v
	}

	r, err := s.Claim(ctx, req)
	require.NoError(t, err)
	require.True(t, r.Granted)
	assert.Equal(t, body("1", req.RetainUntil), raw())

	retain := req.RetainUntil.Add(time.Hour)
	require.NoError(t, s.Complete(ctx, key, fenceOf(r.Record), []byte("ok \x00 res=x"), retain))
	assert.Equal(t, body("2", retain)+" res=ok \x00 res=x", raw(), "the result is kept as bytes after the namespace")
	got, err := s.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, []byte("ok \x00 res=x"), got.Result)

	// An empty result has the marker, a nil one none; both read back.
	for _, result := range [][]byte{{}, nil} {
		k := newKey(t)
		q := request(t, k, base)
		r, err := s.Claim(ctx, q)
		require.NoError(t, err)
		require.NoError(t, s.Complete(ctx, k, fenceOf(r.Record), result, base.Add(time.Hour)))
		v, err := c.Get(ctx, s.Prefix()+k.String()).Result()
		require.NoError(t, err)
		assert.Equal(t, result != nil, strings.HasSuffix(v, ":redisstore_test res="), "result %#v: %q", result, v)
		assert.Equal(t, result == nil, strings.HasSuffix(v, ":redisstore_test"), "result %#v: %q", result, v)
		got, err := s.Get(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, result, got.Result)
	}

	// Indeterminate: state '3', the new retention, no result.
	k := newKey(t)
	q := req
	q.Key = k
	r, err = s.Claim(ctx, q)
	require.NoError(t, err)
	require.NoError(t, s.MarkIndeterminate(ctx, k, fenceOf(r.Record), retain))
	v, err := c.Get(ctx, s.Prefix()+k.String()).Result()
	require.NoError(t, err)
	assert.Equal(t, body("3", retain), v)
}

// Claim builds a fresh grant's record from the request rather than reading
// it back: whatever path grants or answers, Claim's record is the one Get
// reads.
func TestClaimAnswersAsStored(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, native := range []bool{true, false} {
		s := newStore(t, c)
		if !native {
			s = newStore(t, c, redisstore.WithoutNativeExpiry())
		}
		check := func(name string, r store.ClaimResult) {
			t.Helper()
			got, err := s.Get(ctx, r.Record.Key)
			require.NoError(t, err, name)
			assert.Equal(t, got, r.Record, name)
		}
		now := time.Date(2031, 2, 3, 4, 5, 6, 789, time.FixedZone("x", 3600))
		key := newKey(t)
		req := request(t, key, now)
		req.Namespace = "ns with spaces, \" res=\" and a ':'"
		first, err := s.Claim(ctx, req)
		require.NoError(t, err)
		require.True(t, first.Granted)
		check("fresh grant", first)
		assert.Equal(t, time.UTC, first.Record.CreatedAt.Location())

		again := req
		again.Now = now.Add(time.Second)
		again.LeaseUntil = now.Add(2 * time.Minute)
		r, err := s.Claim(ctx, again)
		require.NoError(t, err)
		require.True(t, r.Granted)
		assert.False(t, r.TookOver)
		assert.True(t, r.Record.LeaseUntil.Equal(again.LeaseUntil), "the regrant moves the lease")
		assert.True(t, r.Record.UpdatedAt.Equal(again.Now))
		check("regrant", r)

		over := request(t, key, now.Add(3*time.Minute))
		over.Takeover = true
		over.Fingerprint = req.Fingerprint
		r, err = s.Claim(ctx, over)
		require.NoError(t, err)
		require.True(t, r.TookOver)
		assert.Equal(t, int64(2), r.Record.Token)
		assert.Equal(t, 2, r.Record.Attempts)
		assert.True(t, r.Record.CreatedAt.Equal(now), "a takeover keeps the creation time")
		check("takeover", r)

		marker := request(t, key, now.Add(10*time.Minute))
		r, err = s.Claim(ctx, marker)
		require.NoError(t, err)
		require.False(t, r.Granted)
		assert.Equal(t, store.StateIndeterminate, r.Record.State)
		assert.True(t, r.Record.UpdatedAt.Equal(marker.Now))
		check("marked indeterminate", r)

		// Past its retention: a fresh grant that goes on with the tokens.
		late := request(t, key, now.Add(2*time.Hour))
		r, err = s.Claim(ctx, late)
		require.NoError(t, err)
		require.True(t, r.Granted)
		assert.Equal(t, int64(3), r.Record.Token)
		assert.Equal(t, 1, r.Record.Attempts)
		check("grant after retention", r)

		require.NoError(t, s.Release(ctx, key, fenceOf(r.Record)))
		r, err = s.Claim(ctx, request(t, key, late.Now))
		require.NoError(t, err)
		assert.Equal(t, int64(4), r.Record.Token)
		check("grant after a tombstone", r)
	}
}

// The native expiry follows the package doc on every write: Renew, a
// regrant and a claim that marks keep it, Release and Delete give the
// tombstone the record's, and a store without native expiry clears it.
func TestNativeExpiryKept(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s := newStore(t, c)
	pttl := func(key store.Key) time.Duration {
		t.Helper()
		d, err := c.PTTL(ctx, s.Prefix()+key.String()).Result()
		require.NoError(t, err)
		return d
	}
	near := func(want, got time.Duration, msg ...any) {
		t.Helper()
		assert.LessOrEqual(t, got, want, msg...)
		assert.Greater(t, got, want-time.Minute, "want about %v, got %v %v", want, got, msg)
	}
	const margin = time.Hour // DefaultExpiryMargin

	key := newKey(t)
	req := request(t, key, base)
	req.RetainUntil = base.Add(5 * time.Hour)
	r, err := s.Claim(ctx, req)
	require.NoError(t, err)
	near(5*time.Hour+margin, pttl(key))
	// Shorten the TTL by hand: Renew and a retried claim that moves the
	// lease extend it again to cover the retention (counted from the
	// grant), never shorten it; a claim that marks the record keeps it.
	shorten := func() {
		t.Helper()
		require.NoError(t, c.PExpire(ctx, s.Prefix()+key.String(), 10*time.Minute).Err())
	}
	// The grant's gap between lease (1m) and retention (5h) is kept: the
	// retention moves with the lease, and the expiry with it.
	const gap = 5*time.Hour - time.Minute
	shorten()
	require.NoError(t, s.Renew(ctx, key, fenceOf(r.Record), base.Add(time.Hour)))
	near(time.Hour+gap+margin, pttl(key))
	require.NoError(t, s.Renew(ctx, key, fenceOf(r.Record), base.Add(7*time.Hour)))
	near(7*time.Hour+gap+margin, pttl(key), "a lease moved past the retention shifts the retention and the expiry")
	shorten()
	again := req
	again.LeaseUntil = base.Add(8 * time.Hour)
	_, err = s.Claim(ctx, again)
	require.NoError(t, err)
	near(8*time.Hour+gap+margin, pttl(key))
	marked := newKey(t)
	q := request(t, marked, base)
	q.RetainUntil = base.Add(5 * time.Hour)
	_, err = s.Claim(ctx, q)
	require.NoError(t, err)
	require.NoError(t, c.PExpire(ctx, s.Prefix()+marked.String(), 10*time.Minute).Err())
	_, err = s.Claim(ctx, request(t, marked, base.Add(2*time.Hour)))
	require.NoError(t, err)
	got, err := s.Get(ctx, marked)
	require.NoError(t, err)
	require.Equal(t, store.StateIndeterminate, got.State)
	near(10*time.Minute, pttl(marked))

	// Release and Delete: the tombstone expires as the record would have,
	// counted from its last grant.
	for _, op := range []string{"release", "delete"} {
		k := newKey(t)
		q := request(t, k, base)
		q.RetainUntil = base.Add(5 * time.Hour)
		r, err := s.Claim(ctx, q)
		require.NoError(t, err)
		require.NoError(t, c.PExpire(ctx, s.Prefix()+k.String(), time.Minute).Err())
		if op == "release" {
			require.NoError(t, s.Release(ctx, k, fenceOf(r.Record)))
		} else {
			require.NoError(t, s.Delete(ctx, k))
		}
		near(5*time.Hour+margin, pttl(k))
	}

	// Without native expiry a write clears an expiry set before.
	off := newStore(t, c, redisstore.WithoutNativeExpiry())
	k := newKey(t)
	r, err = off.Claim(ctx, request(t, k, base))
	require.NoError(t, err)
	require.NoError(t, c.PExpire(ctx, off.Prefix()+k.String(), time.Hour).Err())
	require.NoError(t, off.Release(ctx, k, fenceOf(r.Record)))
	d, err := c.PTTL(ctx, off.Prefix()+k.String()).Result()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), d)
}

// The fingerprint's parts ride at the end of the namespace field, whose
// length covers them: every write keeps them, a record of yesterday's
// layout (no parts) reads with none, and yesterday's parser, which reads
// the namespace by its length and then wants nothing or " res=", reads
// today's records (with the parts as part of the namespace).
func TestLayoutFingerprintParts(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s := newStore(t, c)
	raw := func(k store.Key) string {
		t.Helper()
		v, err := c.Get(ctx, s.Prefix()+k.String()).Result()
		require.NoError(t, err)
		return v
	}
	// yesterdayReads is what yesterday's parseRecord read as the namespace
	// and result of v, or false where it reported a corrupt record.
	const offNSLen, offNS, resultMark = 273, 284, " res=" // the layout's, in the package doc
	yesterdayReads := func(v string) (ns, res string, ok bool) {
		n, err := strconv.Atoi(v[offNSLen : offNSLen+10])
		if err != nil || n > len(v)-offNS {
			return "", "", false
		}
		rest := v[offNS+n:]
		if rest != "" && !strings.HasPrefix(rest, resultMark) {
			return "", "", false
		}
		return v[offNS : offNS+n], strings.TrimPrefix(rest, resultMark), true
	}

	key := newKey(t)
	req := request(t, key, base)
	req.FingerprintParts = []byte{0x01, 0xab, 0x00, 0xff}
	r, err := s.Claim(ctx, req)
	require.NoError(t, err)
	require.True(t, r.Granted)
	v := raw(key)
	assert.True(t, strings.HasSuffix(v, " ns=0000000028:redisstore_test\x00fpp:01ab00ff"), "%q", v)
	ns, _, ok := yesterdayReads(v)
	require.True(t, ok, "yesterday's parser reads an in-progress record with parts")
	assert.Equal(t, "redisstore_test\x00fpp:01ab00ff", ns)
	require.NoError(t, s.Renew(ctx, key, fenceOf(r.Record), base.Add(time.Minute)))
	require.NoError(t, s.Complete(ctx, key, fenceOf(r.Record), []byte("ok"), base.Add(time.Hour)))
	v = raw(key)
	ns, res, ok := yesterdayReads(v)
	require.True(t, ok, "yesterday's parser reads a completed record with parts")
	assert.Equal(t, "redisstore_test\x00fpp:01ab00ff", ns)
	assert.Equal(t, "ok", res, "yesterday replays today's result")
	got, err := s.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "redisstore_test", got.Namespace)
	assert.Equal(t, req.FingerprintParts, got.FingerprintParts)
	assert.Equal(t, []byte("ok"), got.Result)

	// Yesterday's records, golden: in progress, and completed with a
	// result.
	old := "idem1 1 rs=+0000001893459600.000000000 tk=0000000000000007 ow=ff000000000000000000000000000010" +
		" ls=+0000001893452460.000000000 cs=+0000001893452400.000000000 us=+0000001893452400.000000000" +
		" at=0000000001 fp=ab00000000000000000000000000000000000000000000000000000000000001 ns=0000000014:billing/charge"
	for _, golden := range []string{old, "idem1 2" + old[7:] + " res=ok"} {
		k := newKey(t)
		require.NoError(t, c.Set(ctx, s.Prefix()+k.String(), golden, 0).Err())
		got, err := s.Get(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, "billing/charge", got.Namespace)
		assert.Empty(t, got.FingerprintParts)
		assert.Equal(t, int64(7), got.Token)
		other := request(t, k, base)
		other.FingerprintParts = []byte{0x01}
		res, err := s.Claim(ctx, other)
		require.NoError(t, err)
		require.False(t, res.Granted)
		assert.Empty(t, res.Record.FingerprintParts, "the claim answers yesterday's record as it is")
		assert.Equal(t, "billing/charge", res.Record.Namespace)
	}
}
