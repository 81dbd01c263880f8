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

	recv     *types.Var      // nil for functions
	recvType *types.TypeName // the receiver's base type
	params   []*param
	results  []*types.Var // every result, error included
	ctx      *param       // the first context.Context parameter, if any
	// tx is the transaction parameter of a db-effect function, which the
	// wrapper replaces with the handle that begins the transaction.
	tx     *param
	txKind txKind

	key       []*part
	fp        []*part
	fpMode    fpMode
	fpOmitted []string // doc: parameters left out of the default fingerprint
	ok        bool     // analysis succeeded
	schema    *schema  // set once the analysis succeeded
}

// txKind is the kind of transaction a db-effect function takes.
type txKind int

const (
	txSQL txKind = iota + 1 // *database/sql.Tx; the wrapper takes *sql.DB
	txPgx                   // pgx.Tx; the wrapper takes *pgxpool.Pool
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

// part is a key or fingerprint part: a parameter, or a field reached from
// it through selectors.
type part struct {
	display string
	param   *param
	steps   []step
	typ     types.Type // type of the encoded value
}

// step selects one field, after dereferencing derefs pointer levels.
type step struct {
	field  *types.Var
	derefs int
}

// crossesPointer reports whether a nil pointer on the path can make the
// part nil.
func (p *part) crossesPointer() bool {
	for _, s := range p.steps {
		if s.derefs > 0 {
			return true
		}
	}
	return false
}

func (pg *pkgGen) analyze(w *wrapper) {
	info := pg.pkg.TypesInfo
	at := w.dirs.Key.Pos
	fn, _ := info.Defs[w.decl.Name].(*types.Func)
	if fn == nil {
		pg.reportTypeErrors(w.decl.Pos(), w.decl.End())
		pg.errorf(at, "cannot wrap %s: it does not type-check", w.decl.Name.Name)
		return
	}
	w.fn = fn
	w.sig = fn.Type().(*types.Signature)
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

	// The db effect: the first parameter after the context is the
	// transaction.
	if w.dirs.Effect != nil && w.dirs.Effect.Effect == annotations.EffectDB {
		for _, p := range w.params {
			if p == w.ctx {
				continue
			}
			if k := txKindOf(p.typ); k != 0 {
				w.tx, w.txKind = p, k
			}
			break
		}
		if w.tx == nil {
			pg.errorf(w.dirs.Effect.Pos, "effect db needs the first parameter of %s after the context to be the transaction its writes run in: a *sql.Tx (the wrapper then takes a *sql.DB) or a pgx.Tx (the wrapper then takes a *pgxpool.Pool)", fn.Name())
			ok = false
		} else if w.tx.variadic {
			pg.errorf(w.dirs.Effect.Pos, "effect db: the transaction parameter of %s cannot be variadic", fn.Name())
			ok = false
		}
	}

	// A composite's steps run in its context.
	if w.dirs.Effect != nil && w.dirs.Effect.Effect == annotations.EffectComposite && w.ctx == nil {
		pg.errorf(w.dirs.Effect.Pos, "effect composite needs a context.Context parameter in %s: its steps (runtime.Step, runtime.StepSQL) take the context the wrapper passes", fn.Name())
		ok = false
	}

	// Receiver.
	if r := w.sig.Recv(); r != nil {
		w.recv = r
		if n, isNamed := deref(r.Type()).(*types.Named); isNamed {
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
			case isContext(p.typ):
				w.fpOmitted = append(w.fpOmitted, p.label()+" (context.Context)")
			case containsTypeParam(p.typ):
				w.fpOmitted = append(w.fpOmitted, p.label()+" (its type depends on a type parameter)")
			default:
				if prob := keyProblem(p.typ, pg.tpkg); prob != nil {
					w.fpOmitted = append(w.fpOmitted, fmt.Sprintf("%s (%s: %s)", p.label(), types.TypeString(p.typ, q), prob.short()))
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
		if obj, _, _ := types.LookupFieldOrMethod(w.recvType.Type(), true, pg.tpkg, name); obj != nil {
			kind := "method"
			if _, isVar := obj.(*types.Var); isVar {
				kind = "field"
			}
			pg.errorf(pos, "wrapper name %s collides with the %s %s.%s (%s)%s", name, kind, w.recvType.Name(), name, pg.where(obj.Pos()), hint)
			return false
		}
		ms[name] = w
		w.name = name
		return true
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
	pg.funcs[name] = w
	pg.taken[name] = true
	w.name = name
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
// parameters and checks that its value can be encoded. It reports mistakes
// and returns nil on failure.
func (pg *pkgGen) resolvePath(w *wrapper, path annotations.Path, what string) *part {
	q := pg.qualifier()
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
	if p == nil {
		msg := "it has no named parameters"
		if len(names) > 0 {
			msg = "its parameters are " + strings.Join(names, ", ")
		}
		if w.recv != nil && w.recv.Name() == path.Param.Name {
			pg.errorf(path.Param.Pos, "%s path %s starts at the receiver %s; %s paths start at a parameter (%s)", what, path, path.Param.Name, what, msg)
			return nil
		}
		pg.errorf(path.Param.Pos, "%s path %s names no parameter %s of %s; %s", what, path, path.Param.Name, w.fn.Name(), msg)
		return nil
	}
	pt := &part{display: path.String(), param: p}
	cur := p.typ
	sofar := p.name
	for _, f := range path.Fields {
		base := deref(cur)
		if _, isTP := base.(*types.TypeParam); isTP {
			pg.errorf(f.Pos, "%s path %s: %s has type parameter type %s, whose fields cannot be selected; use %s itself", what, path, sofar, types.TypeString(cur, q), sofar)
			return nil
		}
		obj, index, _ := types.LookupFieldOrMethod(base, true, pg.tpkg, f.Name)
		switch obj.(type) {
		case nil:
			st, isStruct := base.Underlying().(*types.Struct)
			if !isStruct {
				pg.errorf(f.Pos, "%s path %s: %s has type %s, which has no fields", what, path, sofar, types.TypeString(cur, q))
				return nil
			}
			var fields []string
			for i := 0; i < st.NumFields(); i++ {
				sf := st.Field(i)
				if sf.Name() == f.Name && !sf.Exported() && sf.Pkg() != pg.tpkg {
					pg.errorf(f.Pos, "%s path %s: %s is an unexported field of %s (package %s), which generated code in package %s cannot read; select an exported field",
						what, path, f.Name, types.TypeString(base, q), sf.Pkg().Path(), pg.tpkg.Name())
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
			pg.errorf(f.Pos, "%s path %s: type %s has no field %s; %s", what, path, types.TypeString(base, q), f.Name, list)
			return nil
		case *types.Func:
			pg.errorf(f.Pos, "%s path %s: %s is a method of %s, not a field; paths select fields", what, path, f.Name, types.TypeString(base, q))
			return nil
		case *types.Var:
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
				st := t.Underlying().(*types.Struct)
				fv := st.Field(idx)
				if !fv.Exported() && fv.Pkg() != pg.tpkg {
					pg.errorf(f.Pos, "%s path %s reaches %s through the unexported embedded field %s of %s, which generated code cannot name; select the field through an exported path",
						what, path, f.Name, fv.Name(), types.TypeString(t, q))
					return nil
				}
				pt.steps = append(pt.steps, step{field: fv, derefs: derefs})
				cur = fv.Type()
			}
		}
		sofar += "." + f.Name
	}
	pt.typ = cur
	if prob := keyProblem(cur, pg.tpkg); prob != nil {
		pg.errorf(path.Param.Pos, "%s part %s cannot be encoded: %s; %s parts must be data: basic types, time.Time, and structs, pointers, slices, arrays and maps of them",
			what, path, prob.describe(path.String(), q), what)
		return nil
	}
	return pt
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
