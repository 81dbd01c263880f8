package runtime

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resetKeySecret forgets the key secret and lets IDEM_KEY_SECRET be read
// again, now and after the test.
func resetKeySecret(t *testing.T) {
	reset := func() {
		keySecrets.envOnce = sync.Once{}
		keySecrets.cur.Store(nil)
	}
	reset()
	t.Cleanup(reset)
}

func scopedMsg(chain string, d Key) []byte {
	return append(append([]byte("idem:scope:"), append([]byte{byte(len(chain))}, chain...)...), d[:]...)
}

func hmacOf(secret, msg []byte) Key {
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return Key(m.Sum(nil))
}

func encodeArgs(e *Encoder) {
	e.Begin("billing.Charge", 1)
	e.String("alice@example.com")
	e.Int64(1250)
}

func TestKeySecretMakesKeysAnHMAC(t *testing.T) {
	resetKeySecret(t)
	t.Setenv(EnvKeySecret, "")
	enc, digest, err := encodeKey(t, encodeArgs)
	require.NoError(t, err)
	require.Equal(t, Key(sha256.Sum256(enc)), digest, "without a secret the key is the plain digest")

	secret := []byte("0123456789abcdef0123456789abcdef")
	SetKeySecret(secret)
	var e Encoder
	encodeArgs(&e)
	k, err := e.Sum()
	require.NoError(t, err)
	assert.Equal(t, hmacOf(secret, scopedMsg("", digest)), k)
	fp, err := e.SumFingerprint()
	require.NoError(t, err)
	assert.Equal(t, k, Key(fp), "fingerprints are keyed too")
	ks, err := e.SumContext(WithScope(context.Background(), "t"))
	require.NoError(t, err)
	assert.Equal(t, hmacOf(secret, scopedMsg("\x01t", digest)), ks)

	// Another secret, other keys; none, the plain digest again.
	SetKeySecret([]byte("another secret, also 32 bytes..."))
	k2, _ := e.Sum()
	assert.NotEqual(t, k, k2)
	SetKeySecret(nil)
	k3, _ := e.Sum()
	assert.Equal(t, digest, k3)
}

func TestKeySecretFromTheEnvironment(t *testing.T) {
	resetKeySecret(t)
	t.Setenv(EnvKeySecret, "env-secret-env-secret-env-secret")
	_, digest, _ := encodeKeyPlain(t)
	var e Encoder
	encodeArgs(&e)
	k, err := e.Sum()
	require.NoError(t, err)
	assert.Equal(t, hmacOf([]byte("env-secret-env-secret-env-secret"), scopedMsg("", digest)), k)
	// SetKeySecret overrides the environment, and nil turns it off.
	SetKeySecret(nil)
	k, _ = e.Sum()
	assert.Equal(t, digest, k)
}

// encodeKeyPlain is the digest of encodeArgs, computed without the Encoder's
// final step.
func encodeKeyPlain(t *testing.T) ([]byte, Key, error) {
	var e Encoder
	out := []byte{}
	e.tee = &out
	encodeArgs(&e)
	d, err := e.digest()
	require.Equal(t, Key(sha256.Sum256(out)), d)
	return out, d, err
}

func TestScopeWithoutSecret(t *testing.T) {
	resetKeySecret(t)
	t.Setenv(EnvKeySecret, "")
	_, digest, _ := encodeKeyPlain(t)
	sum := func(ctx context.Context) Key {
		var e Encoder
		encodeArgs(&e)
		k, err := e.SumContext(ctx)
		require.NoError(t, err)
		return k
	}
	bg := context.Background()
	assert.Equal(t, digest, sum(bg))
	assert.Equal(t, Key(sha256.Sum256(scopedMsg("\x01a", digest))), sum(WithScope(bg, "a")))
	// Nested scopes are length-prefixed: no two chains collide.
	ab := WithScope(WithScope(bg, "a"), "b")
	seen := map[Key]string{}
	for name, ctx := range map[string]context.Context{
		"none":   bg,
		"a":      WithScope(bg, "a"),
		"ab":     WithScope(bg, "ab"),
		"a/b":    ab,
		"b/a":    WithScope(WithScope(bg, "b"), "a"),
		`a\x01b`: WithScope(bg, "a\x01b"),
	} {
		k := sum(ctx)
		if other, dup := seen[k]; dup {
			t.Errorf("scopes %s and %s give one key", name, other)
		}
		seen[k] = name
	}
	// An empty inner scope and unrelated context values change nothing.
	assert.Equal(t, sum(ab), sum(WithScope(ab, "")))
	assert.Equal(t, sum(ab), sum(context.WithValue(ab, struct{ k int }{}, 1)))
}

func TestScopedKeyDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes escape analysis")
	}
	resetKeySecret(t)
	t.Setenv(EnvKeySecret, "")
	ctx := WithScope(context.Background(), "tenant-42")
	var sink Key
	allocs := testing.AllocsPerRun(200, func() {
		var e Encoder
		encodeArgs(&e)
		k, err := e.SumContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sink = k
	})
	assert.Zero(t, allocs, "a scoped key without a secret allocates")
	_ = sink
}
