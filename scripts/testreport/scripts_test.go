package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The shell side of the test command's CI behaviour: .ci/run sets CI itself,
// and scripts/services.sh fails under CI when it cannot provide a server.

// root is the module root, two levels above this package.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return r
}

// env is os.Environ without the variables the scripts read, plus extra.
func env(extra ...string) []string {
	var e []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CI", "IDEM_TEST_POSTGRES_DSN", "IDEM_TEST_REDIS_URL", "IDEM_TEST_REDIS_CLUSTER_ADDR", "IDEM_TEST_MYSQL_DSN", "PATH":
			continue
		}
		e = append(e, kv)
	}
	return append(e, extra...)
}

func TestCIRunExportsCI(t *testing.T) {
	// A copy of .ci/run beside a scripts/test.sh that prints what it got.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(root(t), ".ci", "run"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".ci"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "scripts"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".ci", "run"), src, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scripts", "test.sh"), []byte(`echo "CI=[$CI] pwd=$(pwd)"`+"\n"), 0o644))
	for _, ci := range []string{"", "CI=", "CI=yes", "CI=false"} {
		cmd := exec.Command("bash", filepath.Join(dir, ".ci", "run"))
		cmd.Env = env("PATH=" + os.Getenv("PATH"))
		if ci != "" {
			cmd.Env = append(cmd.Env, ci)
		}
		got, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", got)
		assert.Equal(t, "CI=[true] pwd="+dir+"\n", string(got), "runner environment %q", ci)
	}
}

// servicesPath is a PATH with the tools services.sh uses but no
// redis-server, no mariadb-install-db and no apt-get, so Redis and
// MariaDB can be neither found nor installed.
func servicesPath(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range []string{"bash", "mktemp", "id", "tr", "ls", "sort", "tail", "chmod", "rm", "mkdir", "cat"} {
		p, err := exec.LookPath(tool)
		require.NoError(t, err, "services.sh needs %s", tool)
		require.NoError(t, os.Symlink(p, filepath.Join(bin, tool)))
	}
	return bin
}

func TestServicesFailUnderCIWhenAServerIsMissing(t *testing.T) {
	path := servicesPath(t)
	script := filepath.Join(root(t), "scripts", "services.sh")
	// PostgreSQL is "already running" (its variable is set); Redis and
	// MariaDB are missing and cannot be installed.
	source := func(ci string) (int, string) {
		cmd := exec.Command(filepath.Join(path, "bash"), "-c", `source "$1"; echo "sourced: $?"`, "bash", script)
		cmd.Env = env("PATH="+path, "IDEM_TEST_POSTGRES_DSN=postgres://nowhere:1/x")
		if ci != "" {
			cmd.Env = append(cmd.Env, "CI="+ci)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return code, string(out)
	}
	for _, ci := range []string{"", "false", "0"} {
		code, out := source(ci)
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "NOTE: Redis is not installed", "CI=%q", ci)
		assert.Contains(t, out, "NOTE: MariaDB is not installed", "CI=%q", ci)
		assert.Contains(t, out, "sourced: 0", "outside CI a missing server is a note: CI=%q\n%s", ci, out)
		assert.NotContains(t, out, "FAIL")
	}
	for _, ci := range []string{"true", "1", "yes"} {
		_, out := source(ci)
		assert.Contains(t, out, "sourced: 1", "under CI=%s a missing server fails:\n%s", ci, out)
		assert.Contains(t, out, "FAIL: Redis is missing and CI (CI="+ci+") must not skip its tests")
		assert.Contains(t, out, "FAIL: MariaDB is missing and CI (CI="+ci+") must not skip its tests")
	}
}
