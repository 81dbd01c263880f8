// Package audit is the engine of `idemgen audit`: it finds every side
// effect of a module's code, attributes each to its function and that
// function's callers, and says which are covered by an idem wrapper.
//
// # What is a side effect
//
// A call whose callee, resolved by type (never by matching the source
// text), is named by a rule: [Builtin] holds the built-in table (database
// writes through database/sql, pgx, sqlx and gorm; HTTP requests that are
// not GET, HEAD or OPTIONS; queue publishes of kafka-go, sarama, nats,
// amqp091, SQS, SNS and Pub/Sub; net/smtp; os file writes; go-redis write
// commands), and [ParseRules] reads more.
//
// # Attribution and coverage
//
// Every site belongs to the function whose body holds it (function
// literals belong to the function that declares them). Static calls
// between the loaded packages' functions make the call graph; calls
// through interfaces and function values are not followed, and a function
// used as a value (not called) may be called from anywhere. A function
// reaches its own sites and those of the functions it calls; reaching two
// or more makes it composite.
//
// A function is covered when no path into it can run it without a key:
//
//   - a function marked with //idem: directives is covered when it is
//     called only by its generated wrapper or by covered functions (a
//     direct call from uncovered code bypasses the wrapper);
//   - any other function is covered when it has callers, is never used as
//     a value, and every caller is covered.
//
// A site is covered when its function is. Coverage is covered sites over
// all sites, per package and in total.
//
// # JSON
//
// [Report] is the -json output; its fields are documented where they are
// declared and only ever gain new fields (Schema says which version of the
// layout a file follows).
package audit

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/idem-go/idem/annotations"
	"github.com/idem-go/idem/gen"
)

// Schema is the version of the JSON layout.
const Schema = 1

// Config says what to audit.
type Config struct {
	// Dir is the directory in which patterns are resolved and to which
	// positions are made relative; empty means the current directory.
	Dir string
	// Patterns are package patterns as for go build; empty means "./...".
	Patterns []string
	// Rules are added to the built-in rules.
	Rules []Rule
}

// Report is the result of an audit, and the -json output.
type Report struct {
	// Schema is the version of this layout.
	Schema   int        `json:"schema"`
	Packages []*Package `json:"packages"`
	Coverage
}

// Coverage counts sites.
type Coverage struct {
	// Sites is the number of side-effect call sites.
	Sites int `json:"sites"`
	// Covered is the number of those whose function is covered.
	Covered int `json:"covered"`
	// Percent is 100*Covered/Sites, rounded to one decimal; 100 when
	// there are no sites.
	Percent float64 `json:"coverage"`
}

// Package is one loaded package.
type Package struct {
	// Path is the import path.
	Path string `json:"path"`
	// Functions lists the package's functions that are marked, have
	// side-effect sites, or reach two or more sites of which one is not
	// covered, in source order.
	Functions []*Function `json:"functions"`
	Coverage
}

// Function is a function or method.
type Function struct {
	// Name is the name within the package: "F", "(*T).M" or "(T).M".
	Name string `json:"name"`
	// Pos is where it is declared, as file:line:col.
	Pos string `json:"pos"`
	// Marked says the function has //idem: directives; Wrapper is then the
	// name of its generated wrapper.
	Marked  bool   `json:"marked"`
	Wrapper string `json:"wrapper,omitempty"`
	// Covered says whether the function can only run under a key.
	Covered bool `json:"covered"`
	// Composite says the function reaches two or more sites.
	Composite bool `json:"composite"`
	// Reaches is the number of sites the function reaches: its own and
	// those of the functions it calls, transitively.
	Reaches int `json:"reaches"`
	// Uncovered is the number of the reached sites that are not covered.
	Uncovered int `json:"reaches_uncovered"`
	// Categories are the categories of the sites it reaches, sorted.
	Categories []string `json:"categories"`
	// Sites are the function's own side-effect calls, in source order.
	Sites []*Site `json:"sites"`
	// Callers are the functions that call it statically, fully qualified
	// ("example.com/shop/orders.Place", "(*example.com/shop/orders.Store).Save"),
	// sorted; generated wrappers are left out.
	Callers []string `json:"callers"`
	// Bypasses are the positions of direct calls of a marked function by
	// code that is not covered: each runs it without its wrapper.
	Bypasses []string `json:"bypasses,omitempty"`
	// UsedAsValue says the function is referred to other than by a call,
	// so that it may be called from anywhere.
	UsedAsValue bool `json:"used_as_value,omitempty"`
	// Suggestion is the directive block to start from, for uncovered
	// functions that are not marked.
	Suggestion *Suggestion `json:"suggestion,omitempty"`
}

// Site is one side-effect call.
type Site struct {
	// Pos is the position of the call, as file:line:col.
	Pos string `json:"pos"`
	// Category is the rule's category.
	Category string `json:"category"`
	// Callee is the called function, fully qualified
	// ("(*database/sql.Tx).ExecContext").
	Callee string `json:"callee"`
	// Covered is the covered state of the enclosing function.
	Covered bool `json:"covered"`
}

