package runtime

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The result codec records a wrapped function's non-error results (a value
// of type R, usually a struct of the results) and decodes them for callers
// that replay the record. It is not canonical and not meant to be read by
// anything but this package.
//
// Layout of a record, format 1:
//
//	byte 0      format version (1)
//	bytes 1..8  shape of R: FNV-1a 64 (little-endian) of a description of
//	            R's kinds, struct field names, array lengths and marshaler
//	            type names; a record of another shape is refused instead of
//	            being misread
//	bytes 9..   the value, by R's plan:
//	  bool                     1 byte, 0 or 1
//	  signed integers          zig-zag varint
//	  unsigned integers        uvarint
//	  float32, float64         4 or 8 bytes, IEEE 754 bits, little-endian
//	  complex64, complex128    real part, then imaginary part, as floats
//	  string                   uvarint length, bytes
//	  []byte (elem kind uint8) uvarint(len+1) bytes, or 0 for nil
//	  [N]byte                  N bytes
//	  other slices             uvarint(len+1) elements, or 0 for nil
//	  arrays                   N elements
//	  pointers                 0 for nil, or 1 and the pointee
//	  structs                  the fields in declaration order, blank (_) fields skipped
//	  maps                     uvarint(len+1) (key, value) pairs, or 0 for nil
//	  time.Time                uvarint length, time.Time.MarshalBinary bytes
//	                           (also types defined from time.Time)
//	  BinaryMarshaler types    uvarint length, AppendBinary or MarshalBinary bytes
//
// Elements of zero size (struct{}, [0]T) are not written: a slice of them is
// its length alone, at most 1<<20. Values nest at most 1000 levels deep.
//
// Plans are compiled once per type and kept in resultPlans, a process-wide
// cache that only grows (by one entry per result type a program records).

// resultFormatVersion is the first byte of every record.
const resultFormatVersion byte = 1

// resultHeaderLen is the version byte and the 8-byte shape.
const resultHeaderLen = 9

// maxResultDepth bounds nesting when encoding (a cyclic value) and decoding
// (hostile data).
const maxResultDepth = 1000

// maxResultZeroSizeLen bounds the length of a decoded slice of zero-size
// elements (such as []struct{}), which the data cannot bound.
const maxResultZeroSizeLen = 1 << 20

// resultPlans caches the compiled plan (or the reason there is none) of
// every result type used so far: reflect.Type -> *resultPlanEntry. Entries
// are immutable once stored.
var resultPlans sync.Map

type resultPlanEntry struct {
	plan *resultPlan
	err  error
}

type resultKind uint8

const (
	rkBool resultKind = iota + 1
	rkInt
	rkUint
	rkFloat32
	rkFloat64
	rkComplex64
	rkComplex128
	rkString
	rkBytes
	rkByteArray
	rkSlice
	rkArray
	rkPointer
	rkStruct
	rkMap
	rkTime
	rkMarshaler
)

// resultPlan is the compiled codec of one type.
type resultPlan struct {
	kind   resultKind
	typ    reflect.Type
	elem   *resultPlan // pointer, slice and array element; map value
	key    *resultPlan // map key
	fields []resultField
	length int    // array length
	min    int    // fewest bytes any value of the type encodes to
	shape  uint64 // root plans only
	// marshalers
	valueMarshal bool // typ itself (not only *typ) implements BinaryMarshaler
	appender     bool // *typ implements encoding.BinaryAppender
}

type resultField struct {
	index int
	plan  *resultPlan
}

var (
	resultMarshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	resultUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	resultAppenderType    = reflect.TypeFor[encoding.BinaryAppender]()
	resultTimeType        = reflect.TypeFor[time.Time]()
)

