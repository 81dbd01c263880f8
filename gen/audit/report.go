package audit

import (
	"fmt"
	"go/constant"
	"go/token"
	"go/types"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/tools/go/packages"

	"github.com/idem-go/idem/gen"
)

// writeFlags are the os.OpenFile flags that make it write.
const writeFlags = int64(os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_APPEND | os.O_TRUNC)

func constantString(v constant.Value) string {
	if v.Kind() != constant.String {
		return ""
	}
	return constant.StringVal(v)
}

func constantInt(v constant.Value) (int64, bool) {
	return constant.Int64Val(constant.ToInt(v))
}

// isCovered computes a node's coverage (see the package documentation).
// A node on a call cycle that is being computed counts as not covered.
func (a *auditor) isCovered(n *node) bool {
	switch n.state {
	case 1:
		return false
	case 2:
		return n.covered
	}
	n.state = 1
	ok := !n.value && (n.marked || len(n.calls) > 0)
	for _, c := range n.calls {
		if !ok {
			break
		}
		if c.from.generated {
			continue // the wrapper
		}
		ok = a.isCovered(c.from)
	}
	n.state, n.covered = 2, ok
	return ok
}

// reach returns the sites a node reaches.
func reach(n *node) []*site {
	seen := map[*node]bool{}
	var out []*site
	var visit func(*node)
	visit = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		out = append(out, n.sites...)
		for _, c := range n.callees {
			visit(c)
		}
	}
	visit(n)
	return out
}

func (a *auditor) pos(p token.Pos) string {
	pp := a.fset.Position(p)
	file := pp.Filename
	if rel, err := filepath.Rel(a.base, file); err == nil && !strings.HasPrefix(rel, "..") {
		file = rel
	}
	return fmt.Sprintf("%s:%d:%d", filepath.ToSlash(file), pp.Line, pp.Column)
}

// shortName names a function within its package.
func shortName(fn *types.Func) string {
	full := fn.FullName()
	if fn.Pkg() == nil {
		return full
	}
	return strings.Replace(full, fn.Pkg().Path()+".", "", 1)
}

// report builds the report of the loaded packages.
func (a *auditor) report(pkgs []*packages.Package) *Report {
	byPkg := map[*packages.Package]*Package{}
	rep := &Report{Schema: Schema, Packages: []*Package{}}
	for _, p := range pkgs {
		rp := &Package{Path: p.PkgPath, Functions: []*Function{}}
		byPkg[p] = rp
		rep.Packages = append(rep.Packages, rp)
	}
	for _, n := range a.order {
		if n.generated {
			continue
		}
		reached := reach(n)
		uncovered := 0
		for _, s := range reached {
			if !a.isCovered(s.fn) {
				uncovered++
			}
		}
		if len(n.sites) == 0 && !n.marked && (len(reached) < 2 || uncovered == 0) {
			continue // no effect of its own, and nothing to cover below it
		}
		covered := a.isCovered(n)
		f := &Function{
			Name:        shortName(n.fn),
			Pos:         a.pos(n.decl.Name.Pos()),
			Marked:      n.marked,
			Wrapper:     n.wrapper,
			Covered:     covered,
			Composite:   len(reached) >= 2,
			Reaches:     len(reached),
			Uncovered:   uncovered,
			Categories:  categories(reached),
			Sites:       []*Site{},
			Callers:     []string{},
			UsedAsValue: n.value,
		}
		for _, s := range n.sites {
			f.Sites = append(f.Sites, &Site{Pos: a.pos(s.pos), Category: s.category, Callee: s.callee, Covered: covered})
		}
		seen := map[string]bool{}
		for _, c := range n.calls {
			if c.from.generated {
				continue
			}
			if name := c.from.fn.FullName(); !seen[name] {
				seen[name] = true
				f.Callers = append(f.Callers, name)
			}
			if n.marked && !a.isCovered(c.from) {
				f.Bypasses = append(f.Bypasses, a.pos(c.pos))
			}
		}
		sort.Strings(f.Callers)
		if !covered && !n.marked && !unwrappable(n.fn) {
			f.Suggestion = suggest(n, f)
		}
		rp := byPkg[n.pkg]
		rp.Functions = append(rp.Functions, f)
		rp.Sites += len(f.Sites)
		if covered {
			rp.Covered += len(f.Sites)
		}
	}
	for _, rp := range rep.Packages {
		rp.Percent = percent(rp.Covered, rp.Sites)
		rep.Sites += rp.Sites
		rep.Covered += rp.Covered
	}
	rep.Percent = percent(rep.Covered, rep.Sites)
	return rep
}

func percent(covered, sites int) float64 {
	if sites == 0 {
		return 100
	}
	return math.Round(1000*float64(covered)/float64(sites)) / 10
}

func categories(ss []*site) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range ss {
		if !seen[s.category] {
			seen[s.category] = true
			out = append(out, s.category)
		}
	}
	sort.Strings(out)
	return out
}

