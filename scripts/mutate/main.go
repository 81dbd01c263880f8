// Command mutate checks that the tests catch what they exist to catch. It
// copies the module to a temporary directory, applies each mutation of the
// call protocol below on its own (a small edit that plants a known bug), runs
// the tests that should catch it, and prints a table: mutation, then the
// failing tests that caught it, or MISSED.
//
//	bash scripts/mutate.sh [-run REGEXP] [-count N] [-race] [-v]
//
// Run it from anywhere in the module. The repository itself is never
// modified. A mutation whose text is no longer in its file (the code moved
// on) is reported as "n/a", and one that no longer compiles as "n/a: does
// not compile": update its text here. The unmutated copy runs first; if its
// tests fail, the table would mean nothing and the command stops.
//
// The exit status is 1 when a mutation was missed, 0 otherwise.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// mutation is one planted bug: old, found exactly once in file, becomes new.
type mutation struct {
	name, file, old, new string
	pkgs                 []string // packages whose tests should catch it
}

var mutations = []mutation{
	{
		name: "memstore decides only under the read lock (check-then-act race)",
		file: "runtime/memstore/memstore.go",
		old:  "\te = s.recs[req.Key]\n\tres, change = store.Decide(e.record(), e != nil, e.live(req.Now), req)\n",
		new:  "",
		pkgs: []string{"./runtime/memstore"},
	},
	{
		name: "heartbeat gives up after one temporary Renew error",
		file: "runtime/do.go",
		old:  "renewed three times per period.\n\thb.stopBeat = afterFunc(c.clock, lease/3, hb.beat)",
		new:  "renewed three times per period.\n\tif err != nil {\n\t\treturn\n\t}\n\thb.stopBeat = afterFunc(c.clock, lease/3, hb.beat)",
		pkgs: []string{"./runtime"},
	},
	{
		name: "a same-owner retried claim shortens the lease",
		file: "runtime/store/decide.go",
		old:  "if !req.LeaseUntil.After(cur.LeaseUntil) {",
		new:  "if req.LeaseUntil.Equal(cur.LeaseUntil) {",
		pkgs: []string{"./runtime/store", "./runtime/memstore", "./runtime"},
	},
	{
		name: "a takeover resets CreatedAt",
		file: "runtime/store/decide.go",
		old:  "CreatedAt:   cur.CreatedAt,",
		new:  "CreatedAt:   req.Now,",
		pkgs: []string{"./runtime/store", "./runtime/memstore"},
	},
	{
		name: "classify treats every unmarked error as not applied",
		file: "runtime/errors.go",
		old:  "\treturn classIndeterminate\n}\n\n// safeToRetry",
		new:  "\treturn classNotApplied\n}\n\n// safeToRetry",
		pkgs: []string{"./runtime"},
	},
	{
		name: "memstore Complete does not check the fence",
		file: "runtime/memstore/memstore.go",
		old:  "e, err := s.held(\"complete\", key, f)",
		new:  "e, err := s.recs[key], error(nil)",
		pkgs: []string{"./runtime/memstore"},
	},
	{
		name: "memstore Renew raises the retention only to the lease (a dead holder's key frees with its lease)",
		file: "runtime/memstore/memstore.go",
		old:  "e.rec.RetainUntil = store.ShiftRetention(e.rec, leaseUntil)",
		new:  "if leaseUntil.After(e.rec.RetainUntil) {\n\t\te.rec.RetainUntil = leaseUntil\n\t}",
		pkgs: []string{"./runtime/memstore", "./runtime"},
	},
	{
		name: "a failure to record after the function ran counts as not applied",
		file: "runtime/errors.go",
		old:  "if errors.Is(err, ErrNotRecorded) || errors.Is(err, ErrLeaseLost) {\n\t\treturn classApplied",
		new:  "if errors.Is(err, ErrNotRecorded) || errors.Is(err, ErrLeaseLost) {\n\t\treturn classNotApplied",
		pkgs: []string{"./runtime"},
	},
}

func main() {
	run := flag.String("run", "", "only mutations whose name matches this regular expression")
	count := flag.Int("count", 1, "run the tests of each mutation this many times (go test -count)")
	race := flag.Bool("race", false, "run the tests with the race detector")
	verbose := flag.Bool("v", false, "print the tests' output for each mutation")
	flag.Parse()
	if err := mainErr(*run, *count, *race, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(2)
	}
}