// CheckResultType reports whether values of t round-trip through the result
// codec that records wrapped functions' results. It returns nil when they
// do, and otherwise an error naming the offending part and the fix (for
// example "field Conn of type net.Conn: interfaces cannot be recorded").
// Supported: booleans, numbers, strings, slices, arrays, maps, pointers,
// structs whose fields are all exported (blank _ fields are skipped),
// time.Time and types defined from it, and any type whose pointer implements
// both encoding.BinaryMarshaler and encoding.BinaryUnmarshaler. Not supported: functions, channels, unsafe
// pointers, interfaces, and structs with unexported fields that do not
// marshal themselves.
func CheckResultType(t reflect.Type) error {
	if t == nil {
		return errors.New("idem: CheckResultType(nil): pass the reflect.Type of the results")
	}
	_, err := resultPlanFor(t)
	return err
}

func resultPlanFor(t reflect.Type) (*resultPlan, error) {
	if e, ok := resultPlans.Load(t); ok {
		e := e.(*resultPlanEntry)
		return e.plan, e.err
	}
	b := resultPlanBuilder{building: map[reflect.Type]*resultPlan{}}
	p, err := b.build(t, "")
	if err != nil {
		err = fmt.Errorf("idem: results of type %s cannot be recorded: %w", t, err)
		p = nil
	} else {
		p.shape = resultShape(p)
	}
	e, _ := resultPlans.LoadOrStore(t, &resultPlanEntry{plan: p, err: err})
	return e.(*resultPlanEntry).plan, e.(*resultPlanEntry).err
}

type resultPlanBuilder struct {
	building map[reflect.Type]*resultPlan
}

// resultTypeError names the part of a result type that cannot be recorded.
func resultTypeError(path string, t reflect.Type, problem string) error {
	if path == "" {
		return fmt.Errorf("type %s: %s", t, problem)
	}
	return fmt.Errorf("field %s of type %s: %s", path, t, problem)
}

func (b *resultPlanBuilder) build(t reflect.Type, path string) (*resultPlan, error) {
	if p, ok := b.building[t]; ok {
		return p, nil // a recursive type: the plan is being filled in
	}
	p := &resultPlan{typ: t, min: 1}
	b.building[t] = p
	switch t.Kind() {
	case reflect.Interface:
		return nil, resultTypeError(path, t, "interfaces cannot be recorded (the dynamic type is unknown when the result is replayed); return a concrete type")
	case reflect.Func:
		return nil, resultTypeError(path, t, "functions cannot be recorded; leave them out of the results")
	case reflect.Chan:
		return nil, resultTypeError(path, t, "channels cannot be recorded; leave them out of the results")
	case reflect.UnsafePointer:
		return nil, resultTypeError(path, t, "unsafe pointers cannot be recorded; leave them out of the results")
	case reflect.Pointer:
		p.kind = rkPointer
		elem, err := b.build(t.Elem(), path)
		if err != nil {
			return nil, err
		}
		p.elem = elem
		return p, nil
	}
	if t == resultTimeType {
		p.kind = rkTime
		return p, nil
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(resultMarshalerType) && pt.Implements(resultUnmarshalerType) {
		p.kind = rkMarshaler
		p.valueMarshal = t.Implements(resultMarshalerType)
		p.appender = pt.Implements(resultAppenderType)
		return p, nil
	}
	if isTimeType(t) { // type Deadline time.Time, without methods of its own
		p.kind = rkTime
		return p, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		p.kind = rkBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind = rkInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.kind = rkUint
	case reflect.Float32:
		p.kind, p.min = rkFloat32, 4
	case reflect.Float64:
		p.kind, p.min = rkFloat64, 8
	case reflect.Complex64:
		p.kind, p.min = rkComplex64, 8
	case reflect.Complex128:
		p.kind, p.min = rkComplex128, 16
	case reflect.String:
		p.kind = rkString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			p.kind = rkBytes
			return p, nil
		}
		p.kind = rkSlice
		elem, err := b.build(t.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		p.elem = elem
	case reflect.Array:
		p.length = t.Len()
		if t.Elem().Kind() == reflect.Uint8 {
			p.kind, p.min = rkByteArray, p.length
			return p, nil
		}
		p.kind = rkArray
		elem, err := b.build(t.Elem(), path+"["+strconv.Itoa(p.length)+"]")
		if err != nil {
			return nil, err
		}
		p.elem = elem
		p.min = satMul(p.length, elem.min)
	case reflect.Map:
		p.kind = rkMap
		key, err := b.build(t.Key(), path+"[key]")
		if err != nil {
			return nil, err
		}
		val, err := b.build(t.Elem(), path+"[value]")
		if err != nil {
			return nil, err
		}
		p.key, p.elem = key, val
	case reflect.Struct:
		p.kind = rkStruct
		p.min = 0
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "_" {
				continue // blank fields hold nothing to record
			}
			fpath := f.Name
			if path != "" {
				fpath = path + "." + f.Name
			}
			if !f.IsExported() {
				return nil, resultTypeError(path, t, "its field "+f.Name+" is unexported, so it cannot be recorded; export the fields, or implement encoding.BinaryMarshaler and encoding.BinaryUnmarshaler on *"+t.String())
			}
			fp, err := b.build(f.Type, fpath)
			if err != nil {
				return nil, err
			}
			p.fields = append(p.fields, resultField{index: i, plan: fp})
			p.min = satAdd(p.min, fp.min)
		}
	default:
		return nil, resultTypeError(path, t, "values of kind "+t.Kind().String()+" cannot be recorded")
	}
	return p, nil
}

func satAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// resultShape hashes a description of p: kinds, struct field names, array
// lengths and marshaler type names. Named types that share an underlying
// kind share a shape; recursion is described by back-references.
func resultShape(p *resultPlan) uint64 {
	var sb strings.Builder
	seen := map[*resultPlan]int{}
	var walk func(p *resultPlan)
	walk = func(p *resultPlan) {
		if i, ok := seen[p]; ok {
			sb.WriteString("^" + strconv.Itoa(i))
			return
		}
		seen[p] = len(seen)
		sb.WriteByte('0' + byte(p.kind))
		switch p.kind {
		case rkInt, rkUint:
			sb.WriteString(p.typ.Kind().String()) // not Bits: int is int on every platform
		case rkByteArray:
			sb.WriteString(strconv.Itoa(p.length))
		case rkArray:
			sb.WriteString(strconv.Itoa(p.length))
			walk(p.elem)
		case rkSlice, rkPointer:
			walk(p.elem)
		case rkMap:
			walk(p.key)
			walk(p.elem)
		case rkStruct:
			sb.WriteByte('{')
			for _, f := range p.fields {
				sb.WriteString(p.typ.Field(f.index).Name)
				sb.WriteByte(' ')
				walk(f.plan)
				sb.WriteByte(';')
			}
			sb.WriteByte('}')
		case rkMarshaler:
			sb.WriteString(p.typ.String())
		}
	}
	walk(p)
	h := fnv.New64a()
	h.Write([]byte(sb.String()))
	return h.Sum64()
}

// marshalResult encodes *v for the record. It fails for types that
// CheckResultType rejects and for values nested more than 1000 levels deep.
func marshalResult[R any](v *R) ([]byte, error) {
	t := reflect.TypeFor[R]()
	p, err := resultPlanFor(t)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("idem: marshalResult(nil)")
	}
	b := make([]byte, resultHeaderLen, 64)
	b[0] = resultFormatVersion
	binary.LittleEndian.PutUint64(b[1:], p.shape)
	b, err = p.encode(b, reflect.ValueOf(v).Elem(), 0)
	if err != nil {
		return nil, fmt.Errorf("idem: results of type %s cannot be recorded: %w", t, err)
	}
	return b, nil
}

