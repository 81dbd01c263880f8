package gen

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/packages"
)

// schemaCases is the directory under testdata/gen holding the breaking-change
// cases: each has before.go.txt and after.go.txt (one file of package m,
// before and after an edit) and want.golden, what idemgen -check reports
// on the edit (errors, then lines starting "warning: ").
const schemaCases = "schema"

// TestSchemaChanges generates each case's before file, applies the edit and
// compares what idemgen reports with want.golden. An edit reported as an
// error writes nothing and is accepted by AllowBreaking (as warnings); an
// edit reported as nothing or as warnings is written, after which the
// schema on disk is the new one and a further run reports nothing.
func TestSchemaChanges(t *testing.T) {
	root := filepath.Join(goldenRoot, schemaCases)
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		caseDir, err := filepath.Abs(filepath.Join(root, e.Name()))
		require.NoError(t, err)
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(caseDir, name))
				require.NoError(t, err)
				return string(b)
			}
			dir := writeModule(t, map[string]string{"x.go": read("before.go.txt")})
			res, err := Run(Config{Dir: dir})
			require.NoError(t, err)
			require.Empty(t, res.Warnings)
			before, err := os.ReadFile(filepath.Join(dir, "x_idem.go"))
			require.NoError(t, err)

			require.NoError(t, os.WriteFile(filepath.Join(dir, "x.go"), []byte(read("after.go.txt")), 0o644))
			res, err = Run(Config{Dir: dir, Check: true})
			if err != nil {
				require.ErrorIs(t, err, ErrDiagnostics)
			}
			checkGolden(t, filepath.Join(caseDir, "want.golden"), reportLines(res, dir))

			if len(res.Diagnostics) > 0 {
				res, err = Run(Config{Dir: dir})
				require.ErrorIs(t, err, ErrDiagnostics)
				after, rerr := os.ReadFile(filepath.Join(dir, "x_idem.go"))
				require.NoError(t, rerr)
				require.Equal(t, string(before), string(after), "a breaking change writes nothing")

				n := len(res.Diagnostics)
				res, err = Run(Config{Dir: dir, AllowBreaking: true})
				require.NoError(t, err)
				require.Empty(t, res.Diagnostics)
				require.GreaterOrEqual(t, len(res.Warnings), n, "every accepted breaking change is a warning")
				for _, w := range res.Warnings {
					require.Contains(t, w.Message, "accepted by -allow-breaking")
				}
			} else {
				_, err = Run(Config{Dir: dir})
				require.NoError(t, err)
			}
			res, err = Run(Config{Dir: dir, Check: true})
			require.NoError(t, err)
			require.Empty(t, res.Warnings, "once written, the new schema is the reference")
			require.Empty(t, res.Changed())
		})
	}
}

// reportLines renders a result's diagnostics and warnings as idemgen
// prints them, relative to dir.
func reportLines(res *Result, dir string) string {
	var b strings.Builder
	if res == nil {
		return ""
	}
	for _, d := range res.Diagnostics {
		b.WriteString(d.Format(dir) + "\n")
	}
	for _, w := range res.Warnings {
		b.WriteString("warning: " + w.Format(dir) + "\n")
	}
	return b.String()
}

// TestSchemaRoundTrip: the schema every golden file carries parses back,
// and every shape in it parses and renders to the same text, so that
// comparisons see what was written.
func TestSchemaRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenRoot, "*", "*"+suffix+".golden"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	shapes := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		schemas := parseSchemas(data)
		require.Equal(t, strings.Count(string(data), "\n//\t"+schemaMarker), len(schemas), f)
		for _, s := range schemas {
			require.NotEmpty(t, s.namespace, "%s: %s", f, s.fn)
			require.NotZero(t, s.version)
			require.NotEmpty(t, s.key)
			var text strings.Builder
			for _, l := range s.lines() {
				text.WriteString("//\t" + l + "\n")
			}
			require.Contains(t, string(data), text.String(), "%s: %s renders as it was read", f, s.fn)
			for _, p := range append(append(append([]schemaPart(nil), s.key...), s.fp...), s.results...) {
				sh, err := parseShape(p.shape)
				require.NoError(t, err, "%s: %s %s", f, s.fn, p.shape)
				require.Equal(t, p.shape, sh.String())
				shapes++
			}
		}
	}
	require.Greater(t, shapes, 50)
}

