package gen

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strconv"
	"strings"
	"time"

	"github.com/idem-go/idem/annotations"
)

// wrapper is one marked function and everything its wrapper needs.
type wrapper struct {
	file *fileGen
	decl *ast.FuncDecl
	dirs *annotations.Set
	// deco is the decorator whose method this wrapper is, for a method of
	// an interface.
	deco *decorator
	// ext is the target of //idem:wrap, a function or method of another
	// package.
	ext *external

	fn        *types.Func
	sig       *types.Signature
	name      string // wrapper name
	specVar   string
	namespace string
	version   int
	effect    annotations.Effect
	retry     annotations.RetryDirective // Attempts 0: no retry directive
	ttl       time.Duration
	lease     time.Duration
	// classify is the function //idem:classify names: its package
	// (nil for the wrapper's own) and name.
	classify *types.Func

	recv     *types.Var      // nil for functions
	recvType *types.TypeName // the receiver's base type
	params   []*param
	results  []*types.Var // every result, error included
	ctx      *param       // the first context.Context parameter, if any
	// tx is the transaction parameter of a db-effect function, which the
	// wrapper replaces with the handle that begins the transaction.
	tx     *param
	txKind txKind

	key     []*part
	ifEmpty bool // //idem:key ... if-empty=run
	// keyParams are the parameters the key parts read, in signature
	// order, and keyRecv is set when a key part reads the receiver: the
	// parameters of the key helper (keyFunc) and of the key's encoding
	// function (encodeFunc), which the wrapper calls too.
	keyParams  []*param
	keyRecv    bool
	keyFunc    string
	encodeFunc string
	fp         []*part
	fpMode     fpMode
	fpOmitted  []string // doc: parameters left out of the default fingerprint
	ok         bool     // analysis succeeded
	schema     *schema  // set once the analysis succeeded
}

// txKind is the kind of transaction a db-effect function takes.
type txKind int

const (
	txSQL txKind = iota + 1 // *database/sql.Tx; the wrapper takes *sql.DB
	txPgx                   // pgx.Tx; the wrapper takes *pgxpool.Pool
	// txOps is any other transaction type T (a sqlc *Queries made with
	// WithTx, an *sqlx.Tx): the wrapper takes a runtime.TxOps[T], which
	// begins, claims in and commits transactions of that type.
	txOps
)

type fpMode int

const (
	fpDefault fpMode = iota
	fpExplicit
	fpNone
)

// param is a parameter of the marked function.
type param struct {
	v        *types.Var
	idx      int
	name     string // as declared; "" or "_" when unnamed
	typ      types.Type
	variadic bool
}

func (p *param) named() bool { return p.name != "" && p.name != "_" }

// label names the parameter in documentation.
func (p *param) label() string {
	if p.named() {
		return p.name
	}
	return "parameter " + strconv.Itoa(p.idx+1) + " (unnamed)"
}

// part is a key or fingerprint part: a parameter, the receiver, or a
// constant, and the selectors that reach the encoded value from it.
type part struct {
	display string
	param   *param // nil for the receiver and for a constant
	recv    bool   // rooted at the method's receiver
	konst   *annotations.Literal
	steps   []step
	typ     types.Type // type of the encoded value
}

// step is one selector of a part: after checking that the value and the
// pointers it leads through are not nil (checks levels, the part is then
// nil) and dereferencing stars pointer levels, it selects a field (field
// set), calls a method without arguments (method set) or reads a map entry
// (index set).
type step struct {
	field  *types.Var
	method string
	index  *annotations.Literal
	checks int
	stars  int
}

// crossesPointer reports whether a nil pointer on the path can make the
// part nil.
func (p *part) crossesPointer() bool {
	for _, s := range p.steps {
		if s.checks > 0 {
			return true
		}
	}
	return false
}

// callsOrIndexes reports whether the path calls a method or reads a map
// entry.
func (p *part) callsOrIndexes() bool {
	for _, s := range p.steps {
		if s.field == nil {
			return true
		}
	}
	return false
}