// unmarshalResult decodes a record made by marshalResult[R] into *v. On
// error *v is the zero value. Malformed data (truncated, corrupt, another
// format version or another result shape) is an error, never a panic.
func unmarshalResult[R any](data []byte, v *R) error {
	var zero R
	*v = zero
	p, err := resultPlanFor(reflect.TypeFor[R]())
	if err != nil {
		return err
	}
	if len(data) < resultHeaderLen {
		return errors.New("idem: recorded result is truncated (shorter than its header)")
	}
	if data[0] != resultFormatVersion {
		return fmt.Errorf("idem: recorded result has format version %d; this runtime reads version %d (the record was written by another idem release: let it expire, or delete it)", data[0], resultFormatVersion)
	}
	if s := binary.LittleEndian.Uint64(data[1:]); s != p.shape {
		return fmt.Errorf("idem: recorded result has another shape than %s (shape %016x, want %016x): the result types changed; bump the key version to start a fresh key space", p.typ, s, p.shape)
	}
	d := resultDecoder{data: data, off: resultHeaderLen}
	if err := p.decode(&d, reflect.ValueOf(v).Elem(), 0); err != nil {
		*v = zero
		return fmt.Errorf("idem: recorded result of type %s is corrupt: %w", p.typ, err)
	}
	if d.off != len(data) {
		*v = zero
		return fmt.Errorf("idem: recorded result of type %s is corrupt: %d trailing bytes", p.typ, len(data)-d.off)
	}
	return nil
}

var errResultTooDeep = fmt.Errorf("value nested more than %d levels deep (is it cyclic?)", maxResultDepth)

func (p *resultPlan) encode(b []byte, v reflect.Value, depth int) ([]byte, error) {
	if depth > maxResultDepth {
		return b, errResultTooDeep
	}
	var err error
	switch p.kind {
	case rkBool:
		c := byte(0)
		if v.Bool() {
			c = 1
		}
		b = append(b, c)
	case rkInt:
		b = binary.AppendVarint(b, v.Int())
	case rkUint:
		b = binary.AppendUvarint(b, v.Uint())
	case rkFloat32:
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v.Float())))
	case rkFloat64:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Float()))
	case rkComplex64:
		c := v.Complex()
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(real(c))))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(imag(c))))
	case rkComplex128:
		c := v.Complex()
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(real(c)))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(imag(c)))
	case rkString:
		s := v.String()
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	case rkBytes:
		if v.IsNil() {
			return append(b, 0), nil
		}
		s := v.Bytes()
		b = binary.AppendUvarint(b, uint64(len(s))+1)
		b = append(b, s...)
	case rkByteArray:
		if v.CanAddr() {
			b = append(b, v.Bytes()...)
		} else {
			for i := range p.length {
				b = append(b, byte(v.Index(i).Uint()))
			}
		}
	case rkSlice:
		if v.IsNil() {
			return append(b, 0), nil
		}
		n := v.Len()
		b = binary.AppendUvarint(b, uint64(n)+1)
		if p.elem.min == 0 {
			if n > maxResultZeroSizeLen {
				return b, fmt.Errorf("a slice of %d zero-size elements is longer than the %d the decoder accepts", n, maxResultZeroSizeLen)
			}
			return b, nil // zero-size elements: the length says it all
		}
		for i := range n {
			if b, err = p.elem.encode(b, v.Index(i), depth+1); err != nil {
				return b, err
			}
		}
	case rkArray:
		if p.elem.min == 0 {
			return b, nil
		}
		for i := range p.length {
			if b, err = p.elem.encode(b, v.Index(i), depth+1); err != nil {
				return b, err
			}
		}
	case rkPointer:
		if v.IsNil() {
			return append(b, 0), nil
		}
		return p.elem.encode(append(b, 1), v.Elem(), depth+1)
	case rkStruct:
		for _, f := range p.fields {
			if b, err = f.plan.encode(b, v.Field(f.index), depth+1); err != nil {
				return b, err
			}
		}
	case rkMap:
		if v.IsNil() {
			return append(b, 0), nil
		}
		b = binary.AppendUvarint(b, uint64(v.Len())+1)
		it := v.MapRange()
		for it.Next() {
			if b, err = p.key.encode(b, it.Key(), depth+1); err != nil {
				return b, err
			}
			if b, err = p.elem.encode(b, it.Value(), depth+1); err != nil {
				return b, err
			}
		}
	case rkTime:
		t := reflectTime(v)
		b = append(b, 0) // length; a time's binary form is at most 16 bytes
		start := len(b)
		if b, err = t.AppendBinary(b); err != nil {
			return b, err
		}
		b[start-1] = byte(len(b) - start)
	case rkMarshaler:
		return p.encodeMarshaler(b, v)
	}
	return b, nil
}

