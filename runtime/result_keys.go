package runtime

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Encryption of recorded results at rest.
//
// With result keys configured, a record is the CBOR encoding of
// 55799(16(COSE_Encrypt0)), a COSE_Encrypt0 structure (RFC 9052 §5.2) that
// any COSE library can open with the key:
//
//	[ protected:   bstr .cbor {1: alg},        alg: 1 A128GCM, 2 A192GCM, 3 A256GCM (by key length)
//	  unprotected: {4: kid, 5: IV},            kid: the key id's bytes; IV: 12 random bytes
//	  ciphertext:  bstr ]                      AES-GCM of the value's CBOR, with the 16-byte tag appended;
//	                                           additional data: the Enc_structure ["Encrypt0", protected, h'']
//
// The key id is recorded in clear so that keys can be rotated: results are
// encrypted with the current key and decrypted with whichever configured
// key the record names.

// ErrResultKeyUnknown is matched (errors.Is) by the error of a replay whose
// record is encrypted under a key id that is not configured (SetResultKeys,
// IDEM_RESULT_KEYS). The function is not run again; configure the key.
var ErrResultKeyUnknown = errors.New("idem: the recorded results are encrypted under a key id that is not configured")

// ResultKeysEnv is the environment variable that configures result
// encryption when SetResultKeys was not called: comma-separated entries
// "id:base64-key", the first of which encrypts new records, e.g.
//
//	IDEM_RESULT_KEYS="2025-06:q3X…=,2024-11:Zt0…="
//
// Keys are 16, 24 or 32 bytes (AES-128, -192 or -256) in standard base64
// (`openssl rand -base64 32`). It is read once, at the first recorded or
// replayed encrypted result.
const ResultKeysEnv = "IDEM_RESULT_KEYS"

// SetResultKeys configures encryption at rest of recorded results for the
// whole process, replacing ResultKeysEnv. keys maps key ids to AES keys
// (16, 24 or 32 bytes); current names the key that encrypts new records,
// or is "" to record results in clear. Every key in keys decrypts records
// that name its id, so rotating is: add the new key and make it current,
// and drop the old one only once every record it encrypted has expired
// (the longest //idem:ttl). Records written in clear are still replayed
// while encryption is on.
//
// Key ids are 1 to 64 printable ASCII characters without spaces, commas or
// colons; they are stored in clear in every encrypted record. The key bytes
// are copied. SetResultKeys("", nil) turns encryption off.
func SetResultKeys(current string, keys map[string][]byte) error {
	ring, err := newResultKeyring(current, keys)
	if err != nil {
		return fmt.Errorf("idem: SetResultKeys: %w", err)
	}
	resultKeys.Store(ring)
	return nil
}

// resultKeys is the keyring set by SetResultKeys; nil until it is called.
var resultKeys atomic.Pointer[resultKeyring]

// envResultKeys reads ResultKeysEnv once (a variable so that tests can read
// it again).
var envResultKeys = sync.OnceValues(readEnvResultKeys)

func readEnvResultKeys() (*resultKeyring, error) {
	return parseResultKeys(os.Getenv(ResultKeysEnv))
}

// loadResultKeys returns the keyring in force.
func loadResultKeys() (*resultKeyring, error) {
	if ring := resultKeys.Load(); ring != nil {
		return ring, nil
	}
	return envResultKeys()
}

// parseResultKeys parses the value of ResultKeysEnv.
func parseResultKeys(s string) (*resultKeyring, error) {
	keys := map[string][]byte{}
	current := ""
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("idem: %s: entry %d is not id:base64-key", ResultKeysEnv, i+1)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("idem: %s: the key of id %q is not standard base64 (make one with `openssl rand -base64 32`)", ResultKeysEnv, id)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("idem: %s: key id %q appears twice", ResultKeysEnv, id)
		}
		if current == "" {
			current = id
		}
		keys[id] = key
	}
	ring, err := newResultKeyring(current, keys)
	if err != nil {
		return nil, fmt.Errorf("idem: %s: %w", ResultKeysEnv, err)
	}
	return ring, nil
}

// resultKeyring holds the configured keys.
type resultKeyring struct {
	current *resultKey // encrypts new records; nil: record in clear
	byID    map[string]*resultKey
}

// resultKey is one AES-GCM key, with its COSE headers prepared.
type resultKey struct {
	id        string
	alg       int    // COSE algorithm: 1, 2 or 3
	protected []byte // the protected header: {1: alg}
	aad       []byte // the Enc_structure of that header
	aead      cipher.AEAD
}

