package gen

import (
	"go/token"
	"go/types"
	"slices"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
)

// names allocates local identifiers that clash with nothing taken.
type names struct {
	taken    map[string]bool
	reserved []map[string]bool // read-only sets of taken names, not copied
	// handed records every name given out by fresh or keep, so that a
	// caller can tell whether the same allocation is valid against a
	// larger reserved set.
	handed map[string]bool
}

func newNames(reserved ...map[string]bool) *names {
	return &names{taken: map[string]bool{}, reserved: reserved, handed: map[string]bool{}}
}

// reserve adds a read-only set of taken names.
func (n *names) reserve(r map[string]bool) { n.reserved = append(n.reserved, r) }

func (n *names) isTaken(name string) bool {
	if n.taken[name] {
		return true
	}
	for _, r := range n.reserved {
		if r[name] {
			return true
		}
	}
	return false
}

// take reserves a name without handing it out.
func (n *names) take(name string) { n.taken[name] = true }

// keep hands out a declared name.
func (n *names) keep(name string) {
	n.taken[name] = true
	n.handed[name] = true
}

// release frees a name taken by fresh once its scope (a loop) has ended.
func (n *names) release(name string) { delete(n.taken, name) }

// fresh returns base, or base2, base3… when taken, and takes it.
func (n *names) fresh(base string) string {
	name := base
	for i := 2; n.isTaken(name) || isKeyword(name); i++ {
		name = base + strconv.Itoa(i)
	}
	n.taken[name] = true
	n.handed[name] = true
	return name
}

// valid reports whether no name handed out is in reserved: then allocating
// again with reserved taken from the start hands out the same names.
func (n *names) valid(reserved ...map[string]bool) bool {
	for name := range n.handed {
		for _, r := range reserved {
			if r[name] {
				return false
			}
		}
	}
	return true
}

func isKeyword(s string) bool { return token.IsKeyword(s) }

// emitter builds the code of one wrapper or helper. It records every
// package-level or predeclared name the code refers to without a qualifier
// (used) and every package it imports, so that the final pass can choose
// local and import names that shadow none of them.
type emitter struct {
	pg      *pkgGen
	file    *fileGen
	used    map[string]bool
	imports map[string]string // path → package name
	scope   *names
}

func (fg *fileGen) newEmitter(scope *names) *emitter {
	return &emitter{pg: fg.pg, file: fg, used: map[string]bool{}, imports: map[string]string{}, scope: scope}
}

// id refers to a package-level or predeclared name.
func (em *emitter) id(name string) *jen.Statement {
	em.used[name] = true
	return jen.Id(name)
}

// qual refers to name in the package path (named pkgName).
func (em *emitter) qual(path, pkgName, name string) *jen.Statement {
	if path == em.pg.tpkg.Path() {
		return em.id(name)
	}
	em.imports[path] = pkgName
	return jen.Qual(path, name)
}

func (em *emitter) rt(name string) *jen.Statement { return em.qual(runtimePath, "runtime", name) }

// obj refers to a type name.
func (em *emitter) obj(o *types.TypeName) *jen.Statement {
	if o.Pkg() == nil {
		return em.id(o.Name())
	}
	return em.qual(o.Pkg().Path(), o.Pkg().Name(), o.Name())
}

func (em *emitter) typeList(l *types.TypeList) []jen.Code {
	out := make([]jen.Code, l.Len())
	for i := range out {
		out[i] = em.typ(l.At(i))
	}
	return out
}

