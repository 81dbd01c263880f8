package audit_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/gen/audit"
)

func TestIsSQLWrite(t *testing.T) {
	for sql, want := range map[string]bool{
		"INSERT INTO t VALUES (1)": true,
		"  update t set x = 1":     true,
		"DELETE FROM t":            true,
		"MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE":  true,
		"UPSERT INTO t VALUES (1)":                               true,
		"REPLACE INTO t VALUES (1)":                              true,
		"-- note\n/* more */ insert into t values (1)":           true,
		"WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x": true,
		"SELECT nextval('s') RETURNING x":                        true,
		"SELECT * FROM t":                                        false,
		"SELECT replace(name, 'a', 'b') FROM t":                  false,
		"WITH x AS (SELECT 1) SELECT * FROM x":                   false,
		"SELECT updated_at FROM t":                               false,
		"":                                                       false,
		"-- only a comment":                                      false,
	} {
		require.Equal(t, want, audit.IsSQLWrite(sql), "%q", sql)
	}
}

func TestParseRules(t *testing.T) {
	rules, err := audit.ParseRules(strings.NewReader("# ours\n\nqueue (*example.com/bus.Client).Send\ndb  (example.com/store.Store).Query* when=sql-write\nfile example.com/fs.Put\n"), "r.txt")
	require.NoError(t, err)
	require.Len(t, rules, 3)
	require.Equal(t, audit.Rule{Category: "db", Callee: "(example.com/store.Store).Query*", When: audit.WhenSQLWrite}, clean(rules[1]))

	for src, msg := range map[string]string{
		"queue\n":                 "r.txt:1: write a rule as: category callee [when=condition]",
		"\nqueue a.B c d\n":       "r.txt:2: write a rule as",
		"queue a.B sometimes\n":   "r.txt:1: the third field is when=condition",
		"queue a.B when=rarely\n": `unknown condition "rarely"`,
		"queue (a.B\n":            "write the callee as path/to/pkg.Func or (*path/to/pkg.Type).Method",
		"queue Send\n":            "write the callee as",
	} {
		_, err := audit.ParseRules(strings.NewReader(src), "r.txt")
		require.ErrorContains(t, err, msg, "%q", src)
	}
}

// clean drops a rule's unexported parsed fields, for comparison.
func clean(r audit.Rule) audit.Rule {
	return audit.Rule{Category: r.Category, Callee: r.Callee, When: r.When}
}

// writeModule writes a module example.com/m and returns its directory.
func writeModule(t testing.TB, files map[string]string) string {
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.24\n"
	for name, src := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	return dir
}

