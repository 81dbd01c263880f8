package gen

import (
	"fmt"
	"go/types"
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

// binaryMarshalers returns encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler, built without importing encoding.
func binaryMarshalers() (m, u *types.Interface) {
	errT := types.Universe.Lookup("error").Type()
	bytesT := types.NewSlice(types.Typ[types.Byte])
	marshal := types.NewFunc(0, nil, "MarshalBinary", types.NewSignatureType(nil, nil, nil, nil,
		types.NewTuple(types.NewParam(0, nil, "", bytesT), types.NewParam(0, nil, "", errT)), false))
	unmarshal := types.NewFunc(0, nil, "UnmarshalBinary", types.NewSignatureType(nil, nil, nil,
		types.NewTuple(types.NewParam(0, nil, "", bytesT)), types.NewTuple(types.NewParam(0, nil, "", errT)), false))
	m = types.NewInterfaceType([]*types.Func{marshal}, nil).Complete()
	u = types.NewInterfaceType([]*types.Func{unmarshal}, nil).Complete()
	return m, u
}

// resultProblem reports why values of t cannot round-trip through the
// runtime's result codec, or "" when they can. It mirrors
// runtime.CheckResultType: functions, channels, unsafe pointers and
// interfaces never round-trip; structs with unexported fields (in any
// package) round-trip only when *T implements encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler. Type parameters are accepted here and checked
// by the runtime for each instantiation.
func resultProblem(t types.Type, q types.Qualifier) string {
	m, u := binaryMarshalers()
	return resultProblemAt(t, q, "", map[types.Type]bool{}, m, u)
}

func resultProblemAt(t types.Type, q types.Qualifier, where string, seen map[types.Type]bool, m, um *types.Interface) string {
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
		return resultProblemAt(u.Elem(), q, where, seen, m, um)
	case *types.Basic:
		if u.Kind() == types.UnsafePointer {
			return at("is an unsafe.Pointer, which cannot be recorded")
		}
		if u.Kind() == types.Invalid {
			return at("is invalid (the package has type errors)")
		}
	}
	if isTime(t) {
		return ""
	}
	if pt := types.NewPointer(t); types.Implements(pt, m) && types.Implements(pt, um) {
		return ""
	}
	switch u := t.Underlying().(type) {
	case *types.Slice:
		return resultProblemAt(u.Elem(), q, where+"[]", seen, m, um)
	case *types.Array:
		return resultProblemAt(u.Elem(), q, where+"[]", seen, m, um)
	case *types.Map:
		if p := resultProblemAt(u.Key(), q, where+"[key]", seen, m, um); p != "" {
			return p
		}
		return resultProblemAt(u.Elem(), q, where+"[value]", seen, m, um)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			f := u.Field(i)
			if !f.Exported() {
				return at(fmt.Sprintf("has the unexported field %s, which the result codec cannot set; export the fields, or implement encoding.BinaryMarshaler and encoding.BinaryUnmarshaler on *%s", f.Name(), types.TypeString(t, q)))
			}
			if p := resultProblemAt(f.Type(), q, where+"."+f.Name(), seen, m, um); p != "" {
				return p
			}
		}
	}
	return ""
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