func mainErr(run string, count int, race, verbose bool) error {
	re, err := regexp.Compile(run)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "idem-mutate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := copyModule(root, tmp); err != nil {
		return fmt.Errorf("copy the module: %w", err)
	}
	// A mutation that makes a test hang is caught by the timeout: the
	// package fails outside any test.
	args := []string{"test", "-json", "-short", "-timeout=3m", fmt.Sprintf("-count=%d", count)}
	if race {
		args = append(args, "-race")
	}

	var selected []mutation
	var all []string
	for _, m := range mutations {
		if re.MatchString(m.name) {
			selected = append(selected, m)
			for _, p := range m.pkgs {
				if !slices.Contains(all, p) {
					all = append(all, p)
				}
			}
		}
	}
	fmt.Fprintf(os.Stderr, "mutate: baseline: go %s %s\n", strings.Join(args, " "), strings.Join(all, " "))
	if res := goTest(tmp, args, all); len(res.failed) > 0 || res.buildFailed {
		os.Stderr.Write(res.output)
		return fmt.Errorf("the unmutated tests fail (%s): fix them first", strings.Join(res.failed, ", "))
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MUTATION\tFILE\tRESULT\tCAUGHT BY")
	missed := 0
	for _, m := range selected {
		path := filepath.Join(tmp, filepath.FromSlash(m.file))
		orig, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := bytes.Count(orig, []byte(m.old)); n != 1 {
			fmt.Fprintf(tw, "%s\t%s\tn/a\tits text is found %d times, want 1: update the mutation\n", m.name, m.file, n)
			continue
		}
		if err := os.WriteFile(path, bytes.Replace(orig, []byte(m.old), []byte(m.new), 1), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "mutate: %s: go test %s\n", m.name, strings.Join(m.pkgs, " "))
		start := time.Now()
		res := goTest(tmp, args, m.pkgs)
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			return err
		}
		if verbose {
			os.Stderr.Write(res.output)
		}
		took := time.Since(start).Round(time.Second)
		switch {
		case res.buildFailed:
			fmt.Fprintf(tw, "%s\t%s\tn/a\tdoes not compile: update the mutation\n", m.name, m.file)
		case len(res.failed) == 0:
			missed++
			fmt.Fprintf(tw, "%s\t%s\tMISSED\t(%v)\n", m.name, m.file, took)
		default:
			fmt.Fprintf(tw, "%s\t%s\tcaught\t%s (%v)\n", m.name, m.file, summarize(res.failed), took)
		}
	}
	tw.Flush()
	if missed > 0 {
		fmt.Printf("\n%d of %d mutations missed\n", missed, len(selected))
		os.Exit(1)
	}
	return nil
}

// result is what go test -json reported.
type result struct {
	failed      []string // failing tests, "pkg Test/sub"
	buildFailed bool
	output      []byte
}

func goTest(dir string, args, pkgs []string) result {
	cmd := exec.Command("go", append(slices.Clone(args), pkgs...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	res := result{output: append(out, stderr.Bytes()...)}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var e struct{ Action, Package, Test, Output, FailedBuild string }
		if dec.Decode(&e) != nil {
			break
		}
		switch {
		case e.Action == "fail" && e.Test != "":
			res.failed = append(res.failed, strings.TrimPrefix(e.Package, "github.com/idem-go/idem/")+" "+e.Test)
		case e.Action == "fail" && (e.FailedBuild != "" || strings.Contains(string(res.output), e.Package+" [build failed]")):
			res.buildFailed = true
		case e.Action == "fail":
			// A package fails with its tests; alone, it failed outside
			// any test (a panic, a timeout).
			pkg := strings.TrimPrefix(e.Package, "github.com/idem-go/idem/")
			if !slices.ContainsFunc(res.failed, func(f string) bool { return strings.HasPrefix(f, pkg+" ") }) {
				res.failed = append(res.failed, pkg+" (package)")
			}
		}
	}
	return res
}

// summarize lists the deepest failing tests (a parent fails with its
// subtest), at most four.
func summarize(failed []string) string {
	var leaves []string
	for _, f := range failed {
		leaf := true
		for _, g := range failed {
			if g != f && strings.HasPrefix(g, f+"/") {
				leaf = false
				break
			}
		}
		if leaf && !slices.Contains(leaves, f) {
			leaves = append(leaves, f)
		}
	}
	if len(leaves) > 4 {
		return strings.Join(leaves[:4], ", ") + fmt.Sprintf(" and %d more", len(leaves)-4)
	}
	return strings.Join(leaves, ", ")
}

// moduleRoot is the directory of the go.mod of the current directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run it from the idem repository")
	}
	return filepath.Dir(mod), nil
}

// copyModule copies the module's files, without .git, to dst.
func copyModule(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
