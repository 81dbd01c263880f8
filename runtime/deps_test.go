package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// maxMinimalBinary bounds the size of a program that uses the runtime with
// memstore only (issue 7: at most 5 MB; it was 11 to 24 MB when the runtime
// linked every store).
const maxMinimalBinary = 5 << 20

// TestRuntimeLinksNoDriver keeps the dependency direction: a program that
// imports the runtime and memstore links no database driver or client,
// registers no database/sql driver, stays small, and learns from Open which
// import provides a store it did not link.
func TestRuntimeLinksNoDriver(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	const prog = "./testdata/minimal"
	// A plain build, whatever flags the tests run with (-race, -cover).
	goCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command(goTool, args...)
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		return cmd
	}

	out, err := goCmd("list", "-deps", prog).CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/idem-go/idem/runtime", "the list is of the program's dependencies")
	for _, dep := range deps {
		for _, banned := range []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/go-sql-driver/mysql", "github.com/redis/go-redis", "github.com/idem-go/idem/runtime/sqlitestore", "github.com/idem-go/idem/runtime/pgstore", "github.com/idem-go/idem/runtime/redisstore", "google.golang.org/protobuf", "google.golang.org/grpc", "github.com/idem-go/idem/runtime/idemproto", "github.com/idem-go/idem/runtime/idemgrpc"} {
			require.False(t, strings.HasPrefix(dep, banned), "the runtime with memstore links %s", dep)
		}
	}

	bin := filepath.Join(t.TempDir(), "minimal")
	out, err = goCmd("build", "-o", bin, prog).CombinedOutput()
	require.NoError(t, err, "%s", out)
	fi, err := os.Stat(bin)
	require.NoError(t, err)
	require.LessOrEqual(t, fi.Size(), int64(maxMinimalBinary), "the binary of the runtime with memstore is %d bytes", fi.Size())

	out, err = exec.Command(bin, "memory:", "sqlite:idem.db", "postgres://db.invalid/app", "redis://cache.invalid:6379", "etcd://x").CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 6, "%s", out)
	require.Equal(t, "drivers: []", lines[0], "importing the runtime registers no database/sql driver")
	require.Equal(t, "memory:: ok", lines[1], "memstore registered its scheme")
	for i, pkg := range []string{"sqlitestore", "pgstore", "redisstore"} {
		require.Contains(t, lines[2+i], `import _ "github.com/idem-go/idem/runtime/`+pkg+`"`, "the error names the import that provides the scheme")
		require.Contains(t, lines[2+i], "registered schemes: mem, memory")
	}
	require.Contains(t, lines[5], `scheme "etcd" is not understood`)
}
