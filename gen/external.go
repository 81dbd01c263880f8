package gen

// Wrappers of functions and methods declared in another package
// (//idem:wrap), for code that cannot carry directives: sqlc, sqlboiler or
// protobuf output, third-party packages.

import (
	"go/ast"
	"go/token"
	"go/types"

	"github.com/dave/jennifer/jen"
	"github.com/idem-go/idem/annotations"
)

// external is the target of //idem:wrap.
type external struct {
	fn      *types.Func
	recv    types.Type // the receiver type of a method expression; nil for a function
	pkgName string     // the name the source file imports the target's package under
}

// wrapDocs returns the doc comment of a value spec: its own, or that of
// its var declaration when the declaration has only this spec.
func wrapDoc(gd *ast.GenDecl, vs *ast.ValueSpec) *ast.CommentGroup {
	if vs.Doc != nil {
		return vs.Doc
	}
	if len(gd.Specs) == 1 && !gd.Lparen.IsValid() {
		return gd.Doc
	}
	return nil
}

// wrapTarget returns the function or method (with its receiver type) that
// the value of a //idem:wrap declaration names, or nil.
func wrapTarget(expr ast.Expr, info *types.Info) (fn *types.Func, recv types.Type) {
	sel, _ := ast.Unparen(expr).(*ast.SelectorExpr)
	if sel == nil {
		return nil, nil
	}
	if s := info.Selections[sel]; s != nil && s.Kind() == types.MethodExpr {
		fn, _ = s.Obj().(*types.Func)
		return fn, s.Recv()
	}
	if f, ok := info.Uses[sel.Sel].(*types.Func); ok && f.Type().(*types.Signature).Recv() == nil {
		return f, nil
	}
	return nil, nil
}

// externalWrapper checks the declaration that carries //idem:wrap and
// returns the wrapper it declares, or nil after reporting a mistake.
func (pg *pkgGen) externalWrapper(fg *fileGen, vs *ast.ValueSpec, set *annotations.Set) *wrapper {
	wd := set.Wrap
	form := "var _ = " + wd.Target
	if len(vs.Names) != 1 || vs.Names[0].Name != "_" || len(vs.Values) != 1 {
		pg.errorf(wd.Pos, "%s%s belongs in the doc comment of a blank variable whose value is the wrapped function: write %s below the directives", annotations.Prefix, annotations.NameWrap, form)
		return nil
	}
	expr := vs.Values[0]
	if got := types.ExprString(expr); got != wd.Target {
		pg.errorf(wd.ArgPos, "%s%s names %s but the declaration's value is %s; make them the same", annotations.Prefix, annotations.NameWrap, wd.Target, got)
		return nil
	}
	ext := &external{pkgName: wd.Pkg}
	ext.fn, ext.recv = wrapTarget(expr, pg.pkg.TypesInfo)
	if ext.fn == nil {
		pg.reportTypeErrors(vs.Pos(), vs.End())
		pg.errorf(wd.ArgPos, "%s does not name a function or method that type-checks; write pkg.Func or (*pkg.Type).Method", wd.Target)
		return nil
	}
	if !ext.fn.Exported() && ext.fn.Pkg() != pg.tpkg {
		pg.errorf(wd.ArgPos, "%s is unexported in %s, so a wrapper in package %s cannot call it", wd.Target, ext.fn.Pkg().Path(), pg.tpkg.Name())
		return nil
	}
	if ext.recv != nil {
		if n, ok := deref(ext.recv).(*types.Named); ok && n.TypeArgs().Len() > 0 {
			pg.errorf(wd.ArgPos, "%s is a method of a generic type, which //idem:wrap does not support; wrap a function of your own that calls it", wd.Target)
			return nil
		}
	}
	pos := vs.Pos()
	decl := &ast.FuncDecl{
		Name: &ast.Ident{Name: ext.fn.Name(), NamePos: pos},
		Type: &ast.FuncType{Func: pos, Params: &ast.FieldList{Opening: pos, Closing: vs.End()}, Results: &ast.FieldList{Opening: pos, Closing: vs.End()}},
	}
	return &wrapper{file: fg, decl: decl, dirs: set, ext: ext}
}

// externalSignature is the wrapper's view of the target: a function's own
// signature, or for a method a function whose first parameter is the
// receiver (named by the type's initial, or recv).
func (pg *pkgGen) externalSignature(ext *external) *types.Signature {
	sig := ext.fn.Type().(*types.Signature)
	if ext.recv == nil {
		return sig
	}
	name := "recv"
	if n, ok := deref(ext.recv).(*types.Named); ok {
		name = recvBase(n.Obj().Name())
	}
	for i := 0; i < sig.Params().Len(); i++ {
		if sig.Params().At(i).Name() == name {
			name = "recv"
		}
	}
	vars := []*types.Var{types.NewParam(token.NoPos, pg.tpkg, name, ext.recv)}
	for i := 0; i < sig.Params().Len(); i++ {
		vars = append(vars, sig.Params().At(i))
	}
	return types.NewSignatureType(nil, nil, nil, types.NewTuple(vars...), sig.Results(), sig.Variadic())
}

// externalName is the target as a doc link and schema name: pkg.Func or
// pkg.Type.Method.
func (ext *external) name() string {
	if ext.recv != nil {
		if n, ok := deref(ext.recv).(*types.Named); ok {
			return ext.pkgName + "." + n.Obj().Name() + "." + ext.fn.Name()
		}
	}
	return ext.pkgName + "." + ext.fn.Name()
}

// namespace is the target's default namespace: the one a wrapper in its
// own package would have, so that moving the directives there later keeps
// the keys.
func (ext *external) namespace() string {
	path := ext.fn.Pkg().Path()
	if ext.recv != nil {
		if n, ok := deref(ext.recv).(*types.Named); ok {
			return path + "." + n.Obj().Name() + "." + ext.fn.Name()
		}
	}
	return path + "." + ext.fn.Name()
}

// externalCallee is the wrapped function or method in the wrapper.
func (em *emitter) externalCallee(w *wrapper, wn *wnames) (*jen.Statement, int) {
	if w.ext.recv != nil {
		return jen.Id(wn.params[0]).Dot(w.ext.fn.Name()), 1
	}
	p := w.ext.fn.Pkg()
	callee := em.qual(p.Path(), p.Name(), w.ext.fn.Name())
	if tps := w.sig.TypeParams(); tps.Len() > 0 {
		callee = callee.Types(typeParamNames(tpSlice(tps))...)
	}
	return callee, 0
}
