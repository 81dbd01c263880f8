package gen

import (
	"fmt"
	"go/types"
	"reflect"
	"strings"
)

// deref strips every pointer level off t (after resolving aliases).
func deref(t types.Type) types.Type {
	for {
		p, ok := types.Unalias(t).Underlying().(*types.Pointer)
		if !ok {
			return types.Unalias(t)
		}
		t = p.Elem()
	}
}

// isNamedType reports whether t (after aliases) is the named type path.name.
func isNamedType(t types.Type, path, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return false
	}
	o := n.Obj()
	return o.Pkg() != nil && o.Pkg().Path() == path && o.Name() == name
}

func isTime(t types.Type) bool     { return isNamedType(t, "time", "Time") }
func isDuration(t types.Type) bool { return isNamedType(t, "time", "Duration") }
func isContext(t types.Type) bool  { return isNamedType(t, "context", "Context") }

// isTimeShaped reports whether a struct is time.Time's underlying struct
// (for types defined as `type T time.Time`).
func isTimeShaped(s *types.Struct) bool {
	if s.NumFields() != 3 {
		return false
	}
	for i, name := range [...]string{"wall", "ext", "loc"} {
		f := s.Field(i)
		if f.Name() != name || f.Pkg() == nil || f.Pkg().Path() != "time" {
			return false
		}
	}
	return true
}

// isError reports whether t is the predeclared error type.
func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// containsInvalid reports whether t mentions an invalid type (the package
// did not type-check).
func containsInvalid(t types.Type) bool {
	found := false
	walkType(t, func(t types.Type) bool {
		if b, ok := t.(*types.Basic); ok && b.Kind() == types.Invalid {
			found = true
		}
		return !found
	})
	return found
}

// containsTypeParam reports whether t mentions a type parameter.
func containsTypeParam(t types.Type) bool {
	found := false
	walkType(t, func(t types.Type) bool {
		if _, ok := t.(*types.TypeParam); ok {
			found = true
		}
		return !found
	})
	return found
}

// walkType visits t and the types it is built from (not the underlying
// types of named types, but their type arguments), while visit returns
// true.
func walkType(t types.Type, visit func(types.Type) bool) {
	if t == nil || !visit(t) {
		return
	}
	switch t := t.(type) {
	case *types.Alias:
		walkType(types.Unalias(t), visit)
	case *types.Named:
		for i := 0; i < t.TypeArgs().Len(); i++ {
			walkType(t.TypeArgs().At(i), visit)
		}
	case *types.Pointer:
		walkType(t.Elem(), visit)
	case *types.Slice:
		walkType(t.Elem(), visit)
	case *types.Array:
		walkType(t.Elem(), visit)
	case *types.Map:
		walkType(t.Key(), visit)
		walkType(t.Elem(), visit)
	case *types.Chan:
		walkType(t.Elem(), visit)
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			walkType(t.Field(i).Type(), visit)
		}
	case *types.Signature:
		walkTuple(t.Params(), visit)
		walkTuple(t.Results(), visit)
	case *types.Tuple:
		walkTuple(t, visit)
	case *types.Interface:
		for i := 0; i < t.NumEmbeddeds(); i++ {
			walkType(t.EmbeddedType(i), visit)
		}
		for i := 0; i < t.NumExplicitMethods(); i++ {
			walkType(t.ExplicitMethod(i).Type(), visit)
		}
	case *types.Union:
		for i := 0; i < t.Len(); i++ {
			walkType(t.Term(i).Type(), visit)
		}
	}
}

func walkTuple(t *types.Tuple, visit func(types.Type) bool) {
	for i := 0; i < t.Len(); i++ {
		walkType(t.At(i).Type(), visit)
	}
}

// problem says why a value cannot be encoded into a key or fingerprint.
type problem struct {
	where string // selector suffix inside the value: ".Opts.Cb", "[]", "[key]"
	typ   types.Type
	what  string // "a func", "an interface", ...
	// unexported is set for a field of another package's struct that
	// generated code cannot read.
	unexported bool
	field      string
	owner      types.Type
}

