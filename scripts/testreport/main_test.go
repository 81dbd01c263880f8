package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
)

// stream renders events as go test -json would.
func stream(t *testing.T, evs ...event) string {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		j, err := json.Marshal(e)
		require.NoError(t, err)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func out(pkg, test, line string) event {
	return event{Action: "output", Package: pkg, Test: test, Output: line + "\n"}
}

// run feeds in to a reporter and returns whether it passed and the report.
func run(in string, ci bool) (bool, string) {
	var w bytes.Buffer
	clock := time.Unix(0, 0)
	r := newReporter(&w, ci, func() time.Time { return clock })
	ok := r.read(strings.NewReader(in))
	return ok, w.String()
}

// passing is a run where package a passes one test and package b skips one
// test with reason.
func passing(t *testing.T, reason string) string {
	return stream(t,
		event{Action: "start", Package: "m/a"},
		event{Action: "start", Package: "m/b"},
		event{Action: "run", Package: "m/a", Test: "TestOne"},
		out("m/a", "TestOne", "=== RUN   TestOne"),
		out("m/a", "TestOne", "--- PASS: TestOne (0.00s)"),
		event{Action: "pass", Package: "m/a", Test: "TestOne"},
		event{Action: "pass", Package: "m/a", Elapsed: 1.25},
		event{Action: "run", Package: "m/b", Test: "TestServer"},
		out("m/b", "TestServer", "=== RUN   TestServer"),
		out("m/b", "TestServer", "    b_test.go:9: "+reason),
		out("m/b", "TestServer", "--- SKIP: TestServer (0.00s)"),
		event{Action: "skip", Package: "m/b", Test: "TestServer"},
		event{Action: "pass", Package: "m/b", Elapsed: 0.5},
		event{Action: "skip", Package: "m/c"}, // no test files
	)
}

func TestPackagesAsTheyFinish(t *testing.T) {
	ok, rep := run(passing(t, "no server"), false)
	assert.True(t, ok, rep)
	assert.Contains(t, rep, "ok   m/a 1.2s\nok   m/b 0.5s\n")
	assert.NotContains(t, rep, "m/c")
	assert.Contains(t, rep, "skipped tests (1):\n  m/b TestServer: b_test.go:9: no server\n")
	assert.Contains(t, rep, "PASS: 2 tests, 1 skipped")
}

func TestSkipUnderCI(t *testing.T) {
	ok, rep := run(passing(t, "IDEM_TEST_POSTGRES_DSN is not set"), true)
	assert.False(t, ok, "a plain skip under CI fails the run")
	assert.Contains(t, rep, "m/b TestServer: b_test.go:9: IDEM_TEST_POSTGRES_DSN is not set  <- CI must not skip this")
	assert.Contains(t, rep, "1 test(s) skipped under CI")

	ok, rep = run(passing(t, testenv.NotApplicablePrefix+"helper process, run only by TestParent"), true)
	assert.True(t, ok, "a skip that cannot apply anywhere passes under CI:\n%s", rep)
}

func TestFailuresShowTheirOutput(t *testing.T) {
	in := stream(t,
		event{Action: "start", Package: "m/a"},
		out("m/a", "TestBad", "=== RUN   TestBad"),
		out("m/a", "TestBad", "    a_test.go:3: want 1, got 2"),
		out("m/a", "TestBad", "--- FAIL: TestBad (0.01s)"),
		event{Action: "fail", Package: "m/a", Test: "TestBad", Elapsed: 0.01},
		out("m/a", "", "FAIL"),
		event{Action: "fail", Package: "m/a", Elapsed: 0.2},
	) + "# m/broken\nbroken.go:1:1: expected 'package'\n" + stream(t,
		out("m/broken", "", "FAIL\tm/broken [build failed]"),
		event{Action: "fail", Package: "m/broken"},
	)
	ok, rep := run(in, false)
	assert.False(t, ok)
	assert.Contains(t, rep, "--- FAIL: TestBad (m/a, 0.01s)\n")
	assert.Contains(t, rep, "a_test.go:3: want 1, got 2")
	assert.Contains(t, rep, "FAIL m/a 0.2s")
	assert.Contains(t, rep, "broken.go:1:1: expected 'package'", "non-JSON lines pass through")
	assert.Contains(t, rep, "FAIL m/broken")
	assert.Contains(t, rep, "FAIL: 3 failed: m/a TestBad, m/a, m/broken")
}

func TestNoTestIsAFailure(t *testing.T) {
	ok, rep := run("", false)
	assert.False(t, ok)
	assert.Contains(t, rep, "no test ran")
}

func TestTickListsRunningPackages(t *testing.T) {
	var w bytes.Buffer
	clock := time.Unix(0, 0)
	r := newReporter(&w, false, func() time.Time { return clock })
	r.event(event{Action: "start", Package: "m/slow"})
	r.event(event{Action: "start", Package: "m/fast"})
	r.event(event{Action: "pass", Package: "m/fast"})
	clock = clock.Add(45 * time.Second)
	r.tick()
	assert.Contains(t, w.String(), "... 45s: still running: m/slow (45s)\n")
	r.event(event{Action: "pass", Package: "m/slow"})
	w.Reset()
	r.tick()
	assert.Empty(t, w.String(), "nothing running, nothing said")
}
