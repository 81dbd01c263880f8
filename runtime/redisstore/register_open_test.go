package redisstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/store"
)

func TestRegistersItsSchemes(t *testing.T) {
	require.Subset(t, store.Schemes(), []string{"redis", "rediss"})
	open, ok := store.Lookup("redis")
	require.True(t, ok)
	s, err := open(context.Background(), testenv.RedisURL(t))
	require.NoError(t, err)
	require.IsType(t, &redisstore.Store{}, s)
	require.NoError(t, s.Close())
}
