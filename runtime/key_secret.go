package runtime

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"os"
	"sync"
	"sync/atomic"
)

// EnvKeySecret is the environment variable that holds the key secret when
// SetKeySecret is not called: its value's bytes are the secret.
const EnvKeySecret = "IDEM_KEY_SECRET"

// keySecrets is the process-wide key secret.
var keySecrets struct {
	envOnce sync.Once // IDEM_KEY_SECRET is read once, unless SetKeySecret came first
	cur     atomic.Pointer[keyMAC]
}

// keyMAC is a key secret, a pool of HMAC states keyed with it, and the
// base of the per-part digests' salts under it (key_parts.go).
type keyMAC struct {
	pool  sync.Pool
	parts partsSalt
}

// keyMACState is one HMAC-SHA256 state with its buffers.
type keyMACState struct {
	h   hash.Hash
	msg []byte
	out []byte
}

func newKeyMAC(secret []byte) *keyMAC {
	secret = append([]byte(nil), secret...)
	m := &keyMAC{}
	m.pool.New = func() any {
		return &keyMACState{h: hmac.New(sha256.New, secret), out: make([]byte, 0, sha256.Size)}
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("idem:parts"))
	b := h.Sum(nil)
	m.parts = partsSalt{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
	return m
}

// SetKeySecret makes every key and fingerprint derived from now on an
// HMAC-SHA256 under secret (see [Encoder.SumContext]), so that stored keys
// reveal nothing about the arguments, even low-entropy ones (an e-mail
// address, an amount), to someone who can read the store but not the
// secret. Use at least 32 random bytes. A nil or empty secret turns keyed
// hashing off. SetKeySecret overrides IDEM_KEY_SECRET ([EnvKeySecret]),
// which sets the secret when SetKeySecret is not called.
//
// Changing the secret (setting one, removing it, or replacing it) changes
// every key and fingerprint, like a new key version: calls retried across
// the change run again, records written before it are never replayed, and
// keys passed downstream (Idempotency-Key headers) change. Set it once, on
// a fresh deployment or one with no operations in flight, and keep it for
// as long as the records it keyed are retained. Call it at start-up,
// before any wrapped call.
func SetKeySecret(secret []byte) {
	keySecrets.envOnce.Do(func() {}) // the environment no longer applies
	if len(secret) == 0 {
		keySecrets.cur.Store(nil)
		return
	}
	keySecrets.cur.Store(newKeyMAC(secret))
}

// currentKeyMAC returns the key secret in force, or nil.
func currentKeyMAC() *keyMAC {
	keySecrets.envOnce.Do(func() {
		if v := os.Getenv(EnvKeySecret); v != "" {
			keySecrets.cur.Store(newKeyMAC([]byte(v)))
		}
	})
	return keySecrets.cur.Load()
}

// finalKey derives the key from the digest of an encoding, the scope chain
// and the key secret, as documented on Encoder.SumContext.
func finalKey(d Key, scope string) Key {
	m := currentKeyMAC()
	if m == nil && scope == "" {
		return d
	}
	if m == nil {
		var buf [160]byte
		return sha256.Sum256(appendScopeMsg(buf[:0], scope, d))
	}
	st := m.pool.Get().(*keyMACState)
	st.msg = appendScopeMsg(st.msg[:0], scope, d)
	st.h.Reset()
	st.h.Write(st.msg)
	st.out = st.h.Sum(st.out[:0])
	var k Key
	copy(k[:], st.out)
	m.pool.Put(st)
	return k
}

// appendScopeMsg appends "idem:scope:" uvarint(len(scope)) scope d.
func appendScopeMsg(b []byte, scope string, d Key) []byte {
	b = append(b, "idem:scope:"...)
	b = binary.AppendUvarint(b, uint64(len(scope)))
	b = append(b, scope...)
	return append(b, d[:]...)
}
