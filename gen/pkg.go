package gen

import (
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/tools/go/packages"

	"github.com/idem-go/idem/annotations"
)

// pkgGen generates the wrappers of one package.
type pkgGen struct {
	pkg   *packages.Package
	fset  *token.FileSet
	tpkg  *types.Package
	diags []Diagnostic
	warns []Diagnostic
	out   []File
	// allowBreaking turns breaking schema changes into warnings.
	allowBreaking bool

	files []*fileGen
	// taken holds the package-level names in use: the package's own
	// (generated files excluded) and those generated so far.
	taken map[string]bool
	// methods maps a receiver type to the wrapper method names generated
	// on it.
	methods map[*types.TypeName]map[string]*wrapper
	funcs   map[string]*wrapper
	helpers *helperSet
	// loaded holds the packages loaded by import path for directives
	// (importByPath).
	loaded map[string]*types.Package
	// decorators holds the decorator of every interface with directives
	// (nil after a reported mistake).
	decorators  map[*ast.TypeSpec]*decorator
	recursiveMu sync.Mutex
	recursive   map[*types.Named]bool
	// importNames maps the import names of the package's files to a file
	// that uses them.
	importNames map[string]string
	// reportedTypeErrors holds the type errors already added to diags.
	reportedTypeErrors map[string]bool
}

// fileGen is one source file with directives and its generated file.
type fileGen struct {
	pg       *pkgGen
	src      string // absolute path of the source file
	out      string // absolute path of the generated file
	syntax   *ast.File
	wrappers []*wrapper
	helpers  []*helper // encoding functions placed in this file
	// decorators are the interface decorators declared in this file.
	decorators []*decorator

	// Set by prepare.
	units   []*unit
	imports map[string]string // import path → package name
	// anon are the packages the file imports for their side effects (a
	// result codec they register).
	anon map[string]bool
	used map[string]bool // names the file's code refers to
	// rtImport is the name the file imports the runtime under, once
	// chosen; doc links use it.
	rtImport string
}

// defaultRuntimeName is the name generated files import the runtime under
// unless the package uses it.
const defaultRuntimeName = "idemrt"

// runtimeName is the name the file imports the runtime under.
func (fg *fileGen) runtimeName() string {
	if fg.rtImport != "" {
		return fg.rtImport
	}
	return defaultRuntimeName
}

func newPkgGen(cfg Config, pkg *packages.Package, fset *token.FileSet) *pkgGen {
	pg := &pkgGen{
		allowBreaking: cfg.AllowBreaking,
		pkg:           pkg,
		fset:          fset,
		tpkg:          pkg.Types,
		taken:         map[string]bool{},
		methods:       map[*types.TypeName]map[string]*wrapper{},
		funcs:         map[string]*wrapper{},
	}
	pg.helpers = &helperSet{pg: pg, byType: map[string]*helper{}}
	return pg
}

func (pg *pkgGen) errorf(pos token.Pos, format string, args ...any) {
	pg.diags = append(pg.diags, Diagnostic{Pos: pg.fset.Position(pos), Message: fmt.Sprintf(format, args...)})
}

// qualifier renders types relative to the package, other packages by name.
func (pg *pkgGen) qualifier() types.Qualifier {
	return func(p *types.Package) string {
		if p == pg.tpkg {
			return ""
		}
		return p.Name()
	}
}

