package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/gen/audit"
)

// TestAudit runs `idemgen audit` in the shop module: the golden table, the
// JSON, and the exit status of -fail-under on both sides of the coverage
// (15.0%).
func TestAudit(t *testing.T) {
	golden, err := os.ReadFile("../../testdata/audit/audit.golden")
	require.NoError(t, err)
	t.Chdir("../../testdata/audit/shop")

	var out, errs bytes.Buffer
	require.Equal(t, 0, run([]string{"audit", "-rules", "idem-rules.txt"}, &out, &errs), errs.String())
	require.Equal(t, string(golden), out.String())

	out.Reset()
	require.Equal(t, 0, run([]string{"audit", "-json", "-rules", "idem-rules.txt", "-fail-under", "15", "./..."}, &out, &errs), errs.String())
	var rep audit.Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	require.Equal(t, 15.0, rep.Percent)
	require.Equal(t, 20, rep.Sites)

	errs.Reset()
	require.Equal(t, 1, run([]string{"audit", "-rules", "idem-rules.txt", "-fail-under", "15.1"}, &out, &errs))
	require.Contains(t, errs.String(), "coverage 15.0% is below 15.1%")

	// Only the queue package: PublishShipped's caller (fulfil.Ship, marked)
	// is not loaded, so only PublishOrderPlaced's site counts as covered.
	errs.Reset()
	require.Equal(t, 1, run([]string{"audit", "-fail-under", "60", "./queue"}, &out, &errs))
	require.Contains(t, errs.String(), "coverage 33.3% is below 60.0%")
}

func TestAuditUsage(t *testing.T) {
	var out, errs bytes.Buffer
	require.Equal(t, 2, run([]string{"audit", "-fail-under", "101"}, &out, &errs))
	require.Contains(t, errs.String(), "between 0 and 100")

	errs.Reset()
	require.Equal(t, 2, run([]string{"audit", "-rules", filepath.Join(t.TempDir(), "none.txt")}, &out, &errs))
	require.Contains(t, errs.String(), "none.txt")

	bad := filepath.Join(t.TempDir(), "rules.txt")
	require.NoError(t, os.WriteFile(bad, []byte("queue\n"), 0o644))
	errs.Reset()
	require.Equal(t, 2, run([]string{"audit", "-rules", bad}, &out, &errs))
	require.Contains(t, errs.String(), "rules.txt:1: write a rule as: category callee [when=condition]")
}
