// Package mysqltest gives a test a MySQL (or MariaDB) database of its own
// on the server of IDEM_TEST_MYSQL_DSN (see internal/testenv), through
// github.com/go-sql-driver/mysql, which it registers as "mysql".
package mysqltest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
)

// Database creates a database of t's own, named prefix and random hex
// digits, and returns the data source name of IDEM_TEST_MYSQL_DSN with
// that database; the database is dropped when t ends. Like
// testenv.MySQLDSN, it skips t when the variable is unset (fails it under
// CI).
func Database(t testing.TB, prefix string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(testenv.MySQLDSN(t))
	require.NoError(t, err, "%s is not a data source name of github.com/go-sql-driver/mysql", testenv.MySQLDSNVar)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	server := cfg.Clone()
	server.DBName = ""
	admin, err := sql.Open("mysql", server.FormatDSN())
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	t.Cleanup(func() {
		admin, err := sql.Open("mysql", server.FormatDSN())
		if err == nil {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name)
			admin.Close()
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