// typ renders a type.
func (em *emitter) typ(t types.Type) *jen.Statement {
	switch t := t.(type) {
	case *types.Alias:
		s := em.obj(t.Obj())
		if args := t.TypeArgs(); args != nil && args.Len() > 0 {
			s = s.Types(em.typeList(args)...)
		}
		return s
	case *types.Named:
		s := em.obj(t.Obj())
		if args := t.TypeArgs(); args != nil && args.Len() > 0 {
			s = s.Types(em.typeList(args)...)
		}
		return s
	case *types.TypeParam:
		return em.id(t.Obj().Name())
	case *types.Basic:
		if t.Kind() == types.UnsafePointer {
			return em.qual("unsafe", "unsafe", "Pointer")
		}
		return em.id(t.Name())
	case *types.Pointer:
		return jen.Op("*").Add(em.typ(t.Elem()))
	case *types.Slice:
		return jen.Index().Add(em.typ(t.Elem()))
	case *types.Array:
		return jen.Index(jen.Op(strconv.FormatInt(t.Len(), 10))).Add(em.typ(t.Elem()))
	case *types.Map:
		return jen.Map(em.typ(t.Key())).Add(em.typ(t.Elem()))
	case *types.Chan:
		elem := em.typ(t.Elem())
		switch t.Dir() {
		case types.SendOnly:
			return jen.Chan().Op("<-").Add(elem)
		case types.RecvOnly:
			return jen.Op("<-").Chan().Add(elem)
		}
		if c, ok := t.Elem().(*types.Chan); ok && c.Dir() == types.RecvOnly {
			return jen.Chan().Parens(elem)
		}
		return jen.Chan().Add(elem)
	case *types.Signature:
		return jen.Func().Add(em.signature(t))
	case *types.Struct:
		fields := make([]jen.Code, t.NumFields())
		for i := range fields {
			f := t.Field(i)
			var s *jen.Statement
			if f.Embedded() {
				s = em.typ(f.Type())
			} else {
				s = jen.Id(f.Name()).Add(em.typ(f.Type()))
			}
			if tag := t.Tag(i); tag != "" {
				s = s.Op(strconv.Quote(tag))
			}
			fields[i] = s
		}
		return jen.Struct(fields...)
	case *types.Interface:
		if t.IsImplicit() && t.NumEmbeddeds() == 1 {
			return em.typ(t.EmbeddedType(0))
		}
		var items []jen.Code
		for i := 0; i < t.NumEmbeddeds(); i++ {
			items = append(items, em.typ(t.EmbeddedType(i)))
		}
		for i := 0; i < t.NumExplicitMethods(); i++ {
			m := t.ExplicitMethod(i)
			items = append(items, jen.Id(m.Name()).Add(em.signature(m.Type().(*types.Signature))))
		}
		return jen.Interface(items...)
	case *types.Union:
		terms := make([]jen.Code, t.Len())
		for i := range terms {
			term := t.Term(i)
			if term.Tilde() {
				terms[i] = jen.Op("~").Add(em.typ(term.Type()))
			} else {
				terms[i] = em.typ(term.Type())
			}
		}
		return jen.Union(terms...)
	}
	// Unreachable for types that can appear in a signature.
	return jen.Id(t.String())
}

// signature renders the parameter and result lists of a func type.
func (em *emitter) signature(s *types.Signature) *jen.Statement {
	params := make([]jen.Code, s.Params().Len())
	for i := range params {
		t := s.Params().At(i).Type()
		if s.Variadic() && i == len(params)-1 {
			params[i] = jen.Op("...").Add(em.typ(t.(*types.Slice).Elem()))
		} else {
			params[i] = em.typ(t)
		}
	}
	return em.withResults(jen.Params(params...), s.Results())
}

// withResults appends a result list (without names) to st.
func (em *emitter) withResults(st *jen.Statement, r *types.Tuple) *jen.Statement {
	switch r.Len() {
	case 0:
	case 1:
		st = st.Add(em.typ(r.At(0).Type()))
	default:
		rs := make([]jen.Code, r.Len())
		for i := range rs {
			rs[i] = em.typ(r.At(i).Type())
		}
		st = st.Params(rs...)
	}
	return st
}

// constraint renders a type parameter's constraint.
func (em *emitter) constraint(t types.Type) *jen.Statement {
	return em.typ(t)
}

