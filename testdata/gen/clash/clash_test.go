package clash

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

func TestClashingNamesStillForwardTheRightValues(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	for range 2 {
		s, d, err := LocalsIdem(ctx, "c", 1, "k", "f", "r", "e", 0, []int{1})
		require.NoError(t, err)
		require.Equal(t, "ck", s)
		require.Zero(t, d)
	}
	require.Equal(t, 1, runs["Locals"])

	one := 1
	for range 2 {
		require.NoError(t, BuiltinsIdem(ctx, "s", []int{1}, &one))
	}
	require.Equal(t, 1, runs["Builtins"])

	for range 2 {
		ev, err := sendIdem(ctx, "id", 3)
		require.NoError(t, err)
		require.Equal(t, Event{ID: "id"}, ev)
	}
	require.Equal(t, 1, runs["send"])

	r := &Receiver{}
	for range 2 {
		require.NoError(t, r.SaveIdem(ctx, "x"))
	}
	require.Equal(t, 1, runs["Save"])

	for range 2 {
		v, err := GenericIdem(ctx, "g", 4.5)
		require.NoError(t, err)
		require.Equal(t, 4.5, v)
	}
	require.Equal(t, 1, runs["Generic"])

	for range 2 {
		require.NoError(t, TimesIdem(ctx, "t", time.Unix(5, 0)))
	}
	require.Equal(t, 1, runs["Times"])
	require.Equal(t, time.Hour, timesIdemSpec.TTL)
	require.Equal(t, "not the runtime", key())
}

// TestKeyHelperOfGenericNeedsNoTypeArguments: the key of Generic does not
// depend on its type parameter, so its helper takes none.
func TestKeyHelperOfGenericNeedsNoTypeArguments(t *testing.T) {
	require.Len(t, GenericIdemKey("x"), 64)
	require.NotEqual(t, GenericIdemKey("x"), GenericIdemKey("y"))
}
