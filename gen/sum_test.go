package gen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFormatWithSumSkipsOnlyExactMatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x_idem.go")
	raw := []byte(header + "\n\n//go:build !idemgen\n\npackage x\nvar   A=1\n")

	out, err := formatWithSum(raw, path)
	require.NoError(t, err)
	require.Contains(t, string(out), "\nvar A = 1\n", "formatted")
	line, rest, ok := splitSum(out)
	require.True(t, ok)
	require.Len(t, line, len(sumPrefix)+65)
	require.NotContains(t, string(rest), sumPrefix)

	require.NoError(t, os.WriteFile(path, out, 0o644))
	again, err := formatWithSum(raw, path)
	require.NoError(t, err)
	require.Equal(t, string(out), string(again))

	// A file whose sums match is returned without formatting: this one is
	// not what formatting raw produces, yet it is kept.
	marker := withSum([]byte(header+"\n\n//go:build !idemgen\n\npackage x\n\n// not reformatted\n"), sourceSum(raw))
	require.NoError(t, os.WriteFile(path, marker, 0o644))
	kept, err := formatWithSum(raw, path)
	require.NoError(t, err)
	require.Equal(t, string(marker), string(kept))

	// Edited content: the content sum no longer matches; formatted again.
	edited := strings.Replace(string(out), "A = 1", "A = 2", 1)
	require.NoError(t, os.WriteFile(path, []byte(edited), 0o644))
	again, err = formatWithSum(raw, path)
	require.NoError(t, err)
	require.Equal(t, string(out), string(again))

	// Other source: formatted again.
	raw2 := []byte(strings.Replace(string(raw), "A=1", "A=3", 1))
	require.NoError(t, os.WriteFile(path, out, 0o644))
	again, err = formatWithSum(raw2, path)
	require.NoError(t, err)
	require.Contains(t, string(again), "\nvar A = 3\n")

	// A file without a sum line is formatted again.
	_, _, ok = splitSum([]byte(header + "\n\npackage x\n"))
	require.False(t, ok)
}

func TestFormatWithSumReportsBrokenCode(t *testing.T) {
	_, err := formatWithSum([]byte("package x\nfunc {"), filepath.Join(t.TempDir(), "y_idem.go"))
	require.ErrorContains(t, err, "formatting the generated code")
}