// rel returns path relative to the package directory, for messages.
func (pg *pkgGen) rel(path string) string {
	if pg.pkg.Dir != "" {
		if r, err := filepath.Rel(pg.pkg.Dir, path); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return path
}

func (pg *pkgGen) run() {
	// Errors that leave the package without syntax or types stop here.
	for _, e := range pg.pkg.Errors {
		if e.Kind == packages.TypeError {
			continue // reported only when they affect a marked function
		}
		if e.Kind == packages.ListError && strings.HasPrefix(e.Msg, "# ") && len(pg.pkg.Syntax) > 0 {
			// The compiler's output for this package, which go list
			// -export builds: its errors are the type errors again.
			continue
		}
		pg.diags = append(pg.diags, packageErrorDiagnostic(e))
	}
	if pg.tpkg == nil || pg.pkg.TypesInfo == nil || len(pg.diags) > 0 {
		return
	}
	for _, name := range pg.tpkg.Scope().Names() {
		pg.taken[name] = true
	}
	pg.collect()
	if len(pg.diags) > 0 {
		return
	}
	pg.render()
}

// packageErrorDiagnostic turns a loader error into a diagnostic.
func packageErrorDiagnostic(e packages.Error) Diagnostic {
	d := Diagnostic{Message: e.Msg}
	pos := e.Pos
	if pos == "" || pos == "-" {
		return d
	}
	// file:line:col or file:line
	parts := strings.Split(pos, ":")
	nums := []int{}
	for len(parts) > 1 && len(nums) < 2 {
		n, err := strconv.Atoi(parts[len(parts)-1])
		if err != nil {
			break
		}
		nums = append([]int{n}, nums...)
		parts = parts[:len(parts)-1]
	}
	d.Pos.Filename = strings.Join(parts, ":")
	if len(nums) > 0 {
		d.Pos.Line = nums[0]
	}
	if len(nums) > 1 {
		d.Pos.Column = nums[1]
	}
	return d
}

// reportTypeErrors adds the type errors that lie between from and to (the
// signature of a marked function), or, when none does, every type error of
// the package, to the diagnostics, each once.
func (pg *pkgGen) reportTypeErrors(from, to token.Pos) {
	start, end := pg.fset.Position(from), pg.fset.Position(to)
	var inside, all []Diagnostic
	for _, e := range pg.pkg.Errors {
		if e.Kind != packages.TypeError {
			continue
		}
		d := packageErrorDiagnostic(e)
		all = append(all, d)
		if d.Pos.Filename == start.Filename &&
			(d.Pos.Line > start.Line || d.Pos.Line == start.Line && d.Pos.Column >= start.Column) &&
			(d.Pos.Line < end.Line || d.Pos.Line == end.Line && d.Pos.Column <= end.Column) {
			inside = append(inside, d)
		}
	}
	if len(inside) == 0 {
		inside = all
	}
	if pg.reportedTypeErrors == nil {
		pg.reportedTypeErrors = map[string]bool{}
	}
	for _, d := range inside {
		if k := d.String(); !pg.reportedTypeErrors[k] {
			pg.reportedTypeErrors[k] = true
			pg.diags = append(pg.diags, d)
		}
	}
}

// collect finds the directives of every file and analyses the marked
// functions.
func (pg *pkgGen) collect() {
	type fileSyntax struct {
		name string
		f    *ast.File
	}
	var syn []fileSyntax
	for _, f := range pg.pkg.Syntax {
		// The position of the package clause names the source file, also
		// for cgo files, which are parsed from their cgo output.
		name := pg.fset.Position(f.Package).Filename
		if strings.HasSuffix(name, "_test.go") || isGeneratedSyntax(f) {
			continue
		}
		syn = append(syn, fileSyntax{name, f})
	}
	sort.Slice(syn, func(i, j int) bool { return syn[i].name < syn[j].name })

	// Import names of the package's files: a package-level name must not
	// take one (it would be redeclared in that file's scope).
	pg.importNames = map[string]string{}
	for _, s := range syn {
		for _, imp := range s.f.Imports {
			name := ""
			if imp.Name != nil {
				name = imp.Name.Name
			} else if pn := pg.pkg.TypesInfo.PkgNameOf(imp); pn != nil {
				name = pn.Name()
			}
			if name != "" && name != "_" && name != "." {
				if _, seen := pg.importNames[name]; !seen {
					pg.importNames[name] = filepath.Base(s.name)
				}
			}
		}
	}

	// First pass: parse directives, so that every wrapper name is known
	// before names are checked for collisions.
	var all []*wrapper
	for _, s := range syn {
		fg := &fileGen{pg: pg, src: s.name, syntax: s.f, anon: map[string]bool{}}
		fg.out = strings.TrimSuffix(s.name, ".go") + suffix
		docs := map[*ast.CommentGroup]bool{}
		for _, d := range s.f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Doc == nil {
				continue
			}
			docs[fd.Doc] = true
			set := pg.parseDoc(fd.Doc)
			if set != nil && set.Wrap != nil {
				pg.errorf(set.Wrap.Pos, "%s%s on the function %s: it declares a wrapper for a function of another package, and belongs in the doc comment of var _ = %s; to wrap %s, remove the line", annotations.Prefix, annotations.NameWrap, fd.Name.Name, set.Wrap.Target, fd.Name.Name)
				continue
			}
			if set == nil || set.Key == nil {
				continue
			}
			w := &wrapper{file: fg, decl: fd, dirs: set}
			fg.wrappers = append(fg.wrappers, w)
			all = append(all, w)
		}
		for _, d := range s.f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok {
				all = append(all, pg.collectGenDecl(fg, gd, docs)...)
			}
		}
		pg.strayDirectives(s.f, docs)
		if len(fg.wrappers) > 0 {
			pg.files = append(pg.files, fg)
		}
	}
	namespaces := map[string]*wrapper{}
	for _, w := range all {
		pg.analyze(w)
		if w.fn == nil || w.namespace == "" {
			continue
		}
		k := w.namespace + "\x00" + strconv.Itoa(w.version)
		if other := namespaces[k]; other != nil {
			pos := w.dirs.Key.Pos
			if w.dirs.Namespace != nil {
				pos = w.dirs.Namespace.Pos
			}
			pg.errorf(pos, "namespace %q (version %d) is also the namespace of %s (%s), so their keys would collide; give the one whose keys are not in use yet another //idem:namespace",
				w.namespace, w.version, other.qualifiedName(), pg.where(other.decl.Pos()))
			continue
		}
		namespaces[k] = w
	}
	pg.checkSchemas(all)
	// Names of spec variables, after every wrapper name is taken.
	for _, w := range all {
		if w.name == "" {
			continue
		}
		// deliverWebhookIdemSpec, for a method too; the receiver type
		// joins the name only when two wrappers would share it.
		base := lowerFirst(w.name) + "Spec"
		if w.deco != nil {
			base = lowerFirst(w.deco.iface.Name()) + upperFirst(w.name) + "IdemSpec"
		} else if w.recvType != nil && (pg.taken[base] || pg.importNames[base] != "") {
			base = lowerFirst(w.recvType.Name()) + upperFirst(w.name) + "Spec"
		}
		w.specVar = pg.fresh(base)
	}
	for _, fg := range pg.files {
		if _, err := os.Stat(fg.out); err == nil && !isGenerated(fg.out) {
			pg.errorf(fg.wrappers[0].dirs.Key.Pos, "%s exists and was not generated by idemgen; rename that file, so that idemgen can write the wrappers of %s there",
				pg.rel(fg.out), pg.rel(fg.src))
		}
	}
}