func (p *resultPlan) encodeMarshaler(b []byte, v reflect.Value) (out []byte, err error) {
	var m any
	switch {
	case v.CanAddr():
		m = v.Addr().Interface()
	case p.valueMarshal:
		m = v.Interface()
	default:
		c := reflect.New(p.typ)
		c.Elem().Set(v)
		m = c.Interface()
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = b, fmt.Errorf("%s.MarshalBinary panicked: %v", p.typ, r)
		}
	}()
	if a, ok := m.(encoding.BinaryAppender); ok && p.appender {
		start := len(b)
		if b, err = a.AppendBinary(b); err != nil {
			return b, fmt.Errorf("%s.AppendBinary: %w", p.typ, err)
		}
		var hdr [binary.MaxVarintLen64]byte
		k := binary.PutUvarint(hdr[:], uint64(len(b)-start))
		b = append(b, hdr[:k]...)            // grow by k
		copy(b[start+k:], b[start:len(b)-k]) // shift the payload right
		copy(b[start:], hdr[:k])
		return b, nil
	}
	data, err := m.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return b, fmt.Errorf("%s.MarshalBinary: %w", p.typ, err)
	}
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...), nil
}

// resultDecoder reads a record.
type resultDecoder struct {
	data []byte
	off  int
}

var errResultTruncated = errors.New("truncated")

func (d *resultDecoder) uvarint() (uint64, error) {
	x, n := binary.Uvarint(d.data[d.off:])
	if n <= 0 {
		if n == 0 {
			return 0, errResultTruncated
		}
		return 0, errors.New("varint overflows 64 bits")
	}
	d.off += n
	return x, nil
}

func (d *resultDecoder) varint() (int64, error) {
	x, n := binary.Varint(d.data[d.off:])
	if n <= 0 {
		if n == 0 {
			return 0, errResultTruncated
		}
		return 0, errors.New("varint overflows 64 bits")
	}
	d.off += n
	return x, nil
}

// take returns the next n bytes.
func (d *resultDecoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.off) {
		return nil, errResultTruncated
	}
	b := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// count reads a length or count for elements of at least min bytes each,
// refusing counts the remaining data cannot hold.
func (d *resultDecoder) count(n uint64, min int) (int, error) {
	if min > 0 {
		if n > uint64((len(d.data)-d.off)/min) {
			return 0, errResultTruncated
		}
	} else if n > maxResultZeroSizeLen {
		return 0, fmt.Errorf("count %d of zero-size elements is implausible (at most %d are recorded)", n, maxResultZeroSizeLen)
	}
	return int(n), nil
}