func (pg *pkgGen) analyze(w *wrapper) {
	info := pg.pkg.TypesInfo
	at := w.dirs.Key.Pos
	fn, _ := info.Defs[w.decl.Name].(*types.Func)
	if w.ext != nil {
		fn = w.ext.fn
	}
	if fn == nil {
		pg.reportTypeErrors(w.decl.Pos(), w.decl.End())
		pg.errorf(at, "cannot wrap %s: it does not type-check", w.decl.Name.Name)
		return
	}
	w.fn = fn
	w.sig = fn.Type().(*types.Signature)
	if w.ext != nil {
		w.sig = pg.externalSignature(w.ext)
	}
	q := pg.qualifier()
	if w.sig.Recv() == nil && (fn.Name() == "init" || fn.Name() == "_") {
		pg.errorf(at, "%s cannot be called, so it cannot be wrapped; move the directives to a function that it calls", fn.Name())
		return
	}
	if containsInvalid(w.sig) {
		pg.reportTypeErrors(w.decl.Type.Pos(), w.decl.Type.End())
		pg.errorf(at, "cannot wrap %s: its signature does not type-check", fn.Name())
		return
	}
	ok := true

	// Results: the last is error; the others must round-trip.
	res := w.sig.Results()
	for i := 0; i < res.Len(); i++ {
		w.results = append(w.results, res.At(i))
	}
	if res.Len() == 0 || !isError(res.At(res.Len()-1).Type()) {
		got := "nothing"
		if res.Len() > 0 {
			got = types.TypeString(res, q)
		}
		pg.errorf(at, "%s returns %s; a wrapped function must return error as its last result (the runtime records results only after success)", fn.Name(), got)
		ok = false
	} else {
		for i := 0; i < res.Len()-1; i++ {
			if msg := resultProblem(res.At(i).Type(), q); msg != "" {
				pg.errorf(at, "result %d of %s cannot be recorded for replay: %s", i+1, fn.Name(), msg)
				ok = false
			} else if holdsProto(res.At(i).Type()) {
				w.file.anon[idemprotoPath] = true
			}
		}
	}

	// Parameters.
	ps := w.sig.Params()
	for i := 0; i < ps.Len(); i++ {
		v := ps.At(i)
		p := &param{v: v, idx: i, name: v.Name(), typ: v.Type(), variadic: w.sig.Variadic() && i == ps.Len()-1}
		w.params = append(w.params, p)
		if w.ctx == nil && isContext(p.typ) {
			w.ctx = p
		}
	}

	// The db effect: the transaction may be any parameter (the first one
	// of a transaction type). Another effect with a transaction parameter
	// is a warning: its record lives in the store and does not commit with
	// the transaction.
	for _, p := range w.params {
		if k := txKindOf(p.typ); k != 0 && !p.variadic {
			w.tx, w.txKind = p, k
			break
		}
	}
	if w.dirs.Effect != nil && w.dirs.Effect.Effect == annotations.EffectDB {
		if w.tx == nil {
			// Another transaction type: the first parameter after the
			// context that is a pointer to a named type or an interface.
			for _, p := range w.params {
				if p != w.ctx && !p.variadic && isTxCandidate(p.typ) {
					w.tx, w.txKind = p, txOps
					break
				}
			}
		}
		if w.tx == nil {
			pg.errorf(w.dirs.Effect.Pos, "effect db needs a parameter of %s that is the transaction its writes run in: a *sql.Tx (the wrapper then takes a *sql.DB in its place), a pgx.Tx (the wrapper then takes a *pgxpool.Pool), or another transaction type T, a pointer or an interface (the wrapper then takes a runtime.TxOps[T])", fn.Name())
			ok = false
		}
	} else if w.tx != nil {
		pg.warnf(at, "%s takes the transaction %s (%s) but its effect is %s: its idem record is kept in the store and does not commit or roll back with the transaction, so a rolled-back call still replays; use //idem:effect db to commit the record with the writes",
			fn.Name(), w.tx.label(), types.TypeString(w.tx.typ, q), effectName(w.dirs))
		w.tx, w.txKind = nil, 0
	}

	// A composite's steps run in its context.
	if w.dirs.Effect != nil && w.dirs.Effect.Effect == annotations.EffectComposite && w.ctx == nil {
		pg.errorf(w.dirs.Effect.Pos, "effect composite needs a context.Context parameter in %s: its steps (runtime.Step, runtime.StepSQL) take the context the wrapper passes", fn.Name())
		ok = false
	}

	// Receiver.
	if r := w.sig.Recv(); r != nil {
		w.recv = r
		if w.deco != nil {
			w.recvType = w.deco.iface
		} else if n, isNamed := deref(r.Type()).(*types.Named); isNamed {
			w.recvType = n.Obj()
		} else {
			pg.errorf(at, "cannot wrap %s: its receiver type %s is not a named type", fn.Name(), types.TypeString(r.Type(), q))
			return
		}
	}

	// Directive values and defaults.
	d := w.dirs
	w.version = annotations.DefaultVersion
	if d.Version != nil {
		w.version = d.Version.Value
	}
	if d.Effect != nil {
		w.effect = d.Effect.Effect
	}
	if d.Classify != nil {
		w.classify = pg.classifier(w, d.Classify)
	}
	if d.Retry != nil {
		w.retry = *d.Retry
	}
	w.ttl, w.lease = annotations.DefaultTTL, annotations.DefaultLease
	if d.TTL != nil {
		w.ttl = d.TTL.Value
	}
	if d.Lease != nil {
		w.lease = d.Lease.Value
	}
	if w.ttl < w.lease {
		// A record that expires before its holder's lease would let a second
		// caller claim the key while the first still runs.
		switch {
		case d.TTL != nil && d.Lease != nil:
			pg.errorf(d.TTL.Pos, "//idem:ttl %s is shorter than //idem:lease %s: a record must outlive the lease of the call that holds it; make the ttl at least %s", fmtDuration(w.ttl), fmtDuration(w.lease), fmtDuration(w.lease))
		case d.TTL != nil:
			pg.errorf(d.TTL.Pos, "//idem:ttl %s is shorter than the default lease %s: a record must outlive the lease of the call that holds it; make the ttl at least %s, or set a shorter //idem:lease", fmtDuration(w.ttl), fmtDuration(w.lease), fmtDuration(w.lease))
		default:
			pg.errorf(d.Lease.Pos, "//idem:lease %s is longer than the default ttl %s: a record must outlive the lease of the call that holds it; shorten the lease or set //idem:ttl of at least %s", fmtDuration(w.lease), fmtDuration(w.ttl), fmtDuration(w.lease))
		}
		ok = false
	}
	w.namespace = pg.tpkg.Path() + "." + fn.Name()
	if w.recvType != nil {
		w.namespace = pg.tpkg.Path() + "." + w.recvType.Name() + "." + fn.Name()
	}
	if w.ext != nil {
		w.namespace = w.ext.namespace()
	}
	if d.Namespace != nil {
		w.namespace = d.Namespace.Value
	}
	ok = pg.nameWrapper(w) && ok

	// Key.
	for _, path := range d.Key.Paths {
		if p := pg.resolvePath(w, path, "key"); p != nil {
			w.key = append(w.key, p)
		} else {
			ok = false
		}
	}
	if len(d.Key.Paths) == 0 {
		ok = false // the parser reported it
	}
	for _, p := range w.params {
		for _, k := range w.key {
			if k.param == p {
				w.keyParams = append(w.keyParams, p)
				break
			}
		}
	}
	for _, k := range w.key {
		w.keyRecv = w.keyRecv || k.recv
	}
	if d.Key.IfEmptyRun {
		ok = pg.checkIfEmpty(w) && ok
	}

	// Fingerprint.
	switch {
	case d.Fingerprint != nil && d.Fingerprint.None:
		w.fpMode = fpNone
	case d.Fingerprint != nil:
		w.fpMode = fpExplicit
		for _, path := range d.Fingerprint.Paths {
			if p := pg.resolvePath(w, path, "fingerprint"); p != nil {
				w.fp = append(w.fp, p)
			} else {
				ok = false
			}
		}
	default:
		w.fpMode = fpDefault
		for _, p := range w.params {
			switch {
			case w.ext != nil && w.ext.recv != nil && p.idx == 0:
				w.fpOmitted = append(w.fpOmitted, p.label()+" (the receiver)")
			case isContext(p.typ):
				w.fpOmitted = append(w.fpOmitted, p.label()+" (context.Context)")
			case containsTypeParam(p.typ):
				w.fpOmitted = append(w.fpOmitted, p.label()+" (its type depends on a type parameter)")
			default:
				if prob := keyProblem(p.typ, pg.tpkg); prob != nil {
					w.fpOmitted = append(w.fpOmitted, fmt.Sprintf("%s (%s: %s)", p.label(), types.TypeString(p.typ, q), prob.short()))
					if !isHandle(p.typ, pg.tpkg) {
						pg.warnf(p.v.Pos(), "%s of %s is left out of the default fingerprint: %s; a later call with a recorded key and another %s replays instead of failing with ErrKeyReused; name the parts that must match with //idem:fingerprint, or make the type encodable (exported data fields, or encoding.TextMarshaler)",
							p.label(), fn.Name(), prob.describe(p.label(), q), p.label())
					}
					continue
				}
				w.fp = append(w.fp, &part{display: p.label(), param: p, typ: p.typ})
			}
		}
	}
	w.ok = ok
}

