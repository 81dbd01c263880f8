package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

// wrapped embeds an in-memory store, as a fault injector or an
// instrumented store would, and could block in methods of its own.
type wrapped struct{ *memstore.Store }

func TestIsInMemoryTrustsOnlyTheStoreItself(t *testing.T) {
	s := memstore.New()
	require.True(t, store.IsInMemory(s), "memstore never waits")
	require.False(t, store.IsInMemory(wrapped{s}), "a wrapper that embeds memstore is not in memory through the promoted method")
	require.False(t, store.IsInMemory(&wrapped{s}), "nor is a pointer to one")
	var none store.Store
	require.False(t, store.IsInMemory(none))
}
