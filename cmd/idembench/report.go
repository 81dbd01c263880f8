package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// trimFloat formats x with up to two decimals and no trailing zeros.
func trimFloat(x float64) string {
	s := strconv.FormatFloat(x, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// verdict is the word printed next to a ratio.
func (r row) verdict() string {
	switch {
	case !r.applies:
		return "n/a"
	case r.below():
		return "BELOW"
	}
	return "PASS"
}

// below counts the rows under a target that applies to them.
func (rep *report) below() int {
	n := 0
	for _, r := range rep.rows {
		if r.below() {
			n++
		}
	}
	return n
}

// exitCode is 1 when a store failed, or when check is set and a ratio is
// below its target; 0 otherwise.
func (rep *report) exitCode(check bool) int {
	if len(rep.errs) > 0 || (check && rep.below() > 0) {
		return 1
	}
	return 0
}

// print writes the report: flags, method, the table, per-round figures,
// what each baseline sends, notes and errors.
func (rep *report) print(w io.Writer) {
	c := rep.cfg
	fmt.Fprintln(w, "idembench: the idem runtime against raw operations on the same store")
	fmt.Fprintf(w, "flags: %s\n", c.flagLine(rep.sqlitePath))
	fmt.Fprintf(w, "run: %s (in the names of the tables, key prefixes and namespaces it creates and removes)\n", rep.run)
	each := fmt.Sprintf("%v", c.duration)
	if c.n > 0 {
		each = fmt.Sprintf("%d ops", c.n)
	}
	fmt.Fprintf(w, "method: per store and workload, %d round(s) of baseline and runtime measured back to back, alternating\n"+
		"  which goes first (B R, R B, ...) so machine noise weighs on both alike; each measurement runs %s on the same\n"+
		"  %d workers and the same connection pool, after a warm-up of %d ops per side; figures are medians over the\n"+
		"  rounds; ratio = runtime / baseline. Round trips/op are counted below the store (pgx statements, Redis\n"+
		"  commands) and store calls/op above it, in a separate untimed pass of up to %d ops.\n",
		c.rounds, each, c.conns, 2*c.conns, countOps)
	fmt.Fprintf(w, "workloads: first-call = runtime.Do on a new key (claim, a no-op function returning a 2-field struct,\n"+
		"  complete) vs a raw insert of a new key; replay = runtime.Do on one of %d completed keys vs a raw read by\n"+
		"  primary key.\n", c.replayKeys)
	fmt.Fprintf(w, "targets: first-call >= %.2fx, replay >= %.2fx (memory: informational, its baseline is a bare map)\n\n", targetFirst, targetReplay)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tWORKLOAD\tBASELINE ops/s\tRUNTIME ops/s\tRATIO\tTARGET\tVERDICT\tROUND TRIPS/OP base/runtime\tSTORE CALLS/OP")
	for _, r := range rep.rows {
		trips := "-"
		if r.baseTrips >= 0 {
			trips = trimFloat(r.baseTrips) + " / " + trimFloat(r.rtTrips)
		}
		calls := r.calls
		if calls == "" {
			calls = "-"
		}
		ratio, base, rt := "-", "-", "-"
		if r.baseMed > 0 {
			ratio = fmt.Sprintf("%.2fx", r.ratio)
			base = fmt.Sprintf("%.0f", r.baseMed)
			rt = fmt.Sprintf("%.0f", r.rtMed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2fx\t%s\t%s\t%s\n", r.store, r.workload, base, rt, ratio, r.target, r.verdict(), trips, calls)
	}
	tw.Flush()

	if len(rep.rows) > 0 {
		fmt.Fprintln(w, "\nrounds (ops/s, in measurement order, B = baseline, R = runtime):")
		for _, r := range rep.rows {
			var parts []string
			bi, ri := 0, 0
			for _, order := range r.order {
				var p []string
				for _, which := range order {
					if which == 'B' && bi < len(r.baseline) {
						p = append(p, fmt.Sprintf("B %.0f", r.baseline[bi]))
						bi++
					} else if which == 'R' && ri < len(r.runtime) {
						p = append(p, fmt.Sprintf("R %.0f", r.runtime[ri]))
						ri++
					}
				}
				parts = append(parts, strings.Join(p, " "))
			}
			fmt.Fprintf(w, "  %s %s: %s\n", r.store, r.workload, strings.Join(parts, " | "))
		}
	}
	if len(rep.stores) > 0 {
		fmt.Fprintln(w, "\nstores and baselines:")
		for _, s := range rep.stores {
			fmt.Fprintf(w, "  %s: %s\n    first-call baseline: %s\n    replay baseline:     %s\n", s.name, s.setup, s.insertDesc, s.readDesc)
		}
	}
	if len(rep.notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range rep.notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if len(rep.errs) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, e := range rep.errs {
			fmt.Fprintf(w, "  %v\n", e)
		}
	}
	fmt.Fprintln(w)
	switch below := rep.below(); {
	case len(rep.rows) == 0:
		fmt.Fprintln(w, "result: nothing measured")
	case below == 0:
		fmt.Fprintln(w, "result: every ratio meets its target")
	case c.check:
		fmt.Fprintf(w, "result: %d ratio(s) below target; -check makes the exit status 1\n", below)
	default:
		fmt.Fprintf(w, "result: %d ratio(s) below target (exit status 0: a measurement, not a test; -check makes it 1)\n", below)
	}
	if len(rep.errs) > 0 {
		fmt.Fprintf(w, "result: %d error(s); exit status 1\n", len(rep.errs))
	}
}