// nameWrapper chooses the wrapper's name and checks it for collisions.
func (pg *pkgGen) nameWrapper(w *wrapper) bool {
	name := w.fn.Name() + "Idem"
	pos := w.dirs.Key.Pos
	if w.dirs.Name != nil {
		name, pos = w.dirs.Name.Ident.Name, w.dirs.Name.Ident.Pos
	}
	hint := "; choose another with //idem:name"
	if w.deco != nil {
		return pg.nameDecoratorMethod(w)
	}
	if w.recvType != nil {
		ms := pg.methods[w.recvType]
		if ms == nil {
			ms = map[string]*wrapper{}
			pg.methods[w.recvType] = ms
		}
		if other := ms[name]; other != nil {
			pg.errorf(pos, "wrapper name %s.%s is also the wrapper name of %s.%s (%s)%s", w.recvType.Name(), name, w.recvType.Name(), other.fn.Name(), pg.where(other.decl.Pos()), hint)
			return false
		}
		// A method or field promoted from an embedded type (gRPC's
		// Unimplemented…Server) is shadowed, as Go allows.
		if obj, index, _ := types.LookupFieldOrMethod(w.recvType.Type(), true, pg.tpkg, name); obj != nil && len(index) == 1 {
			kind := "method"
			if _, isVar := obj.(*types.Var); isVar {
				kind = "field"
			}
			pg.errorf(pos, "wrapper name %s collides with the %s %s.%s (%s)%s", name, kind, w.recvType.Name(), name, pg.where(obj.Pos()), hint)
			return false
		}
		keyName := name + "Key"
		if other := ms[keyName]; other != nil {
			pg.errorf(pos, "key helper %s.%s of wrapper %s is also the wrapper name of %s.%s (%s)%s", w.recvType.Name(), keyName, name, w.recvType.Name(), other.fn.Name(), pg.where(other.decl.Pos()), hint)
			return false
		}
		if obj, index, _ := types.LookupFieldOrMethod(w.recvType.Type(), true, pg.tpkg, keyName); obj != nil && len(index) == 1 {
			pg.errorf(pos, "the key helper %s of wrapper %s collides with %s.%s (%s)%s", keyName, name, w.recvType.Name(), keyName, pg.where(obj.Pos()), hint)
			return false
		}
		ms[name], ms[keyName] = w, w
		w.name, w.keyFunc = name, keyName
		w.encodeFunc = pg.fresh("encode" + upperFirst(w.recvType.Name()) + upperFirst(name) + "Key")
		return true
	}
	keyName := name + "Key"
	if other := pg.funcs[keyName]; other != nil {
		pg.errorf(pos, "key helper %s of wrapper %s is also the wrapper name of %s (%s)%s", keyName, name, other.fn.Name(), pg.where(other.decl.Pos()), hint)
		return false
	}
	if obj := pg.tpkg.Scope().Lookup(keyName); obj != nil {
		pg.errorf(pos, "the key helper %s of wrapper %s collides with %s declared at %s%s", keyName, name, objKind(obj), pg.where(obj.Pos()), hint)
		return false
	}
	if other := pg.funcs[name]; other != nil {
		pg.errorf(pos, "wrapper name %s is also the wrapper name of %s (%s)%s", name, other.fn.Name(), pg.where(other.decl.Pos()), hint)
		return false
	}
	if obj := pg.tpkg.Scope().Lookup(name); obj != nil {
		pg.errorf(pos, "wrapper name %s collides with %s declared at %s%s", name, objKind(obj), pg.where(obj.Pos()), hint)
		return false
	}
	if file := pg.importNames[name]; file != "" {
		pg.errorf(pos, "wrapper name %s collides with the name of a package that %s imports%s", name, file, hint)
		return false
	}
	if isPredeclared(name) {
		pg.errorf(pos, "wrapper name %s would shadow the predeclared identifier %s%s", name, name, hint)
		return false
	}
	pg.funcs[name], pg.funcs[keyName] = w, w
	pg.taken[name], pg.taken[keyName] = true, true
	w.name, w.keyFunc = name, keyName
	w.encodeFunc = pg.fresh("encode" + upperFirst(name) + "Key")
	return true
}