// keyProblem reports why values of t cannot be encoded by generated code in
// package pkg, or nil when they can: basic types (not unsafe.Pointer),
// time.Time, type parameters (encoded reflectively), and structs (whose
// fields pkg can read), pointers, slices, arrays and maps of these.
func keyProblem(t types.Type, pkg *types.Package) *problem {
	return keyProblemAt(t, pkg, "", map[*types.Named]bool{})
}

func keyProblemAt(t types.Type, pkg *types.Package, where string, seen map[*types.Named]bool) *problem {
	p := structProblemAt(t, pkg, where, seen)
	if p != nil && marshalOf(t) != "" {
		return nil // encoded through its marshaled bytes
	}
	return p
}

// Marshaled encodings of key values that cannot be encoded field by field.
const (
	marshalProto = "proto" // a protobuf message: its deterministic wire bytes
	marshalText  = "text"  // an encoding.TextMarshaler: its text
)

// keyMarshal says how a key value of t is encoded when its structure
// cannot be (a protobuf message, a math/big number, a decimal: types with
// unexported state): marshalProto, marshalText, or "" when it is encoded
// field by field. A type whose structure can be encoded keeps that
// encoding even if it has MarshalText, so that its keys never change.
func keyMarshal(t types.Type, pkg *types.Package) string {
	if m := marshalOf(t); m != "" && structProblemAt(t, pkg, "", map[*types.Named]bool{}) != nil {
		return m
	}
	return ""
}

// marshalOf reports whether the method set of t holds ProtoReflect()
// returning protoreflect.Message (detected by name: the generator does not
// import protobuf) or MarshalText() ([]byte, error).
func marshalOf(t types.Type) string {
	t = types.Unalias(t)
	if _, isTP := t.(*types.TypeParam); isTP {
		return ""
	}
	ms := types.NewMethodSet(t)
	if sel := ms.Lookup(nil, "ProtoReflect"); sel != nil {
		sig := sel.Obj().Type().(*types.Signature)
		if sig.Params().Len() == 0 && sig.Results().Len() == 1 && isNamedType(sig.Results().At(0).Type(), "google.golang.org/protobuf/reflect/protoreflect", "Message") {
			return marshalProto
		}
	}
	if sel := ms.Lookup(nil, "MarshalText"); sel != nil {
		sig := sel.Obj().Type().(*types.Signature)
		if sig.Params().Len() == 0 && sig.Results().Len() == 2 && isError(sig.Results().At(1).Type()) {
			if sl, ok := sig.Results().At(0).Type().(*types.Slice); ok && types.Identical(sl.Elem(), types.Typ[types.Byte]) {
				return marshalText
			}
		}
	}
	return ""
}

