package runtime

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// useResultKeys configures result keys for one test and restores the
// process default (IDEM_RESULT_KEYS, read again) afterwards.
func useResultKeys(t *testing.T, current string, keys map[string][]byte) {
	t.Helper()
	require.NoError(t, SetResultKeys(current, keys))
	t.Cleanup(resetResultKeys)
}

func resetResultKeys() {
	resultKeys.Store(nil)
	envResultKeys = sync.OnceValues(readEnvResultKeys)
}

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 16)
)

type sealedReceipt struct {
	ID    int64
	Card  string
	Token []byte
	At    time.Time
}

var secretReceipt = sealedReceipt{ID: 7, Card: "4242-4242-4242-4242", Token: []byte("tok_secret"), At: time.Date(2025, 6, 1, 2, 3, 4, 5, time.UTC)}

func TestResultEncryptionRoundTrip(t *testing.T) {
	useResultKeys(t, "k1", map[string][]byte{"k1": key1})
	data, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, append(resultPrefix[:3:3], coseEncrypt0Tag)), "55799(16(COSE_Encrypt0))")
	assert.NotContains(t, string(data), "4242", "no result bytes in clear")
	assert.NotContains(t, string(data), "tok_secret")
	assert.NotContains(t, string(data), "Card", "not even field names")

	var out sealedReceipt
	require.NoError(t, unmarshalResult(data, &out))
	assert.Equal(t, secretReceipt, out)

	// Two records of the same value differ (a fresh IV each time).
	again, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	assert.NotEqual(t, data, again)

	// The record is a standard COSE_Encrypt0: opened here with nothing but
	// the RFC 9052 layout, a CBOR library and crypto/cipher.
	var env struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected map[int][]byte
		Ciphertext  []byte
	}
	var tag cbor.RawTag
	require.NoError(t, cbor.Unmarshal(data[len(resultPrefix):], &tag))
	require.Equal(t, uint64(16), tag.Number)
	require.NoError(t, cbor.Unmarshal(tag.Content, &env))
	var prot map[int]int
	require.NoError(t, cbor.Unmarshal(env.Protected, &prot))
	assert.Equal(t, map[int]int{1: 3}, prot, "alg A256GCM")
	assert.Equal(t, []byte("k1"), env.Unprotected[4], "kid")
	require.Len(t, env.Unprotected[5], 12, "IV")
	aad, err := cbor.Marshal([]any{"Encrypt0", env.Protected, []byte{}})
	require.NoError(t, err)
	block, err := aes.NewCipher(key1)
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	plain, err := gcm.Open(nil, env.Unprotected[5], env.Ciphertext, aad)
	require.NoError(t, err)
	var generic map[string]any
	require.NoError(t, cbor.Unmarshal(plain, &generic))
	assert.Equal(t, "4242-4242-4242-4242", generic["Card"])
}

func TestResultEncryptionRotation(t *testing.T) {
	useResultKeys(t, "", nil)
	clear, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	assert.Contains(t, string(clear), "4242", "without keys, results are recorded in clear")

	require.NoError(t, SetResultKeys("old", map[string][]byte{"old": key1}))
	byOld, err := marshalResult(&secretReceipt)
	require.NoError(t, err)

	// Rotate: the new key encrypts, the old one still decrypts.
	require.NoError(t, SetResultKeys("new", map[string][]byte{"old": key1, "new": key2}))
	byNew, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	assert.Contains(t, string(byNew), "new")
	for name, rec := range map[string][]byte{"clear": clear, "old": byOld, "new": byNew} {
		var out sealedReceipt
		require.NoError(t, unmarshalResult(rec, &out), name)
		assert.Equal(t, secretReceipt, out, name)
	}

	// Once the old key is dropped, its records are a clear error that
	// names the key id; the others still replay.
	require.NoError(t, SetResultKeys("new", map[string][]byte{"new": key2}))
	var out sealedReceipt
	err = unmarshalResult(byOld, &out)
	require.ErrorIs(t, err, ErrResultKeyUnknown)
	assert.ErrorContains(t, err, `the record names key id "old"; configured: "new"`)
	assert.ErrorContains(t, err, "IDEM_RESULT_KEYS")
	assert.Zero(t, out)
	require.NoError(t, unmarshalResult(byNew, &out))
	require.NoError(t, unmarshalResult(clear, &out))

	// Decrypt-only: no current key writes in clear and reads old records.
	require.NoError(t, SetResultKeys("", map[string][]byte{"new": key2}))
	rec, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	assert.Contains(t, string(rec), "4242")
	require.NoError(t, unmarshalResult(byNew, &out))

	// Encryption off: an encrypted record is an unknown key.
	require.NoError(t, SetResultKeys("", nil))
	err = unmarshalResult(byNew, &out)
	require.ErrorIs(t, err, ErrResultKeyUnknown)
	assert.ErrorContains(t, err, "configured: none")
}

func TestResultEncryptionDetectsTampering(t *testing.T) {
	useResultKeys(t, "k1", map[string][]byte{"k1": key1, "k2": key2})
	data, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	// Every single-bit change anywhere after the prefix is an error: a
	// malformed envelope, an unknown key id, another algorithm or IV size,
	// or a failed authentication. Never another value, never a panic.
	for i := len(resultPrefix); i < len(data); i++ {
		for bit := range 8 {
			b := bytes.Clone(data)
			b[i] ^= 1 << bit
			var out sealedReceipt
			err := unmarshalResult(b, &out)
			require.Error(t, err, "byte %d bit %d", i, bit)
			require.Zero(t, out)
		}
	}
	// The ciphertext's last byte (the GCM tag): authentication fails.
	b := bytes.Clone(data)
	b[len(b)-1] ^= 1
	var out sealedReceipt
	assert.ErrorContains(t, unmarshalResult(b, &out), `fail authentication under key "k1": the record was altered`)

	// The same key id with other key bytes: authentication fails.
	require.NoError(t, SetResultKeys("k1", map[string][]byte{"k1": bytes.Repeat([]byte{9}, 32)}))
	assert.ErrorContains(t, unmarshalResult(data, &out), "the key's bytes differ")
	// The same key id for a key of another length: the algorithm differs.
	require.NoError(t, SetResultKeys("k1", map[string][]byte{"k1": key2}))
	assert.ErrorContains(t, unmarshalResult(data, &out), "encrypted with COSE algorithm 3, but key \"k1\" is for algorithm 1")
}