func objKind(o types.Object) string {
	switch o.(type) {
	case *types.Func:
		return "func " + o.Name()
	case *types.TypeName:
		return "type " + o.Name()
	case *types.Const:
		return "const " + o.Name()
	case *types.Var:
		return "var " + o.Name()
	}
	return o.Name()
}

// where renders a position as file:line relative to the package directory.
func (pg *pkgGen) where(pos token.Pos) string {
	p := pg.fset.Position(pos)
	if !p.IsValid() {
		return "unknown position"
	}
	return fmt.Sprintf("%s:%d", pg.rel(p.Filename), p.Line)
}

// resolvePath resolves a key or fingerprint path against the function's
// parameters (or receiver) and checks that its value can be encoded. It
// reports mistakes and returns nil on failure.
func (pg *pkgGen) resolvePath(w *wrapper, path annotations.Path, what string) *part {
	q := pg.qualifier()
	if c := path.Const; c != nil {
		t := types.Typ[types.String]
		if c.Kind == token.INT {
			t = types.Typ[types.Int]
		}
		return &part{display: path.String(), konst: c, typ: t}
	}
	var p *param
	var names []string
	for _, c := range w.params {
		if c.named() {
			names = append(names, c.name)
			if c.name == path.Param.Name {
				p = c
			}
		}
	}
	pt := &part{display: path.String(), param: p}
	var cur types.Type
	switch {
	case p != nil:
		cur = p.typ
	case w.recv != nil && w.recv.Name() == path.Param.Name && w.recv.Name() != "_":
		pt.recv, cur = true, w.recv.Type()
	default:
		msg := "it has no named parameters"
		if len(names) > 0 {
			msg = "its parameters are " + strings.Join(names, ", ")
		}
		if w.recv != nil && w.recv.Name() != "" && w.recv.Name() != "_" {
			msg += ", and its receiver is " + w.recv.Name()
		}
		pg.errorf(path.Param.Pos, "%s path %s names no parameter %s of %s; %s", what, path, path.Param.Name, w.fn.Name(), msg)
		return nil
	}
	sofar := path.Param.Name
	addressable := true
	for _, s := range path.Steps {
		levels := 0
		for t := cur; ; levels++ {
			ptr, isPtr := types.Unalias(t).Underlying().(*types.Pointer)
			if !isPtr {
				break
			}
			t = ptr.Elem()
		}
		base := deref(cur)
		if _, isTP := base.(*types.TypeParam); isTP {
			pg.errorf(s.Pos, "%s path %s: %s has type parameter type %s, whose fields, methods and entries cannot be selected; use %s itself", what, path, sofar, types.TypeString(cur, q), sofar)
			return nil
		}
		switch s.Kind {
		case annotations.StepIndex:
			m, isMap := base.Underlying().(*types.Map)
			if !isMap {
				pg.errorf(s.Pos, "%s path %s: %s has type %s, which is not a map, so [%s] cannot select an entry", what, path, sofar, types.TypeString(cur, q), s.Index.Text)
				return nil
			}
			kb, _ := m.Key().Underlying().(*types.Basic)
			wantInfo := types.IsString
			if s.Index.Kind == token.INT {
				wantInfo = types.IsInteger
			}
			if kb == nil || kb.Info()&wantInfo == 0 {
				pg.errorf(s.Pos, "%s path %s: the map %s has keys of type %s, which the constant %s is not", what, path, sofar, types.TypeString(m.Key(), q), s.Index.Text)
				return nil
			}
			pt.steps = append(pt.steps, step{index: s.Index, checks: levels, stars: levels})
			cur, addressable = m.Elem(), false
			sofar += "[" + s.Index.Text + "]"
			continue
		case annotations.StepCall:
			obj, index, _ := types.LookupFieldOrMethod(cur, addressable, pg.tpkg, s.Name)
			if _, isFunc := obj.(*types.Func); isFunc && len(index) > 1 {
				// A method promoted through embedded fields: select them
				// as fields, so that a nil embedded pointer that must be
				// read is a nil on the path (not a panic), then call the
				// method on the last one by the rules below.
				if embedded, bad := pg.embeddedSteps(cur, index[:len(index)-1]); bad == nil {
					pt.steps = append(pt.steps, embedded...)
					cur = embedded[len(embedded)-1].field.Type()
					for _, f := range embedded {
						addressable = addressable || f.checks > 0
					}
					levels = 0
					for t := cur; ; levels++ {
						ptr, isPtr := types.Unalias(t).Underlying().(*types.Pointer)
						if !isPtr {
							break
						}
						t = ptr.Elem()
					}
					obj, _, _ = types.LookupFieldOrMethod(cur, addressable, pg.tpkg, s.Name)
				}
			}
			fn, isFunc := obj.(*types.Func)
			if !isFunc {
				if _, _, ptrOnly := types.LookupFieldOrMethod(cur, true, pg.tpkg, s.Name); ptrOnly && !addressable {
					pg.errorf(s.Pos, "%s path %s: %s has a pointer receiver but %s is not addressable (the result of a call or a map entry); select through a pointer", what, path, s.Name, sofar)
					return nil
				}
				pg.errorf(s.Pos, "%s path %s: %s of type %s has no method %s that this package can call", what, path, sofar, types.TypeString(cur, q), s.Name)
				return nil
			}
			sig := fn.Type().(*types.Signature)
			if sig.Params().Len() != 0 || sig.Results().Len() != 1 {
				pg.errorf(s.Pos, "%s path %s: the method %s must take no arguments and return one value (a getter such as GetOrderId)", what, path, s.Name)
				return nil
			}
			_, ptrRecv := sig.Recv().Type().(*types.Pointer)
			st := step{method: s.Name, checks: levels, stars: max(levels-1, 0)}
			if ptrRecv && levels > 0 {
				// The method receives the pointer: it decides what a nil
				// receiver means (protobuf getters return the zero value).
				st.checks, st.stars = levels-1, levels-1
			}
			if _, isIface := cur.Underlying().(*types.Interface); isIface {
				st.checks = 1 // a method of a nil interface cannot be called
			}
			pt.steps = append(pt.steps, st)
			cur, addressable = sig.Results().At(0).Type(), false
			sofar += "." + s.Name + "()"
			continue
		}
		obj, index, _ := types.LookupFieldOrMethod(base, true, pg.tpkg, s.Name)
		switch obj.(type) {
		case nil:
			st, isStruct := base.Underlying().(*types.Struct)
			if !isStruct {
				pg.errorf(s.Pos, "%s path %s: %s has type %s, which has no fields", what, path, sofar, types.TypeString(cur, q))
				return nil
			}
			var fields []string
			for i := 0; i < st.NumFields(); i++ {
				sf := st.Field(i)
				if sf.Name() == s.Name && !sf.Exported() && sf.Pkg() != pg.tpkg {
					pg.errorf(s.Pos, "%s path %s: %s is an unexported field of %s (package %s), which generated code in package %s cannot read; select an exported field",
						what, path, s.Name, types.TypeString(base, q), sf.Pkg().Path(), pg.tpkg.Name())
					return nil
				}
				if sf.Exported() || sf.Pkg() == pg.tpkg {
					fields = append(fields, sf.Name())
				}
			}
			list := "it has no fields that can be read here"
			if len(fields) > 0 {
				list = "its fields are " + strings.Join(fields, ", ")
			}
			pg.errorf(s.Pos, "%s path %s: type %s has no field %s; %s", what, path, types.TypeString(base, q), s.Name, list)
			return nil
		case *types.Func:
			pg.errorf(s.Pos, "%s path %s: %s is a method of %s, not a field; call it with %s()", what, path, s.Name, types.TypeString(base, q), s.Name)
			return nil
		case *types.Var:
			fields, bad := pg.embeddedSteps(cur, index)
			if bad != nil {
				pg.errorf(s.Pos, "%s path %s reaches %s through the unexported embedded field %s of %s, which generated code cannot name; select the field through an exported path",
					what, path, s.Name, bad.field.Name(), types.TypeString(bad.in, q))
				return nil
			}
			pt.steps = append(pt.steps, fields...)
			cur = fields[len(fields)-1].field.Type()
			for _, f := range fields {
				if f.checks > 0 {
					addressable = true
				}
			}
		}
		sofar += "." + s.Name
	}
	pt.typ = cur
	if prob := keyProblem(cur, pg.tpkg); prob != nil {
		pg.errorf(path.Param.Pos, "%s part %s cannot be encoded: %s; %s parts must be data: basic types, time.Time, and structs, pointers, slices, arrays and maps of them",
			what, path, prob.describe(path.String(), q), what)
		return nil
	}
	return pt
}

