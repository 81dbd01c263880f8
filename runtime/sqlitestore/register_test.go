package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

func TestRegistersItsSchemes(t *testing.T) {
	require.Subset(t, store.Schemes(), []string{"file", "sqlite", "sqlite3"})
	for _, dsn := range []string{"sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SQLite://" + filepath.Join(t.TempDir(), "b.db")} {
		open, ok := store.Lookup(dsn[:6])
		require.True(t, ok)
		s, err := open(context.Background(), dsn)
		require.NoError(t, err, dsn)
		require.IsType(t, &sqlitestore.Store{}, s)
		require.NoError(t, s.Close())
	}
	open, _ := store.Lookup("sqlite")
	_, err := open(context.Background(), "sqlite:")
	require.ErrorContains(t, err, "names no file")
}
