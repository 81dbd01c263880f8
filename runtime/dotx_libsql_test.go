//go:build cgo && idem_libsql

package runtime_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	_ "github.com/tursodatabase/go-libsql"
)

// libSQL (github.com/tursodatabase/go-libsql) needs cgo and cannot be
// linked with mattn/go-sqlite3 (both define SQLite's C symbols): the
// db-effect tests run on it alone in a binary built with the tag
// idem_libsql (scripts/test.sh: go test -tags idem_libsql -run DBEffect).
// Its connections get no busy timeout (the driver takes none in its DSN):
// the dialect waits for the write lock.
func init() {
	onlyLedger = "sqlite-libsql"
	moreLedgers["sqlite-libsql"] = func(t *testing.T) ledger {
		path := filepath.Join(t.TempDir(), "app.db")
		db := openLedgerDB(t, "libsql", "file:"+path)
		var mode string
		require.NoError(t, db.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode))
		require.Equal(t, "wal", mode)
		return &sqlLedger{db: db}
	}
}
