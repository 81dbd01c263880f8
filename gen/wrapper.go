package gen

// The wrapper function.

import (
	"go/types"
	"strconv"

	"github.com/dave/jennifer/jen"
)

// wrapperCode renders the spec variable and the wrapper function.
func (em *emitter) wrapperCode(w *wrapper, wn *wnames) []jen.Code {
	var out []jen.Code
	out = append(out,
		jen.Comment(em.specDoc(w)),
		jen.Var().Add(em.id(w.specVar)).Op("=").Add(em.specCode(w)),
		jen.Line(),
		jen.Comment(commentLines(w.doc(em.file.runtimeName()))),
	)

	fn := jen.Func()
	if w.recv != nil {
		fn = fn.Params(em.recvDecl(w, wn))
	}
	fn = fn.Id(w.name)
	if tps := w.sig.TypeParams(); tps.Len() > 0 {
		decls := make([]jen.Code, tps.Len())
		for i := range decls {
			tp := tps.At(i)
			decls[i] = jen.Id(tp.Obj().Name()).Add(em.constraint(tp.Constraint()))
		}
		fn = fn.Types(decls...)
	}
	params := make([]jen.Code, len(w.params))
	for i, p := range w.params {
		if p == w.tx {
			params[i] = jen.Id(wn.handle).Add(em.handleType(w))
			continue
		}
		if p.variadic {
			params[i] = jen.Id(wn.params[i]).Op("...").Add(em.typ(p.typ.(*types.Slice).Elem()))
		} else {
			params[i] = jen.Id(wn.params[i]).Add(em.typ(p.typ))
		}
	}
	fn = fn.Params(params...)
	named := false
	for _, n := range wn.results {
		named = named || n != ""
	}
	if len(w.results) == 1 && !named {
		fn = fn.Add(em.typ(w.results[0].Type()))
	} else {
		rs := make([]jen.Code, len(w.results))
		for i, r := range w.results {
			if named {
				rs[i] = jen.Id(wn.results[i]).Add(em.typ(r.Type()))
			} else {
				rs[i] = em.typ(r.Type())
			}
		}
		fn = fn.Params(rs...)
	}

	spec := func() *jen.Statement { return em.id(w.specVar) }
	key, fp := encRef{wn.key, true}, encRef{wn.fp, true}
	nres := len(w.results) - 1
	// The closure returns the results as one value: struct{ R0 T } inline
	// for one result, a local type for more (gofmt would spread an inline
	// struct of several fields over many lines, twice).
	resultStruct := func() *jen.Statement {
		switch nres {
		case 0:
			return jen.Struct()
		case 1:
			return jen.Op("struct{").Id("R0").Add(em.typ(w.results[0].Type())).Op("}")
		}
		return jen.Id(wn.resultsType)
	}
	fn = fn.BlockFunc(func(g *jen.Group) {
		if nres > 1 {
			fields := make([]jen.Code, nres)
			for i := range fields {
				fields[i] = jen.Id("R" + strconv.Itoa(i)).Add(em.typ(w.results[i].Type()))
			}
			g.Type().Id(wn.resultsType).Struct(fields...)
		}
		if w.ifEmpty {
			g.If(em.emptyKey(w, wn)).Block(jen.Return(em.originalCall(w, wn)))
		}
		g.Var().List(jen.Id(wn.key), jen.Id(wn.fp)).Add(em.rt("Encoder"))
		g.Add(em.encodeKeyCall(w, wn, key.ptr()))
		g.Add(fp.call("Begin", spec().Dot("Namespace"), spec().Dot("Version")))
		for _, p := range w.fp {
			em.encodePart(g, fp, p, wn, false)
		}

		call := em.originalCall(w, wn)

		ctxType := em.qual("context", "context", "Context")
		var ctxArg, ctxParam *jen.Statement
		if w.ctx != nil {
			name := wn.params[w.ctx.idx]
			ctxArg, ctxParam = jen.Id(name), jen.Id(name).Add(ctxType)
		} else {
			ctxArg, ctxParam = em.qual("context", "context", "Background").Call(), ctxType
		}
		closureParams := []jen.Code{ctxParam}
		if w.tx != nil {
			if w.ctx == nil {
				closureParams[0] = jen.Id("_").Add(ctxType)
			}
			closureParams = append(closureParams, jen.Id(wn.params[w.tx.idx]).Add(em.typ(w.tx.typ)))
		}
		closure := jen.Func().Params(closureParams...).Params(resultStruct(), em.id("error")).BlockFunc(func(g *jen.Group) {
			if nres == 0 {
				g.Return(resultStruct().Values(), call)
				return
			}
			lhs := make([]jen.Code, 0, nres+1)
			vals := make([]jen.Code, 0, nres)
			for _, r := range wn.rs {
				lhs = append(lhs, jen.Id(r))
				vals = append(vals, jen.Id(r))
			}
			lhs = append(lhs, jen.Id(wn.err))
			g.List(lhs...).Op(":=").Add(call)
			g.Return(resultStruct().Values(vals...), jen.Id(wn.err))
		})
		g.Id(wn.run).Op(":=").Add(closure)
		do := em.doCall(w, wn, ctxArg, jen.Op("&").Add(spec()), key.ptr(), fp.ptr())
		if nres == 0 {
			g.List(jen.Id("_"), jen.Id(wn.err)).Op(":=").Add(do)
			g.Return(jen.Id(wn.err))
			return
		}
		g.List(jen.Id(wn.res), jen.Id(wn.err)).Op(":=").Add(do)
		rets := make([]jen.Code, 0, nres+1)
		for i := 0; i < nres; i++ {
			rets = append(rets, jen.Id(wn.res).Dot("R"+strconv.Itoa(i)))
		}
		rets = append(rets, jen.Id(wn.err))
		g.Return(rets...)
	})
	out = append(out, fn, jen.Line())
	return append(out, em.keyCode(w, wn)...)
}