// embeddedSteps returns the field steps that select the fields of index
// (a path of embedded fields and a last field, as
// types.LookupFieldOrMethod reports them) from a value of type cur, each
// with the nil checks of the pointers it crosses. A field generated code
// cannot name (unexported, of another package) is returned instead, with
// the struct type that has it.
func (pg *pkgGen) embeddedSteps(cur types.Type, index []int) ([]step, *unnamable) {
	var steps []step
	for _, idx := range index {
		derefs := 0
		t := cur
		for {
			ptr, isPtr := types.Unalias(t).Underlying().(*types.Pointer)
			if !isPtr {
				break
			}
			derefs++
			t = ptr.Elem()
		}
		fv := t.Underlying().(*types.Struct).Field(idx)
		if !fv.Exported() && fv.Pkg() != pg.tpkg {
			return nil, &unnamable{field: fv, in: t}
		}
		steps = append(steps, step{field: fv, checks: derefs, stars: max(derefs-1, 0)})
		cur = fv.Type()
	}
	return steps, nil
}

// unnamable is a field on a path that generated code cannot name.
type unnamable struct {
	field *types.Var
	in    types.Type
}

// txKindOf recognises the transaction types of the db effect.
func txKindOf(t types.Type) txKind {
	if p, ok := t.(*types.Pointer); ok {
		if n, ok := p.Elem().(*types.Named); ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "database/sql" && n.Obj().Name() == "Tx" {
			return txSQL
		}
	}
	if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "github.com/jackc/pgx/v5" && n.Obj().Name() == "Tx" {
		return txPgx
	}
	return 0
}