// structProblemAt is keyProblemAt without marshaled encodings at the top.
func structProblemAt(t types.Type, pkg *types.Package, where string, seen map[*types.Named]bool) *problem {
	t = types.Unalias(t)
	if n, ok := t.(*types.Named); ok {
		if isTime(n) {
			return nil
		}
		if seen[n] {
			return nil // recursive: checked where it started
		}
		seen[n] = true
		if containsTypeParam(n) && isRecursive(n) {
			return &problem{where: where, typ: t, what: "a recursive generic type instantiated with a type parameter, which generated code cannot encode"}
		}
	}
	if _, ok := t.(*types.TypeParam); ok {
		return nil // encoded reflectively (Encoder.Value)
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Kind() == types.UnsafePointer:
			return &problem{where: where, typ: t, what: "an unsafe.Pointer"}
		case u.Kind() == types.Invalid:
			return &problem{where: where, typ: t, what: "an invalid type (the package has type errors)"}
		case u.Info()&types.IsUntyped != 0:
			return &problem{where: where, typ: t, what: "untyped"}
		}
		return nil
	case *types.Pointer:
		return keyProblemAt(u.Elem(), pkg, where, seen)
	case *types.Slice:
		return keyProblemAt(u.Elem(), pkg, where+"[]", seen)
	case *types.Array:
		return keyProblemAt(u.Elem(), pkg, where+"[]", seen)
	case *types.Map:
		if p := keyProblemAt(u.Key(), pkg, where+"[key]", seen); p != nil {
			return p
		}
		return keyProblemAt(u.Elem(), pkg, where+"[value]", seen)
	case *types.Struct:
		if isTimeShaped(u) {
			return nil
		}
		for i := 0; i < u.NumFields(); i++ {
			f := u.Field(i)
			if f.Name() == "_" {
				continue
			}
			if !f.Exported() && f.Pkg() != pkg {
				return &problem{where: where + "." + f.Name(), typ: f.Type(), unexported: true, field: f.Name(), owner: t}
			}
			if p := keyProblemAt(f.Type(), pkg, where+"."+f.Name(), seen); p != nil {
				return p
			}
		}
		return nil
	case *types.Interface:
		return &problem{where: where, typ: t, what: "an interface"}
	case *types.Signature:
		return &problem{where: where, typ: t, what: "a func"}
	case *types.Chan:
		return &problem{where: where, typ: t, what: "a chan"}
	}
	return &problem{where: where, typ: t, what: "not encodable"}
}

// describe renders a problem found in the value named expr.
func (p *problem) describe(expr string, q types.Qualifier) string {
	at := expr + p.where
	if p.unexported {
		return fmt.Sprintf("%s is an unexported field of %s, which generated code in this package cannot read", at, types.TypeString(p.owner, q))
	}
	return fmt.Sprintf("%s has type %s, which is %s", at, types.TypeString(p.typ, q), p.what)
}

// short is a few words for the wrapper's doc: why a parameter was left out
// of the default fingerprint.
func (p *problem) short() string {
	switch {
	case p.unexported:
		return "holds unexported state"
	case p.where == "":
		return p.what
	}
	return "holds " + p.what
}

// resultMarshalers are the method sets the result codec looks for, built
// without importing encoding or the CBOR library: cbor.Marshaler and
// cbor.Unmarshaler, encoding.BinaryMarshaler and BinaryUnmarshaler,
// encoding.TextMarshaler and TextUnmarshaler.
type resultMarshalers struct {
	cborM, cborU, binM, binU, textM, textU *types.Interface
}

func newResultMarshalers() *resultMarshalers {
	errT := types.Universe.Lookup("error").Type()
	bytesT := types.NewSlice(types.Typ[types.Byte])
	method := func(name string, params, results *types.Tuple) *types.Interface {
		sig := types.NewSignatureType(nil, nil, nil, params, results, false)
		return types.NewInterfaceType([]*types.Func{types.NewFunc(0, nil, name, sig)}, nil).Complete()
	}
	marshal := func(name string) *types.Interface {
		return method(name, nil, types.NewTuple(types.NewParam(0, nil, "", bytesT), types.NewParam(0, nil, "", errT)))
	}
	unmarshal := func(name string) *types.Interface {
		return method(name, types.NewTuple(types.NewParam(0, nil, "", bytesT)), types.NewTuple(types.NewParam(0, nil, "", errT)))
	}
	return &resultMarshalers{
		cborM: marshal("MarshalCBOR"), cborU: unmarshal("UnmarshalCBOR"),
		binM: marshal("MarshalBinary"), binU: unmarshal("UnmarshalBinary"),
		textM: marshal("MarshalText"), textU: unmarshal("UnmarshalText"),
	}
}

