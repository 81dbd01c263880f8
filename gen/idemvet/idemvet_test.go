package idemvet_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/analysistest"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"

	"github.com/idem-go/idem/gen"
	"github.com/idem-go/idem/gen/idemvet"
)

// TestBypass: calls of marked functions are reported across packages
// (through facts), fixed by renaming the call where the wrapper has the
// same signature, and left alone in generated and test files.
func TestBypass(t *testing.T) {
	analysistest.RunWithSuggestedFixes(t, analysistest.TestData(), idemvet.Analyzer, "pay", "shop")
}

// vet runs the analyzer on the packages matching patterns in dir and
// returns its diagnostics as "file:line:col: message", file relative to
// dir, sorted and without duplicates (test variants repeat them).
func vet(t *testing.T, dir string, tests bool, patterns ...string) []string {
	t.Helper()
	pkgs, err := packages.Load(&packages.Config{Mode: packages.LoadAllSyntax, Dir: dir, Tests: tests}, patterns...)
	require.NoError(t, err)
	require.NotEmpty(t, pkgs)
	for _, p := range pkgs {
		require.Empty(t, p.Errors, "%s does not load", p.PkgPath)
	}
	g, err := checker.Analyze([]*analysis.Analyzer{idemvet.Analyzer}, pkgs, nil)
	require.NoError(t, err)
	seen := map[string]bool{}
	var out []string
	for act := range g.All() {
		require.NoError(t, act.Err)
		if act.Analyzer != idemvet.Analyzer || !act.IsRoot {
			continue
		}
		for _, d := range act.Diagnostics {
			p := act.Package.Fset.Position(d.Pos)
			file, err := filepath.Rel(dir, p.Filename)
			require.NoError(t, err)
			s := fmt.Sprintf("%s:%d:%d: %s", filepath.ToSlash(file), p.Line, p.Column, d.Message)
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestDirectivesAsIdemgen: on every golden case of the generator, idemvet
// reports exactly the diagnostics idemgen reports (errors.golden), at the
// same positions and with the same messages.
func TestDirectivesAsIdemgen(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/gen/*")
	require.NoError(t, err)
	for _, dir := range dirs {
		dir, err := filepath.Abs(dir)
		require.NoError(t, err)
		name := filepath.Base(dir)
		if name == "typeerrors" {
			continue // does not type-check: analyzers do not run on it
		}
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "errors.golden"))
			if !os.IsNotExist(err) {
				require.NoError(t, err)
			}
			got := vet(t, dir, false, ".")
			// idemgen sorts by position, vet by text; compare as sets of lines.
			wantLines := strings.Fields(strings.ReplaceAll(string(want), " ", "\x00"))
			for i := range wantLines {
				wantLines[i] = strings.ReplaceAll(wantLines[i], "\x00", " ")
			}
			sort.Strings(wantLines)
			require.Equal(t, wantLines, nonNil(got))
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestGeneratedWrappersDoNotCollide: in packages whose generated files are
// present (as in any build), the wrappers already generated are not taken
// for collisions with the wrappers to generate, and the example's callers,
// which call the wrappers, are not reported.
func TestGeneratedWrappersDoNotCollide(t *testing.T) {
	dir, err := filepath.Abs("../..")
	require.NoError(t, err)
	res, err := gen.Run(gen.Config{Dir: dir, Patterns: []string{"./examples/..."}, Check: true})
	require.NoError(t, err)
	require.Empty(t, res.Diagnostics)
	require.Empty(t, vet(t, dir, true, "./examples/..."))
}

// TestDirectiveMistakeInGeneratedPackage: a mistake in a package that has
// generated files is still reported, with idemgen's message.
func TestDirectiveMistakeInGeneratedPackage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	write("go.mod", "module example.com/m\n\ngo 1.24\n")
	write("a.go", "package m\n\n// F is marked.\n//\n//idem:key id\n//idem:retry attempts=0\nfunc F(id string) error { return nil }\n\n// G calls the wrapper.\nfunc G() error { return FIdem(\"x\") }\n")
	write("a_idem.go", gen.Header+"\n\n//go:build !idemgen\n\npackage m\n\nfunc FIdem(id string) error { return F(id) }\n")
	res, _ := gen.Run(gen.Config{Dir: dir, Check: true})
	require.Len(t, res.Diagnostics, 1)
	want := res.Diagnostics[0].Format(dir)
	require.Equal(t, []string{want}, vet(t, dir, false, "."))
	require.Contains(t, want, "a.go:6:23: ")
}

var update = flag.Bool("update", false, "rewrite testdata/audit/vet.golden")

// TestShopGolden: idemvet on the order pipeline under testdata/audit/shop
// (tests included) reports the three calls that bypass their wrappers,
// across packages, and nothing else.
func TestShopGolden(t *testing.T) {
	dir, err := filepath.Abs("../../testdata/audit/shop")
	require.NoError(t, err)
	got := strings.Join(vet(t, dir, true, "./..."), "\n") + "\n"
	golden := "../../testdata/audit/vet.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
	require.Len(t, strings.Split(strings.TrimSpace(got), "\n"), 3)
}
