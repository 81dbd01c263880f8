package runtime

import (
	"fmt"
	"math/big"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// ResultCodec records results of types the CBOR result codec cannot walk,
// such as generated protobuf messages (unexported fields): values are
// recorded as the bytes Marshal returns, as a CBOR byte string (null for a
// nil pointer), and replayed by Unmarshal into a new value. Register one
// with RegisterResultCodec; package runtime/idemproto registers one for
// protobuf messages when imported.
type ResultCodec struct {
	// Name names the codec in errors ("protobuf").
	Name string
	// Marshal encodes v, a non-nil value of a type that implements the
	// interface the codec is registered for.
	Marshal func(v any) ([]byte, error)
	// Unmarshal decodes data into v, a new value (a pointer to the zero
	// value) of the recorded type.
	Unmarshal func(data []byte, v any) error
}

type registeredCodec struct {
	iface reflect.Type // an interface, or for built-in codecs a concrete type
	codec ResultCodec
}

var resultCodecs struct {
	mu   sync.RWMutex
	list []registeredCodec
}

// RegisterResultCodec makes the result codec record values of every
// pointer type that implements the interface type iface with c, wherever
// they appear in a wrapped function's results (a result, a field, an
// element of a slice or map). Register at initialisation, before the first
// wrapped call records or replays such a type. It panics when iface is not
// an interface type, when c lacks Marshal or Unmarshal, or when iface
// already has a codec.
//
// A record's format for such values is the codec's bytes: keep the codec
// stable across deploys (records written by yesterday's binary are replayed
// by today's).
func RegisterResultCodec(iface reflect.Type, c ResultCodec) {
	if iface == nil || iface.Kind() != reflect.Interface {
		panic(fmt.Sprintf("idem: RegisterResultCodec(%v): pass an interface type, reflect.TypeFor[I]()", iface))
	}
	if c.Marshal == nil || c.Unmarshal == nil {
		panic("idem: RegisterResultCodec(" + iface.String() + "): the codec needs both Marshal and Unmarshal")
	}
	resultCodecs.mu.Lock()
	defer resultCodecs.mu.Unlock()
	for _, r := range resultCodecs.list {
		if r.iface == iface {
			panic("idem: RegisterResultCodec: " + iface.String() + " already has a codec")
		}
	}
	resultCodecs.list = append(resultCodecs.list, registeredCodec{iface: iface, codec: c})
}

// resultCodecFor returns the codec for values of t, if one is registered;
// for a struct type whose pointer has one, an error saying to return the
// pointer.
func resultCodecFor(t reflect.Type) (*ResultCodec, error) {
	resultCodecs.mu.RLock()
	defer resultCodecs.mu.RUnlock()
	for i := range resultCodecs.list {
		r := &resultCodecs.list[i]
		if t == r.iface {
			return &r.codec, nil
		}
		if r.iface.Kind() != reflect.Interface {
			// A built-in codec of a concrete pointer type records its
			// values held by value too (big.Float in a field).
			if r.iface.Kind() == reflect.Pointer && t == r.iface.Elem() {
				return &r.codec, nil
			}
			continue
		}
		if t.Kind() == reflect.Pointer && t.Implements(r.iface) {
			return &r.codec, nil
		}
		if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(r.iface) {
			return nil, fmt.Errorf("only *%s implements %s, whose values the %s codec records; record *%s", t, r.iface, r.codec.Name, t)
		}
	}
	return nil, nil
}

// shadowTypes caches shadowOf: reflect.Type -> *shadow.
var shadowTypes sync.Map

// shadow is how values of a result type that holds codec values are
// recorded: as values of typ, the same structure with every codec value
// replaced by its bytes ([]byte).
type shadow struct {
	typ    reflect.Type
	codec  *ResultCodec // t itself is recorded by codec
	fields []int        // for structs: the index in t of typ's field i
}

// codecBytes holds a codec's bytes in a shadow value: a CBOR byte string,
// or null for a nil pointer. It also decodes a text string, the format of
// types that had no codec before (*big.Float was recorded by MarshalText).
type codecBytes []byte

// UnmarshalCBOR decodes a byte string, a text string or null.
func (b *codecBytes) UnmarshalCBOR(data []byte) error {
	var v any
	if err := cbor.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = append(codecBytes{}, v...)
	case string:
		*b = codecBytes(v)
	default:
		return fmt.Errorf("a codec's value is recorded as bytes, not as %T", v)
	}
	return nil
}

