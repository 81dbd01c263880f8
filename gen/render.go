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
	"unicode"
	"unicode/utf8"

	"github.com/dave/jennifer/jen"

	"github.com/idem-go/idem/annotations"
)

// helper is the encoding function of a recursive named type.
type helper struct {
	named *types.Named
	name  string
	file  *fileGen // the generated file that declares it
}

// helperSet holds a package's helpers, one per type. They are all placed
// before any file is rendered (placeHelpers), so that files can then be
// rendered concurrently; mu guards the map all the same.
type helperSet struct {
	pg     *pkgGen
	mu     sync.Mutex
	byType map[string]*helper
}

// get returns the helper of n, placing a new one in fg.
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

// placeHelpers creates the helper of every recursive named type that the
// key and fingerprint parts of the package reach, each in the first file
// (in file and source order) whose code needs it.
func (pg *pkgGen) placeHelpers() {
	for _, fg := range pg.files {
		for _, w := range fg.wrappers {
			for _, p := range append(append([]*part(nil), w.key...), w.fp...) {
				pg.reachHelpers(p.typ, fg, false)
			}
		}
	}
}

// reachHelpers walks t as encode does and places the helpers it calls.
func (pg *pkgGen) reachHelpers(t types.Type, fg *fileGen, top bool) {
	t = types.Unalias(t)
	if _, ok := t.(*types.TypeParam); ok || isTime(t) || isDuration(t) {
		return
	}
	if n, ok := t.(*types.Named); ok && !top && pg.isRecursive(n) {
		pg.helpers.mu.Lock()
		_, known := pg.helpers.byType[types.TypeString(n, nil)]
		pg.helpers.mu.Unlock()
		if !known {
			pg.helpers.get(n, fg)
			pg.reachHelpers(n, fg, true)
		}
		return
	}
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Slice:
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Array:
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Map:
		pg.reachHelpers(u.Key(), fg, false)
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Struct:
		if isTimeShaped(u) {
			return
		}
		for i := 0; i < u.NumFields(); i++ {
			if f := u.Field(i); f.Name() != "_" {
				pg.reachHelpers(f.Type(), fg, false)
			}
		}
	}
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
	run     string   // the closure that calls the original
	rs      []string // the closure's result variables
	// resultsType is the local struct type of several results.
	resultsType string
	// handle is the db effect's database handle, which takes the
	// transaction parameter's place in the wrapper.
	handle string
}

// names chooses a wrapper's identifiers: parameters, results and
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
	keep := func(name string) bool { return name != "" && name != "_" && !sc.isTaken(name) }
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
	// Locals and renamed parameters also avoid every package-level name,
	// referred to or not.
	sc.reserve(w.file.pg.taken)
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
	switch w.txKind {
	case txSQL:
		wn.handle = sc.fresh("db")
	case txPgx:
		wn.handle = sc.fresh("pool")
	}
	wn.key, wn.fp = sc.fresh("key"), sc.fresh("fp")
	wn.res, wn.err, wn.run = sc.fresh("res"), sc.fresh("err"), sc.fresh("run")
	for i := 0; i < len(w.results)-1; i++ {
		wn.rs = append(wn.rs, sc.fresh("r"+strconv.Itoa(i)))
	}
	if len(w.results) > 2 {
		wn.resultsType = sc.fresh("results")
	}
	return wn, sc
}

// recvBase is the receiver name for an unnamed receiver: the type name's
// first letter, lowercased.
func recvBase(typeName string) string {
	r, _ := utf8.DecodeRuneInString(typeName)
	if !unicode.IsLetter(r) {
		return "r"
	}
	return string(unicode.ToLower(r))
}

// render generates the files of the package, concurrently once the
// helpers are placed.
func (pg *pkgGen) render() {
	pg.placeHelpers()
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
			fg.prepare()
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
// The file's helpers are placed already.
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
			sc := newNames(fg.pg.taken)
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
	for _, h := range fg.helpers {
		u := &unit{h: h}
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
				sc := newNames(reserved, fg.pg.taken)
				e, v := sc.fresh("e"), sc.fresh("v")
				code = fg.newEmitter(sc).helperCode(u.h, e, v)
			}
		}
		for _, c := range code {
			f.Add(c)
		}
	}
	f.NoFormat = true
	var raw bytes.Buffer
	if err := f.Render(&raw); err != nil {
		return nil, err
	}
	return formatWithSum(raw.Bytes(), fg.out)
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