// effectName is the effect a directive set declares, "none" by default.
func effectName(d *annotations.Set) string {
	if d.Effect != nil {
		return d.Effect.Effect.String()
	}
	return annotations.EffectNone.String()
}

// checkIfEmpty checks that //idem:key ... if-empty=run can tell an empty
// key: every part that is not a constant must have a type whose zero value
// generated code can test.
func (pg *pkgGen) checkIfEmpty(w *wrapper) bool {
	d := w.dirs.Key
	if w.dirs.Effect != nil && w.dirs.Effect.Effect == annotations.EffectDB {
		pg.errorf(d.Pos, "if-empty=run cannot be used with effect db: the wrapper takes the database handle, not a transaction, so it has nothing to run %s in without a record; remove if-empty=run", w.fn.Name())
		return false
	}
	w.ifEmpty = true
	vars := 0
	for _, k := range w.key {
		if k.konst != nil {
			continue
		}
		vars++
		if !zeroTestable(k.typ) {
			pg.errorf(d.Pos, "if-empty=run: whether the key part %s (type %s) is empty cannot be tested; key on comparable parts (strings, numbers, pointers, slices, maps, comparable structs) or remove if-empty=run", k.display, types.TypeString(k.typ, pg.qualifier()))
			return false
		}
	}
	if vars == 0 {
		pg.errorf(d.Pos, "if-empty=run: every key part of %s is a constant, so its key is never empty; remove if-empty=run", w.fn.Name())
		return false
	}
	return true
}

