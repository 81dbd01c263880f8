package sqldialect

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	modernc "modernc.org/sqlite"
)

// The drivers' error types have the methods the dialects classify by.
var (
	_ interface{ Code() int }        = (*modernc.Error)(nil)
	_ interface{ SQLState() string } = (*pgconn.PgError)(nil)
)

func TestCompileBindsNamesOnce(t *testing.T) {
	s := compile("a = @x AND b = @y_z OR c = @x", func(n int) string { return fmt.Sprint("$", n) })
	require.Equal(t, "a = $1 AND b = $2 OR c = $1", s.text)
	require.Equal(t, []any{1, "two"}, s.bind(args{"x": 1, "y_z": "two", "unused": 3}))
	require.Panics(t, func() { s.bind(args{"x": 1}) }, "a missing parameter is a bug, never a NULL")
}

type codeErr int

func (e codeErr) Error() string { return fmt.Sprint("sqlite code ", int(e)) }
func (e codeErr) Code() int     { return int(e) }

func TestPostgresTransient(t *testing.T) {
	for code, want := range map[string]bool{
		"40001": true, "40P01": true, // serialization failure, deadlock
		"57P01": true, "57P02": true, "57P03": true, // admin and crash shutdown, starting up
		"08006": true, "08003": true, // connection failure, connection does not exist
		"23505": false, "42P01": false, "22P02": false, // unique violation, undefined table, invalid text
	} {
		err := fmt.Errorf("insert: %w", &pgconn.PgError{Code: code})
		require.Equal(t, want, PostgresTransient(err), code)
		require.Equal(t, want, postgres.Transient(err), code)
	}
	require.False(t, PostgresTransient(errors.New("57P01")), "never by message text")
	require.True(t, postgres.Transient(fmt.Errorf("exec: %w", driver.ErrBadConn)))
	require.True(t, postgres.MissingTable(&pgconn.PgError{Code: "42P01"}))
	require.False(t, postgres.MissingTable(&pgconn.PgError{Code: "42883"}), "DoSQL does not call pgstore's claim function")
	require.True(t, PostgresMissingSchema(&pgconn.PgError{Code: "42883"}))
}

func TestSQLiteClassification(t *testing.T) {
	const constraintUnique = 19 | 8<<8 // SQLITE_CONSTRAINT_UNIQUE
	require.True(t, sqlite.Transient(codeErr(sqliteBusy)))
	require.True(t, sqlite.Transient(codeErr(sqliteLocked)))
	require.True(t, sqlite.Transient(codeErr(sqliteBusySnapshot)), "a stale snapshot needs a new transaction")
	require.False(t, sqlite.Transient(codeErr(constraintUnique)))
	require.True(t, sqlite.busy(codeErr(sqliteBusy)))
	require.False(t, sqlite.busy(codeErr(sqliteBusySnapshot)), "waiting cannot refresh a stale snapshot")
	require.True(t, sqlite.MissingTable(codeErr(sqliteError)))
	require.False(t, sqlite.MissingTable(errors.New("no such table: idem_records")), "never by message text")
}

type otherDriver struct{}

func (otherDriver) Open(string) (driver.Conn, error) { return nil, errors.New("no connections") }

type otherConnector struct{}

func (otherConnector) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no") }
func (otherConnector) Driver() driver.Driver                        { return otherDriver{} }

func TestForRecognisesDriversByType(t *testing.T) {
	lite, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	defer lite.Close()
	d, err := For(lite)
	require.NoError(t, err)
	require.Same(t, sqlite, d)

	cfg, err := pgx.ParseConfig("postgres://idem@127.0.0.1:1/app")
	require.NoError(t, err)
	pg := stdlib.OpenDB(*cfg)
	defer pg.Close()
	d, err = For(pg)
	require.NoError(t, err)
	require.Same(t, postgres, d)

	_, err = For(sql.OpenDB(otherConnector{}))
	require.ErrorContains(t, err, "modernc.org/sqlite")
	require.ErrorContains(t, err, "github.com/jackc/pgx/v5/stdlib")
	require.ErrorContains(t, err, "github.com/go-sql-driver/mysql (MySQL)")
	require.ErrorContains(t, err, "sqldialect.otherDriver")
}