// recvDecl declares the wrapper's receiver: the marked method's, or the
// decorator for a method of an interface.
func (em *emitter) recvDecl(w *wrapper, wn *wnames) *jen.Statement {
	if w.deco != nil {
		return jen.Id(wn.recv).Add(em.decoratorRecv(w.deco))
	}
	return jen.Id(wn.recv).Add(em.typ(w.recv.Type()))
}

// originalCall is the call of the wrapped function with the wrapper's
// arguments.
func (em *emitter) originalCall(w *wrapper, wn *wnames) *jen.Statement {
	var callee *jen.Statement
	first := 0
	if w.ext != nil {
		callee, first = em.externalCallee(w, wn)
	} else if w.deco != nil {
		callee = jen.Id(wn.recv).Dot("inner").Dot(w.fn.Name())
	} else if w.recv != nil {
		callee = jen.Id(wn.recv).Dot(w.fn.Name())
	} else {
		callee = em.id(w.fn.Name())
		if tps := w.sig.TypeParams(); tps.Len() > 0 {
			callee = callee.Types(typeParamNames(tpSlice(tps))...)
		}
	}
	var args []jen.Code
	for i, p := range w.params[first:] {
		a := jen.Id(wn.params[first+i])
		if p.variadic {
			a = a.Op("...")
		}
		args = append(args, a)
	}
	return callee.Call(args...)
}

func typeParamNames(tps []*types.TypeParam) []jen.Code {
	out := make([]jen.Code, len(tps))
	for i, tp := range tps {
		out[i] = jen.Id(tp.Obj().Name())
	}
	return out
}

// tpSlice returns the type parameters of a list.
func tpSlice(l *types.TypeParamList) []*types.TypeParam {
	out := make([]*types.TypeParam, l.Len())
	for i := range out {
		out[i] = l.At(i)
	}
	return out
}

// keyTypeParams are the type parameters the key's encoding function
// needs: those its parameters (the key parameters, and the receiver when
// the key reads it) mention, and those their constraints mention. Key
// helpers of generic functions thus need no explicit instantiation for a
// key that does not depend on a type parameter.
func (w *wrapper) keyTypeParams() []*types.TypeParam {
	all := tpSlice(w.helperTypeParams())
	if len(all) == 0 {
		return nil
	}
	need := map[*types.TypeParam]bool{}
	var mark func(t types.Type)
	mark = func(t types.Type) {
		walkType(t, func(t types.Type) bool {
			if tp, ok := t.(*types.TypeParam); ok && !need[tp] {
				need[tp] = true
				mark(tp.Constraint())
			}
			return true
		})
	}
	for _, p := range w.keyParams {
		mark(p.typ)
	}
	if w.keyRecv {
		mark(w.recv.Type())
	}
	var out []*types.TypeParam
	for _, tp := range all {
		if need[tp] {
			out = append(out, tp)
		}
	}
	return out
}

// helperTypeParams are the type parameters of the key's encoding
// function: the function's, or the receiver type's for a method.
func (w *wrapper) helperTypeParams() *types.TypeParamList {
	if w.deco != nil {
		return w.deco.typeParams()
	}
	if w.recv != nil {
		return w.sig.RecvTypeParams()
	}
	return w.sig.TypeParams()
}

// encodeKeyCall is the call of the key's encoding function with enc and
// the wrapper's (or key helper's) arguments.
func (em *emitter) encodeKeyCall(w *wrapper, wn *wnames, enc jen.Code) *jen.Statement {
	callee := em.id(w.encodeFunc)
	if tps := w.keyTypeParams(); len(tps) > 0 {
		callee = callee.Types(typeParamNames(tps)...)
	}
	args := []jen.Code{enc}
	if w.keyRecv {
		args = append(args, jen.Id(wn.recv))
	}
	for _, p := range w.keyParams {
		a := jen.Id(wn.params[p.idx])
		if p.variadic {
			a = a.Op("...")
		}
		args = append(args, a)
	}
	return callee.Call(args...)
}

