//go:build cgo && !idem_libsql

package sqldialect

import (
	"database/sql"
	"fmt"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// mattn/go-sqlite3 reports result codes in fields, not methods: the
// dialect reads them, as a value and through a pointer, wrapped or not.
func TestMattnErrorCodes(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	require.NoError(t, err)
	defer db.Close()
	d, err := For(db)
	require.NoError(t, err)
	require.Equal(t, "github.com/mattn/go-sqlite3", d.Driver)
	busy := sqlite3.Error{Code: sqlite3.ErrBusy, ExtendedCode: sqlite3.ErrNoExtended(sqlite3.ErrBusy)}
	require.True(t, d.Transient(fmt.Errorf("exec: %w", busy)))
	require.True(t, d.Transient(&busy))
	require.True(t, d.busy(busy))
	snapshot := sqlite3.Error{Code: sqlite3.ErrBusy, ExtendedCode: sqlite3.ErrBusySnapshot}
	require.True(t, d.Transient(snapshot))
	require.False(t, d.busy(snapshot), "a stale snapshot needs a new transaction")
	unique := sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}
	require.False(t, d.Transient(unique))
	require.False(t, d.MissingTable(unique))

	// A real error of the driver: a missing table.
	_, err = db.Exec(`SELECT * FROM idem_records`)
	require.Error(t, err)
	require.True(t, d.MissingTable(err), "%#v", err)
}