func TestShapeChanges(t *testing.T) {
	must := func(s string) *shape {
		sh, err := parseShape(s)
		require.NoError(t, err, s)
		return sh
	}
	key := []struct{ old, new, want string }{
		{"struct{A int; B string}", "struct{A int; B string; C bool}", ""},
		{"struct{A int; B string}", "struct{B string; A int}", ""},
		{"struct{A int; B string}", "struct{A int}", "x.B (string) is removed or renamed"},
		{"*struct{A int}", "*struct{A int64}", "x.A changes type from int to int64"},
		{"struct{A int}", "*struct{A int}", "x changes type from struct{A int} to *struct{A int}"},
		{"map[string][]struct{A int}", "map[string][]struct{A int; N *@\"m.T\"}", ""},
		{"map[string][]struct{A int}", "map[string][]struct{}", "x[value][].A (int) is removed or renamed"},
		{"@\"m.T\"", "@\"m.U\"", "x changes type from @\"m.T\" to @\"m.U\""},
		{"bytes", "[]uint8", "x changes type from bytes to []uint8"},
	}
	for _, c := range key {
		require.Equal(t, c.want, keyChange("x", must(c.old), must(c.new)), "%s → %s", c.old, c.new)
	}
	result := []struct{ old, new, want string }{
		{"struct{A int; B string}", "struct{A int64; C bool}", ""},
		{"int", "*uint16", ""},
		{"bytes", "binary", ""},
		{"typeparam", "string", ""},
		{"struct{A int}", "struct{A float64}", "r.A changes type from int to float64"},
		{"[]struct{T time}", "[]struct{T string}", "r[].T changes type from time to string"},
		{"map[string]int", "struct{A int}", "r changes type from map[string]int to struct{A int}"},
		{"map[string]int", "map[int]int", "r[key] changes type from string to int"},
	}
	for _, c := range result {
		require.Equal(t, c.want, resultChange("r", must(c.old), must(c.new)), "%s → %s", c.old, c.new)
	}
	for _, bad := range []string{"", "struct{A}", "map[int", "struct{A int;B int}", "@m", "int x"} {
		_, err := parseShape(bad)
		require.Error(t, err, bad)
	}
	sh := must(`struct{"with space" int; B *[]map[string]@"m.T[int]"}`)
	require.Equal(t, `struct{"with space" int; B *[]map[string]@"m.T[int]"}`, sh.String())
}

// TestDocLinksResolve: every [idemrt.Name] doc link in the generated
// golden files names an exported identifier of the runtime, and every
// [Name] link names a function of the generated file's package.
func TestDocLinksResolve(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: loadMode}, runtimePath)
	require.NoError(t, err)
	require.Len(t, pkgs, 1)
	scope := pkgs[0].Types.Scope()
	files, err := filepath.Glob(filepath.Join(goldenRoot, "*", "*"+suffix+".golden"))
	require.NoError(t, err)
	link := regexp.MustCompile(`\[(?:(idemrt\d*)\.)?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\]`)
	links := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "//") || strings.HasPrefix(line, "//\t") {
				continue // not a comment, or a code block (the schema)
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				if m[1] == "" && isPredeclared(m[2]) {
					continue // a type argument in prose: List[int]
				}
				links++
				if m[1] != "" {
					require.NotNil(t, scope.Lookup(m[2]), "%s: %s names nothing in the runtime", f, m[0])
					require.Regexp(t, `import \(\n(?s:.*)\t`+m[1]+` "`+regexp.QuoteMeta(runtimePath)+`"`, string(data), "%s: the link's package is the runtime's import name", f)
					continue
				}
				name := m[2]
				if i := strings.IndexByte(name, '.'); i >= 0 {
					name = name[i+1:]
				}
				require.Regexp(t, `(?m)^[^/\n].*\W`+regexp.QuoteMeta(name)+`\b`, string(data), "%s: %s is named by the generated code (the wrapped function, or the decorated interface)", f, m[0])
			}
		}
	}
	require.Greater(t, links, 30)
}

// TestSchemaWithoutNewerLines: a schema written before the params and
// effect lines existed is compared by path names and without the effect,
// so regenerating with a newer idemgen reports nothing by itself.
func TestSchemaWithoutNewerLines(t *testing.T) {
	old := parseSchemas([]byte("//\tidemgen-schema F\n//\twrapper FIdem\n//\tnamespace \"m.F\"\n//\tversion 1\n//\tkey o.ID string\n//\tfingerprint o struct{ID string}\n"))
	require.Len(t, old, 1)
	cur := parseSchemas([]byte("//\tidemgen-schema F\n//\twrapper FIdem\n//\tnamespace \"m.F\"\n//\tversion 1\n//\teffect db\n//\tparams ctx, o\n//\tkey o.ID string\n//\tfingerprint o struct{ID string}\n"))
	require.Len(t, cur, 1)
	require.Equal(t, []string{"ctx", "o"}, cur[0].params)
	for _, parts := range [][2][]schemaPart{{old[0].key, cur[0].key}, {old[0].fp, cur[0].fp}} {
		c, _ := partsChange(old[0], cur[0], parts[0], parts[1])
		require.Empty(t, c)
	}
	renamed := *cur[0]
	renamed.params = []string{"ctx", "order"}
	c, paths := partsChange(old[0], &renamed, old[0].key, []schemaPart{{"order.ID", "string"}})
	require.True(t, paths, "without params on one side, a renamed parameter is a changed path")
	require.Contains(t, c, "(o.ID string) becomes (order.ID string)")
	c, _ = partsChange(cur[0], &renamed, cur[0].key, []schemaPart{{"order.ID", "string"}})
	require.Empty(t, c, "with params on both sides, a renamed parameter is no change")
}