var bytesType = reflect.TypeFor[codecBytes]()

func init() {
	// *big.Float's text form drops its precision (a replayed 0.1 differs
	// from the recorded one): record it, and big.Float values, with
	// GobEncode, which keeps the precision, mode and accuracy. Records
	// written by MarshalText before still decode, as before.
	resultCodecs.list = append(resultCodecs.list, registeredCodec{iface: reflect.TypeFor[*big.Float](), codec: ResultCodec{
		Name:    "big.Float",
		Marshal: func(v any) ([]byte, error) { return v.(*big.Float).GobEncode() },
		Unmarshal: func(data []byte, v any) error {
			if len(data) > 0 && data[0] == 1 { // GobEncode's version byte; never the start of a number's text
				return v.(*big.Float).GobDecode(data)
			}
			return v.(*big.Float).UnmarshalText(data)
		},
	}})
}

// shadowOf returns the shadow of t, or nil when t holds no codec value
// (its values are recorded as they are). The checker has accepted t and
// found it not recursive.
func shadowOf(t reflect.Type) (*shadow, error) {
	if s, ok := shadowTypes.Load(t); ok {
		return s.(*shadow), nil
	}
	s, err := makeShadow(t)
	if err != nil {
		return nil, err
	}
	if s == nil {
		s = &shadow{typ: t}
	}
	got, _ := shadowTypes.LoadOrStore(t, s)
	return got.(*shadow), nil
}

// makeShadow builds t's shadow, nil when t needs none.
func makeShadow(t reflect.Type) (*shadow, error) {
	codec, err := resultCodecFor(t)
	if err != nil {
		return nil, err
	}
	if codec != nil {
		return &shadow{typ: bytesType, codec: codec}, nil
	}
	if t == resultTimeType || resultMarshaled(t) {
		return nil, nil
	}
	elem := func(e reflect.Type) (reflect.Type, bool, error) {
		s, err := shadowOf(e)
		if err != nil {
			return nil, false, err
		}
		return s.typ, s.typ != e, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		e, changed, err := elem(t.Elem())
		if !changed || err != nil {
			return nil, err
		}
		return &shadow{typ: reflect.PointerTo(e)}, nil
	case reflect.Slice:
		e, changed, err := elem(t.Elem())
		if !changed || err != nil {
			return nil, err
		}
		return &shadow{typ: reflect.SliceOf(e)}, nil
	case reflect.Array:
		e, changed, err := elem(t.Elem())
		if !changed || err != nil {
			return nil, err
		}
		return &shadow{typ: reflect.ArrayOf(t.Len(), e)}, nil
	case reflect.Map:
		if _, changed, err := elem(t.Key()); changed || err != nil {
			return nil, fmt.Errorf("map key type %s holds values recorded by a codec; use another key", t.Key())
		}
		e, changed, err := elem(t.Elem())
		if !changed || err != nil {
			return nil, err
		}
		return &shadow{typ: reflect.MapOf(t.Key(), e)}, nil
	case reflect.Struct:
		var fields []reflect.StructField
		var index []int
		any := false
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("cbor") == "-" {
				continue // blank or left out: nothing is recorded
			}
			e, changed, err := elem(f.Type)
			if err != nil {
				return nil, err
			}
			if changed && f.Anonymous {
				return nil, fmt.Errorf("embedded field %s holds values recorded by a codec; name the field", f.Name)
			}
			any = any || changed
			fields = append(fields, reflect.StructField{Name: f.Name, Type: e, Tag: f.Tag, Anonymous: f.Anonymous})
			index = append(index, i)
		}
		if !any {
			return nil, nil
		}
		return &shadow{typ: reflect.StructOf(fields), fields: index}, nil
	}
	return nil, nil
}

