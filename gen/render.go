package gen

import (
	"bytes"
	"fmt"
	"go/types"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/idem-go/idem/annotations"
)

// helper is the encoding function of a recursive named type.
type helper struct {
	named *types.Named
	name  string
	file  *fileGen // the generated file that declares it
}

// helperSet holds a package's helpers, one per type.
type helperSet struct {
	pg     *pkgGen
	mu     sync.Mutex
	byType map[string]*helper
}

// get returns the helper of n, placing a new one in fg. Every helper is
// placed while files are prepared, one after the other; when files are
// finished in parallel, get only finds existing helpers.
func (hs *helperSet) get(n *types.Named, fg *fileGen) *helper {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	key := types.TypeString(n, nil)
	if h := hs.byType[key]; h != nil {
		return h
	}
	h := &helper{named: n, name: hs.pg.fresh("idemEncode" + n.Obj().Name()), file: fg}
	hs.byType[key] = h
	fg.helpers = append(fg.helpers, h)
	return h
}

// wnames are the identifiers of one wrapper's code.
type wnames struct {
	recv    string
	params  []string
	results []string // "" for unnamed results
	key     string
	fp      string
	res     string
	err     string
	rs      []string // the closure's result variables
	// resultsType is the local struct type of several results.
	resultsType string
}

// nameWrapper chooses a wrapper's identifiers: parameters, results and
// receiver keep their declared names unless reserved (a name the code
// refers to, an import, a type parameter); locals avoid all of these.
func (w *wrapper) names(reserved map[string]bool) (*wnames, *names) {
	sc := newNames(reserved)
	for _, l := range []*types.TypeParamList{w.sig.TypeParams(), w.sig.RecvTypeParams()} {
		for i := 0; i < l.Len(); i++ {
			sc.take(l.At(i).Obj().Name())
		}
	}
	wn := &wnames{params: make([]string, len(w.params)), results: make([]string, len(w.results))}
	keep := func(name string) bool { return name != "" && name != "_" && !sc.taken[name] }
	// Keep declared names first, so that a fresh name never steals one.
	if w.recv != nil && keep(w.recv.Name()) {
		wn.recv = w.recv.Name()
		sc.keep(wn.recv)
	}
	for i, p := range w.params {
		if keep(p.name) {
			wn.params[i] = p.name
			sc.keep(p.name)
		}
	}
	for i, r := range w.results {
		if keep(r.Name()) {
			wn.results[i] = r.Name()
			sc.keep(r.Name())
		}
	}
	if w.recv != nil && wn.recv == "" {
		wn.recv = sc.fresh(recvBase(w.recvType.Name()))
	}
	for i, p := range w.params {
		if wn.params[i] == "" {
			base := p.name
			if !p.named() {
				base = "p" + strconv.Itoa(i)
			}
			wn.params[i] = sc.fresh(base)
		}
	}
	for i, r := range w.results {
		switch {
		case wn.results[i] != "":
		case r.Name() == "_":
			wn.results[i] = "_"
		case r.Name() != "":
			wn.results[i] = sc.fresh(r.Name())
		}
	}
	wn.key, wn.fp = sc.fresh("key"), sc.fresh("fp")
	wn.res, wn.err = sc.fresh("res"), sc.fresh("err")
	for i := 0; i < len(w.results)-1; i++ {
		wn.rs = append(wn.rs, sc.fresh("r"+strconv.Itoa(i)))
	}
	if len(w.results) > 2 {
		wn.resultsType = sc.fresh("results")
	}
	return wn, sc
}

func recvBase(typeName string) string {
	if typeName == "" {
		return "r"
	}
	return strings.ToLower(typeName[:1])
}

// render generates the files of the package: first every file's units
// are built once, in order, which places the helpers and records the names
// the code refers to; then the files are finished in parallel.
func (pg *pkgGen) render() {
	for _, fg := range pg.files {
		fg.prepare()
	}
	contents := make([][]byte, len(pg.files))
	errs := make([]error, len(pg.files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, goruntime.GOMAXPROCS(0))
	for i, fg := range pg.files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			contents[i], errs[i] = fg.finish()
		}()
	}
	wg.Wait()
	for i, fg := range pg.files {
		if errs[i] != nil {
			pg.errorf(fg.wrappers[0].dirs.Key.Pos, "internal error generating %s: %v", pg.rel(fg.out), errs[i])
			continue
		}
		f := File{Path: fg.out, Source: fg.src, Content: contents[i]}
		for _, w := range fg.wrappers {
			f.Wrappers = append(f.Wrappers, w.wrapperQualifiedName())
		}
		pg.out = append(pg.out, f)
	}
}