// encRef is an Encoder in generated code: a local variable (value) or a
// parameter of type *Encoder.
type encRef struct {
	name    string
	isValue bool
}

func (r encRef) call(method string, args ...jen.Code) *jen.Statement {
	return jen.Id(r.name).Dot(method).Call(args...)
}

func (r encRef) ptr() *jen.Statement {
	if r.isValue {
		return jen.Op("&").Id(r.name)
	}
	return jen.Id(r.name)
}

// basicMethod returns the Encoder method and the predeclared type of a
// basic kind.
func basicMethod(k types.BasicKind) (method, conv string) {
	switch k {
	case types.Bool:
		return "Bool", "bool"
	case types.Int:
		return "Int", "int"
	case types.Int8:
		return "Int8", "int8"
	case types.Int16:
		return "Int16", "int16"
	case types.Int32:
		return "Int32", "int32"
	case types.Int64:
		return "Int64", "int64"
	case types.Uint:
		return "Uint", "uint"
	case types.Uint8:
		return "Uint8", "uint8"
	case types.Uint16:
		return "Uint16", "uint16"
	case types.Uint32:
		return "Uint32", "uint32"
	case types.Uint64:
		return "Uint64", "uint64"
	case types.Uintptr:
		return "Uintptr", "uintptr"
	case types.Float32:
		return "Float32", "float32"
	case types.Float64:
		return "Float64", "float64"
	case types.Complex64:
		return "Complex64", "complex64"
	case types.Complex128:
		return "Complex128", "complex128"
	case types.String:
		return "String", "string"
	}
	return "", ""
}

// needsParens reports whether *x must be parenthesised before it is
// indexed or has a field selected (true unless the pointee is a scalar
// passed whole to an Encoder method).
func (em *emitter) needsParens(elem types.Type) bool {
	elem = types.Unalias(elem)
	if _, ok := elem.(*types.TypeParam); ok {
		return false
	}
	if isTime(elem) || isDuration(elem) {
		return false
	}
	if n, ok := elem.(*types.Named); ok && em.pg.isRecursive(n) {
		return false
	}
	_, basic := elem.Underlying().(*types.Basic)
	return !basic
}