// specCode renders the wrapper's Spec literal, on one line.
func (em *emitter) specCode(w *wrapper) *jen.Statement {
	kv := func(k string, v jen.Code) jen.Code { return jen.Id(k).Op(":").Add(v) }
	fields := []jen.Code{
		kv("Namespace", jen.Lit(w.namespace)),
		kv("Version", jen.Lit(w.version)),
		kv("Effect", em.rt(effectConst(w.effect))),
	}
	if w.retry.Attempts > 0 {
		rf := []jen.Code{kv("Attempts", jen.Lit(w.retry.Attempts))}
		if w.retry.Delay > 0 {
			rf = append(rf, kv("Delay", em.durationCode(w.retry.Delay)))
		}
		if w.retry.MaxDelay > 0 {
			rf = append(rf, kv("MaxDelay", em.durationCode(w.retry.MaxDelay)))
		}
		fields = append(fields, kv("Retry", em.rt("RetryPolicy").Values(rf...)))
	}
	fields = append(fields, kv("TTL", em.durationCode(w.ttl)), kv("Lease", em.durationCode(w.lease)))
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
	// The doc comment as one raw comment: "//" lines joined by newlines.
	var doc strings.Builder
	for i, l := range w.doc() {
		if i > 0 {
			doc.WriteByte('\n')
		}
		doc.WriteString("//")
		if l != "" {
			doc.WriteString(" " + l)
		}
	}
	out = append(out, jen.Comment(doc.String()))

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
		var do *jen.Statement
		switch w.txKind {
		case txSQL:
			do = em.rt("DoSQL").Call(ctxArg, jen.Op("&").Add(spec()), jen.Id(wn.handle), key.ptr(), fp.ptr(), jen.Id(wn.run))
		case txPgx:
			do = em.rt("DoPgx").Call(ctxArg, jen.Op("&").Add(spec()), jen.Id(wn.handle), key.ptr(), fp.ptr(), jen.Id(wn.run))
		default:
			do = em.rt("Do").Call(ctxArg, jen.Op("&").Add(spec()), key.ptr(), fp.ptr(), jen.Id(wn.run))
		}
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

// handleType is the database handle a db-effect wrapper takes.
func (em *emitter) handleType(k txKind) *jen.Statement {
	if k == txPgx {
		return jen.Op("*").Add(em.qual("github.com/jackc/pgx/v5/pgxpool", "pgxpool", "Pool"))
	}
	return jen.Op("*").Add(em.qual("database/sql", "sql", "DB"))
}

// helperCode renders the encoding function of a recursive type.
func (em *emitter) helperCode(h *helper, e, v string) []jen.Code {
	name := types.TypeString(h.named, em.pg.qualifier())
	return []jen.Code{
		jen.Comment(fmt.Sprintf("// %s writes v to e in the canonical key encoding. %s is recursive,", h.name, name)),
		jen.Comment("// so its encoding is a function that calls itself."),
		jen.Func().Id(h.name).Params(jen.Id(e).Op("*").Add(em.rt("Encoder")), jen.Id(v).Add(em.typ(h.named))).BlockFunc(func(g *jen.Group) {
			// A cyclic value stops once the Encoder records that it is too deep.
			g.If(jen.Id(e).Dot("Err").Call().Op("!=").Add(em.id("nil"))).Block(jen.Return())
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

// doc returns the lines of the wrapper's doc comment, without "// ": a
// sentence, then a list of what is deduplicated and how.
func (w *wrapper) doc() []string {
	fn := w.fn.Name()
	lines := wrapText(w.name+" calls ["+w.qualifiedName()+"] at most once per key; later calls with the key return the recorded results without running "+fn+" again.", 76, "", "")
	lines = append(lines, "")
	item := func(text string) { lines = append(lines, wrapText(text, 76, "  - ", "    ")...) }

	var b strings.Builder
	b.WriteString("Key: ")
	nilPath := false
	for i, p := range w.key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.display)
		nilPath = nilPath || p.crossesPointer()
	}
	b.WriteString("; namespace " + strconv.Quote(w.namespace) + ", version " + strconv.Itoa(w.version) + ".")
	if nilPath {
		b.WriteString(" A nil pointer on the way to a key path's field fails the call with ErrInvalidKey.")
	}
	if w.ctx != nil {
		b.WriteString(" " + fn + " can read it from its context with runtime.KeyFrom.")
	} else {
		b.WriteString(" " + fn + " takes no context.Context, so it cannot read the key.")
	}
	item(b.String())

	b.Reset()
	if w.fpMode == fpNone {
		b.WriteString("Fingerprint: none; a later call with a recorded key replays it whatever its other arguments.")
	} else {
		b.WriteString("Fingerprint: ")
		if len(w.fp) == 0 {
			b.WriteString("no parameters")
		}
		for i, p := range w.fp {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.display)
		}
		if len(w.fpOmitted) > 0 {
			b.WriteString("; left out: " + strings.Join(w.fpOmitted, ", "))
		}
		b.WriteString(". A later call with a recorded key and another fingerprint fails with ErrKeyReused.")
	}
	item(b.String())

	b.Reset()
	switch w.effect {
	case annotations.EffectAPI:
		b.WriteString("Effect api: the callee deduplicates on the key, so a failed attempt may run again, and the claim of a caller that died is taken over.")
	case annotations.EffectQueue:
		b.WriteString("Effect queue: the key is the message's deduplication id, so a failed attempt may run again, and the claim of a caller that died is taken over.")
	case annotations.EffectDB:
		handle := "*sql.DB"
		if w.txKind == txPgx {
			handle = "*pgxpool.Pool"
		}
		b.WriteString("Effect db: the wrapper takes a " + handle + " in place of " + w.tx.label() + ", begins a transaction, claims the key in it, runs " + fn + " in it and commits the key's record with " + fn + "'s writes: exactly once. Failures that rolled the transaction back are retried under the retry policy.")
	default:
		b.WriteString("Effect none: an attempt that may have applied the effect never runs again; after such a failure the key stays blocked (ErrIndeterminate) until its record expires.")
	}
	if w.retry.Attempts > 1 {
		delay, maxDelay := fmtDuration(w.retry.Delay), fmtDuration(w.retry.MaxDelay)
		if w.retry.Delay == 0 {
			delay = "100ms"
		}
		if w.retry.MaxDelay == 0 {
			maxDelay = "10s"
		}
		b.WriteString(" Retry: up to " + strconv.Itoa(w.retry.Attempts) + " attempts, " + delay + " to " + maxDelay + " apart, for failures that cannot duplicate the effect.")
	} else {
		b.WriteString(" Retry: one attempt.")
	}
	item(b.String())
	if w.effect == annotations.EffectDB {
		item("Records are kept for " + fmtDuration(w.ttl) + ", in the idem_records table of the same database.")
	} else {
		item("Records are kept for " + fmtDuration(w.ttl) + "; a running call holds the key under a " + fmtDuration(w.lease) + " lease, renewed while it runs.")
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

// wrapText breaks s into lines of at most width bytes at spaces, the
// first line starting with first and the others with rest.
func wrapText(s string, width int, first, rest string) []string {
	var lines []string
	line := make([]byte, 0, width+16)
	line = append(line, first...)
	empty := true
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' {
			j++
		}
		if j == i {
			break
		}
		word := s[i:j]
		i = j
		if !empty && len(line)+1+len(word) > width {
			lines = append(lines, string(line))
			line = append(line[:0], rest...)
			empty = true
		}
		if !empty {
			line = append(line, ' ')
		}
		line = append(line, word...)
		empty = false
	}
	if !empty {
		lines = append(lines, string(line))
	}
	return lines
}