// suggest proposes a directive block for an uncovered function.
func suggest(n *node, f *Function) *Suggestion {
	sig := n.fn.Type().(*types.Signature)
	s := &Suggestion{Key: keyCandidates(n.fn.Pkg(), sig)}
	tx := false
	for i := 0; i < sig.Params().Len(); i++ {
		if gen.IsTx(sig.Params().At(i).Type()) {
			tx = true
		}
	}
	switch {
	case tx && onlyCategory(f.Categories, CategoryDB):
		s.Effect = "db"
	case f.Composite:
		s.Effect = "composite"
	case onlyCategory(f.Categories, CategoryAPI):
		s.Effect = "api"
	case onlyCategory(f.Categories, CategoryQueue):
		s.Effect = "queue"
	default:
		s.Effect = "none"
	}
	if len(s.Key) > 0 {
		s.Directives = append(s.Directives, keyDirective+" "+strings.Join(s.Key, ", "))
	} else {
		s.Directives = append(s.Directives, keyDirective+" <parameters that identify one operation>")
		s.Notes = append(s.Notes, "no parameter or field is named like an identifier (ID, ...ID, Key, UUID): choose the key by hand")
	}
	switch s.Effect {
	case "db", "api", "queue", "composite":
		s.Directives = append(s.Directives, effectDirective+" "+s.Effect)
	}
	switch s.Effect {
	case "db":
		s.Notes = append(s.Notes, "the wrapper takes the database handle in place of the transaction and commits the key with the writes: update the callers")
	case "api":
		s.Notes = append(s.Notes, "pass runtime.KeyFrom(ctx) to the API as its idempotency key")
	case "queue":
		s.Notes = append(s.Notes, "publish with runtime.KeyFrom(ctx) as the message's deduplication id")
	case "composite":
		s.Notes = append(s.Notes, fmt.Sprintf("composite: %d side effects (%s); run each inside runtime.Step or runtime.StepSQL (with its own step name), so that a retry resumes after the last completed step; code between steps runs again and must have no side effect", f.Reaches, strings.Join(f.Categories, ", ")))
	default:
		if tx := onlyCategory(f.Categories, CategoryDB); tx {
			s.Notes = append(s.Notes, "to commit the key with the writes (//idem:effect db), take a *sql.Tx or pgx.Tx as the first parameter after the context")
		}
	}
	if r := sig.Results(); r.Len() == 0 || !isError(r.At(r.Len()-1).Type()) {
		s.Notes = append(s.Notes, "a wrapped function must return error as its last result")
	}
	return s
}

// unwrappable reports whether fn is main.main or an init function, which
// cannot be wrapped.
func unwrappable(fn *types.Func) bool {
	if fn.Type().(*types.Signature).Recv() != nil {
		return false
	}
	return fn.Name() == "init" || fn.Name() == "main" && fn.Pkg() != nil && fn.Pkg().Name() == "main"
}

func onlyCategory(cats []string, c string) bool { return len(cats) == 1 && cats[0] == c }

func isError(t types.Type) bool { return types.Identical(t, types.Universe.Lookup("error").Type()) }

// keyCandidates returns the parameters, and fields of struct parameters,
// named like identifiers and of basic type.
func keyCandidates(pkg *types.Package, sig *types.Signature) []string {
	out := []string{}
	for i := 0; i < sig.Params().Len(); i++ {
		p := sig.Params().At(i)
		if p.Name() == "" || p.Name() == "_" {
			continue
		}
		if isIdentName(p.Name()) && isBasic(p.Type()) {
			out = append(out, p.Name())
			continue
		}
		t := types.Unalias(p.Type())
		if ptr, ok := t.(*types.Pointer); ok {
			t = types.Unalias(ptr.Elem())
		}
		st, ok := t.Underlying().(*types.Struct)
		if !ok {
			continue
		}
		for j := 0; j < st.NumFields(); j++ {
			fv := st.Field(j)
			if (fv.Exported() || fv.Pkg() == pkg) && isIdentName(fv.Name()) && isBasic(fv.Type()) {
				out = append(out, p.Name()+"."+fv.Name())
				break // one field per parameter: the first
			}
		}
	}
	return out
}

func isBasic(t types.Type) bool {
	_, ok := t.Underlying().(*types.Basic)
	return ok
}

// isIdentName reports whether a name looks like an identifier's: id, key,
// uuid, or a camel-case name ending in ID, Id, Key or UUID.
func isIdentName(name string) bool {
	switch strings.ToLower(name) {
	case "id", "key", "uuid":
		return true
	}
	for _, suf := range []string{"ID", "Id", "Key", "UUID"} {
		if rest, ok := strings.CutSuffix(name, suf); ok && rest != "" {
			r := []rune(rest)
			last := r[len(r)-1]
			if unicode.IsLower(last) || unicode.IsDigit(last) {
				return true
			}
		}
	}
	return false
}
