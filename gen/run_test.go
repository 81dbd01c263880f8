package gen

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/packages"
)

// writeModule creates a module in a temporary directory holding files
// (relative path → content) and returns its directory.
func writeModule(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, content := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return dir
}

const srcA = `package m

import "context"

// A is wrapped.
//
//idem:key id
func A(ctx context.Context, id string) error { return nil }
`

const srcB = `package m

import "context"

// B is wrapped.
//
//idem:key n
func B(ctx context.Context, n int) (int, error) { return n, nil }
`

func actions(res *Result) map[string]Action {
	out := map[string]Action{}
	for _, f := range res.Files {
		out[filepath.Base(f.Path)] = f.Action
	}
	return out
}

func TestRunWritesOnlyChangesAndRemovesStaleFiles(t *testing.T) {
	dir := writeModule(t, map[string]string{"a.go": srcA, "b.go": srcB, "plain.go": "package m\n"})

	res, err := Run(Config{Dir: dir})
	require.NoError(t, err)
	assert.Equal(t, map[string]Action{"a_idem.go": Created, "b_idem.go": Created}, actions(res))
	a, err := os.ReadFile(filepath.Join(dir, "a_idem.go"))
	require.NoError(t, err)
	require.Regexp(t, `^`+regexp.QuoteMeta(header)+"\n// idemgen-sum: [0-9a-f]{32} [0-9a-f]{32}\n\n//go:build !idemgen\n\npackage m\n", string(a))
	require.Equal(t, []string{"AIdem"}, res.Files[0].Wrappers)

	// Unchanged files are not rewritten: their modification time stays.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "a_idem.go"), old, old))
	res, err = Run(Config{Dir: dir})
	require.NoError(t, err)
	assert.Equal(t, map[string]Action{"a_idem.go": Unchanged, "b_idem.go": Unchanged}, actions(res))
	st, err := os.Stat(filepath.Join(dir, "a_idem.go"))
	require.NoError(t, err)
	require.True(t, st.ModTime().Equal(old), "an unchanged file is not rewritten")

	// A hand edit that keeps the sum line is noticed: the content no
	// longer matches its sum.
	edited := strings.Replace(string(a), "return err", "return nil", 1)
	require.NotEqual(t, string(a), edited)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a_idem.go"), []byte(edited), 0o644))
	res, err = Run(Config{Dir: dir, Check: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]Action{"a_idem.go": Updated, "b_idem.go": Unchanged}, actions(res))
	res, err = Run(Config{Dir: dir})
	require.NoError(t, err)
	restored, err := os.ReadFile(filepath.Join(dir, "a_idem.go"))
	require.NoError(t, err)
	require.Equal(t, string(a), string(restored))

	// A stale file is rewritten.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a_idem.go"), []byte(header+"\n\npackage m\n"), 0o644))
	// b.go loses its directives; a generated file whose source is gone
	// goes too; a hand-written _idem.go file stays.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.go"), []byte("package m\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gone_idem.go"), []byte(header+"\n\n//go:build !idemgen\n\npackage m\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hand_idem.go"), []byte("package m\n"), 0o644))

	// Check reports all of it and changes nothing.
	res, err = Run(Config{Dir: dir, Check: true})
	require.NoError(t, err)
	want := map[string]Action{"a_idem.go": Updated, "b_idem.go": Removed, "gone_idem.go": Removed}
	assert.Equal(t, want, actions(res))
	assert.Equal(t, 3, len(res.Changed()))
	_, err = os.Stat(filepath.Join(dir, "b_idem.go"))
	require.NoError(t, err, "check removes nothing")

	res, err = Run(Config{Dir: dir})
	require.NoError(t, err)
	assert.Equal(t, want, actions(res))
	for _, name := range []string{"b_idem.go", "gone_idem.go"} {
		_, err = os.Stat(filepath.Join(dir, name))
		require.True(t, errors.Is(err, os.ErrNotExist), name)
	}
	a2, err := os.ReadFile(filepath.Join(dir, "a_idem.go"))
	require.NoError(t, err)
	require.Equal(t, string(a), string(a2))
	_, err = os.Stat(filepath.Join(dir, "hand_idem.go"))
	require.NoError(t, err, "a file without the header is never removed")

	// Nothing is left behind by the atomic writes.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.Contains(e.Name(), ".tmp"), e.Name())
	}

	res, err = Run(Config{Dir: dir, Check: true})
	require.NoError(t, err)
	require.Empty(t, res.Changed())
}

