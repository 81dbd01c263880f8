package gen

// Decorators of interfaces: directives on the methods of an interface
// declaration generate <Interface>Idem, which implements the interface by
// running each annotated method through the runtime and delegating the
// others to the inner implementation.

import (
	"go/ast"
	"go/types"
	"strconv"

	"github.com/dave/jennifer/jen"
)

// decorator is the generated decorator of one interface.
type decorator struct {
	iface   *types.TypeName // the interface
	named   *types.Named
	spec    *ast.TypeSpec
	name    string // <Interface>Idem
	ctor    string // New<Interface>Idem
	file    *fileGen
	wrapped map[string]*wrapper // annotated methods by name
}

// typeParams are the interface's type parameters (a generic interface).
func (d *decorator) typeParams() *types.TypeParamList { return d.named.TypeParams() }

// interfaceMethods returns the doc-commented method fields of an interface
// type spec, as function declarations the wrapper analysis understands.
func interfaceMethods(ts *ast.TypeSpec) []*ast.FuncDecl {
	it, ok := ts.Type.(*ast.InterfaceType)
	if !ok || it.Methods == nil {
		return nil
	}
	var out []*ast.FuncDecl
	for _, f := range it.Methods.List {
		ft, isFunc := f.Type.(*ast.FuncType)
		if !isFunc || len(f.Names) != 1 || f.Doc == nil {
			continue
		}
		out = append(out, &ast.FuncDecl{Doc: f.Doc, Name: f.Names[0], Type: ft})
	}
	return out
}

// decoratorOf returns the decorator of the interface that ts declares,
// creating it (and checking its names) on first use; nil after a reported
// mistake.
func (pg *pkgGen) decoratorOf(ts *ast.TypeSpec, fg *fileGen, at ast.Node) *decorator {
	if pg.decorators == nil {
		pg.decorators = map[*ast.TypeSpec]*decorator{}
	}
	if d, ok := pg.decorators[ts]; ok {
		return d
	}
	pg.decorators[ts] = nil
	tn, _ := pg.pkg.TypesInfo.Defs[ts.Name].(*types.TypeName)
	if tn == nil {
		return nil
	}
	named, ok := types.Unalias(tn.Type()).(*types.Named)
	if !ok {
		pg.errorf(at.Pos(), "cannot decorate %s: it is an alias; put the directives on the interface it names", ts.Name.Name)
		return nil
	}
	iface := named.Underlying().(*types.Interface)
	for i := 0; i < iface.NumMethods(); i++ {
		if m := iface.Method(i); !m.Exported() && m.Pkg() != pg.tpkg {
			pg.errorf(at.Pos(), "cannot decorate %s: its method %s is unexported in package %s, so no type in this package can implement it", tn.Name(), m.Name(), m.Pkg().Path())
			return nil
		}
	}
	d := &decorator{iface: tn, named: named, spec: ts, file: fg, wrapped: map[string]*wrapper{}}
	for _, n := range []*string{&d.name, &d.ctor} {
		base := tn.Name() + "Idem"
		if n == &d.ctor {
			base = "New" + base
		}
		if obj := pg.tpkg.Scope().Lookup(base); obj != nil {
			pg.errorf(at.Pos(), "the decorator name %s of interface %s collides with %s declared at %s; rename that declaration", base, tn.Name(), objKind(obj), pg.where(obj.Pos()))
			return nil
		}
		if pg.taken[base] && pg.funcs[base] != nil || pg.importNames[base] != "" {
			pg.errorf(at.Pos(), "the decorator name %s of interface %s is taken", base, tn.Name())
			return nil
		}
		pg.taken[base] = true
		*n = base
	}
	pg.decorators[ts] = d
	fg.decorators = append(fg.decorators, d)
	return d
}

// decoratorRecv is the receiver type of the decorator's methods:
// *<Interface>Idem, instantiated with the interface's type parameters.
func (em *emitter) decoratorRecv(d *decorator) *jen.Statement {
	t := em.id(d.name)
	if tps := d.typeParams(); tps.Len() > 0 {
		t = t.Types(typeParamNames(tpSlice(tps))...)
	}
	return jen.Op("*").Add(t)
}

