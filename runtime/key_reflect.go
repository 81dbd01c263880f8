package runtime

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

var keyTimeType = reflect.TypeFor[time.Time]()

// Value encodes v by reflection, for values whose static type generated code
// does not know (type parameters, interfaces). It writes exactly the bytes
// the typed methods write for the same value: named types encode as their
// underlying kind, time.Time (and types defined from it) as Time,
// time.Duration as Int64, a slice whose element kind is uint8 as Bytes, other
// slices as List, arrays as Array, pointers as Nil or Pointer and the
// pointee, structs as Struct and their fields sorted by name (blank _
// fields are skipped), maps as Map with their entries, and an interface
// (v itself, or a field or element of interface type) as its dynamic
// value, Nil when it is nil.
//
// Values that have no canonical encoding make Sum fail with an error naming
// their type: functions, channels, unsafe pointers, and structs with
// unexported fields (other than time.Time). Values nested deeper than
// MaxKeyDepth (which is how a cyclic value shows) make Sum fail as they do
// in generated code, and Value stops descending.
func (e *Encoder) Value(v any) {
	switch x := v.(type) {
	case nil:
		e.Nil()
	case string:
		e.String(x)
	case []byte:
		e.Bytes(x)
	case bool:
		e.Bool(x)
	case int:
		e.Int(x)
	case int8:
		e.Int8(x)
	case int16:
		e.Int16(x)
	case int32:
		e.Int32(x)
	case int64:
		e.Int64(x)
	case uint:
		e.Uint(x)
	case uint8:
		e.Uint8(x)
	case uint16:
		e.Uint16(x)
	case uint32:
		e.Uint32(x)
	case uint64:
		e.Uint64(x)
	case uintptr:
		e.Uintptr(x)
	case float32:
		e.Float32(x)
	case float64:
		e.Float64(x)
	case complex64:
		e.Complex64(x)
	case complex128:
		e.Complex128(x)
	case time.Time:
		e.Time(x)
	case time.Duration:
		e.Duration(x)
	default:
		e.value(reflect.ValueOf(v))
	}
}

func (e *Encoder) value(v reflect.Value) {
	if e.err != nil {
		return // a cyclic value stops here once it is too deep
	}
	switch v.Kind() {
	case reflect.Bool:
		e.Bool(v.Bool())
	case reflect.Int:
		e.Int(int(v.Int()))
	case reflect.Int8:
		e.Int8(int8(v.Int()))
	case reflect.Int16:
		e.Int16(int16(v.Int()))
	case reflect.Int32:
		e.Int32(int32(v.Int()))
	case reflect.Int64:
		e.Int64(v.Int())
	case reflect.Uint:
		e.Uint(uint(v.Uint()))
	case reflect.Uint8:
		e.Uint8(uint8(v.Uint()))
	case reflect.Uint16:
		e.Uint16(uint16(v.Uint()))
	case reflect.Uint32:
		e.Uint32(uint32(v.Uint()))
	case reflect.Uint64:
		e.Uint64(v.Uint())
	case reflect.Uintptr:
		e.Uintptr(uintptr(v.Uint()))
	case reflect.Float32:
		e.Float32(float32(v.Float()))
	case reflect.Float64:
		e.Float64(v.Float())
	case reflect.Complex64:
		e.Complex64(complex64(v.Complex()))
	case reflect.Complex128:
		e.Complex128(v.Complex())
	case reflect.String:
		e.String(v.String())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.Bytes(v.Bytes())
			return
		}
		n := v.Len()
		e.List(n)
		for i := range n {
			e.value(v.Index(i))
		}
	case reflect.Array:
		n := v.Len()
		e.Array(n)
		for i := range n {
			e.Elem()
			e.value(v.Index(i))
		}
		e.EndArray()
	case reflect.Pointer:
		if v.IsNil() {
			e.Nil()
			return
		}
		e.Pointer()
		e.value(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			e.Nil()
			return
		}
		e.value(v.Elem())
	case reflect.Struct:
		e.structValue(v)
	case reflect.Map:
		e.Map(v.Len())
		it := v.MapRange()
		for it.Next() {
			e.MapKey()
			e.value(it.Key())
			e.MapValue()
			e.value(it.Value())
		}
		e.MapEnd()
	default:
		e.fail(keyUnsupported(v.Type()))
	}
}

func (e *Encoder) structValue(v reflect.Value) {
	t := v.Type()
	if isTimeType(t) {
		e.Time(reflectTime(v))
		return
	}
	fields, err := keyFieldsOf(t)
	if err != nil {
		e.fail(err)
		return
	}
	e.Struct()
	for _, f := range fields {
		e.Field(f.name)
		e.value(v.Field(f.index))
	}
	e.EndStruct()
}

// keyField is a struct field as the key encoding writes it.
type keyField struct {
	name  string
	index int
}

// keyFields caches keyFieldsOf: reflect.Type → []keyField or error.
var keyFields sync.Map

// keyFieldsOf returns the fields of struct type t sorted by name, blank
// fields left out, or the error of a struct with unexported fields.
func keyFieldsOf(t reflect.Type) ([]keyField, error) {
	if c, ok := keyFields.Load(t); ok {
		if err, isErr := c.(error); isErr {
			return nil, err
		}
		return c.([]keyField), nil
	}
	var fields []keyField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		if !f.IsExported() {
			err := fmt.Errorf("idem: key part of type %s cannot be encoded: its field %s is unexported, so the value has no canonical form; key on its exported fields or on a value that identifies it", t, f.Name)
			keyFields.Store(t, err)
			return nil, err
		}
		fields = append(fields, keyField{name: f.Name, index: i})
	}
	slices.SortFunc(fields, func(a, b keyField) int { return strings.Compare(a.name, b.name) })
	keyFields.Store(t, fields)
	return fields, nil
}

// isTimeType reports whether t is time.Time or a type defined from it
// (type Deadline time.Time), which keys and results treat as time.Time.
func isTimeType(t reflect.Type) bool {
	return t == keyTimeType || t.Kind() == reflect.Struct && t.ConvertibleTo(keyTimeType)
}

// reflectTime returns the time.Time in v, whose type satisfies isTimeType.
func reflectTime(v reflect.Value) time.Time {
	if v.CanAddr() {
		return *reflect.NewAt(keyTimeType, v.Addr().UnsafePointer()).Interface().(*time.Time)
	}
	return v.Convert(keyTimeType).Interface().(time.Time)
}

func keyUnsupported(t reflect.Type) error {
	var what string
	switch t.Kind() {
	case reflect.Func:
		what = "functions"
	case reflect.Chan:
		what = "channels"
	case reflect.UnsafePointer:
		what = "unsafe pointers"
	default:
		what = "values of kind " + t.Kind().String()
	}
	return fmt.Errorf("idem: key part of type %s cannot be encoded: %s have no canonical value; leave it out of the key or key on a value that identifies it", t, what)
}