// Suggestion is a directive block for an uncovered function.
type Suggestion struct {
	// Effect is db (the function takes a *sql.Tx or pgx.Tx), api, queue,
	// composite (two or more sites) or none.
	Effect string `json:"effect"`
	// Key lists the key candidates: parameters, or fields of parameters,
	// named like identifiers (ID, ...ID, Key, UUID). Empty when there is
	// none.
	Key []string `json:"key"`
	// Directives are the lines to paste above the function. They are
	// always valid directives: a composite function gets the default
	// effect, none, which never runs again an attempt that may have
	// applied its effects.
	Directives []string `json:"directives"`
	// Notes say what else the function needs.
	Notes []string `json:"notes,omitempty"`
}

// node is a function of the loaded packages.
type node struct {
	fn        *types.Func
	pkg       *packages.Package
	decl      *ast.FuncDecl
	generated bool // declared in a file idemgen generated: a wrapper
	marked    bool
	wrapper   string
	sites     []*site
	callees   []*node
	calls     []call // incoming static calls
	value     bool   // used other than by a call

	state   int8 // coverage: 0 unknown, 1 in progress, 2 done
	covered bool
}

type call struct {
	from *node
	pos  token.Pos
}

type site struct {
	fn       *node // the enclosing function
	pos      token.Pos
	category string
	callee   string
}

// auditor holds one run.
type auditor struct {
	base  string
	fset  *token.FileSet
	rules table
	nodes map[*types.Func]*node
	order []*node
}

// LoadMode is the packages.LoadMode the audit loads with: the same as
// idemgen's.
const LoadMode = gen.LoadMode

// Run loads the packages (one packages.Load) and audits them.
func Run(cfg Config) (*Report, error) {
	patterns := cfg.Patterns
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	fset := token.NewFileSet()
	pkgs, err := packages.Load(&packages.Config{Mode: LoadMode, Dir: cfg.Dir, Fset: fset}, patterns...)
	if err != nil {
		return nil, fmt.Errorf("idemgen audit: loading %s: %w", strings.Join(patterns, " "), err)
	}
	var errs []string
	for _, p := range pkgs {
		for _, e := range p.Errors {
			errs = append(errs, e.Error())
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("idemgen audit: the packages do not load; fix these first:\n%s", strings.Join(errs, "\n"))
	}
	return Audit(cfg, fset, pkgs)
}

// Audit audits packages already loaded with at least LoadMode.
func Audit(cfg Config, fset *token.FileSet, pkgs []*packages.Package) (*Report, error) {
	base := cfg.Dir
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	a := &auditor{base: base, fset: fset, rules: newTable(append(Builtin(), cfg.Rules...)), nodes: map[*types.Func]*node{}}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].PkgPath < pkgs[j].PkgPath })
	for _, p := range pkgs {
		a.declare(p)
	}
	for _, p := range pkgs {
		a.walk(p)
	}
	return a.report(pkgs), nil
}

// declare creates the nodes of a package's functions.
func (a *auditor) declare(p *packages.Package) {
	for _, f := range p.Syntax {
		generated := gen.IsGeneratedFile(f)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			fn, ok := p.TypesInfo.Defs[fd.Name].(*types.Func)
			if !ok {
				continue
			}
			n := &node{fn: fn, pkg: p, decl: fd, generated: generated}
			if set, _ := gen.Directives(fd); !generated && set != nil && set.Key != nil {
				n.marked, n.wrapper = true, gen.WrapperName(fn.Name(), set)
			}
			a.nodes[fn] = n
			a.order = append(a.order, n)
		}
	}
}

// walk finds the sites, calls and value uses of a package's code.
func (a *auditor) walk(p *packages.Package) {
	info := p.TypesInfo
	for _, f := range p.Syntax {
		for _, d := range f.Decls {
			var from *node
			if fd, ok := d.(*ast.FuncDecl); ok {
				if fn, ok := info.Defs[fd.Name].(*types.Func); ok {
					from = a.nodes[fn]
				}
			}
			called := map[*ast.Ident]bool{}
			var reqs map[types.Object]bool // request variables built unsafe (true) or safe (false)
			ast.Inspect(d, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if id := CalleeIdent(n.Fun); id != nil {
						called[id] = true
					}
					if from == nil {
						return true
					}
					callee, _ := typeutil.Callee(info, n).(*types.Func)
					if callee == nil {
						return true
					}
					callee = callee.Origin()
					if r, ok := a.rules.match(callee); ok && a.applies(r, n, info, from, &reqs) {
						from.sites = append(from.sites, &site{fn: from, pos: n.Lparen, category: r.Category, callee: callee.FullName()})
						if id := CalleeIdent(n.Fun); id != nil {
							from.sites[len(from.sites)-1].pos = id.Pos()
						}
					}
					if to := a.nodes[callee]; to != nil && typeutil.StaticCallee(info, n) != nil {
						to.calls = append(to.calls, call{from: from, pos: CalleeIdent(n.Fun).Pos()})
						from.callees = append(from.callees, to)
					}
				case *ast.Ident:
					if called[n] {
						return true
					}
					if fn, ok := info.Uses[n].(*types.Func); ok {
						if to := a.nodes[fn.Origin()]; to != nil && (from == nil || !from.generated) {
							to.value = true
						}
					}
				}
				return true
			})
		}
	}
}

