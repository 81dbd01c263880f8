package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

func TestRegistry(t *testing.T) {
	var opened string
	open := func(_ context.Context, dsn string) (store.Store, error) { opened = dsn; return nil, nil }
	store.Register("RegTest-A", open)
	store.Register("regtest-b", open)

	got, ok := store.Lookup("REGTEST-a")
	require.True(t, ok, "schemes are case-insensitive")
	_, _ = got(context.Background(), "regtest-a:x")
	require.Equal(t, "regtest-a:x", opened, "the OpenFunc gets the whole DSN")
	_, ok = store.Lookup("regtest-c")
	require.False(t, ok)
	require.Subset(t, store.Schemes(), []string{"regtest-a", "regtest-b"})
	require.IsIncreasing(t, store.Schemes())

	require.PanicsWithValue(t, "store: Register called twice for scheme regtest-a", func() { store.Register("regtest-A", open) })
	require.Panics(t, func() { store.Register("", open) })
	require.Panics(t, func() { store.Register("a:b", open) })
	require.Panics(t, func() { store.Register("regtest-d", nil) })
}