// marshaling mirrors runtime.resultMarshaling: whether the codec writes t
// with a marshaler pair (true), by its structure (false), or cannot
// (a message: t implements half a pair).
func (m *resultMarshalers) marshaling(t types.Type, q types.Qualifier) (bool, string) {
	pt := types.NewPointer(t)
	has := func(i *types.Interface) bool { return types.Implements(pt, i) }
	half := func(a, b string) string {
		return fmt.Sprintf("implements only one of %s and %s, so its records could not be decoded; implement both on *%s", a, b, types.TypeString(t, q))
	}
	switch {
	case has(m.cborM) || has(m.cborU):
		if !has(m.cborM) || !has(m.cborU) {
			return false, half("cbor.Marshaler", "cbor.Unmarshaler")
		}
	case has(m.binM):
		if !has(m.binU) {
			return false, half("encoding.BinaryMarshaler", "encoding.BinaryUnmarshaler")
		}
	case has(m.textM):
		if !has(m.textU) {
			return false, half("encoding.TextMarshaler", "encoding.TextUnmarshaler")
		}
	case has(m.binU):
		return false, half("encoding.BinaryMarshaler", "encoding.BinaryUnmarshaler")
	case has(m.textU):
		return false, half("encoding.TextMarshaler", "encoding.TextUnmarshaler")
	default:
		return false, ""
	}
	return true, ""
}

// kind names the marshaler pair the codec records t through ("cbor",
// "binary" or "text", in the codec's order of preference), or "" when it
// records t by its structure.
func (m *resultMarshalers) kind(t types.Type) string {
	pt := types.NewPointer(t)
	both := func(a, b *types.Interface) bool { return types.Implements(pt, a) && types.Implements(pt, b) }
	switch {
	case both(m.cborM, m.cborU):
		return "cbor"
	case both(m.binM, m.binU):
		return "binary"
	case both(m.textM, m.textU):
		return "text"
	}
	return ""
}

// resultProblem reports why values of t cannot round-trip through the
// runtime's result codec, or "" when they can. It mirrors
// runtime.CheckResultType (gen/internal/resultcases holds the cases both
// must agree on): functions, channels, unsafe pointers, interfaces,
// complex numbers and uintptr never round-trip; a type that implements a
// marshaler pair (binary or text) round-trips through it, and half a pair
// is refused; structs with unexported fields (in any package, and types
// defined from time.Time) round-trip only through a marshaler pair; a
// field tagged json:"-" without a cbor tag would replay as zero. Type
// parameters are accepted here and checked by the runtime for each
// instantiation.
func resultProblem(t types.Type, q types.Qualifier) string {
	return resultProblemAt(t, q, "", map[types.Type]bool{}, newResultMarshalers())
}