// sites returns "Function category callee" for every site of the report.
func sites(rep *audit.Report) []string {
	var out []string
	for _, p := range rep.Packages {
		for _, f := range p.Functions {
			for _, s := range f.Sites {
				out = append(out, f.Name+" "+s.Category+" "+s.Callee)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestResolvedByType: callees are matched by their resolved type, not by
// name; conditions on SQL, request methods and file flags apply.
func TestResolvedByType(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"sql/sql.go": "package sql\n\ntype DB struct{}\n\nfunc (DB) Exec(q string) error { return nil }\n\nfunc WriteFile(string) {}\n",
		"m.go": `package m

import (
	"context"
	"database/sql"
	"net/http"
	"os"

	fake "example.com/m/sql"
)

type MyDB struct{ *sql.DB }

func Embedded(ctx context.Context, db MyDB) { db.ExecContext(ctx, "UPDATE t SET x = 1") }
func SameNames(f fake.DB) { f.Exec("INSERT INTO t VALUES (1)"); fake.WriteFile("x") }
func DynamicSQL(db *sql.DB, q string) { db.Query(q) }
func Returning(db *sql.DB) { db.Query("insert into t values (1) returning id") }
func Select(db *sql.DB) { db.QueryRow("SELECT 1") }
func StmtExec(s *sql.Stmt) { s.Exec() }
func UnknownMethod(c *http.Client, m string) { req, _ := http.NewRequest(m, "u", nil); c.Do(req) }
func Head(c *http.Client) { req, _ := http.NewRequest(http.MethodHead, "u", nil); c.Do(req) }
func Delete(ctx context.Context, c *http.Client) { req, _ := http.NewRequestWithContext(ctx, "DELETE", "u", nil); c.Do(req) }
func Reassigned(c *http.Client) {
	req, _ := http.NewRequest("GET", "u", nil)
	req, _ = http.NewRequest("PUT", "u", nil)
	c.Do(req)
}
func Get(c *http.Client) { c.Get("u"); http.Get("u") }
func FlagVar(flag int) { os.OpenFile("p", flag, 0) }
func ReadOnly() { os.OpenFile("p", os.O_RDONLY, 0) }
func Trunc() { os.OpenFile("p", os.O_RDWR|os.O_TRUNC, 0) }
func Dirs() { os.MkdirTemp("", "x"); os.Mkdir("d", 0o755) }
`,
	})
	rep, err := audit.Run(audit.Config{Dir: dir})
	require.NoError(t, err)
	require.Equal(t, []string{
		"Delete api (*net/http.Client).Do",
		"Dirs file os.Mkdir",
		"Dirs file os.MkdirTemp",
		"Embedded db (*database/sql.DB).ExecContext",
		"FlagVar file os.OpenFile",
		"Reassigned api (*net/http.Client).Do",
		"Returning db (*database/sql.DB).Query",
		"StmtExec db (*database/sql.Stmt).Exec",
		"Trunc file os.OpenFile",
		"UnknownMethod api (*net/http.Client).Do",
	}, sites(rep))
}

// TestCoverage: coverage through wrappers, callers, cycles and values.
func TestCoverage(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"m.go": `package m

import "os"

// Marked is marked; its wrapper is in m_idem.go.
//
//idem:key id
func Marked(id string) error { leaf(id); valueUsed(); return Inner(id) }

// Inner is marked and called directly only by Marked, which is covered.
//
//idem:key id
func Inner(id string) error { return os.Remove(id) }

func leaf(id string) { os.Remove(id) }

func Entry() error { return MarkedIdem("x") }

// Other is marked.
//
//idem:key id
func Other(id string) error { return os.Remove(id) }

func Entry2() error { InnerIdem("x"); return OtherIdem("y") }

func cycA(n int) { os.Remove("a"); cycB(n) }
func cycB(n int) { os.Remove("b"); cycA(n) }

func valueUsed() { os.Remove("v") }

var hook = valueUsed

func fromBoth() { os.Remove("f") }
func Uncovered() { fromBoth() }
func viaMarked(id string) error { fromBoth(); return nil }
`,
		"m_idem.go": "// Code generated by idemgen. DO NOT EDIT." + "\n\npackage m\n\nfunc MarkedIdem(id string) error { return Marked(id) }\n\nfunc InnerIdem(id string) error { return Inner(id) }\n\nfunc OtherIdem(id string) error { return Other(id) }\n",
	})
	rep, err := audit.Run(audit.Config{Dir: dir})
	require.NoError(t, err)
	fns := map[string]*audit.Function{}
	for _, f := range rep.Packages[0].Functions {
		fns[f.Name] = f
	}
	require.True(t, fns["Marked"].Covered)
	require.True(t, fns["Inner"].Covered)
	require.Empty(t, fns["Inner"].Bypasses, "a direct call from covered code is no bypass")
	require.True(t, fns["leaf"].Covered, "called only from a marked function")
	require.False(t, fns["cycA"].Covered, "a cycle without an entry through a wrapper")
	require.False(t, fns["cycB"].Covered)
	require.True(t, fns["cycA"].Composite)
	require.False(t, fns["valueUsed"].Covered)
	require.True(t, fns["valueUsed"].UsedAsValue, "called by a marked function, but also used as a value")
	require.False(t, fns["fromBoth"].Covered, "one of its callers is uncovered")
	require.NotContains(t, fns, "Entry2", "reaching only covered sites through wrappers, it is not listed")
	require.Equal(t, 3, fns["Entry"].Reaches, "reaches the sites of Marked, its callees and Inner")
	require.Equal(t, 1, fns["Entry"].Uncovered, "valueUsed's")
	require.Equal(t, 7, rep.Sites)
	require.Equal(t, 3, rep.Covered)
	require.Equal(t, 42.9, rep.Percent)
}