// decode sets v, which is addressable and holds the zero value, from d.
func (p *resultPlan) decode(d *resultDecoder, v reflect.Value, depth int) error {
	if depth > maxResultDepth {
		return errResultTooDeep
	}
	switch p.kind {
	case rkBool:
		b, err := d.take(1)
		if err != nil {
			return err
		}
		if b[0] > 1 {
			return fmt.Errorf("invalid bool byte %#x", b[0])
		}
		v.SetBool(b[0] == 1)
	case rkInt:
		x, err := d.varint()
		if err != nil {
			return err
		}
		if v.OverflowInt(x) {
			return fmt.Errorf("%d overflows %s", x, p.typ)
		}
		v.SetInt(x)
	case rkUint:
		x, err := d.uvarint()
		if err != nil {
			return err
		}
		if v.OverflowUint(x) {
			return fmt.Errorf("%d overflows %s", x, p.typ)
		}
		v.SetUint(x)
	case rkFloat32:
		b, err := d.take(4)
		if err != nil {
			return err
		}
		v.SetFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
	case rkFloat64:
		b, err := d.take(8)
		if err != nil {
			return err
		}
		v.SetFloat(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case rkComplex64:
		b, err := d.take(8)
		if err != nil {
			return err
		}
		re := math.Float32frombits(binary.LittleEndian.Uint32(b))
		im := math.Float32frombits(binary.LittleEndian.Uint32(b[4:]))
		v.SetComplex(complex128(complex(re, im)))
	case rkComplex128:
		b, err := d.take(16)
		if err != nil {
			return err
		}
		re := math.Float64frombits(binary.LittleEndian.Uint64(b))
		im := math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		v.SetComplex(complex(re, im))
	case rkString:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		b, err := d.take(n)
		if err != nil {
			return err
		}
		if len(b) > 0 {
			v.SetString(string(b))
		}
	case rkBytes:
		n, err := d.uvarint()
		if err != nil || n == 0 {
			return err // 0: nil, already zero
		}
		b, err := d.take(n - 1)
		if err != nil {
			return err
		}
		v.SetBytes(append(make([]byte, 0, len(b)), b...))
	case rkByteArray:
		b, err := d.take(uint64(p.length))
		if err != nil {
			return err
		}
		copy(v.Bytes(), b)
	case rkSlice:
		l, err := d.uvarint()
		if err != nil || l == 0 {
			return err
		}
		n, err := d.count(l-1, p.elem.min)
		if err != nil {
			return err
		}
		s := reflect.MakeSlice(p.typ, n, n)
		if p.elem.min > 0 {
			for i := range n {
				if err := p.elem.decode(d, s.Index(i), depth+1); err != nil {
					return err
				}
			}
		}
		v.Set(s)
	case rkArray:
		if p.elem.min == 0 {
			return nil // zero-size elements: nothing recorded
		}
		for i := range p.length {
			if err := p.elem.decode(d, v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case rkPointer:
		b, err := d.take(1)
		if err != nil {
			return err
		}
		switch b[0] {
		case 0:
			return nil
		case 1:
		default:
			return fmt.Errorf("invalid pointer byte %#x", b[0])
		}
		e := reflect.New(p.elem.typ)
		if err := p.elem.decode(d, e.Elem(), depth+1); err != nil {
			return err
		}
		v.Set(e)
	case rkStruct:
		for _, f := range p.fields {
			if err := f.plan.decode(d, v.Field(f.index), depth+1); err != nil {
				return err
			}
		}
	case rkMap:
		l, err := d.uvarint()
		if err != nil || l == 0 {
			return err
		}
		n, err := d.count(l-1, satAdd(p.key.min, p.elem.min))
		if err != nil {
			return err
		}
		if p.key.min == 0 && n > 1 {
			return fmt.Errorf("%d entries in a map whose key type has one value", n)
		}
		m := reflect.MakeMapWithSize(p.typ, n)
		k := reflect.New(p.key.typ).Elem()
		e := reflect.New(p.elem.typ).Elem()
		for range n {
			k.SetZero()
			if err := p.key.decode(d, k, depth+1); err != nil {
				return err
			}
			e.SetZero()
			if err := p.elem.decode(d, e, depth+1); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case rkTime:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		b, err := d.take(n)
		if err != nil {
			return err
		}
		// time.Time.UnmarshalBinary does not check the nanoseconds
		// (bytes 9..12 of its format); MarshalBinary never writes 1e9 or
		// more, so such a record is corrupt.
		if len(b) >= 13 && binary.BigEndian.Uint32(b[9:]) >= 1e9 {
			return errors.New("invalid time.Time: nanoseconds out of range")
		}
		tp := reflect.NewAt(resultTimeType, v.Addr().UnsafePointer()).Interface().(*time.Time)
		if err := tp.UnmarshalBinary(b); err != nil {
			return err
		}
	case rkMarshaler:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		b, err := d.take(n)
		if err != nil {
			return err
		}
		return p.unmarshal(v, b)
	}
	return nil
}

func (p *resultPlan) unmarshal(v reflect.Value, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s.UnmarshalBinary panicked: %v", p.typ, r)
		}
	}()
	if err := v.Addr().Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
		return fmt.Errorf("%s.UnmarshalBinary: %w", p.typ, err)
	}
	return nil
}
