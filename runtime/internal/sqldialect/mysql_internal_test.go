package sqldialect

import (
	"database/sql"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

func TestCompileQuestionMarks(t *testing.T) {
	s := compile("a = @x AND b = @y OR c = @x", nil)
	require.Equal(t, "a = ? AND b = ? OR c = ?", s.text)
	require.Equal(t, []any{1, "two", 1}, s.bind(args{"x": 1, "y": "two"}), "a name used twice is bound twice")
}

// The MySQL statements quote the reserved word key, return nothing, and
// bind one value per placeholder.
func TestMySQLStatements(t *testing.T) {
	for name, st := range map[string]stmt{"sel": mysql.sel, "peek": mysql.peek, "insert": mysql.insert, "grant": mysql.grant,
		"extend": mysql.extend, "mark": mysql.mark, "complete": mysql.complete} {
		require.Contains(t, st.text, "`key` = ", name)
		require.NotContains(t, strings.ReplaceAll(st.text, "`key`", ""), "key", name)
		require.NotContains(t, st.text, "RETURNING", name)
		require.NotContains(t, st.text, "@", name)
		require.Equal(t, strings.Count(st.text, "?"), len(st.names), name)
	}
	require.True(t, strings.HasSuffix(mysql.sel.text, " FOR UPDATE"))
	require.NotContains(t, mysql.peek.text, "FOR UPDATE")
	require.Contains(t, mysql.insert.text, "ON DUPLICATE KEY UPDATE `key` = `key`")
}

func TestForRecognisesMySQL(t *testing.T) {
	db, err := sql.Open("mysql", "idem@tcp(127.0.0.1:1)/app")
	require.NoError(t, err)
	defer db.Close()
	d, err := For(db)
	require.NoError(t, err)
	require.Same(t, mysql, d)

	cfg := gomysql.NewConfig()
	conn, err := gomysql.NewConnector(cfg)
	require.NoError(t, err)
	d, err = For(sql.OpenDB(conn))
	require.NoError(t, err)
	require.Same(t, mysql, d, "a connector's handle too")
	require.Contains(t, Supported(), "github.com/go-sql-driver/mysql (MySQL)")
}