// unit is one top-level piece of a generated file: a wrapper (with its
// spec variable) or a helper, with its code as first built.
type unit struct {
	w     *wrapper
	h     *helper
	used  map[string]bool // package-level and predeclared names it refers to
	code  []jen.Code
	names *names
}

// prepare builds every unit of the file with names chosen against nothing,
// learning which names the code refers to and which packages it imports.
func (fg *fileGen) prepare() {
	fg.imports = map[string]string{}
	fg.used = map[string]bool{}
	build := func(u *unit) {
		var em *emitter
		if u.w != nil {
			wn, sc := u.w.names(nil)
			em = fg.newEmitter(sc)
			u.code = em.wrapperCode(u.w, wn)
		} else {
			sc := newNames()
			e, v := sc.fresh("e"), sc.fresh("v")
			em = fg.newEmitter(sc)
			u.code = em.helperCode(u.h, e, v)
		}
		u.used, u.names = em.used, em.scope
		for k, v := range em.imports {
			fg.imports[k] = v
		}
		for k := range em.used {
			fg.used[k] = true
		}
	}
	for _, w := range fg.wrappers {
		u := &unit{w: w}
		fg.units = append(fg.units, u)
		build(u)
	}
	for i := 0; i < len(fg.helpers); i++ { // helpers may add helpers
		u := &unit{h: fg.helpers[i]}
		fg.units = append(fg.units, u)
		build(u)
	}
}

