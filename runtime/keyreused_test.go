package runtime_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// TestKeyReusedNamesTheFingerprint: the message of ErrKeyReused names the
// arguments the fingerprint covers (Spec.Fingerprint, which idemgen fills)
// and how to pin it, never a version bump.
func TestKeyReusedNamesTheFingerprint(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := &runtime.Spec{Namespace: "keyreused/test.Charge", Version: 1, Fingerprint: "order, amount"}
	call := func(fp string) error {
		var key, f runtime.Encoder
		key.Begin(spec.Namespace, spec.Version)
		key.String("o1")
		f.Begin(spec.Namespace, spec.Version)
		f.String(fp)
		_, err := runtime.Do(ctx, spec, &key, &f, func(context.Context) (int, error) { return 1, nil })
		return err
	}
	require.NoError(t, call("a"))
	err := call("b")
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Contains(t, err.Error(), "fingerprint (order, amount)")
	require.Contains(t, err.Error(), "//idem:fingerprint")
	require.NotContains(t, err.Error(), "//idem:version")
}
