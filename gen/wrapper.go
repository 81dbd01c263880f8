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
		fn = fn.Params(jen.Id(wn.recv).Add(em.typ(w.recv.Type())))
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
			params[i] = jen.Id(wn.handle).Add(em.handleType(w.txKind))
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
		g.Var().List(jen.Id(wn.key), jen.Id(wn.fp)).Add(em.rt("Encoder"))
		g.Add(key.call("Begin", spec().Dot("Namespace"), spec().Dot("Version")))
		for _, p := range w.key {
			em.encodePart(g, key, p, wn.params, true)
		}
		g.Add(fp.call("Begin", spec().Dot("Namespace"), spec().Dot("Version")))
		for _, p := range w.fp {
			em.encodePart(g, fp, p, wn.params, false)
		}

		// The call of the original, inside the closure.
		var callee *jen.Statement
		if w.recv != nil {
			callee = jen.Id(wn.recv).Dot(w.fn.Name())
		} else {
			callee = em.id(w.fn.Name())
			if tps := w.sig.TypeParams(); tps.Len() > 0 {
				args := make([]jen.Code, tps.Len())
				for i := range args {
					args[i] = jen.Id(tps.At(i).Obj().Name())
				}
				callee = callee.Types(args...)
			}
		}
		args := make([]jen.Code, len(w.params))
		for i, p := range w.params {
			a := jen.Id(wn.params[i])
			if p.variadic {
				a = a.Op("...")
			}
			args[i] = a
		}
		call := callee.Call(args...)

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
	out = append(out, fn)
	return out
}