func TestSetResultKeysRefusesBadKeys(t *testing.T) {
	t.Cleanup(resetResultKeys)
	for _, c := range []struct {
		current string
		keys    map[string][]byte
		want    string
	}{
		{"k", map[string][]byte{"k": make([]byte, 20)}, `result key "k" has 20 bytes; AES-GCM keys have 16, 24 or 32`},
		{"missing", map[string][]byte{"k": key1}, `the current result key "missing" is not among the keys given ("k")`},
		{"k", nil, `the current result key "k" is not among the keys given (none)`},
		{"a b", map[string][]byte{"a b": key1}, "may hold only printable ASCII characters other than space, comma and colon"},
		{"a:b", map[string][]byte{"a:b": key1}, "other than space, comma and colon"},
		{"", map[string][]byte{"": key1}, "must have 1 to 64 characters"},
		{"", map[string][]byte{strings.Repeat("x", 65): key1}, "must have 1 to 64 characters"},
	} {
		assert.ErrorContains(t, SetResultKeys(c.current, c.keys), c.want)
	}
	// A failed call changes nothing.
	require.NoError(t, SetResultKeys("k", map[string][]byte{"k": key1}))
	require.Error(t, SetResultKeys("k", map[string][]byte{"k": key2[:3]}))
	data, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	assert.True(t, isSealedResult(data[len(resultPrefix):]))

	// The key bytes are copied.
	k := bytes.Clone(key1)
	require.NoError(t, SetResultKeys("k", map[string][]byte{"k": k}))
	data, err = marshalResult(&secretReceipt)
	require.NoError(t, err)
	clear(k)
	var out sealedReceipt
	require.NoError(t, unmarshalResult(data, &out))
}

func TestResultKeysFromEnvironment(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	t.Setenv(ResultKeysEnv, " new:"+b64(key2)+" , old:"+b64(key1))
	resetResultKeys()
	t.Cleanup(resetResultKeys)
	data, err := marshalResult(&secretReceipt)
	require.NoError(t, err)
	assert.Contains(t, string(data), "new", "the first entry is the current key")
	var out sealedReceipt
	require.NoError(t, unmarshalResult(data, &out))
	assert.Equal(t, secretReceipt, out)

	// SetResultKeys replaces the environment.
	require.NoError(t, SetResultKeys("", nil))
	err = unmarshalResult(data, &out)
	assert.ErrorIs(t, err, ErrResultKeyUnknown)

	for value, want := range map[string]string{
		"nokey":                              "entry 1 is not id:base64-key",
		"a:" + b64(key1) + ",b":              "entry 2 is not id:base64-key",
		"a:!!!":                              `the key of id "a" is not standard base64`,
		"a:" + b64(key1[:5]):                 `result key "a" has 5 bytes`,
		"a:" + b64(key1) + ",a:" + b64(key2): `key id "a" appears twice`,
	} {
		_, err := parseResultKeys(value)
		assert.ErrorContains(t, err, "idem: IDEM_RESULT_KEYS: "+want, value)
		assert.NotContains(t, err.Error(), b64(key1), "messages never show key bytes")
	}
	ring, err := parseResultKeys("")
	require.NoError(t, err)
	assert.Nil(t, ring.current, "unset: results in clear")

	// A malformed variable fails closed: nothing is recorded or replayed
	// under it, and the message names the variable.
	t.Setenv(ResultKeysEnv, "garbage")
	resetResultKeys()
	_, err = marshalResult(&secretReceipt)
	assert.ErrorContains(t, err, "IDEM_RESULT_KEYS: entry 1")
	assert.ErrorContains(t, unmarshalResult(data, &out), "IDEM_RESULT_KEYS: entry 1")
}

func TestResultEncryptionErrorsAreNotPanics(t *testing.T) {
	useResultKeys(t, "k1", map[string][]byte{"k1": key1})
	for _, body := range [][]byte{
		{coseEncrypt0Tag},
		{coseEncrypt0Tag, 0x80},
		{coseEncrypt0Tag, 0x83, 0x40, 0xa0, 0x40},
		{coseEncrypt0Tag, 0x83, 0x43, 0xa1, 0x01, 0x03, 0xa2, 0x04, 0x42, 'k', '1', 0x05, 0x41, 0x00, 0x40},
	} {
		var out sealedReceipt
		err := unmarshalResult(append(bytes.Clone(resultPrefix), body...), &out)
		assert.Error(t, err, "%x", body)
		assert.Zero(t, out)
	}
}

func TestResultEncryptionConcurrentUse(t *testing.T) {
	useResultKeys(t, "k1", map[string][]byte{"k1": key1, "k2": key2})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				v := sealedReceipt{ID: int64(i*100 + j), Card: "c"}
				data, err := marshalResult(&v)
				if !assert.NoError(t, err) {
					return
				}
				var out sealedReceipt
				assert.NoError(t, unmarshalResult(data, &out))
				assert.Equal(t, v, out)
			}
		}()
	}
	wg.Wait()
}