func resultProblemAt(t types.Type, q types.Qualifier, where string, seen map[types.Type]bool, m *resultMarshalers) string {
	t = types.Unalias(t)
	if n, ok := t.(*types.Named); ok {
		if seen[n] {
			return ""
		}
		seen[n] = true
	}
	at := func(msg string) string {
		if where == "" {
			return fmt.Sprintf("type %s %s", types.TypeString(t, q), msg)
		}
		return fmt.Sprintf("%s (type %s) %s", strings.TrimPrefix(where, "."), types.TypeString(t, q), msg)
	}
	if _, ok := t.(*types.TypeParam); ok {
		return ""
	}
	switch u := t.Underlying().(type) {
	case *types.Interface:
		return at("is an interface: its dynamic type is unknown when the result is replayed; return a concrete type")
	case *types.Signature:
		return at("is a func: functions cannot be recorded")
	case *types.Chan:
		return at("is a chan: channels cannot be recorded")
	case *types.Pointer:
		if marshalOf(t) == marshalProto {
			return "" // recorded by runtime/idemproto's codec, which the generated file imports
		}
		return resultProblemAt(u.Elem(), q, where, seen, m)
	case *types.Basic:
		switch {
		case u.Kind() == types.UnsafePointer:
			return at("is an unsafe.Pointer, which cannot be recorded")
		case u.Kind() == types.Invalid:
			return at("is invalid (the package has type errors)")
		}
	}
	if isTime(t) {
		return ""
	}
	if ok, msg := m.marshaling(t, q); ok || msg != "" {
		if msg != "" {
			return at(msg)
		}
		return ""
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsComplex != 0:
			return at("is a complex number, which CBOR cannot hold; return the real and imaginary parts as floats")
		case u.Kind() == types.Uintptr:
			return at("is a uintptr, which means nothing to another process; return an integer type")
		}
	case *types.Slice:
		if isByte(u.Elem()) {
			return ""
		}
		return resultProblemAt(u.Elem(), q, where+"[]", seen, m)
	case *types.Array:
		if isByte(u.Elem()) {
			return ""
		}
		return resultProblemAt(u.Elem(), q, where+"[]", seen, m)
	case *types.Map:
		if p := resultProblemAt(u.Key(), q, where+"[key]", seen, m); p != "" {
			return p
		}
		return resultProblemAt(u.Elem(), q, where+"[value]", seen, m)
	case *types.Struct:
		if isTimeShaped(u) {
			return at("is defined from time.Time without time.Time's methods, so the result codec cannot see its instant; return a time.Time, or implement encoding.TextMarshaler and encoding.TextUnmarshaler on *" + types.TypeString(t, q))
		}
		for i := 0; i < u.NumFields(); i++ {
			f := u.Field(i)
			if f.Name() == "_" {
				continue
			}
			if !f.Exported() {
				return at(fmt.Sprintf("has the unexported field %s, which the result codec cannot set; export the fields, or implement encoding.BinaryMarshaler and BinaryUnmarshaler (or encoding.TextMarshaler and TextUnmarshaler) on *%s", f.Name(), types.TypeString(t, q)))
			}
			tag := reflect.StructTag(u.Tag(i))
			cborTag, hasCBOR := tag.Lookup("cbor")
			if cborTag == "-" {
				continue
			}
			if !hasCBOR && tag.Get("json") == "-" {
				return at(fmt.Sprintf(`has the field %s tagged json:"-", which the result codec also honours, so it would replay as its zero value; tag it cbor:"%s" to record it, or cbor:"-" to leave it out on purpose`, f.Name(), f.Name()))
			}
			if p := resultProblemAt(f.Type(), q, where+"."+f.Name(), seen, m); p != "" {
				return p
			}
		}
	}
	return ""
}

// isByte reports whether t's underlying type is byte (uint8): slices and
// arrays of it are recorded as byte strings.
func isByte(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Kind() == types.Uint8
}

// isRecursive reports whether the named type n reaches itself through its
// structure (fields, elements, pointees, map keys and values).
func isRecursive(n *types.Named) bool {
	seen := map[*types.Named]bool{}
	var reach func(t types.Type) bool
	reach = func(t types.Type) bool {
		t = types.Unalias(t)
		if m, ok := t.(*types.Named); ok {
			if types.Identical(m, n) {
				return true
			}
			if isTime(m) || seen[m] {
				return false
			}
			seen[m] = true
		}
		switch u := t.Underlying().(type) {
		case *types.Pointer:
			return reach(u.Elem())
		case *types.Slice:
			return reach(u.Elem())
		case *types.Array:
			return reach(u.Elem())
		case *types.Map:
			return reach(u.Key()) || reach(u.Elem())
		case *types.Struct:
			for i := 0; i < u.NumFields(); i++ {
				if reach(u.Field(i).Type()) {
					return true
				}
			}
		}
		return false
	}
	return reach(n.Underlying())
}

// holdsProto reports whether values of t can hold a protobuf message (a
// pointer to a type with ProtoReflect), which the result codec records
// through runtime/idemproto: a generated file whose results hold one
// imports that package for its codec.
func holdsProto(t types.Type) bool {
	found := false
	walkType(t, func(t types.Type) bool {
		if _, ok := types.Unalias(t).Underlying().(*types.Pointer); ok && marshalOf(t) == marshalProto {
			found = true
		}
		return !found
	})
	return found
}
