// Command idemgen writes idem wrappers for functions marked with //idem:
// directives.
//
// Usage:
//
//	idemgen [-check] [-v] [-allow-breaking] [packages]
//	idemgen -version
//	idemgen audit [-json] [-rules FILE] [-fail-under PERCENT] [packages]
//
// Packages are go build patterns (default "."). For every source file with
// directives, idemgen writes <file>_idem.go next to it and removes generated
// files whose source lost its directives. Every mistake in the directives is
// reported as file:line:col: message, all in one run; then nothing is
// written and the exit status is 1.
//
// Use it from a go:generate line:
//
//	//go:generate go run github.com/idem-go/idem/cmd/idemgen
//
// or, with a tool directive in go.mod, //go:generate go tool idemgen.
//
// Flags:
//
//	-check  write nothing; exit 1 and name every generated file that is
//	        missing, stale or would be removed (for CI)
//	-v      list the generated files and their wrappers
//	-allow-breaking
//	        accept changes to a wrapper's schema that alter existing keys or
//	        fingerprints or make recorded results undecodable, as warnings;
//	        only for functions with no call in flight and no record kept
//	-version
//	        print idemgen's version and exit
//
// Every generated file records the schema of each wrapper (key parts,
// fingerprint parts, result shape). A change that would alter existing keys
// or fingerprints, or make recorded results undecodable, is an error at the
// directive or function at fault, unless //idem:version changed in the same
// edit or -allow-breaking is given: then it is printed as a warning that
// states the consequence.
//
// When packages cannot be loaded (no module, a pattern that matches
// nothing, an import no module provides, a go.mod or go.sum that needs
// tidying), idemgen prints the go command's message and exits 1.
//
// idemgen audit lists every side effect of the packages (default ./...),
// the functions that hold and reach them, whether an idem wrapper covers
// them, and a directive block for each uncovered function; see package
// github.com/idem-go/idem/gen/audit.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/idem-go/idem/gen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "audit" {
		return runAudit(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("idemgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "write nothing; exit 1 and name every generated file that is missing, stale or would be removed")
	verbose := fs.Bool("v", false, "list the generated files and their wrappers")
	showVersion := fs.Bool("version", false, "print idemgen's version and exit")
	allowBreaking := fs.Bool("allow-breaking", false, "accept changes that alter existing keys or fingerprints or make recorded results undecodable (only for functions with no call in flight and no record kept)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: idemgen [-check] [-v] [-allow-breaking] [packages]\n       idemgen -version\n\nidemgen writes <file>_idem.go wrappers for functions marked with //idem: directives.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "idemgen", version(debug.ReadBuildInfo()))
		return 0
	}
	cwd, _ := os.Getwd()
	res, err := gen.Run(gen.Config{Patterns: fs.Args(), Check: *check, AllowBreaking: *allowBreaking})
	if res != nil {
		for _, d := range res.Diagnostics {
			fmt.Fprintln(stderr, d.Format(cwd))
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(stderr, "warning: "+w.Format(cwd))
		}
	}
	if err != nil {
		if !errors.Is(err, gen.ErrDiagnostics) {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	status := 0
	for _, f := range res.Files {
		path := rel(cwd, f.Path)
		switch {
		case *check && f.Action != gen.Unchanged:
			fmt.Fprintf(stderr, "idemgen: %s is %s\n", path, map[gen.Action]string{
				gen.Created: "missing", gen.Updated: "stale", gen.Removed: "stale and would be removed",
			}[f.Action])
			status = 1
		case *verbose:
			fmt.Fprintf(stdout, "%s: %s", path, f.Action)
			for i, w := range f.Wrappers {
				sep := ", "
				if i == 0 {
					sep = ": "
				}
				fmt.Fprint(stdout, sep+w)
			}
			fmt.Fprintln(stdout)
		}
	}
	if status != 0 {
		fmt.Fprintln(stderr, "idemgen: run go generate (or idemgen) and commit the result")
	}
	return status
}

func rel(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil && len(r) < len(path) {
		return r
	}
	return path
}
