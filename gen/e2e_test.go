package gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
)

// TestGeneratedCodeRuns compiles, vets and runs the code generated for every
// golden case without errors, against the runtime and memstore: each case
// directory holds a *_test.go driver that calls the wrappers and asserts
// execution counts, replays, fingerprint mismatches and retries. The
// generated files reach the go command through -overlay, so nothing is
// written to the repository. Every driver package must run at least one
// test and skip none (a driver whose tests all skip proves nothing); the one
// exception is a test that needs a server the machine does not provide
// outside CI (internal/testenv), which is logged.
func TestGeneratedCodeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet and go test on the golden cases")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Skip(t, "no go command on PATH: install Go, or put it on PATH, to run the generated code")
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
	vet := exec.Command(goBin, append([]string{"vet", "-overlay=" + ovPath}, pkgs...)...)
	vet.Dir = root
	out, err := vet.CombinedOutput()
	require.NoError(t, err, "go vet:\n%s", out)

	test := exec.Command(goBin, append([]string{"test", "-overlay=" + ovPath, "-count=1", "-json"}, pkgs...)...)
	test.Dir = root
	var stderr bytes.Buffer
	test.Stderr = &stderr
	out, err = test.Output()
	ran, err2 := driverTests(out)
	require.NoError(t, err2)
	require.NoError(t, err, "go test:\n%s%s", stderr.Bytes(), ran.output())
	for _, p := range pkgs {
		path := "github.com/idem-go/idem/" + strings.TrimPrefix(p, "./")
		r := ran[path]
		t.Logf("%s: %d passed, %d skipped", path, r.passed, len(r.skipped))
		assert.Positive(t, r.passed, "driver package %s ran no test", path)
		for name, why := range r.skipped {
			if !testenv.CI() && strings.Contains(why, "IDEM_TEST_") && strings.Contains(why, "is not set") {
				t.Logf("%s %s skipped: no server outside CI: %s", path, name, why)
				continue
			}
			assert.Fail(t, "a driver test skipped", "%s %s: %s", path, name, why)
		}
	}
}

// driverRun is what go test -json reported for one package.
type driverRun struct {
	passed  int
	skipped map[string]string // test → its output
	lines   []string
}

type driverRuns map[string]*driverRun

// driverTests reads go test -json output: the tests each package passed
// and skipped.
func driverTests(out []byte) (driverRuns, error) {
	runs := driverRuns{}
	outputs := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var e struct{ Action, Package, Test, Output string }
		if err := dec.Decode(&e); err != nil {
			return runs, fmt.Errorf("go test -json output: %w", err)
		}
		r := runs[e.Package]
		if r == nil {
			r = &driverRun{skipped: map[string]string{}}
			runs[e.Package] = r
		}
		switch e.Action {
		case "output":
			r.lines = append(r.lines, e.Output)
			outputs[e.Package+" "+e.Test] += e.Output
		case "pass":
			if e.Test != "" {
				r.passed++
			}
		case "skip":
			if e.Test != "" {
				r.skipped[e.Test] = strings.TrimSpace(outputs[e.Package+" "+e.Test])
			}
		}
	}
	return runs, nil
}

// output is the text go test would have printed, package by package.
func (rs driverRuns) output() string {
	var b strings.Builder
	for p, r := range rs {
		b.WriteString("# " + p + "\n" + strings.Join(r.lines, ""))
	}
	return b.String()
}