// decoratorCode renders the decorator type, its constructor, the
// compile-time assertion that it implements the interface, and a
// delegating method for every method that has no directives.
func (em *emitter) decoratorCode(d *decorator, sc *names) []jen.Code {
	tps := d.typeParams()
	ifaceT := em.id(d.iface.Name())
	if tps.Len() > 0 {
		ifaceT = ifaceT.Types(typeParamNames(tpSlice(tps))...)
	}
	inner := "inner"
	var out []jen.Code
	out = append(out,
		jen.Comment(commentLines(wrapText(d.name+" implements ["+d.iface.Name()+"] on an inner implementation: the methods with idem directives run at most once per key through the idem runtime, the others call the inner implementation directly. Build it with ["+d.ctor+"].", 76, "", ""))),
	)
	typ := jen.Type().Id(d.name)
	if tps.Len() > 0 {
		typ = typ.Types(em.typeParamDecls(tpSlice(tps))...)
	}
	out = append(out, typ.Struct(jen.Id(inner).Add(ifaceT.Clone())), jen.Line())
	out = append(out, jen.Comment(commentLines(wrapText(d.ctor+" returns a "+d.name+" that decorates inner: callers keep using the "+d.iface.Name()+" interface, and tests keep their mocks by passing them as inner.", 76, "", ""))))
	ctor := jen.Func().Id(d.ctor)
	if tps.Len() > 0 {
		ctor = ctor.Types(em.typeParamDecls(tpSlice(tps))...)
	}
	recvT := em.decoratorRecv(d)
	ctor = ctor.Params(jen.Id(inner).Add(ifaceT.Clone())).Add(recvT.Clone()).Block(
		jen.Return(jen.Op("&").Add(em.id(d.name)).Add(func() *jen.Statement {
			if tps.Len() > 0 {
				return jen.Types(typeParamNames(tpSlice(tps))...)
			}
			return jen.Null()
		}()).Values(jen.Id(inner).Op(":").Id(inner))),
	)
	out = append(out, ctor, jen.Line())
	if tps.Len() == 0 {
		out = append(out, jen.Var().Id("_").Add(ifaceT.Clone()).Op("=").Parens(recvT.Clone()).Parens(em.id("nil")), jen.Line())
	} else {
		out = append(out, jen.Func().Id("_").Types(em.typeParamDecls(tpSlice(tps))...).Params().Block(
			jen.Var().Id("_").Add(ifaceT.Clone()).Op("=").Parens(recvT.Clone()).Parens(em.id("nil")),
		), jen.Line())
	}
	iface := d.named.Underlying().(*types.Interface)
	recv := sc.fresh(recvBase(d.name))
	for i := 0; i < iface.NumMethods(); i++ {
		m := iface.Method(i)
		if d.wrapped[m.Name()] != nil {
			continue
		}
		sig := m.Type().(*types.Signature)
		params := make([]jen.Code, sig.Params().Len())
		args := make([]jen.Code, sig.Params().Len())
		var local []string
		for j := range params {
			base := sig.Params().At(j).Name()
			if base == "" || base == "_" {
				base = "p" + strconv.Itoa(j)
			}
			name := sc.fresh(base)
			local = append(local, name)
			t := sig.Params().At(j).Type()
			if sig.Variadic() && j == len(params)-1 {
				params[j] = jen.Id(name).Op("...").Add(em.typ(t.(*types.Slice).Elem()))
				args[j] = jen.Id(name).Op("...")
			} else {
				params[j] = jen.Id(name).Add(em.typ(t))
				args[j] = jen.Id(name)
			}
		}
		for _, n := range local {
			sc.release(n)
		}
		call := jen.Id(recv).Dot(inner).Dot(m.Name()).Call(args...)
		var body jen.Code = call
		if sig.Results().Len() > 0 {
			body = jen.Return(call)
		}
		fn := em.withResults(jen.Func().Params(jen.Id(recv).Add(recvT.Clone())).Id(m.Name()).Params(params...), sig.Results())
		out = append(out,
			jen.Comment("// "+m.Name()+" calls the inner implementation's "+m.Name()+": it has no idem directives."),
			fn.Block(body), jen.Line())
	}
	return out
}
