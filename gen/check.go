package gen

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/packages"

	"github.com/idem-go/idem/annotations"
)

// IsGeneratedFile reports whether a parsed file was written by idemgen (it
// starts with [Header]).
func IsGeneratedFile(f *ast.File) bool { return isGeneratedSyntax(f) }

// Directives parses the //idem: directives of a function declaration's doc
// comment. It returns a nil Set when the doc comment has none; the Set
// marks the function when its Key is not nil.
func Directives(fd *ast.FuncDecl) (*annotations.Set, []annotations.Diagnostic) {
	if fd.Doc == nil {
		return nil, nil
	}
	return annotations.Parse(comments(fd.Doc))
}

// WrapTarget returns the function or method of another package that a var
// declaration's spec wraps (//idem:wrap on var _ = pkg.Func), with the
// spec's directives; nil when the spec declares no wrapper or its value
// names no function (idemgen reports those mistakes).
func WrapTarget(gd *ast.GenDecl, vs *ast.ValueSpec, info *types.Info) (*types.Func, *annotations.Set) {
	doc := wrapDoc(gd, vs)
	if doc == nil || len(vs.Values) != 1 {
		return nil, nil
	}
	set, _ := annotations.Parse(comments(doc))
	if set == nil || set.Wrap == nil {
		return nil, nil
	}
	fn, _ := wrapTarget(vs.Values[0], info)
	if fn == nil {
		return nil, nil
	}
	return fn, set
}

// WrapperName returns the name of the wrapper idemgen writes for the marked
// function named fn: the //idem:name value, else fn + "Idem".
func WrapperName(fn string, set *annotations.Set) string {
	if set != nil && set.Name != nil {
		return set.Name.Ident.Name
	}
	return fn + "Idem"
}

// CheckFiles runs every check idemgen makes on the directives of one
// package without generating anything, and returns the mistakes idemgen
// would report, with the same positions and messages. files must not
// include generated files or test files, and info must come from
// type-checking exactly those files (as idemgen does under its build tag);
// dir is the package directory.
func CheckFiles(fset *token.FileSet, files []*ast.File, tpkg *types.Package, info *types.Info, dir string) []Diagnostic {
	pkg := &packages.Package{Fset: fset, Syntax: files, Types: tpkg, TypesInfo: info, Dir: dir, PkgPath: tpkg.Path(), Name: tpkg.Name()}
	pg := newPkgGen(Config{}, pkg, fset)
	for _, name := range tpkg.Scope().Names() {
		pg.taken[name] = true
	}
	pg.collect()
	sortDiagnostics(pg.diags)
	return pg.diags
}

// IsTx reports whether t is a transaction type the db effect accepts:
// *database/sql.Tx or github.com/jackc/pgx/v5.Tx.
func IsTx(t types.Type) bool { return txKindOf(t) != 0 }

// LoadMode is the packages.LoadMode idemgen loads packages with; tools that
// check the same directives (the audit, idemvet) load with it too.
const LoadMode = loadMode