// zeroTestable reports whether generated code can compare a value of t with
// its zero value.
func zeroTestable(t types.Type) bool {
	t = types.Unalias(t)
	if _, isTP := t.(*types.TypeParam); isTP {
		return false
	}
	if isTime(t) {
		return true
	}
	switch u := t.Underlying().(type) {
	case *types.Basic, *types.Pointer, *types.Slice, *types.Map, *types.Chan, *types.Interface, *types.Signature:
		return true
	case *types.Struct, *types.Array:
		return types.Comparable(u)
	}
	return false
}

// isHandle reports whether a parameter of type t is (or holds) a handle
// rather than data, so that leaving it out of the default fingerprint is
// expected and not warned about: an interface, func or chan, a pointer to
// a type of another package (*sql.DB, *http.Client), a sync primitive, or
// a struct holding one of these last three (a client with a mutex or an
// *http.Client).
func isHandle(t types.Type, pkg *types.Package) bool {
	switch types.Unalias(t).Underlying().(type) {
	case *types.Interface, *types.Signature, *types.Chan:
		return true
	}
	seen := map[types.Type]bool{}
	var holds func(t types.Type) bool
	holds = func(t types.Type) bool {
		t = types.Unalias(t)
		if seen[t] {
			return false
		}
		seen[t] = true
		if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil {
			if path := n.Obj().Pkg().Path(); path == "sync" || path == "sync/atomic" {
				return true
			}
		}
		switch u := t.Underlying().(type) {
		case *types.Pointer:
			if n, ok := types.Unalias(u.Elem()).(*types.Named); ok && n.Obj().Pkg() != nil && n.Obj().Pkg() != pkg {
				return true
			}
			return holds(u.Elem())
		case *types.Struct:
			for i := 0; i < u.NumFields(); i++ {
				if holds(u.Field(i).Type()) {
					return true
				}
			}
		}
		return false
	}
	return holds(t)
}

