package runtime_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

func TestScopesNeverShareOrProbeRecords(t *testing.T) {
	base := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	var runs atomic.Int64
	fn := func(ctx context.Context) (string, error) {
		runs.Add(1)
		k, _ := runtime.KeyFrom(ctx)
		return k, nil
	}
	a, b := runtime.WithScope(base, "tenant-a"), runtime.WithScope(base, "tenant-b")

	ka, err := do(a, spec, "order-1", "fp", fn)
	require.NoError(t, err)
	kb, err := do(b, spec, "order-1", "fp", fn)
	require.NoError(t, err)
	require.EqualValues(t, 2, runs.Load(), "the second tenant replayed the first tenant's record")
	require.NotEqual(t, ka, kb)

	// The same scope replays, and KeyFrom was the scoped key.
	again, err := do(a, spec, "order-1", "fp", fn)
	require.NoError(t, err)
	require.Equal(t, ka, again)
	again, err = do(runtime.WithScope(a, ""), spec, "order-1", "fp", fn)
	require.NoError(t, err)
	require.Equal(t, ka, again, "an empty scope changes nothing")
	require.EqualValues(t, 2, runs.Load())

	// No scope: the plain key, a third record.
	k0, err := do(base, spec, "order-1", "fp", fn)
	require.NoError(t, err)
	require.EqualValues(t, 3, runs.Load())
	require.Equal(t, keyOf(t, spec, "order-1").String(), k0)
	require.NotEqual(t, k0, ka)

	// Another tenant's arguments cannot be probed: a different fingerprint
	// under the same key arguments is a new record, not ErrKeyReused.
	_, err = do(b, spec, "order-1", "other fp", fn)
	require.ErrorIs(t, err, runtime.ErrKeyReused, "within one tenant the fingerprint still guards the key")
	_, err = do(runtime.WithScope(base, "tenant-c"), spec, "order-1", "other fp", fn)
	require.NoError(t, err)
	require.EqualValues(t, 4, runs.Load())

	// Scopes nest: the inner scope stays inside the outer one.
	kab, err := do(runtime.WithScope(a, "tenant-b"), spec, "order-1", "fp", fn)
	require.NoError(t, err)
	require.EqualValues(t, 5, runs.Load())
	require.NotEqual(t, kb, kab)
	require.NotEqual(t, ka, kab)
}

func TestTooDeepKeyIsInvalidAndDoesNotRun(t *testing.T) {
	type node struct{ Next *node }
	cyclic := &node{}
	cyclic.Next = cyclic
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, 1)
	k.Value(cyclic)
	f.Begin(spec.Namespace, 1)
	var runs atomic.Int64
	_, err := runtime.Do(ctx, spec, &k, &f, func(context.Context) (int, error) { runs.Add(1); return 1, nil })
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	require.ErrorContains(t, err, "nested more than 1000 levels deep")
	require.Zero(t, runs.Load())
}