// finish chooses the import names, rebuilds the units whose names clash
// with them or with names the code refers to, and renders the file.
func (fg *fileGen) finish() ([]byte, error) {
	// Import names avoid package-level names, predeclared names, the names
	// the code refers to, and the declared names of every parameter,
	// result and type parameter in the file.
	avoid := newNames(fg.pg.taken, fg.used)
	for _, w := range fg.wrappers {
		for _, p := range w.params {
			avoid.take(p.name)
		}
		for _, r := range w.results {
			avoid.take(r.Name())
		}
		if w.recv != nil {
			avoid.take(w.recv.Name())
		}
		for _, l := range []*types.TypeParamList{w.sig.TypeParams(), w.sig.RecvTypeParams()} {
			for i := 0; i < l.Len(); i++ {
				avoid.take(l.At(i).Obj().Name())
			}
		}
	}
	for _, name := range types.Universe.Names() {
		avoid.take(name)
	}
	paths := make([]string, 0, len(fg.imports))
	for p := range fg.imports {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { // the runtime first: it gets its preferred name
		if (paths[i] == runtimePath) != (paths[j] == runtimePath) {
			return paths[i] == runtimePath
		}
		return paths[i] < paths[j]
	})
	importNames := map[string]bool{}
	f := jen.NewFilePathName(fg.pg.tpkg.Path(), fg.pg.tpkg.Name())
	for _, p := range paths {
		want := fg.imports[p]
		if p == runtimePath {
			want = "idemrt"
		}
		name := avoid.fresh(want)
		importNames[name] = true
		if name == fg.imports[p] {
			f.ImportName(p, name)
		} else {
			f.ImportAlias(p, name)
		}
	}
	f.HeaderComment(Header + "\n\n//go:build " + fg.buildConstraint())

	for i, u := range fg.units {
		if i > 0 {
			f.Line()
		}
		code := u.code
		if !u.names.valid(u.used, importNames) {
			reserved := merge(u.used, importNames)
			if u.w != nil {
				wn, sc := u.w.names(reserved)
				code = fg.newEmitter(sc).wrapperCode(u.w, wn)
			} else {
				sc := newNames(reserved)
				e, v := sc.fresh("e"), sc.fresh("v")
				code = fg.newEmitter(sc).helperCode(u.h, e, v)
			}
		}
		for _, c := range code {
			f.Add(c)
		}
	}
	var buf bytes.Buffer
	if err := f.Render(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func merge(ms ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

// effectConst names the runtime constant of an effect.
func effectConst(e annotations.Effect) string {
	switch e {
	case annotations.EffectAPI:
		return "EffectAPI"
	case annotations.EffectQueue:
		return "EffectQueue"
	case annotations.EffectDB:
		return "EffectDB"
	}
	return "EffectNone"
}

// durationCode renders d as N * time.Unit with the largest exact unit.
func (em *emitter) durationCode(d time.Duration) *jen.Statement {
	units := []struct {
		d    time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"}, {time.Nanosecond, "Nanosecond"}}
	for _, u := range units {
		if d%u.d == 0 {
			n := d / u.d
			if n == 1 {
				return em.qual("time", "time", u.name)
			}
			return jen.Op(strconv.FormatInt(int64(n), 10)).Op("*").Add(em.qual("time", "time", u.name))
		}
	}
	return jen.Op(strconv.FormatInt(int64(d), 10)) // unreachable: every duration is whole nanoseconds
}

// specCode renders the wrapper's Spec literal.
func (em *emitter) specCode(w *wrapper) *jen.Statement {
	kv := func(k string, v jen.Code) jen.Code { return jen.Line().Id(k).Op(":").Add(v) }
	fields := []jen.Code{
		kv("Namespace", jen.Lit(w.namespace)),
		kv("Version", jen.Lit(w.version)),
		kv("Effect", em.rt(effectConst(w.effect))),
	}
	if w.retry.Attempts > 0 {
		rf := []jen.Code{jen.Id("Attempts").Op(":").Lit(w.retry.Attempts)}
		if w.retry.Delay > 0 {
			rf = append(rf, jen.Id("Delay").Op(":").Add(em.durationCode(w.retry.Delay)))
		}
		if w.retry.MaxDelay > 0 {
			rf = append(rf, jen.Id("MaxDelay").Op(":").Add(em.durationCode(w.retry.MaxDelay)))
		}
		fields = append(fields, kv("Retry", em.rt("RetryPolicy").Values(rf...)))
	}
	fields = append(fields,
		kv("TTL", em.durationCode(w.ttl)),
		kv("Lease", em.durationCode(w.lease)),
		jen.Line(),
	)
	return em.rt("Spec").Values(fields...)
}

// wrapperCode renders the spec variable and the wrapper function.
func (em *emitter) wrapperCode(w *wrapper, wn *wnames) []jen.Code {
	var out []jen.Code
	out = append(out,
		jen.Comment(fmt.Sprintf("// %s describes %s to the idem runtime.", w.specVar, w.qualifiedName())),
		jen.Var().Add(em.id(w.specVar)).Op("=").Add(em.specCode(w)),
		jen.Line(),
	)
	for _, l := range w.doc() {
		if l == "" {
			out = append(out, jen.Comment("//"))
		} else {
			out = append(out, jen.Comment("// "+l))
		}
	}

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
			em.encodePart(g, key, p, wn.params)
		}
		g.Add(fp.call("Begin", spec().Dot("Namespace"), spec().Dot("Version")))
		for _, p := range w.fp {
			em.encodePart(g, fp, p, wn.params)
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
		closure := jen.Func().Params(ctxParam).Params(resultStruct(), em.id("error")).BlockFunc(func(g *jen.Group) {
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
		do := em.rt("Do").Call(ctxArg, jen.Op("&").Add(spec()), key.ptr(), fp.ptr(), closure)
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

// helperCode renders the encoding function of a recursive type.
func (em *emitter) helperCode(h *helper, e, v string) []jen.Code {
	name := types.TypeString(h.named, em.pg.qualifier())
	return []jen.Code{
		jen.Comment(fmt.Sprintf("// %s writes v to e in the canonical key encoding. %s is recursive,", h.name, name)),
		jen.Comment("// so its encoding is a function that calls itself."),
		jen.Func().Id(h.name).Params(jen.Id(e).Op("*").Add(em.rt("Encoder")), jen.Id(v).Add(em.typ(h.named))).BlockFunc(func(g *jen.Group) {
			em.encode(g, encRef{name: e}, jen.Id(v), h.named, true)
		}),
	}
}

// qualifiedName is the function's name as a doc link target: F or T.M.
func (w *wrapper) qualifiedName() string {
	if w.recvType != nil {
		return w.recvType.Name() + "." + w.fn.Name()
	}
	return w.fn.Name()
}

func (w *wrapper) wrapperQualifiedName() string {
	if w.recvType != nil {
		return w.recvType.Name() + "." + w.name
	}
	return w.name
}

// doc returns the lines of the wrapper's doc comment ("" between
// paragraphs).
func (w *wrapper) doc() []string {
	orig := w.qualifiedName()
	var paras []string
	paras = append(paras, fmt.Sprintf("%s calls [%s] at most once per key: the first call with a key runs it and records its results, and later calls with the same key return the recorded results (or wait for the call in progress) without running it again.", w.name, orig))

	var keys []string
	nilPath := false
	for _, p := range w.key {
		keys = append(keys, p.display)
		nilPath = nilPath || p.crossesPointer()
	}
	k := fmt.Sprintf("Key: %s, in namespace %q, version %d.", strings.Join(keys, ", "), w.namespace, w.version)
	if nilPath {
		k += " A nil pointer on a key path makes that part of the key nil."
	}
	if w.ctx != nil {
		k += fmt.Sprintf(" %s receives the key in its context (runtime.KeyFrom).", w.fn.Name())
	} else {
		k += fmt.Sprintf(" %s takes no context.Context, so it cannot read the key.", w.fn.Name())
	}
	paras = append(paras, k)

	var fp string
	switch w.fpMode {
	case fpNone:
		fp = "Fingerprint: none (fingerprint -): a later call with a recorded key replays it whatever its other arguments."
	default:
		var parts []string
		for _, p := range w.fp {
			parts = append(parts, p.display)
		}
		list := strings.Join(parts, ", ")
		if list == "" {
			list = "no parameters"
		}
		fp = "Fingerprint: " + list
		if len(w.fpOmitted) > 0 {
			fp += "; left out: " + strings.Join(w.fpOmitted, ", ")
		}
		fp += ". A later call with a recorded key but another fingerprint fails with ErrKeyReused."
	}
	paras = append(paras, fp)

	var eff string
	switch w.effect {
	case annotations.EffectAPI:
		eff = "Effect: api: the callee deduplicates on the key, so a failed attempt may run again and the claim of a caller that died is taken over after its lease."
	case annotations.EffectQueue:
		eff = "Effect: queue: messages carry the key as their deduplication id, so a failed attempt may run again and the claim of a caller that died is taken over after its lease."
	case annotations.EffectDB:
		eff = "Effect: db: the effect commits in the transaction that records the key."
	default:
		eff = "Effect: none: an attempt that may have applied the effect never runs again; if it failed, the key stays blocked (ErrIndeterminate) until its record expires or is deleted."
	}
	if w.retry.Attempts > 1 {
		delay, maxDelay := fmtDuration(w.retry.Delay), fmtDuration(w.retry.MaxDelay)
		if w.retry.Delay == 0 {
			delay = "100ms (default)"
		}
		if w.retry.MaxDelay == 0 {
			maxDelay = "10s (default)"
		}
		eff += fmt.Sprintf(" Retry: up to %d attempts, first after %s, backing off to at most %s; only failures that cannot duplicate the effect are retried.", w.retry.Attempts, delay, maxDelay)
	} else {
		eff += " Retry: one attempt."
	}
	paras = append(paras, eff)
	paras = append(paras, fmt.Sprintf("Records are kept for %s; a call in progress holds the key under a %s lease, renewed while it runs.", fmtDuration(w.ttl), fmtDuration(w.lease)))

	var lines []string
	for i, p := range paras {
		if i > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, wrapText(p, 76)...)
	}
	return lines
}

// fmtDuration formats d in its largest exact unit: 24h, 90m, 1500ms.
func fmtDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "µs"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// wrapText breaks s into lines of at most width bytes at spaces.
func wrapText(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