// encode appends to g the statements that write x, of type t, to enc.
// A recursive named type is written by a call to its helper function
// unless top is set (the helper's own body).
func (em *emitter) encode(g *jen.Group, enc encRef, x *jen.Statement, t types.Type, top bool) {
	t = types.Unalias(t)
	if _, ok := t.(*types.TypeParam); ok {
		g.Add(enc.call("Value", x))
		return
	}
	if isTime(t) {
		g.Add(enc.call("Time", x))
		return
	}
	if m := keyMarshal(t, em.pg.tpkg); m != "" {
		em.encodeMarshaled(g, enc, x, t, m)
		return
	}
	if isDuration(t) {
		g.Add(enc.call("Duration", x))
		return
	}
	if n, ok := t.(*types.Named); ok && !top && em.pg.isRecursive(n) {
		h := em.pg.helpers.get(n, em.file)
		g.Add(em.id(h.name).Call(enc.ptr(), x))
		return
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		method, conv := basicMethod(u.Kind())
		arg := x
		if _, isBasic := t.(*types.Basic); !isBasic {
			arg = em.id(conv).Call(x)
		}
		g.Add(enc.call(method, arg))
	case *types.Pointer:
		g.If(jen.Add(x).Op("==").Add(em.id("nil"))).Block(
			enc.call("Nil"),
		).Else().BlockFunc(func(g *jen.Group) {
			g.Add(enc.call("Pointer"))
			elem := types.Unalias(u.Elem())
			if st, ok := elem.Underlying().(*types.Struct); ok && !isTime(elem) && !isTimeShaped(st) && !em.isHelperType(elem) {
				em.encodeStruct(g, enc, x, st) // selectors dereference x
				return
			}
			d := jen.Op("*").Add(x)
			if em.needsParens(elem) {
				d = jen.Parens(d)
			}
			em.encode(g, enc, d, elem, false)
		})
	case *types.Slice:
		if b, ok := types.Unalias(u.Elem()).Underlying().(*types.Basic); ok && b.Kind() == types.Uint8 {
			if _, plain := types.Unalias(u.Elem()).(*types.Basic); plain {
				g.Add(enc.call("Bytes", x)) // []byte, or a named type of it
				return
			}
			// []B for a named byte type B: copy into a []byte.
			buf, i := em.scope.fresh("b"), em.scope.fresh("i")
			g.Id(buf).Op(":=").Add(em.id("make")).Call(jen.Index().Add(em.id("byte")), em.id("len").Call(x))
			g.For(jen.Id(i).Op(":=").Range().Add(x)).Block(
				jen.Id(buf).Index(jen.Id(i)).Op("=").Add(em.id("byte")).Call(jen.Add(x).Index(jen.Id(i))),
			)
			em.scope.release(i)
			g.Add(enc.call("Bytes", jen.Id(buf)))
			return
		}
		em.encodeList(g, enc, x, u.Elem())
	case *types.Array:
		i := em.scope.fresh("i")
		g.Add(enc.call("Array", jen.Lit(int(u.Len()))))
		g.For(jen.Id(i).Op(":=").Range().Add(x)).BlockFunc(func(g *jen.Group) {
			g.Add(enc.call("Elem"))
			em.encode(g, enc, jen.Add(x).Index(jen.Id(i)), u.Elem(), false)
		})
		em.scope.release(i)
		g.Add(enc.call("EndArray"))
	case *types.Map:
		k, v := em.scope.fresh("k"), em.scope.fresh("v")
		g.Add(enc.call("Map", em.id("len").Call(x)))
		g.For(jen.List(jen.Id(k), jen.Id(v)).Op(":=").Range().Add(x)).BlockFunc(func(g *jen.Group) {
			g.Add(enc.call("MapKey"))
			em.encode(g, enc, jen.Id(k), u.Key(), false)
			g.Add(enc.call("MapValue"))
			em.encode(g, enc, jen.Id(v), u.Elem(), false)
		})
		em.scope.release(k)
		em.scope.release(v)
		g.Add(enc.call("MapEnd"))
	case *types.Struct:
		if isTimeShaped(u) {
			g.Add(enc.call("Time", em.qual("time", "time", "Time").Call(x)))
			return
		}
		em.encodeStruct(g, enc, x, u)
	}
}

// encodeMarshaled writes a value whose structure cannot be encoded through
// its marshaled bytes (keyMarshal): a nil pointer or interface is Nil, a
// pointer is marked as such.
func (em *emitter) encodeMarshaled(g *jen.Group, enc encRef, x *jen.Statement, t types.Type, m string) {
	write := func(g *jen.Group) {
		if m == marshalProto {
			g.Add(em.qual(idemprotoPath, "idemproto", "EncodeKey").Call(enc.ptr(), x))
			return
		}
		g.Add(enc.call("Text", x))
	}
	switch t.Underlying().(type) {
	case *types.Pointer:
		g.If(jen.Add(x).Op("==").Add(em.id("nil"))).Block(enc.call("Nil")).Else().BlockFunc(func(g *jen.Group) {
			g.Add(enc.call("Pointer"))
			write(g)
		})
	case *types.Interface:
		g.If(jen.Add(x).Op("==").Add(em.id("nil"))).Block(enc.call("Nil")).Else().BlockFunc(write)
	default:
		write(g)
	}
}

// idemprotoPath is the import path of the package that encodes protobuf
// messages in keys; only wrappers with such key or fingerprint parts
// import it, so the runtime links no protobuf.
const idemprotoPath = "github.com/idem-go/idem/runtime/idemproto"