// collectGenDecl finds the wrappers a var declaration (//idem:wrap) or a
// type declaration (directives on the methods of an interface) declares,
// adds them to fg and marks the doc comments it read in docs.
func (pg *pkgGen) collectGenDecl(fg *fileGen, gd *ast.GenDecl, docs map[*ast.CommentGroup]bool) []*wrapper {
	var out []*wrapper
	add := func(w *wrapper) {
		fg.wrappers = append(fg.wrappers, w)
		out = append(out, w)
	}
	switch gd.Tok {
	case token.VAR:
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			doc := wrapDoc(gd, vs)
			if doc == nil {
				continue
			}
			if set, _ := annotations.Parse(comments(doc)); set == nil || set.Wrap == nil {
				continue // reported as stray directives
			}
			docs[doc] = true
			if set := pg.parseDoc(doc); set.Key != nil {
				if w := pg.externalWrapper(fg, vs, set); w != nil {
					add(w)
				}
			}
		}
	case token.TYPE:
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			for _, fd := range interfaceMethods(ts) {
				docs[fd.Doc] = true
				set := pg.parseDoc(fd.Doc)
				if set != nil && set.Wrap != nil {
					pg.errorf(set.Wrap.Pos, "%s%s on a method of an interface: it belongs in the doc comment of var _ = %s", annotations.Prefix, annotations.NameWrap, set.Wrap.Target)
					continue
				}
				if set == nil || set.Key == nil {
					continue
				}
				if deco := pg.decoratorOf(ts, fg, fd.Doc); deco != nil {
					w := &wrapper{file: fg, decl: fd, dirs: set, deco: deco}
					deco.wrapped[fd.Name.Name] = w
					add(w)
				}
			}
		}
	}
	return out
}

// parseDoc parses the directives of a doc comment and reports their
// mistakes.
func (pg *pkgGen) parseDoc(doc *ast.CommentGroup) *annotations.Set {
	set, diags := annotations.Parse(comments(doc))
	for _, d := range diags {
		pg.errorf(d.Pos, "%s", d.Message)
	}
	return set
}

// isGeneratedSyntax reports whether a parsed file starts with header.
func isGeneratedSyntax(f *ast.File) bool {
	return len(f.Comments) > 0 && len(f.Comments[0].List) > 0 && f.Comments[0].List[0].Text == header &&
		f.Comments[0].Pos() < f.Package
}

func comments(g *ast.CommentGroup) []annotations.Comment {
	out := make([]annotations.Comment, 0, len(g.List))
	for _, c := range g.List {
		out = append(out, annotations.Comment{Text: c.Text, Pos: c.Slash})
	}
	return out
}

// strayDirectives reports directives outside the doc comments of
// top-level functions.
func (pg *pkgGen) strayDirectives(f *ast.File, docs map[*ast.CommentGroup]bool) {
	owner := map[*ast.CommentGroup]string{}
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok {
			if gd.Doc != nil {
				owner[gd.Doc] = "on a " + gd.Tok.String() + " declaration"
			}
			for _, s := range gd.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Doc != nil {
						owner[s.Doc] = "on a type declaration"
					}
				case *ast.ValueSpec:
					if s.Doc != nil {
						owner[s.Doc] = "on a " + gd.Tok.String() + " declaration"
					}
				}
			}
		}
	}
	if f.Doc != nil {
		owner[f.Doc] = "on the package clause"
	}
	for _, g := range f.Comments {
		if docs[g] {
			continue
		}
		for _, c := range g.List {
			if !annotations.IsDirective(c.Text) {
				if d, ok := annotations.CheckSpaced(annotations.Comment{Text: c.Text, Pos: c.Slash}); ok {
					pg.errorf(d.Pos, "%s", d.Message)
				}
				continue
			}
			where := owner[g]
			if where == "" {
				where = enclosing(f, g)
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(c.Text, annotations.Prefix), " ")
			pg.errorf(c.Slash, "%s%s is %s: idem directives belong in the doc comment of a top-level function or method, of a method of an interface, or (with //idem:wrap) of a var _ = declaration",
				annotations.Prefix, strings.TrimSpace(name), where)
		}
	}
}

