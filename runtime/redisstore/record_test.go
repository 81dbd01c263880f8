package redisstore

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

func TestAppendDigits(t *testing.T) {
	for _, c := range []struct {
		n     uint64
		width int
		want  string
	}{
		{0, 1, "0"}, {0, 4, "0000"}, {7, 3, "007"}, {1234, 2, "1234"}, {1<<64 - 1, 16, "18446744073709551615"},
		{maxExactSeconds, secDigits, "9007199254740991"}, {999_999_999, nsecDigits, "999999999"},
	} {
		assert.Equal(t, c.want, string(appendDigits([]byte("x"), c.n, c.width))[1:], "%d width %d", c.n, c.width)
	}
}

// Every time the layout holds round-trips exactly and takes 27 characters.
func TestTimeRoundTrip(t *testing.T) {
	times := []time.Time{
		{}, time.Unix(0, 0), time.Unix(-1, 999_999_999), time.Unix(maxExactSeconds, 999_999_999),
		time.Unix(-maxExactSeconds, 0), time.Date(2031, 2, 3, 4, 5, 6, 789, time.FixedZone("x", 3600)),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		times = append(times, time.Unix(rng.Int64N(2*maxExactSeconds+1)-maxExactSeconds, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		s := formatTime(tm)
		require.Len(t, s, timeLen, "%v", tm)
		p := parser{v: s}
		got := p.time(0)
		require.NoError(t, p.err, "%v: %q", tm, s)
		require.True(t, got.Equal(tm), "%v read back as %v", tm, got)
		assert.Equal(t, time.UTC, got.Location())
	}
	// Every time a store accepts is within what the scripts compare exactly.
	assert.LessOrEqual(t, store.MaxTime.Unix(), int64(maxExactSeconds))
	assert.GreaterOrEqual(t, store.MinTime.Unix(), int64(-maxExactSeconds))
}

// The record a fresh grant writes reads back as grantRecord says, at the
// offsets the layout names.
func TestGrantRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		var req store.ClaimRequest
		for j := range req.Key {
			req.Key[j] = byte(rng.UintN(256))
		}
		for j := range req.Fingerprint {
			req.Fingerprint[j] = byte(rng.UintN(256))
		}
		for j := range req.Owner {
			req.Owner[j] = byte(rng.UintN(256))
		}
		req.Namespace = strings.Repeat("ns: res=\x00", i%7)
		if i%3 == 0 {
			req.FingerprintParts = []byte{0x01, byte(i), 0xff}[:1+i%3]
		}
		if i%11 == 0 {
			req.Namespace += partsMark + "01ab" // a namespace that looks like parts
		}
		req.Now = time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9))
		req.LeaseUntil = req.Now.Add(time.Duration(rng.Int64N(1e12)))
		req.RetainUntil = req.Now.Add(time.Duration(rng.Int64N(1e15)))
		v := string(appendGrant(nil, &req))
		rec, found, err := parseRecord(req.Key, v)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, grantRecord(&req, 1), rec)
		assert.Equal(t, fence(store.Fence{Owner: req.Owner, Token: 1}), v[offToken:offToken+fenceLen])
		assert.Equal(t, formatTime(req.Now), v[offUpdated:offUpdated+timeLen])
		assert.Equal(t, formatTime(req.LeaseUntil), v[offLease:offLease+timeLen])
		assert.Equal(t, formatTime(req.RetainUntil), v[offRetain:offRetain+timeLen])
		if len(req.FingerprintParts) > 0 || i%11 == 0 {
			assert.Len(t, v, offNS+len(req.Namespace)+len(partsMark)+2*len(req.FingerprintParts))
		} else {
			assert.Len(t, v, offNS+len(req.Namespace))
		}

		// With a result after the namespace.
		rec, found, err = parseRecord(req.Key, v+resultMark+"r")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, []byte("r"), rec.Result)
	}
}

// A fence whose token the layout cannot hold never matches a record's.
func TestFenceOutOfRange(t *testing.T) {
	for _, tk := range []int64{-1, -1 << 63, 1e16, 1<<63 - 1} {
		assert.NotEqual(t, fenceLen, len(fence(store.Fence{Token: tk})), "token %d", tk)
	}
	assert.Len(t, fence(store.Fence{Token: 9_999_999_999_999_999}), fenceLen)
}

func TestTombstoneParse(t *testing.T) {
	_, found, err := parseRecord(store.Key{}, "idem1 0 rs=+0000001893459600.000000000 tk=0000000000000001")
	require.NoError(t, err)
	assert.False(t, found)
	_, _, err = parseRecord(store.Key{}, "idem1 0 rs=+0000001893459600.000000000 tk=000")
	assert.ErrorIs(t, err, errCorrupt)
}

func fence(f store.Fence) string { return string(appendFence(nil, f)) }

// BenchmarkCodec is the client-side cost of the layout on the two hot
// paths: writing the record a claim sends, and reading the record a replay
// receives.
func BenchmarkCodec(b *testing.B) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 123, time.UTC)
	req := store.ClaimRequest{
		Namespace: "idembench/replay", Owner: store.Owner{1}, Fingerprint: store.Fingerprint{2},
		Now: now, LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(24 * time.Hour),
	}
	b.Run("Grant", func(b *testing.B) {
		for b.Loop() {
			_ = appendGrant(make([]byte, 0, offNS+len(req.Namespace)), &req)
		}
	})
	v := string(appendGrant(nil, &req)) + resultMark + "receipt:ok:00042"
	b.Run("Parse", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := parseRecord(req.Key, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
