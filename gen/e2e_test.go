package gen

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGeneratedCodeRuns compiles, vets and runs the code generated for every
// golden case without errors, against the runtime and memstore: each case
// directory holds a *_test.go driver that calls the wrappers and asserts
// execution counts, replays, fingerprint mismatches and retries. The
// generated files reach the go command through -overlay, so nothing is
// written to the repository.
func TestGeneratedCodeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet and go test on the golden cases")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	tmp := t.TempDir()
	replace := map[string]string{}
	var pkgs []string
	for _, dir := range goldenCases(t) {
		res, err := Run(Config{Dir: dir, Check: true})
		if errors.Is(err, ErrDiagnostics) {
			continue // an error case: nothing to run
		}
		require.NoError(t, err)
		require.NotEmpty(t, res.Files)
		for _, f := range res.Files {
			src := filepath.Join(tmp, filepath.Base(dir)+"_"+filepath.Base(f.Path))
			require.NoError(t, os.WriteFile(src, f.Content, 0o644))
			replace[f.Path] = src
		}
		pkgs = append(pkgs, "./testdata/gen/"+filepath.Base(dir))
	}
	require.GreaterOrEqual(t, len(pkgs), 4)
	ov, err := json.Marshal(map[string]any{"Replace": replace})
	require.NoError(t, err)
	ovPath := filepath.Join(tmp, "overlay.json")
	require.NoError(t, os.WriteFile(ovPath, ov, 0o644))

	root, err := filepath.Abs("..")
	require.NoError(t, err)
	for _, args := range [][]string{
		append([]string{"vet", "-overlay=" + ovPath}, pkgs...),
		append([]string{"test", "-overlay=" + ovPath, "-count=1"}, pkgs...),
	} {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args[:1], " "), out)
		t.Logf("go %s:\n%s", args[0], out)
	}
}
