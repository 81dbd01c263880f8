package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommand builds idemvet and runs it on the order pipeline under
// testdata/audit/shop, standalone and as go vet's -vettool: both report the
// golden diagnostics and fail.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and vets a module")
	}
	bin := filepath.Join(t.TempDir(), "idemvet")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	shop, err := filepath.Abs("../../testdata/audit/shop")
	require.NoError(t, err)
	golden, err := os.ReadFile("../../testdata/audit/vet.golden")
	require.NoError(t, err)
	want := strings.Split(strings.TrimSpace(string(golden)), "\n")

	diagnostics := func(out []byte) []string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			l = strings.TrimPrefix(l, shop+string(filepath.Separator))
			got = append(got, filepath.ToSlash(l))
		}
		sort.Strings(got)
		return got
	}

	vet := exec.Command("go", "vet", "-vettool="+bin, "./...")
	vet.Dir = shop
	out, err = vet.CombinedOutput()
	require.Error(t, err, "go vet fails on the bypasses")
	require.Equal(t, want, diagnostics(out))

	alone := exec.Command(bin, "./...")
	alone.Dir = shop
	out, err = alone.CombinedOutput()
	require.Error(t, err)
	require.Equal(t, want, diagnostics(out))
}