// CalleeIdent returns the identifier that names the called function in a
// call's Fun expression: F, pkg.F, x.M, (x.M), F[T], pkg.F[T, U]; nil for
// anything else (calls of function values returned by calls, conversions
// of literals).
func CalleeIdent(fun ast.Expr) *ast.Ident {
	fun = ast.Unparen(fun)
	switch e := fun.(type) {
	case *ast.IndexExpr:
		fun = ast.Unparen(e.X)
	case *ast.IndexListExpr:
		fun = ast.Unparen(e.X)
	}
	switch e := fun.(type) {
	case *ast.Ident:
		return e
	case *ast.SelectorExpr:
		return e.Sel
	}
	return nil
}

// applies checks a rule's condition on a call.
func (a *auditor) applies(r Rule, c *ast.CallExpr, info *types.Info, from *node, reqs *map[types.Object]bool) bool {
	switch r.When {
	case WhenSQLWrite:
		for _, arg := range c.Args {
			tv := info.Types[arg]
			if b, ok := tv.Type.Underlying().(*types.Basic); ok && b.Info()&types.IsString != 0 {
				if tv.Value == nil {
					return false // SQL not known: not counted
				}
				return IsSQLWrite(constantString(tv.Value))
			}
		}
		return false
	case WhenWriteFlag:
		if len(c.Args) < 2 {
			return true
		}
		v := info.Types[c.Args[1]].Value
		if v == nil {
			return true
		}
		flag, ok := constantInt(v)
		return !ok || flag&writeFlags != 0
	case WhenUnsafeRequest:
		for _, arg := range c.Args {
			if !isRequestPtr(info.TypeOf(arg)) {
				continue
			}
			arg = ast.Unparen(arg)
			if call, ok := arg.(*ast.CallExpr); ok {
				safe, known := newRequestMethod(call, info)
				return !(known && safe)
			}
			id, ok := arg.(*ast.Ident)
			if !ok {
				return true
			}
			if *reqs == nil {
				*reqs = requestVars(from.decl, info)
			}
			unsafe, known := (*reqs)[info.Uses[id]]
			return !known || unsafe
		}
		return true
	}
	return true
}

func isRequestPtr(t types.Type) bool {
	p, ok := types.Unalias(t).(*types.Pointer)
	if !ok {
		return false
	}
	n, ok := types.Unalias(p.Elem()).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "net/http" && n.Obj().Name() == "Request"
}

// newRequestMethod reports, for a call of http.NewRequest or
// NewRequestWithContext with a constant method, whether the method is safe.
func newRequestMethod(c *ast.CallExpr, info *types.Info) (safe, known bool) {
	fn, _ := typeutil.Callee(info, c).(*types.Func)
	if fn == nil || fn.Pkg() == nil || fn.Pkg().Path() != "net/http" {
		return false, false
	}
	idx := -1
	switch fn.Name() {
	case "NewRequest":
		idx = 0
	case "NewRequestWithContext":
		idx = 1
	}
	if idx < 0 || idx >= len(c.Args) {
		return false, false
	}
	v := info.Types[c.Args[idx]].Value
	if v == nil {
		return false, false
	}
	return isSafeMethod(v), true
}

// requestVars maps the variables a function assigns requests to, to
// whether one of the requests may have a side effect.
func requestVars(fd *ast.FuncDecl, info *types.Info) map[types.Object]bool {
	vars := map[types.Object]bool{}
	if fd == nil || fd.Body == nil {
		return vars
	}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Rhs) != 1 || len(as.Lhs) == 0 {
			return true
		}
		id, ok := as.Lhs[0].(*ast.Ident)
		if !ok {
			return true
		}
		obj := info.ObjectOf(id)
		if obj == nil || !isRequestPtr(obj.Type()) {
			return true
		}
		unsafe := true
		if c, ok := ast.Unparen(as.Rhs[0]).(*ast.CallExpr); ok {
			if safe, known := newRequestMethod(c, info); known && safe {
				unsafe = false
			}
		}
		vars[obj] = vars[obj] || unsafe
		return true
	})
	return vars
}

// Names of directives for the suggestion, from the annotations package.
var (
	keyDirective    = annotations.Prefix + annotations.NameKey
	effectDirective = annotations.Prefix + annotations.NameEffect
)
