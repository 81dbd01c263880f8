package gen

import (
	"bytes"
	"go/token"
	"go/types"
	"reflect"
	"strconv"
	"strings"

	"github.com/idem-go/idem/annotations"
)

// A schema is what the keys, fingerprints and recorded results of one
// wrapper depend on. Every generated file carries the schema of each of its
// wrappers in the doc comment of the wrapper's spec variable, as lines
// indented by a tab:
//
//	idemgen-schema InsertEvent
//	wrapper InsertEventIdem
//	namespace "example.com/app.InsertEvent"
//	version 1
//	effect api
//	params ctx, db, ev
//	key ev.ID string
//	fingerprint ev struct{ID string; At time; Tags []string}
//	result R0 int64
//
// On the next run idemgen compares it with the schema it is about to write
// (checkSchema) to catch changes that would break calls in flight.
type schema struct {
	fn        string // the wrapped function, as F or T.M
	wrapper   string // the wrapper, as W or T.W
	namespace string
	version   int
	effect    string   // the //idem:effect spelling
	params    []string // parameter names in order ($N for unnamed parameter N)
	key       []schemaPart
	fp        []schemaPart
	results   []schemaPart // R0, R1…: the fields the result codec decodes by name
}

// schemaPart is one key or fingerprint part (a path) or one result (R0…),
// with the shape of its type (see shapeOf).
type schemaPart struct {
	name  string
	shape string
}

// schemaMarker starts the schema block of one wrapper.
const schemaMarker = "idemgen-schema "

// schemaOf builds the schema of an analysed wrapper.
func (pg *pkgGen) schemaOf(w *wrapper) *schema {
	s := &schema{fn: w.qualifiedName(), wrapper: w.wrapperQualifiedName(), namespace: w.namespace, version: w.version, effect: w.effect.String()}
	for _, p := range w.params {
		s.params = append(s.params, p.schemaName())
	}
	for _, p := range w.key {
		s.key = append(s.key, schemaPart{p.schemaName(), keyShapeOf(p.typ, pg.tpkg)})
	}
	for _, p := range w.fp {
		s.fp = append(s.fp, schemaPart{p.schemaName(), keyShapeOf(p.typ, pg.tpkg)})
	}
	for i := 0; i < len(w.results)-1; i++ {
		s.results = append(s.results, schemaPart{"R" + strconv.Itoa(i), shapeOf(w.results[i].Type(), true)})
	}
	return s
}

// schemaName is the part's path, with $N for the unnamed parameter N
// (counted from 1), which a schema line can hold without spaces.
func (p *part) schemaName() string {
	if p.param != nil && !p.param.named() {
		return p.param.schemaName()
	}
	return p.display
}

// schemaName is the parameter's name, or $N for the unnamed parameter N.
func (p *param) schemaName() string {
	if !p.named() {
		return "$" + strconv.Itoa(p.idx+1)
	}
	return p.name
}

// canonical is a part's path with its parameter named by position (#N),
// so that renaming a parameter, which changes no key, changes no path; or,
// unless byPosition (one of the schemas compared has no params line), the
// path as written.
func (s *schema) canonical(path string, byPosition bool) string {
	if !byPosition {
		return path
	}
	end := strings.IndexAny(path, ".[")
	if end < 0 {
		end = len(path)
	}
	param, rest := path[:end], path[end:]
	for i, p := range s.params {
		if p == param {
			return "#" + strconv.Itoa(i+1) + rest
		}
	}
	return path // a constant, or the receiver
}

// cutName splits a schema line's "name shape" at the first space outside
// a quoted string (a path may hold a constant such as h["Webhook Id"]).
func cutName(rest string) (name, shape string) {
	if i := annotations.IndexOutsideQuotes(rest, 0, func(c byte) bool { return c == ' ' }); i >= 0 {
		return rest[:i], rest[i+1:]
	}
	return rest, ""
}

// lines renders the schema, one line per fact.
func (s *schema) lines() []string {
	out := []string{
		schemaMarker + s.fn,
		"wrapper " + s.wrapper,
		"namespace " + strconv.Quote(s.namespace),
		"version " + strconv.Itoa(s.version),
		"effect " + s.effect,
		"params " + strings.Join(s.params, ", "),
	}
	for _, p := range s.key {
		out = append(out, "key "+p.name+" "+p.shape)
	}
	if len(s.fp) == 0 {
		out = append(out, "fingerprint none")
	}
	for _, p := range s.fp {
		out = append(out, "fingerprint "+p.name+" "+p.shape)
	}
	for _, p := range s.results {
		out = append(out, "result "+p.name+" "+p.shape)
	}
	return out
}

// parseSchemas reads the schemas carried by a generated file. Lines it
// cannot read end the schema they belong to; a file from an idemgen that
// wrote no schema yields none.
func parseSchemas(file []byte) []*schema {
	var out []*schema
	var cur *schema
	start := bytes.Index(file, []byte("//\t"+schemaMarker))
	if start < 0 {
		return nil
	}
	for rest := file[start:]; len(rest) > 0; {
		raw := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			raw, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if !bytes.HasPrefix(raw, []byte("//\t")) {
			cur = nil
			continue
		}
		if cur == nil && !bytes.HasPrefix(raw[3:], []byte(schemaMarker)) {
			continue
		}
		line := strings.TrimRight(string(raw[3:]), "\r")
		if fn, ok := strings.CutPrefix(line, schemaMarker); ok {
			cur = &schema{fn: strings.TrimSpace(fn)}
			out = append(out, cur)
			continue
		}
		if cur == nil {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "wrapper":
			cur.wrapper = rest
		case "namespace":
			if ns, err := strconv.Unquote(rest); err == nil {
				cur.namespace = ns
			}
		case "version":
			cur.version, _ = strconv.Atoi(rest)
		case "effect":
			cur.effect = rest
		case "params":
			cur.params = strings.Split(rest, ", ")
		case "key", "fingerprint", "result":
			if rest == "none" && word == "fingerprint" {
				continue
			}
			name, shape := cutName(rest)
			p := schemaPart{name, shape}
			switch word {
			case "key":
				cur.key = append(cur.key, p)
			case "fingerprint":
				cur.fp = append(cur.fp, p)
			default:
				cur.results = append(cur.results, p)
			}
		}
	}
	return out
}

