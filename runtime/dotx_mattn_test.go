//go:build cgo && !idem_libsql

package runtime_test

import (
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// mattn/go-sqlite3 needs cgo; where cgo is off, its ledger is left out.
func init() {
	moreLedgers["sqlite-mattn"] = func(t *testing.T) ledger {
		path := filepath.Join(t.TempDir(), "app.db")
		return &sqlLedger{db: openLedgerDB(t, "sqlite3", "file:"+path+"?_busy_timeout=0&_journal_mode=WAL&_txlock=deferred")}
	}
}
