package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/idem-go/idem/gen/audit"
)

// runAudit is `idemgen audit [-json] [-rules FILE] [-fail-under PERCENT]
// [packages]`.
func runAudit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("idemgen audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "write the report as JSON (schema in the doc of package github.com/idem-go/idem/gen/audit)")
	rulesFile := fs.String("rules", "", "read more rules from `FILE`: one a line, \"category callee [when=condition]\"")
	failUnder := fs.Float64("fail-under", 0, "exit 1 when the total coverage is below `PERCENT`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: idemgen audit [-json] [-rules FILE] [-fail-under PERCENT] [packages]\n\nidemgen audit finds every side effect (db, api, queue, email, file, kv), the functions\nthat hold and reach them, and whether an idem wrapper covers them. Packages default to ./...\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *failUnder < 0 || *failUnder > 100 {
		fmt.Fprintf(stderr, "idemgen audit: -fail-under %v: give a percentage between 0 and 100\n", *failUnder)
		return 2
	}
	cfg := audit.Config{Patterns: fs.Args()}
	if *rulesFile != "" {
		f, err := os.Open(*rulesFile)
		if err != nil {
			fmt.Fprintf(stderr, "idemgen audit: %v\n", err)
			return 2
		}
		cfg.Rules, err = audit.ParseRules(f, *rulesFile)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "idemgen audit: %v\n", err)
			return 2
		}
	}
	rep, err := audit.Run(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "idemgen audit: %v\n", err)
		return 1
	}
	if rep.Percent < *failUnder {
		fmt.Fprintf(stderr, "idemgen audit: coverage %.1f%% is below %.1f%%\n", rep.Percent, *failUnder)
		return 1
	}
	return 0
}
