package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// synchronous returns SQLite's synchronous setting on a connection of db:
// 1 NORMAL, 2 FULL.
func synchronous(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`PRAGMA synchronous`).Scan(&n))
	return n
}

// Each durability syncs what it promises: claims always through a FULL
// connection except under DurableCrash; completions, releases and marks
// through a NORMAL one only under DurableClaims. The DSN option selects
// them, and a store on a caller's *sql.DB finds the file for its second
// connection.
func TestDurabilityConnections(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		dsn         string
		claims      int
		completions int // 0: through the claims' connection
	}{
		{"", 2, 1},
		{"?durability=claims", 2, 1},
		{"?durability=all", 2, 0},
		{"?durability=crash", 1, 0},
	} {
		t.Run(c.dsn, func(t *testing.T) {
			path, opts, err := parseDSN(filepath.Join(t.TempDir(), "idem.db") + c.dsn)
			require.NoError(t, err)
			s, err := Open(path, opts...)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.init(ctx))
			require.Equal(t, c.claims, synchronous(t, s.db), "the claims' connection")
			if c.completions == 0 {
				require.Nil(t, s.lazy)
				require.Empty(t, s.lazyStmts)
				return
			}
			require.Equal(t, c.completions, synchronous(t, s.lazy), "the completions' connection")
			for _, q := range []string{sqlComplete, sqlRelease, sqlIndeterminate} {
				require.Contains(t, s.lazyStmts, q)
			}
			require.NotContains(t, s.lazyStmts, sqlRenew, "a renewal keeps a live holder's key: synced")
		})
	}
	t.Run("New", func(t *testing.T) {
		db, err := sql.Open("sqlite", DSN(filepath.Join(t.TempDir(), "a #1?.db")))
		require.NoError(t, err)
		defer db.Close()
		s, err := New(db)
		require.NoError(t, err)
		defer s.Close()
		require.NoError(t, s.init(ctx))
		require.NotNil(t, s.lazy)
		require.Equal(t, 1, synchronous(t, s.lazy))
	})
	for _, bad := range []string{"?durability=none", "?sync=full", "?durability=all&durability=crash"} {
		_, _, err := parseDSN("idem.db" + bad)
		require.Error(t, err, bad)
	}
}
