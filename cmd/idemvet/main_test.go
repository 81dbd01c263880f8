package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/audit/vet.golden")

// build builds idemvet into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "idemvet")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// diagnostics returns the diagnostic lines of vet's output, file names
// relative to dir, sorted.
func diagnostics(out []byte, dir string) []string {
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		got = append(got, filepath.ToSlash(strings.TrimPrefix(l, dir+string(filepath.Separator))))
	}
	sort.Strings(got)
	return got
}

// TestGoVet runs go vet -vettool=idemvet on the order pipeline under
// testdata/audit/shop: it reports the golden diagnostics (the three calls
// that bypass a wrapper of another package, found through facts) and fails.
func TestGoVet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and vets a module")
	}
	bin := build(t)
	shop, err := filepath.Abs("../../testdata/audit/shop")
	require.NoError(t, err)
	vet := exec.Command("go", "vet", "-vettool="+bin, "./...")
	vet.Dir = shop
	out, err := vet.CombinedOutput()
	require.Error(t, err, "go vet fails on the bypasses")
	got := diagnostics(out, shop)
	const golden = "../../testdata/audit/vet.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, strings.Split(strings.TrimSpace(string(want)), "\n"), got)
	require.Len(t, got, 3)
}

// TestStandalone runs idemvet on its own on a small module: a directive
// mistake (idemgen's message) and a bypass, each once although the package
// has tests, and exit status 3.
func TestStandalone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := build(t)
	dir := t.TempDir()
	for name, src := range map[string]string{
		"go.mod":    "module example.com/m\n\ngo 1.24\n",
		"a.go":      "package m\n\n// F is marked.\n//\n//idem:key id\n//idem:retry attempts=0\nfunc F(id string) error { return nil }\n\nfunc G() error { return F(\"x\") }\n",
		"a_test.go": "package m\n\nimport \"testing\"\n\nfunc TestF(t *testing.T) { _ = F(\"y\") }\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	cmd := exec.Command(bin, "./...")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 3, exit.ExitCode())
	require.Equal(t, []string{
		`a.go:6:23: attempts "0" must be at least 1`,
		"a.go:9:25: call FIdem: F is not idempotent on its own",
	}, diagnostics(out, dir))
}
