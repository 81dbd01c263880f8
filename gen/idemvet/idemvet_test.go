package idemvet_test

import (
	"fmt"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/analysistest"
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

// Calls of functions and methods of other packages that //idem:wrap
// declarations wrap are reported in the declaring package and in the
// packages that import it (through the package fact).
func TestBypassOfWrapTargets(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), idemvet.Analyzer, "extwrap", "extuser")
}

// vet runs the analyzer on the packages matching patterns in dir, one
// package at a time with facts kept within the package (dependencies come
// from export data, which keeps the test fast), and returns its
// diagnostics as "file:line:col: message", file relative to dir, sorted.
// Cross-package facts are tested by TestBypass and by cmd/idemvet's test
// through go vet.
func vet(t *testing.T, dir string, patterns ...string) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := packages.Load(&packages.Config{Mode: gen.LoadMode | packages.NeedTypesSizes, Dir: dir, Fset: fset}, patterns...)
	require.NoError(t, err)
	require.NotEmpty(t, pkgs)
	var out []string
	for _, p := range pkgs {
		require.Empty(t, p.Errors, "%s does not load", p.PkgPath)
		facts := map[types.Object]analysis.Fact{}
		var pkgFacts []analysis.PackageFact
		pass := &analysis.Pass{
			Analyzer: idemvet.Analyzer, Fset: fset, Files: p.Syntax, Pkg: p.Types, TypesInfo: p.TypesInfo, TypesSizes: p.TypesSizes,
			ResultOf: map[*analysis.Analyzer]any{},
			Report: func(d analysis.Diagnostic) {
				pos := fset.Position(d.Pos)
				file, err := filepath.Rel(dir, pos.Filename)
				require.NoError(t, err)
				out = append(out, fmt.Sprintf("%s:%d:%d: %s", filepath.ToSlash(file), pos.Line, pos.Column, d.Message))
			},
			ExportObjectFact: func(obj types.Object, f analysis.Fact) { facts[obj] = f },
			ImportObjectFact: func(obj types.Object, f analysis.Fact) bool {
				got, ok := facts[obj]
				if ok {
					*f.(*idemvet.Wrapped) = *got.(*idemvet.Wrapped)
				}
				return ok
			},
			ExportPackageFact: func(f analysis.Fact) { pkgFacts = append(pkgFacts, analysis.PackageFact{Package: p.Types, Fact: f}) },
			AllPackageFacts:   func() []analysis.PackageFact { return pkgFacts },
		}
		_, err := idemvet.Analyzer.Run(pass)
		require.NoError(t, err)
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
		if gofiles, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(gofiles) == 0 {
			continue // not a package: before/after cases of the schema check
		}
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "errors.golden"))
			if !os.IsNotExist(err) {
				require.NoError(t, err)
			}
			got := vet(t, dir, ".")
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
	require.Empty(t, vet(t, dir, "./examples/..."))
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
	write("a_idem.go", "// Code generated by idemgen. DO NOT EDIT."+"\n\n//go:build !idemgen\n\npackage m\n\nfunc FIdem(id string) error { return F(id) }\n")
	res, _ := gen.Run(gen.Config{Dir: dir, Check: true})
	require.Len(t, res.Diagnostics, 1)
	want := res.Diagnostics[0].Format(dir)
	require.Equal(t, []string{want}, vet(t, dir, "."))
	require.Contains(t, want, "a.go:6:23: ")
}

// TestCompositeSideEffectsOutsideSteps: in a composite function, a side
// effect outside a step is reported; effects inside steps, reads, and the
// effects of other functions are not.
func TestCompositeSideEffectsOutsideSteps(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), idemvet.Analyzer, "composite")
}
