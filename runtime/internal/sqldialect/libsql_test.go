//go:build cgo && idem_libsql

package sqldialect

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "github.com/tursodatabase/go-libsql"

	"github.com/idem-go/idem/runtime/store"
)

func openLibsql(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("libsql", "file:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// go-libsql's errors carry no result code: the dialect reads it from the
// message. Real errors of the driver pin the messages it relies on.
func TestLibsqlErrorCodes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db := openLibsql(t, path)
	d, err := For(db)
	require.NoError(t, err)
	require.Equal(t, "github.com/tursodatabase/go-libsql", d.Driver)
	require.Equal(t, "SQLite", d.Name)

	// A missing table: the claim migrates and tries again.
	_, err = db.Exec(`SELECT * FROM idem_records`)
	require.Error(t, err)
	require.True(t, d.MissingTable(err), "%q", err)
	require.False(t, d.Transient(err))

	// A database another connection holds the write lock of: busy, and
	// worth a new transaction.
	other := openLibsql(t, path)
	c1, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c1.Close()
	c2, err := other.Conn(ctx)
	require.NoError(t, err)
	defer c2.Close()
	_, err = c1.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	_, err = c2.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.Error(t, err)
	require.True(t, d.busy(err), "%q", err)
	require.True(t, d.Transient(fmt.Errorf("claim: %w", err)))
	require.False(t, d.MissingTable(err))
	_, err = c1.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)

	// A constraint failure is neither.
	_, err = db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY)`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO t VALUES (1)`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO t VALUES (1)`)
	require.Error(t, err)
	require.False(t, d.Transient(err), "%q", err)
	require.False(t, d.MissingTable(err), "%q", err)

	// Errors of other drivers are not read as libsql's.
	_, ok := libsqlCode(fmt.Errorf("database is locked"))
	require.False(t, ok)
}

// The driver runs one statement per call: the schema is applied statement
// by statement, and applying it twice is harmless.
func TestLibsqlMigrate(t *testing.T) {
	ctx := context.Background()
	db := openLibsql(t, filepath.Join(t.TempDir(), "app.db"))
	d, err := For(db)
	require.NoError(t, err)
	require.NoError(t, d.Migrate(ctx, db))
	require.NoError(t, d.Migrate(ctx, db))
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('idem_records', 'idem_records_retain_until')`).Scan(&n))
	require.Equal(t, 2, n)
}

func TestStatements(t *testing.T) {
	require.Len(t, statements(SQLiteSchema), 2)
	require.Len(t, statements(PostgresSchema), 3)
	require.Equal(t, []string{"A;", "B\n  C;"}, statements("A;\n\nB\n  C;\n"))
}

// A table created before the fingerprint_parts column: libSQL's error for
// the missing column makes the claim migrate, as for a missing table, and
// the dialect without the parts classifies errors by libSQL's messages too.
func TestLibsqlYesterdaysTable(t *testing.T) {
	ctx := context.Background()
	db := openLibsql(t, filepath.Join(t.TempDir(), "app.db"))
	d, err := For(db)
	require.NoError(t, err)
	yesterday := strings.Replace(SQLiteSchema, "updated_at   INTEGER NOT NULL,\n\tfingerprint_parts BLOB", "updated_at   INTEGER NOT NULL", 1)
	require.NotEqual(t, SQLiteSchema, yesterday)
	for _, q := range statements(yesterday) {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	req := store.ClaimRequest{Key: store.Key{1}, Namespace: "ns", Owner: store.Owner{1}, Now: now,
		LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour), FingerprintParts: []byte{1, 2, 3}}
	claim := func() (store.ClaimResult, error) {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		res, err := d.ForDB(db).Claim(ctx, tx, req)
		if err != nil {
			return res, err
		}
		return res, tx.Commit()
	}
	_, err = claim()
	require.Error(t, err)
	require.True(t, d.MissingTable(err), "%q", err)
	require.NoError(t, d.Migrate(ctx, db))
	res, err := claim()
	require.NoError(t, err)
	require.True(t, res.Granted)

	busy := errors.New("failed to execute query BEGIN IMMEDIATE\nerror code = 2: Error executing statement: SQLite failure: `database is locked`")
	require.True(t, d.legacy.busy(busy))
	require.True(t, d.legacy.Transient(busy))
	require.Equal(t, d.Driver, d.legacy.Driver)
}
