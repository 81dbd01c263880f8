package gen

import (
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/gen")

// goldenRoot holds one directory per case: the input package, the expected
// generated files (<file>_idem.go.golden) and, for cases with mistakes, the
// expected diagnostics (errors.golden).
const goldenRoot = "../testdata/gen"

// goldenCases returns the absolute directories of the cases.
func goldenCases(t testing.TB) []string {
	entries, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != schemaCases {
			dir, err := filepath.Abs(filepath.Join(goldenRoot, e.Name()))
			require.NoError(t, err)
			dirs = append(dirs, dir)
		}
	}
	require.NotEmpty(t, dirs)
	return dirs
}

// checkGolden compares got with the golden file, or rewrites it under
// -update. An absent golden file reads as empty; under -update an empty
// result removes it.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if got == "" {
			err := os.Remove(path)
			if !errors.Is(err, os.ErrNotExist) {
				require.NoError(t, err)
			}
			return
		}
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		require.NoError(t, err)
	}
	if string(want) != got {
		t.Fatalf("%s differs; if the change is intended, run go test ./gen -update\n%s", filepath.Base(path), lineDiff(string(want), got))
	}
}

// lineDiff shows the first differing line of want and got, with context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	for j := max(0, i-3); j < i; j++ {
		fmt.Fprintf(&b, "  %4d   %s\n", j+1, w[j])
	}
	for j := i; j < min(len(w), i+4); j++ {
		fmt.Fprintf(&b, "  %4d - %s\n", j+1, w[j])
	}
	for j := i; j < min(len(g), i+4); j++ {
		fmt.Fprintf(&b, "  %4d + %s\n", j+1, g[j])
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, dir := range goldenCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			res, err := Run(Config{Dir: dir, Check: true})
			if err != nil && !errors.Is(err, ErrDiagnostics) {
				t.Fatal(err)
			}
			var diags strings.Builder
			for _, d := range res.Diagnostics {
				diags.WriteString(d.Format(dir) + "\n")
			}
			checkGolden(t, filepath.Join(dir, "errors.golden"), diags.String())
			var warns strings.Builder
			for _, d := range res.Warnings {
				warns.WriteString("warning: " + d.Format(dir) + "\n")
			}
			checkGolden(t, filepath.Join(dir, "warnings.golden"), warns.String())
			if len(res.Diagnostics) > 0 {
				require.ErrorIs(t, err, ErrDiagnostics)
				require.Empty(t, res.Files, "nothing is generated when there are errors")
			}

			leftover := map[string]bool{}
			olds, err := filepath.Glob(filepath.Join(dir, "*"+suffix+".golden"))
			require.NoError(t, err)
			for _, g := range olds {
				leftover[g] = true
			}
			for _, f := range res.Files {
				require.Equal(t, Created, f.Action, "%s: golden cases hold no generated files", f.Path)
				require.Equal(t, dir, filepath.Dir(f.Path))
				formatted, err := format.Source(f.Content)
				require.NoError(t, err)
				require.Equal(t, string(formatted), string(f.Content), "%s is not gofmt-clean", f.Path)
				golden := f.Path + ".golden"
				checkGolden(t, golden, string(f.Content))
				delete(leftover, golden)
			}
			for g := range leftover {
				if *update {
					require.NoError(t, os.Remove(g))
					continue
				}
				t.Errorf("%s has no generated counterpart any more; run go test ./gen -update", filepath.Base(g))
			}
		})
	}
}

// TestCommittedCodeIsUpToDate is idemgen -check on the packages of this
// repository that commit generated code.
func TestCommittedCodeIsUpToDate(t *testing.T) {
	res, err := Run(Config{Dir: "..", Patterns: []string{"./examples/..."}, Check: true})
	require.NoError(t, err)
	require.NotEmpty(t, res.Files)
	for _, f := range res.Changed() {
		t.Errorf("%s is %s; run go generate ./examples/...", f.Path, f.Action)
	}
}