// nameDecoratorMethod names the method of an interface decorator: the
// interface method's own name, and its key helper <Method>Key.
func (pg *pkgGen) nameDecoratorMethod(w *wrapper) bool {
	d := w.deco
	if w.dirs.Name != nil {
		pg.errorf(w.dirs.Name.Pos, "//idem:name on a method of the interface %s: the decorator %s implements the interface, so its method keeps the name %s; remove //idem:name", d.iface.Name(), d.name, w.fn.Name())
		return false
	}
	name := w.fn.Name()
	keyName := name + "Key"
	iface := d.named.Underlying().(*types.Interface)
	for i := 0; i < iface.NumMethods(); i++ {
		if iface.Method(i).Name() == keyName {
			pg.errorf(w.dirs.Key.Pos, "the key helper %s.%s of method %s collides with the method %s of %s; rename one of them", d.name, keyName, name, keyName, d.iface.Name())
			return false
		}
	}
	w.name, w.keyFunc = name, keyName
	w.encodeFunc = pg.fresh("encode" + d.name + upperFirst(name) + "Key")
	return true
}

// isTxCandidate reports whether a parameter of type t can be the
// transaction of the db effect through runtime.TxOps: a pointer to a named
// type (*sqlx.Tx, a sqlc *Queries) or a named interface, other than a
// context.
func isTxCandidate(t types.Type) bool {
	t = types.Unalias(t)
	if isContext(t) {
		return false
	}
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		_, named := types.Unalias(u.Elem()).(*types.Named)
		return named
	case *types.Interface:
		_, named := t.(*types.Named)
		return named
	}
	return false
}

// classifier resolves //idem:classify: a func(error) runtime.Class declared
// in the wrapper's package, exported by a package its file imports, or
// exported by a package named by its import path. It reports a mistake and
// returns nil otherwise.
func (pg *pkgGen) classifier(w *wrapper, d *annotations.ClassifyDirective) *types.Func {
	want := "a func(error) runtime.Class (e.g. idemgrpc.Classify, or a function of this package)"
	var obj types.Object
	switch {
	case d.Path != "":
		imported, err := pg.importByPath(d.Path)
		if err != nil {
			pg.errorf(d.ArgPos, "//idem:classify %s: %v", classifyName(d), err)
			return nil
		}
		obj = imported.Scope().Lookup(d.Func)
		if obj != nil && !obj.Exported() {
			obj = nil
		}
	case d.Pkg == "":
		obj = pg.tpkg.Scope().Lookup(d.Func)
	default:
		var imported *types.Package
		for _, spec := range w.file.syntax.Imports {
			var pn *types.PkgName
			if spec.Name != nil {
				pn, _ = pg.pkg.TypesInfo.Defs[spec.Name].(*types.PkgName)
			} else {
				pn, _ = pg.pkg.TypesInfo.Implicits[spec].(*types.PkgName)
			}
			if pn != nil && pn.Name() == d.Pkg {
				imported = pn.Imported()
			}
		}
		if imported == nil {
			pg.errorf(d.ArgPos, "//idem:classify %s.%s: this file imports no package named %s; import it, or name %s", d.Pkg, d.Func, d.Pkg, want)
			return nil
		}
		obj = imported.Scope().Lookup(d.Func)
		if obj != nil && !obj.Exported() {
			obj = nil
		}
	}
	fn, ok := obj.(*types.Func)
	if !ok {
		pg.errorf(d.ArgPos, "//idem:classify names %s, which is not a function; name %s", classifyName(d), want)
		return nil
	}
	sig := fn.Type().(*types.Signature)
	if sig.Recv() != nil || sig.TypeParams() != nil || sig.Params().Len() != 1 || !isError(sig.Params().At(0).Type()) ||
		sig.Results().Len() != 1 || !isNamedType(sig.Results().At(0).Type(), runtimePath, "Class") {
		pg.errorf(d.ArgPos, "//idem:classify %s has type %s; it must be %s", classifyName(d), types.TypeString(sig, pg.qualifier()), want)
		return nil
	}
	return fn
}

func classifyName(d *annotations.ClassifyDirective) string {
	switch {
	case d.Path != "":
		return d.Path + "." + d.Func
	case d.Pkg == "":
		return d.Func
	}
	return d.Pkg + "." + d.Func
}
