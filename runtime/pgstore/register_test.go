package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/store"
)

func TestRegistersItsSchemes(t *testing.T) {
	require.Subset(t, store.Schemes(), []string{"postgres", "postgresql"})
	open, ok := store.Lookup("postgres")
	require.True(t, ok)
	s, err := open(context.Background(), testenv.PostgresDSN(t))
	require.NoError(t, err)
	require.IsType(t, &pgstore.Store{}, s)
	require.NoError(t, s.Close())
}
