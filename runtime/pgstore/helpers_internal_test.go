package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
)

// internalStore returns a pool and a store on a fresh table of it;
// everything the store creates is dropped when the test ends.
func internalStore(t testing.TB) (*pgxpool.Pool, *Store) {
	pool, err := pgxpool.New(context.Background(), testenv.PostgresDSN(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, storeOn(t, pool)
}

// storeOn returns a store on a fresh table of pool, dropped when the test
// ends.
func storeOn(t testing.TB, pool *pgxpool.Pool) *Store {
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	table := "idem_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS "`+table+`"; DROP SEQUENCE IF EXISTS "`+table+`_token_seq"; DROP FUNCTION IF EXISTS "`+table+`_claim"`)
		assert.NoError(t, err)
	})
	s, err := New(ctx, pool, WithTable(table))
	require.NoError(t, err)
	return s
}