// shapeOf describes a type as the key encoding (results false) or the
// result codec (results true) sees it: named types are replaced by their
// structure, except time.Time ("time"), time.Duration ("duration"), a
// recursive type met again (@"Name") and, for results, types recorded
// through a marshaler pair ("cbor", "binary" or "text"). Arrays read as slices (both
// encode as lists), []byte is "bytes", type parameters are "typeparam".
// Struct fields are listed in declaration order by the name they are
// encoded under.
func shapeOf(t types.Type, results bool) string {
	var b strings.Builder
	sh := shaper{results: results, b: &b}
	if results {
		sh.rm = newResultMarshalers()
	}
	sh.write(t)
	return b.String()
}

// keyShapeOf is the shape of a key or fingerprint part's type in package
// pkg: values encoded through their marshaled bytes (keyMarshal) are
// "proto" or "text".
func keyShapeOf(t types.Type, pkg *types.Package) string {
	var b strings.Builder
	sh := shaper{b: &b, pkg: pkg}
	sh.write(t)
	return b.String()
}

type shaper struct {
	pkg     *types.Package // for keys: the generated code's package
	results bool
	rm      *resultMarshalers
	b       *strings.Builder
	open    []*types.Named // named types being expanded
}

func (sh *shaper) write(t types.Type) {
	t = types.Unalias(t)
	b := sh.b
	if _, ok := t.(*types.TypeParam); ok {
		b.WriteString("typeparam")
		return
	}
	if isTime(t) {
		b.WriteString("time")
		return
	}
	if isDuration(t) {
		b.WriteString("duration")
		return
	}
	if sh.pkg != nil {
		if m := keyMarshal(t, sh.pkg); m != "" {
			b.WriteString(m)
			return
		}
	}
	if sh.results {
		if _, isPtr := t.Underlying().(*types.Pointer); !isPtr {
			if kind := sh.rm.kind(t); kind != "" {
				b.WriteString(kind)
				return
			}
		}
	}
	if n, ok := t.(*types.Named); ok {
		for _, o := range sh.open {
			if types.Identical(o, n) {
				b.WriteString("@" + strconv.Quote(types.TypeString(n, func(p *types.Package) string { return p.Name() })))
				return
			}
		}
		sh.open = append(sh.open, n)
		defer func() { sh.open = sh.open[:len(sh.open)-1] }()
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		b.WriteString(types.Typ[u.Kind()].Name())
	case *types.Pointer:
		b.WriteString("*")
		sh.write(u.Elem())
	case *types.Slice:
		if e, ok := types.Unalias(u.Elem()).Underlying().(*types.Basic); ok && e.Kind() == types.Uint8 {
			b.WriteString("bytes")
			return
		}
		b.WriteString("[]")
		sh.write(u.Elem())
	case *types.Array:
		b.WriteString("[]")
		sh.write(u.Elem())
	case *types.Map:
		b.WriteString("map[")
		sh.write(u.Key())
		b.WriteString("]")
		sh.write(u.Elem())
	case *types.Struct:
		if isTimeShaped(u) {
			b.WriteString("time")
			return
		}
		b.WriteString("struct{")
		sh.fields(u, true)
		b.WriteString("}")
	default:
		b.WriteString(strconv.Quote(types.TypeString(t, nil)))
	}
}

// fields writes the fields of st as "Name shape", separated by "; ".
func (sh *shaper) fields(st *types.Struct, first bool) bool {
	for i := 0; i < st.NumFields(); i++ {
		f := st.Field(i)
		name := f.Name()
		if name == "_" {
			continue
		}
		if sh.results {
			if !f.Exported() {
				continue
			}
			tagName, hasTag := codecName(st.Tag(i))
			if tagName == "-" {
				continue
			}
			if hasTag {
				name = tagName
			} else if f.Embedded() {
				// Untagged embedded structs are flattened, as encoding/json
				// and CBOR codecs do.
				if est, ok := deref(f.Type()).Underlying().(*types.Struct); ok && !isTime(deref(f.Type())) {
					first = sh.fields(est, first)
					continue
				}
			}
		}
		if !first {
			sh.b.WriteString("; ")
		}
		first = false
		if token.IsIdentifier(name) {
			sh.b.WriteString(name)
		} else {
			sh.b.WriteString(strconv.Quote(name))
		}
		sh.b.WriteString(" ")
		sh.write(f.Type())
	}
	return first
}

// codecName returns the field name a cbor (or else json) struct tag gives,
// and whether a tag gave one.
func codecName(tag string) (string, bool) {
	for _, k := range []string{"cbor", "json"} {
		if v, ok := reflect.StructTag(tag).Lookup(k); ok {
			name, _, _ := strings.Cut(v, ",")
			if name != "" {
				return name, true
			}
		}
	}
	return "", false
}