// fresh returns an unused package-level name derived from base and takes it.
func (pg *pkgGen) fresh(base string) string {
	name := base
	for i := 2; pg.taken[name] || isPredeclared(name) || pg.importNames[name] != ""; i++ {
		name = base + strconv.Itoa(i)
	}
	pg.taken[name] = true
	return name
}

// lowerFirst lowers the leading capitals of an identifier, keeping the
// last of a run that precedes a lowercase letter: InsertEventIdem →
// insertEventIdem, HTTPServer → httpServer, ID → id.
func lowerFirst(s string) string {
	r := []rune(s)
	n := 0
	for n < len(r) && isUpper(r[n]) {
		n++
	}
	if n > 1 && n < len(r) {
		n--
	}
	for j := 0; j < n; j++ {
		r[j] = toLower(r[j])
	}
	return string(r)
}

// upperFirst upper-cases the first letter of an identifier.
func upperFirst(s string) string {
	r := []rune(s)
	if len(r) > 0 && r[0] >= 'a' && r[0] <= 'z' {
		r[0] -= 'a' - 'A'
	}
	return string(r)
}

func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }
func toLower(r rune) rune {
	if isUpper(r) {
		return r + 'a' - 'A'
	}
	return r
}

// isPredeclared reports whether name is declared in the universe scope.
func isPredeclared(name string) bool { return types.Universe.Lookup(name) != nil }

// isRecursive is the cached isRecursive, safe for concurrent use.
func (pg *pkgGen) isRecursive(n *types.Named) bool {
	pg.recursiveMu.Lock()
	defer pg.recursiveMu.Unlock()
	r, ok := pg.recursive[n]
	if !ok {
		if pg.recursive == nil {
			pg.recursive = map[*types.Named]bool{}
		}
		r = isRecursive(n)
		pg.recursive[n] = r
	}
	return r
}

// enclosing describes where a comment group that documents nothing lies.
func enclosing(f *ast.File, g *ast.CommentGroup) string {
	for _, d := range f.Decls {
		if d.Pos() <= g.Pos() && g.End() <= d.End() {
			switch d := d.(type) {
			case *ast.FuncDecl:
				return "inside the function " + d.Name.Name
			case *ast.GenDecl:
				return "inside a " + d.Tok.String() + " declaration"
			}
		}
	}
	return "in a comment that documents nothing (a blank line between a comment and its function detaches it)"
}

// importByPath returns the package of an import path that a directive
// names (//idem:classify path.Name): one the package imports, or else one
// loaded for its types from the package's directory, as the go command
// resolves it there (so the module must require it).
func (pg *pkgGen) importByPath(path string) (*types.Package, error) {
	for _, p := range pg.tpkg.Imports() {
		if p.Path() == path {
			return p, nil
		}
	}
	if p, ok := pg.loaded[path]; ok {
		return p, nil
	}
	dir := pg.pkg.Dir
	if dir == "" && len(pg.pkg.GoFiles) > 0 {
		dir = filepath.Dir(pg.pkg.GoFiles[0])
	}
	pkgs, err := packages.Load(&packages.Config{
		Mode:       packages.NeedName | packages.NeedTypes,
		Dir:        dir,
		BuildFlags: []string{"-tags=" + buildTags(os.Getenv("GOFLAGS"))},
	}, path)
	if err == nil && (len(pkgs) != 1 || pkgs[0].Types == nil || len(pkgs[0].Errors) > 0) {
		err = errors.New("no such package")
		if len(pkgs) == 1 && len(pkgs[0].Errors) > 0 {
			err = errors.New(pkgs[0].Errors[0].Msg)
		}
	}
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "; to add it:") // the go command's own advice, given below
		msg, _, _ = strings.Cut(msg, "\n")
		return nil, fmt.Errorf("package %s cannot be loaded (%s); check the path, and that the module requires it (go get %s)", path, msg, path)
	}
	if pg.loaded == nil {
		pg.loaded = map[string]*types.Package{}
	}
	pg.loaded[path] = pkgs[0].Types
	return pkgs[0].Types, nil
}
