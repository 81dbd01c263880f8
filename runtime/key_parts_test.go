package runtime

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// partsOf returns the per-part digests of (name string, n int) for key.
func partsOf(t *testing.T, key Key, name string, n int) []byte {
	t.Helper()
	e := encodePair(t, name, n)
	return e.appendParts(nil, key, fpOf(t, name, n))
}

// encodePair writes (name string, n int) to a new Encoder.
func encodePair(t *testing.T, name string, n int) *Encoder {
	t.Helper()
	e := new(Encoder)
	e.Begin("parts/test", 1)
	e.String(name)
	e.Int(n)
	return e
}

func fpOf(t *testing.T, name string, n int) Fingerprint {
	t.Helper()
	fp, err := encodePair(t, name, n).SumFingerprint()
	require.NoError(t, err)
	return fp
}

// The digests of one value are equal under one key and differ under
// another (a salt per record) and under a key secret.
func TestPartDigestsAreSalted(t *testing.T) {
	k1, k2 := Key{1}, Key{2}
	a, b := partsOf(t, k1, "x", 7), partsOf(t, k1, "x", 7)
	require.Equal(t, a, b)
	require.NotEmpty(t, a)
	c := partsOf(t, k2, "x", 7)
	require.NotEqual(t, a[1+partsFPLen:1+partsFPLen+partDigestLen], c[1+partsFPLen:1+partsFPLen+partDigestLen], "another key salts the digests otherwise")

	SetKeySecret([]byte("0123456789abcdef0123456789abcdef"))
	t.Cleanup(func() { SetKeySecret(nil) })
	d := partsOf(t, k1, "x", 7)
	require.NotEqual(t, a[1+partsFPLen:1+partsFPLen+partDigestLen], d[1+partsFPLen:1+partsFPLen+partDigestLen], "the key secret keys the digests")
}

// An encoding longer than maxPartsEncoding has no parts; one longer than
// the inline buffer has the same parts as if it had stayed inline.
func TestPartsOfLongEncodings(t *testing.T) {
	long := strings.Repeat("y", 2*encBufSize)
	p := partsOf(t, Key{1}, long, 1)
	q := partsOf(t, Key{1}, long, 2)
	require.Equal(t, "n", partsDiffer("name, n", fpOf(t, long, 1), p, fpOf(t, long, 2), q)[len("values that differ from the recorded call: "):])

	huge := strings.Repeat("z", maxPartsEncoding+1)
	require.Empty(t, partsOf(t, Key{1}, huge, 1))
	msg := partsDiffer("name, n", fpOf(t, long, 1), p, Fingerprint{}, nil)
	require.Contains(t, msg, "this call's fingerprint is too long for per-part digests")
}

// Parts of another fingerprint than the record's (left in a row that a
// binary without parts granted again) are not read.
func TestPartsOfAnotherRecordAreIgnored(t *testing.T) {
	p := partsOf(t, Key{1}, "x", 1)
	q := partsOf(t, Key{1}, "x", 2)
	msg := partsDiffer("name, n", fpOf(t, "other", 9), p, fpOf(t, "x", 2), q)
	require.Contains(t, msg, "belong to an earlier record of the key")
	require.NotContains(t, msg, "values that differ")
	msg = partsDiffer("name, n", fpOf(t, "x", 1), p, fpOf(t, "x", 2), q)
	require.Equal(t, "values that differ from the recorded call: n", msg)
}

// partsBase is what its doc says it is.
func TestPartsBase(t *testing.T) {
	b := sha256.Sum256([]byte("idem:parts"))
	require.Equal(t, partsSalt{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}, partsBase)
}