func (em *emitter) isHelperType(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && em.pg.isRecursive(n)
}

func (em *emitter) encodeList(g *jen.Group, enc encRef, x *jen.Statement, elem types.Type) {
	i := em.scope.fresh("i")
	g.Add(enc.call("List", em.id("len").Call(x)))
	g.For(jen.Id(i).Op(":=").Range().Add(x)).BlockFunc(func(g *jen.Group) {
		em.encode(g, enc, jen.Add(x).Index(jen.Id(i)), elem, false)
	})
	em.scope.release(i)
}

// encodeStruct writes a struct's fields by name, sorted by name as the key
// encoding requires (blank fields skipped); the Encoder leaves out the
// fields whose values are zero.
func (em *emitter) encodeStruct(g *jen.Group, enc encRef, x *jen.Statement, st *types.Struct) {
	var fields []*types.Var
	for i := 0; i < st.NumFields(); i++ {
		if f := st.Field(i); f.Name() != "_" {
			fields = append(fields, f)
		}
	}
	slices.SortFunc(fields, func(a, b *types.Var) int { return strings.Compare(a.Name(), b.Name()) })
	g.Add(enc.call("Struct"))
	for _, f := range fields {
		g.Add(enc.call("Field", jen.Lit(f.Name())))
		em.encode(g, enc, jen.Add(x).Dot(f.Name()), f.Type(), false)
	}
	g.Add(enc.call("EndStruct"))
}

// partExpr returns the expression of a part's value and the conditions
// under which it is nil because a nil pointer lies on its path.
func (em *emitter) partExpr(p *part, wn *wnames) (*jen.Statement, []jen.Code) {
	if p.konst != nil {
		return jen.Op(p.konst.Text), nil
	}
	var x *jen.Statement
	if p.recv {
		x = jen.Id(wn.recv)
	} else {
		x = jen.Id(wn.params[p.param.idx])
	}
	var conds []jen.Code
	for _, s := range p.steps {
		for k := 0; k < s.checks; k++ {
			c := jen.Add(x)
			if k > 0 {
				c = jen.Op(strings.Repeat("*", k)).Add(x)
			}
			conds = append(conds, c.Op("==").Add(em.id("nil")))
		}
		if s.stars > 0 {
			x = jen.Parens(jen.Op(strings.Repeat("*", s.stars)).Add(x))
		}
		switch {
		case s.field != nil:
			x = jen.Add(x).Dot(s.field.Name())
		case s.method != "":
			x = jen.Add(x).Dot(s.method).Call()
		default:
			x = jen.Add(x).Index(jen.Op(s.index.Text))
		}
	}
	return x, conds
}

// encodePart appends the statements that write a key or fingerprint part.
// A nil pointer crossed on the way to the path's last selector makes a key
// fail (NilPath: calls with different arguments must not share a key) and
// writes Nil for the whole part of a fingerprint.
func (em *emitter) encodePart(g *jen.Group, enc encRef, p *part, wn *wnames, isKey bool) {
	x, conds := em.partExpr(p, wn)
	write := func(g *jen.Group) {
		if _, basic := p.typ.Underlying().(*types.Basic); !basic && p.callsOrIndexes() {
			// Evaluate a getter or map entry once, not per element.
			v := em.scope.fresh("v")
			g.Id(v).Op(":=").Add(x)
			x = jen.Id(v)
		}
		em.encode(g, enc, x, p.typ, false)
	}
	if len(conds) == 0 {
		write(g)
		return
	}
	cond := jen.Add(conds[0])
	for _, c := range conds[1:] {
		cond = cond.Op("||").Add(c)
	}
	onNil := enc.call("Nil")
	if isKey {
		onNil = enc.call("NilPath", jen.Lit(p.display))
	}
	g.If(cond).Block(onNil).Else().BlockFunc(write)
}
