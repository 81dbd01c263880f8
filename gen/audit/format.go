package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the report as indented JSON (the -json output).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a table for a terminal: per package, each
// function with its state, its sites and, when uncovered, a suggested
// directive block; then the coverage of every package and in total.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, p := range r.Packages {
		if len(p.Functions) == 0 {
			continue
		}
		catW, posW := 0, 0
		for _, f := range p.Functions {
			for _, s := range f.Sites {
				catW, posW = max(catW, len(s.Category)), max(posW, len(s.Pos))
			}
		}
		fmt.Fprintf(&b, "%s\n", p.Path)
		for _, f := range p.Functions {
			fmt.Fprintf(&b, "  %s (%s): %s\n", f.Name, f.Pos, state(f))
			for _, s := range f.Sites {
				fmt.Fprintf(&b, "    %-*s  %-*s  %s\n", catW, s.Category, posW, s.Pos, s.Callee)
			}
			if f.Reaches > len(f.Sites) {
				fmt.Fprintf(&b, "    reaches %s, its callees' included (%d not covered)\n", plural(f.Reaches, "site"), f.Uncovered)
			}
			if len(f.Callers) > 0 {
				fmt.Fprintf(&b, "    called by %s\n", strings.Join(f.Callers, ", "))
			}
			if f.UsedAsValue {
				fmt.Fprintf(&b, "    used as a value: may be called from anywhere\n")
			}
			for _, p := range f.Bypasses {
				fmt.Fprintf(&b, "    bypassed at %s: call %s there\n", p, f.Wrapper)
			}
			if s := f.Suggestion; s != nil {
				fmt.Fprintf(&b, "    suggested (effect %s):\n", s.Effect)
				for _, d := range s.Directives {
					fmt.Fprintf(&b, "      %s\n", d)
				}
				for _, n := range s.Notes {
					fmt.Fprintf(&b, "      - %s\n", n)
				}
			}
		}
		b.WriteString("\n")
	}
	pathW := len("total")
	for _, p := range r.Packages {
		if p.Sites > 0 {
			pathW = max(pathW, len(p.Path))
		}
	}
	fmt.Fprintf(&b, "coverage\n  %-*s  %5s  %7s\n", pathW, "package", "sites", "covered")
	for _, p := range r.Packages {
		if p.Sites > 0 {
			fmt.Fprintf(&b, "  %-*s  %5d  %7d  %5.1f%%\n", pathW, p.Path, p.Sites, p.Covered, p.Percent)
		}
	}
	fmt.Fprintf(&b, "  %-*s  %5d  %7d  %5.1f%%\n", pathW, "total", r.Sites, r.Covered, r.Percent)
	_, err := io.WriteString(w, b.String())
	return err
}

// state describes a function's marks and coverage in a few words.
func state(f *Function) string {
	var parts []string
	switch {
	case f.Marked && f.Covered:
		parts = append(parts, "covered: marked, called through "+f.Wrapper)
	case f.Marked:
		parts = append(parts, "NOT COVERED: marked, but bypassed")
	case f.Covered:
		parts = append(parts, "covered: called only from covered code")
	default:
		parts = append(parts, "NOT COVERED")
	}
	if f.Composite {
		parts = append(parts, fmt.Sprintf("composite (%s: %s)", plural(f.Reaches, "site"), strings.Join(f.Categories, ", ")))
	}
	return strings.Join(parts, "; ")
}

// plural renders a count and a noun, with an s unless the count is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