func TestRunWritesNothingWhenThereAreErrors(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"a.go":   srcA,
		"bad.go": "package m\n\n// Bad is wrong.\n//\n//idem:key nope\nfunc Bad() error { return nil }\n",
	})
	res, err := Run(Config{Dir: dir})
	require.ErrorIs(t, err, ErrDiagnostics)
	require.Len(t, res.Diagnostics, 1)
	require.Equal(t, "bad.go:5:12: key path nope names no parameter nope of Bad; it has no named parameters", res.Diagnostics[0].Format(dir))
	require.Equal(t, filepath.Join(dir, "bad.go")+":5:12: key path nope names no parameter nope of Bad; it has no named parameters", res.Diagnostics[0].String())
	_, err = os.Stat(filepath.Join(dir, "a_idem.go"))
	require.True(t, errors.Is(err, os.ErrNotExist), "nothing is written")
}

func TestStaleGeneratedCodeDoesNotBlockRegeneration(t *testing.T) {
	// The generated file no longer matches the source (the function lost a
	// parameter): it does not compile, but idemgen loads with -tags=idemgen
	// and so never sees it.
	dir := writeModule(t, map[string]string{
		"a.go":      srcA,
		"a_idem.go": header + "\n\n//go:build !idemgen\n\npackage m\n\nfunc AIdem() { A(nil, 1, 2) }\n",
		"use.go":    "package m\n\nimport \"context\"\n\n// Use calls the wrapper, which does not exist under -tags=idemgen.\nfunc Use() error { return AIdem(context.Background(), \"x\") }\n",
	})
	res, err := Run(Config{Dir: dir})
	require.NoError(t, err)
	require.Equal(t, map[string]Action{"a_idem.go": Updated}, actions(res))
}

func TestBuildConstraintsCarryOver(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"a_linux.go": "//go:build cgo || !cgo\n\n" + srcA,
	})
	res, err := Run(Config{Dir: dir, Check: true})
	require.NoError(t, err)
	require.Len(t, res.Files, 1)
	require.Equal(t, "a_linux_idem.go", filepath.Base(res.Files[0].Path))
	require.Contains(t, string(res.Files[0].Content), "\n//go:build !idemgen && (cgo || !cgo) && linux\n")
}

func TestFileNameTags(t *testing.T) {
	for name, want := range map[string][]string{
		"a.go":             nil,
		"linux.go":         nil,
		"a_linux.go":       {"linux"},
		"a_amd64.go":       {"amd64"},
		"a_linux_arm64.go": {"linux", "arm64"},
		"a_linux_test.go":  {"linux"},
		"a_idem.go":        nil,
		"x_windows_foo.go": nil,
	} {
		assert.Equal(t, want, fileNameTags(name), name)
	}
}

func TestLowerFirst(t *testing.T) {
	for in, want := range map[string]string{
		"InsertEventIdem": "insertEventIdem", "sendIdem": "sendIdem", "HTTPServer": "httpServer", "ID": "id", "": "",
	} {
		assert.Equal(t, want, lowerFirst(in), in)
	}
}

func TestDiagnosticFormat(t *testing.T) {
	d := Diagnostic{Message: "m"}
	assert.Equal(t, "m", d.String())
	d.Pos.Filename = "/x/a.go"
	assert.Equal(t, "/x/a.go: m", d.String())
	d.Pos.Line = 3
	assert.Equal(t, "a.go:3: m", d.Format("/x"))
	d.Pos.Column = 4
	assert.Equal(t, "a.go:3:4: m", d.Format("/x"))
	assert.Equal(t, "/x/a.go:3:4: m", d.Format("/y"), "outside base: absolute")
}

func TestPackageErrorDiagnostic(t *testing.T) {
	for pos, want := range map[string]string{
		"/a/b.go:3:4": "/a/b.go:3:4: msg",
		"/a/b.go:3":   "/a/b.go:3: msg",
		"":            "msg",
		"c:/a/b.go:3": "c:/a/b.go:3: msg",
	} {
		d := packageErrorDiagnostic(packagesError(pos, "msg"))
		assert.Equal(t, want, d.String(), pos)
	}
}

func packagesError(pos, msg string) packages.Error { return packages.Error{Pos: pos, Msg: msg} }

func TestBuildTagsKeepGOFLAGS(t *testing.T) {
	assert.Equal(t, "idemgen", buildTags(""))
	assert.Equal(t, "idemgen", buildTags("-mod=mod -buildvcs=false"))
	assert.Equal(t, "a,b,idemgen", buildTags("-tags=a,b"))
	assert.Equal(t, "a,idemgen", buildTags("--tags=a,idemgen"))

	// A file behind a tag set in GOFLAGS is generated for.
	dir := writeModule(t, map[string]string{"a.go": "//go:build integration\n\n" + srcA})
	t.Setenv("GOFLAGS", os.Getenv("GOFLAGS")+" -tags=integration")
	res, err := Run(Config{Dir: dir, Check: true})
	require.NoError(t, err)
	require.Len(t, res.Files, 1)
	require.Contains(t, string(res.Files[0].Content), "//go:build !idemgen && integration\n")
}
