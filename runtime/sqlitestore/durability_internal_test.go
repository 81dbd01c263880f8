package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
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

// Each durability syncs what it promises. A store made by Open commits
// every write with synchronous=NORMAL and syncs the log after the writes
// that must be on disk (walSync): claims and renewals except under
// DurableCrash, and completions, releases and marks only under DurableAll.
// The DSN option selects them. A store on a caller's *sql.DB keeps the
// caller's FULL connection for claims and finds the file for a NORMAL
// second connection.
func TestDurabilityConnections(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		dsn    string
		synced []string // statements followed by an fsync of the log ("" a claim)
	}{
		{"", []string{"", sqlRenew, sqlDelete, "sweep"}},
		{"?durability=claims", []string{"", sqlRenew, sqlDelete, "sweep"}},
		{"?durability=all", []string{"", sqlRenew, sqlDelete, "sweep", sqlComplete, sqlRelease, sqlIndeterminate}},
		{"?durability=crash", nil},
	} {
		t.Run(c.dsn, func(t *testing.T) {
			path, opts, err := parseDSN(filepath.Join(t.TempDir(), "idem.db") + c.dsn)
			require.NoError(t, err)
			s, err := Open(path, opts...)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.init(ctx))
			require.Equal(t, 1, synchronous(t, s.db), "commits do not fsync on their own")
			require.Nil(t, s.lazy)
			require.Empty(t, s.lazyStmts)
			if c.synced == nil {
				require.Nil(t, s.wal)
				return
			}
			require.NotNil(t, s.wal)
			for _, q := range []string{"", sqlRenew, sqlDelete, "sweep", sqlComplete, sqlRelease, sqlIndeterminate} {
				before := s.wal.count.Load()
				require.NoError(t, s.synced(ctx, q))
				require.Equal(t, slices.Contains(c.synced, q), s.wal.count.Load() > before, "statement %q", q)
			}
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