// toShadow returns v (of a type whose shadow is s) as a value of s.typ.
func (s *shadow) to(v reflect.Value) (reflect.Value, error) {
	t := v.Type()
	if s.typ == t {
		return v, nil
	}
	if s.codec != nil {
		p := v
		if t.Kind() != reflect.Pointer { // a value of a built-in codec's type
			p = reflect.New(t)
			p.Elem().Set(v)
		} else if v.IsNil() {
			return reflect.Zero(bytesType), nil
		}
		b, err := s.codec.Marshal(p.Interface())
		if err != nil {
			return reflect.Value{}, fmt.Errorf("%s codec: %w", s.codec.Name, err)
		}
		if b == nil {
			b = []byte{} // null is for nil pointers
		}
		return reflect.ValueOf(codecBytes(b)), nil
	}
	out := reflect.New(s.typ).Elem()
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if v.IsNil() {
			return out, nil
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		e, err := mustShadow(t.Elem()).to(v.Elem())
		if err != nil {
			return out, err
		}
		p := reflect.New(s.typ.Elem())
		p.Elem().Set(e)
		out.Set(p)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice {
			out.Set(reflect.MakeSlice(s.typ, v.Len(), v.Len()))
		}
		es := mustShadow(t.Elem())
		for i := range v.Len() {
			e, err := es.to(v.Index(i))
			if err != nil {
				return out, err
			}
			out.Index(i).Set(e)
		}
	case reflect.Map:
		out.Set(reflect.MakeMapWithSize(s.typ, v.Len()))
		es := mustShadow(t.Elem())
		for it := v.MapRange(); it.Next(); {
			e, err := es.to(it.Value())
			if err != nil {
				return out, err
			}
			out.SetMapIndex(it.Key(), e)
		}
	case reflect.Struct:
		for i, fi := range s.fields {
			e, err := mustShadow(t.Field(fi).Type).to(v.Field(fi))
			if err != nil {
				return out, err
			}
			out.Field(i).Set(e)
		}
	}
	return out, nil
}

// from sets v (settable, of a type whose shadow is s) from sv, a value of
// s.typ.
func (s *shadow) from(sv, v reflect.Value) error {
	t := v.Type()
	if s.typ == t {
		v.Set(sv)
		return nil
	}
	if s.codec != nil {
		if sv.IsNil() {
			v.Set(reflect.Zero(t))
			return nil
		}
		byValue := t.Kind() != reflect.Pointer // a value of a built-in codec's type
		et := t
		if !byValue {
			et = t.Elem()
		}
		p := reflect.New(et)
		if err := s.codec.Unmarshal(sv.Bytes(), p.Interface()); err != nil {
			return fmt.Errorf("%s codec: %w", s.codec.Name, err)
		}
		if byValue {
			p = p.Elem()
		}
		v.Set(p)
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if sv.IsNil() {
			v.Set(reflect.Zero(t))
			return nil
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := mustShadow(t.Elem()).from(sv.Elem(), p.Elem()); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(t, sv.Len(), sv.Len()))
		}
		es := mustShadow(t.Elem())
		for i := range sv.Len() {
			if err := es.from(sv.Index(i), v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		v.Set(reflect.MakeMapWithSize(t, sv.Len()))
		es := mustShadow(t.Elem())
		for it := sv.MapRange(); it.Next(); {
			e := reflect.New(t.Elem()).Elem()
			if err := es.from(it.Value(), e); err != nil {
				return err
			}
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.Struct:
		for i, fi := range s.fields {
			if err := mustShadow(t.Field(fi).Type).from(sv.Field(i), v.Field(fi)); err != nil {
				return err
			}
		}
	}
	return nil
}

// mustShadow is shadowOf for a part of a type whose shadow was built.
func mustShadow(t reflect.Type) *shadow {
	s, err := shadowOf(t)
	if err != nil {
		panic("idem: result codec: " + err.Error()) // built with its parent
	}
	return s
}
