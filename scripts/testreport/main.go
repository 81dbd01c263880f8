// Command testreport reads `go test -json` on standard input and writes a
// report a person can follow while the tests run:
//
//   - one line per package as it finishes (ok, FAIL), in the order they
//     finish, and every 30s the packages still running, so a long run is
//     visibly alive;
//   - the whole output of every failed test as soon as it fails, and of a
//     package that failed outside any test (a build error, a panic);
//   - at the end, every skipped test with its reason.
//
// Under CI (the variable CI set as internal/testenv reads it) a skipped test
// fails the report unless its message says it cannot apply on any machine
// (testenv.NotApplicable): CI must never pass by skipping what it exists to
// prove. The exit status is 1 when a test or package failed, when such a
// skip happened under CI, or when the input held no test at all.
//
// scripts/test.sh runs it as
//
//	go test -json ./... | go run ./scripts/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idem-go/idem/internal/testenv"
)

// heartbeat is how often the packages still running are listed.
const heartbeat = 30 * time.Second

func main() {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	r := newReporter(os.Stdout, testenv.CI(), time.Now)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.C:
				r.tick()
			case <-done:
				return
			}
		}
	}()
	ok := r.read(os.Stdin)
	close(done)
	if !ok {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// skip is a skipped test and the reason it printed.
type skip struct {
	name, reason string
	allowed      bool // the reason is testenv.NotApplicable's
}

// reporter turns events into the report. Its methods are safe for
// concurrent use (tick runs beside read).
type reporter struct {
	mu      sync.Mutex
	w       io.Writer
	ci      bool
	now     func() time.Time
	start   time.Time
	running map[string]time.Time // package → when it started
	out     map[string][]string  // "pkg test" (or "pkg" alone) → output lines
	skips   []skip
	tests   int // tests that ran to an end: pass, fail or skip
	failed  []string
}

func newReporter(w io.Writer, ci bool, now func() time.Time) *reporter {
	return &reporter{w: w, ci: ci, now: now, start: now(), running: map[string]time.Time{}, out: map[string][]string{}}
}

// read consumes the events of r and writes the report; it reports whether
// the run passed.
func (r *reporter) read(in io.Reader) bool {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			r.mu.Lock()
			fmt.Fprintf(r.w, "%s\n", line) // go test's own messages (build errors)
			r.mu.Unlock()
			continue
		}
		r.event(e)
	}
	if err := sc.Err(); err != nil {
		r.mu.Lock()
		fmt.Fprintf(r.w, "testreport: reading go test -json: %v\n", err)
		r.failed = append(r.failed, "(input)")
		r.mu.Unlock()
	}
	return r.summary()
}

func (r *reporter) event(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := e.Package
	if e.Test != "" {
		id += " " + e.Test
	}
	switch e.Action {
	case "start":
		r.running[e.Package] = r.now()
	case "output", "build-output":
		r.out[id] = append(r.out[id], e.Output)
	case "pass", "fail", "skip":
		if e.Test != "" {
			r.testEnd(e, id)
		} else {
			r.packageEnd(e, id)
		}
	}
}

// testEnd records the end of one test; the caller holds r.mu.
func (r *reporter) testEnd(e event, id string) {
	r.tests++
	lines := r.out[id]
	delete(r.out, id)
	switch e.Action {
	case "fail":
		r.failed = append(r.failed, id)
		fmt.Fprintf(r.w, "--- FAIL: %s (%s, %.2fs)\n", e.Test, e.Package, e.Elapsed)
		for _, l := range lines {
			fmt.Fprint(r.w, indent(l))
		}
	case "skip":
		var reason []string
		for _, l := range lines {
			t := strings.TrimSpace(l)
			if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
				continue
			}
			reason = append(reason, t)
		}
		msg := strings.Join(reason, " | ")
		r.skips = append(r.skips, skip{
			name:    e.Package + " " + e.Test,
			reason:  msg,
			allowed: strings.Contains(msg, testenv.NotApplicablePrefix),
		})
	}
}

// packageEnd prints one finished package; the caller holds r.mu.
func (r *reporter) packageEnd(e event, id string) {
	delete(r.running, e.Package)
	lines := r.out[id]
	delete(r.out, id)
	switch e.Action {
	case "pass":
		fmt.Fprintf(r.w, "ok   %s %.1fs\n", e.Package, e.Elapsed)
	case "skip": // no test files
	case "fail":
		r.failed = append(r.failed, e.Package)
		fmt.Fprintf(r.w, "FAIL %s %.1fs\n", e.Package, e.Elapsed)
		for _, l := range lines {
			if t := strings.TrimSpace(l); t == "FAIL" || t == "PASS" || strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "ok ") {
				continue
			}
			fmt.Fprint(r.w, indent(l))
		}
	}
}

// tick lists the packages still running.
func (r *reporter) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.running) == 0 {
		return
	}
	now := r.now()
	var names []string
	for p, since := range r.running {
		names = append(names, fmt.Sprintf("%s (%ds)", p, int(now.Sub(since).Seconds())))
	}
	slices.Sort(names)
	fmt.Fprintf(r.w, "... %ds: still running: %s\n", int(now.Sub(r.start).Seconds()), strings.Join(names, ", "))
}

// summary writes the end of the report and reports whether the run passed.
func (r *reporter) summary() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := len(r.failed) == 0
	if len(r.skips) > 0 {
		fmt.Fprintf(r.w, "\nskipped tests (%d):\n", len(r.skips))
		for _, s := range r.skips {
			mark := ""
			if r.ci && !s.allowed {
				mark = "  <- CI must not skip this"
				ok = false
			}
			fmt.Fprintf(r.w, "  %s: %s%s\n", s.name, s.reason, mark)
		}
	}
	var bad int
	for _, s := range r.skips {
		if !s.allowed {
			bad++
		}
	}
	switch {
	case r.tests == 0:
		fmt.Fprintln(r.w, "\ntestreport: no test ran")
		return false
	case len(r.failed) > 0:
		fmt.Fprintf(r.w, "\nFAIL: %d failed: %s\n", len(r.failed), strings.Join(r.failed, ", "))
	}
	if r.ci && bad > 0 {
		fmt.Fprintf(r.w, "FAIL: %d test(s) skipped under CI without saying they cannot apply on any machine: give the test what it needs, or call testenv.NotApplicable if it can never run\n", bad)
	}
	if ok {
		fmt.Fprintf(r.w, "\nPASS: %d tests, %d skipped, %ds\n", r.tests, len(r.skips), int(r.now().Sub(r.start).Seconds()))
	}
	return ok
}

func indent(l string) string {
	if strings.HasPrefix(l, "    ") {
		return l
	}
	return "    " + l
}