// keyParamDecls declares the key parameters, as the wrapper names them.
func (em *emitter) keyParamDecls(w *wrapper, wn *wnames) []jen.Code {
	var out []jen.Code
	for _, p := range w.keyParams {
		if p.variadic {
			out = append(out, jen.Id(wn.params[p.idx]).Op("...").Add(em.typ(p.typ.(*types.Slice).Elem())))
		} else {
			out = append(out, jen.Id(wn.params[p.idx]).Add(em.typ(p.typ)))
		}
	}
	return out
}

// typeParamDecls declares type parameters with their constraints.
func (em *emitter) typeParamDecls(tps []*types.TypeParam) []jen.Code {
	decls := make([]jen.Code, len(tps))
	for i, tp := range tps {
		decls[i] = jen.Id(tp.Obj().Name()).Add(em.constraint(tp.Constraint()))
	}
	return decls
}

// keyCode renders the key's encoding function, which the wrapper and the
// key helper both call, and the key helper.
func (em *emitter) keyCode(w *wrapper, wn *wnames) []jen.Code {
	enc := encRef{name: wn.key}
	tps := w.keyTypeParams()
	params := []jen.Code{jen.Id(wn.key).Op("*").Add(em.rt("Encoder"))}
	if w.keyRecv {
		params = append(params, jen.Id(wn.recv).Add(em.typ(w.recv.Type())))
	}
	params = append(params, em.keyParamDecls(w, wn)...)
	encFn := jen.Func().Id(w.encodeFunc)
	if len(tps) > 0 {
		encFn = encFn.Types(em.typeParamDecls(tps)...)
	}
	encFn = encFn.Params(params...).BlockFunc(func(g *jen.Group) {
		g.Add(enc.call("Begin", em.id(w.specVar).Dot("Namespace"), em.id(w.specVar).Dot("Version")))
		for _, p := range w.key {
			em.encodePart(g, enc, p, wn, true)
		}
	})

	rt := em.file.runtimeName()
	doc := w.keyFunc + " returns the key that " + w.name + " derives for a call with these arguments: 64 hexadecimal characters, the value of [" + rt + ".KeyFrom] inside the call and the key of its record in the store (idem show). It is the key without a scope: under [" + rt + ".WithScope] the call's key differs. It returns \"\" when the arguments cannot be encoded (the call would fail with [" + rt + ".ErrInvalidKey])."
	if w.recv != nil && !w.keyRecv {
		doc += " The key reads no field of the receiver: any value of it, the zero value too, gives the same key."
	}
	helper := jen.Func()
	if w.recv != nil {
		helper = helper.Params(em.recvDecl(w, wn))
	}
	helper = helper.Id(w.keyFunc)
	if w.recv == nil && len(tps) > 0 {
		helper = helper.Types(em.typeParamDecls(tps)...)
	}
	helper = helper.Params(em.keyParamDecls(w, wn)...).Add(em.id("string")).Block(
		jen.Var().Id(wn.key).Add(em.rt("Encoder")),
		em.encodeKeyCall(w, wn, jen.Op("&").Id(wn.key)),
		jen.Return(jen.Id(wn.key).Dot("KeyString").Call()),
	)
	return []jen.Code{
		jen.Comment("// " + w.encodeFunc + " writes the key of " + w.name + " to " + wn.key + "."),
		encFn,
		jen.Line(),
		jen.Comment(commentLines(wrapText(doc, 76, "", ""))),
		helper,
	}
}

// emptyKey is the condition under which every key part that is not a
// constant is empty (if-empty=run): its zero value, or a nil pointer on
// its path.
func (em *emitter) emptyKey(w *wrapper, wn *wnames) *jen.Statement {
	var terms []*jen.Statement
	for _, p := range w.key {
		if p.konst != nil {
			continue
		}
		x, conds := em.partExpr(p, wn)
		t := jen.Null()
		for _, c := range conds {
			t = t.Add(c).Op("||")
		}
		t = t.Add(em.isZero(x, p.typ))
		if len(conds) > 0 && len(w.key) > 1 {
			t = jen.Parens(t)
		}
		terms = append(terms, t)
	}
	cond := terms[0]
	for _, t := range terms[1:] {
		cond = cond.Op("&&").Add(t)
	}
	return cond
}

// isZero compares x, of type t, with its zero value (zeroTestable(t)).
func (em *emitter) isZero(x *jen.Statement, t types.Type) *jen.Statement {
	t = types.Unalias(t)
	if isTime(t) {
		return jen.Add(x).Dot("IsZero").Call()
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsString != 0:
			return jen.Add(x).Op("==").Lit("")
		case u.Info()&types.IsBoolean != 0:
			return jen.Op("!").Add(x)
		}
		return jen.Add(x).Op("==").Lit(0)
	case *types.Slice, *types.Map:
		return em.id("len").Call(x).Op("==").Lit(0)
	case *types.Struct, *types.Array:
		return jen.Add(x).Op("==").Parens(em.typ(t).Values())
	}
	return jen.Add(x).Op("==").Add(em.id("nil"))
}