// newResultKeyring checks and copies the keys.
func newResultKeyring(current string, keys map[string][]byte) (*resultKeyring, error) {
	ring := &resultKeyring{byID: make(map[string]*resultKey, len(keys))}
	for id, key := range keys {
		if err := checkResultKeyID(id); err != nil {
			return nil, err
		}
		alg := map[int]int{16: 1, 24: 2, 32: 3}[len(key)]
		if alg == 0 {
			return nil, fmt.Errorf("result key %q has %d bytes; AES-GCM keys have 16, 24 or 32 (32 recommended)", id, len(key))
		}
		block, err := aes.NewCipher(slices.Clone(key))
		if err != nil {
			return nil, fmt.Errorf("result key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("result key %q: %w", id, err)
		}
		protected, err := resultEncMode.Marshal(coseHeader{Alg: alg})
		if err != nil {
			return nil, err
		}
		aad, err := coseEncStructure(protected)
		if err != nil {
			return nil, err
		}
		ring.byID[id] = &resultKey{id: id, alg: alg, protected: protected, aad: aad, aead: aead}
	}
	if current != "" {
		ring.current = ring.byID[current]
		if ring.current == nil {
			return nil, fmt.Errorf("the current result key %q is not among the keys given (%s)", current, ring.ids())
		}
	}
	return ring, nil
}

func checkResultKeyID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("result key id %q must have 1 to 64 characters", id)
	}
	for _, c := range []byte(id) {
		if c <= ' ' || c > '~' || c == ',' || c == ':' {
			return fmt.Errorf("result key id %q may hold only printable ASCII characters other than space, comma and colon", id)
		}
	}
	return nil
}

// ids lists the configured key ids, sorted, for messages.
func (r *resultKeyring) ids() string {
	ids := make([]string, 0, len(r.byID))
	for id := range r.byID {
		ids = append(ids, strconv.Quote(id))
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// coseHeader is a COSE header map with the labels this codec uses.
type coseHeader struct {
	Alg int    `cbor:"1,keyasint,omitempty"`
	KID []byte `cbor:"4,keyasint,omitempty"`
	IV  []byte `cbor:"5,keyasint,omitempty"`
}

// coseEncrypt0 is the content of tag 16.
type coseEncrypt0 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected coseHeader
	Ciphertext  []byte
}

// coseEncrypt0Tag is the CBOR head of tag 16 (COSE_Encrypt0).
const coseEncrypt0Tag = 0xd0

// coseEncStructure is the additional authenticated data of a
// COSE_Encrypt0 with the protected header protected and no external data.
func coseEncStructure(protected []byte) ([]byte, error) {
	return resultEncMode.Marshal([]any{"Encrypt0", protected, []byte{}})
}

// isSealedResult reports whether a record's body (after resultPrefix) is
// encrypted.
func isSealedResult(body []byte) bool {
	return len(body) > 0 && body[0] == coseEncrypt0Tag
}

// seal encrypts a value's CBOR into a record.
func (k *resultKey) seal(plain []byte) ([]byte, error) {
	iv := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("idem: results cannot be encrypted: %w", err)
	}
	env, err := resultEncMode.Marshal(coseEncrypt0{
		Protected:   k.protected,
		Unprotected: coseHeader{KID: []byte(k.id), IV: iv},
		Ciphertext:  k.aead.Seal(nil, iv, plain, k.aad),
	})
	if err != nil {
		return nil, fmt.Errorf("idem: results cannot be encrypted: %w", err)
	}
	out := make([]byte, 0, len(resultPrefix)+1+len(env))
	out = append(append(append(out, resultPrefix...), coseEncrypt0Tag), env...)
	return out, nil
}

// openResult decrypts an encrypted record's body (after resultPrefix) and
// returns the value's CBOR.
func openResult(body []byte) ([]byte, error) {
	var env coseEncrypt0
	if err := resultDecMode.Unmarshal(body[1:], &env); err != nil {
		return nil, fmt.Errorf("idem: the recorded results are encrypted, but their COSE_Encrypt0 envelope is malformed: %w", err)
	}
	id := string(env.Unprotected.KID)
	ring, err := loadResultKeys()
	if err != nil {
		return nil, err
	}
	k := ring.byID[id]
	if k == nil {
		return nil, fmt.Errorf("%w: the record names key id %q; configured: %s. Add that key with runtime.SetResultKeys or %s (keep old keys until their records expire)", ErrResultKeyUnknown, id, ring.ids(), ResultKeysEnv)
	}
	var prot coseHeader
	if err := resultDecMode.Unmarshal(env.Protected, &prot); err != nil {
		return nil, fmt.Errorf("idem: the recorded results are encrypted, but their protected COSE header is malformed: %w", err)
	}
	if prot.Alg != k.alg {
		return nil, fmt.Errorf("idem: the recorded results are encrypted with COSE algorithm %d, but key %q is for algorithm %d (AES-GCM with a %d-byte key): the key id was reused for a key of another length", prot.Alg, id, k.alg, 8+8*k.alg)
	}
	if len(env.Unprotected.IV) != k.aead.NonceSize() {
		return nil, fmt.Errorf("idem: the recorded results are encrypted with a %d-byte IV; AES-GCM uses %d", len(env.Unprotected.IV), k.aead.NonceSize())
	}
	aad := k.aad
	if !bytes.Equal(env.Protected, k.protected) {
		if aad, err = coseEncStructure(env.Protected); err != nil {
			return nil, err
		}
	}
	plain, err := k.aead.Open(nil, env.Unprotected.IV, env.Ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("idem: the recorded results fail authentication under key %q: the record was altered, or the key's bytes differ from those that encrypted it: %w", id, err)
	}
	return plain, nil
}
