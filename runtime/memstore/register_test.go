package memstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

func TestRegistersItsSchemes(t *testing.T) {
	require.Subset(t, store.Schemes(), []string{"mem", "memory"})
	open, ok := store.Lookup("memory")
	require.True(t, ok)
	s, err := open(context.Background(), "memory:")
	require.NoError(t, err)
	require.IsType(t, &memstore.Store{}, s)
}
