package runtime

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The result codec records a wrapped function's non-error results (a value
// of type R, in generated code an anonymous struct{ R0 T0; R1 T1; … }) and
// decodes them for callers that replay the record.
//
// A record is CBOR (RFC 8949), written and read by
// github.com/fxamacker/cbor/v2 with the options below, so that any CBOR
// decoder shows it without the Go types:
//
//	record     = 55799(value)                 self-described CBOR: d9 d9 f7, then the value
//	           / 55799(16(COSE_Encrypt0))     the value, encrypted (result_keys.go)
//	struct     = map, keyed by Go field name (or the name of a `cbor:` tag, else of a `json:` tag)
//	slice      = array, or null when nil        []byte and [N]byte: byte string
//	map        = map, or null when nil          pointers: null when nil, else the pointee
//	time.Time  = 0("2006-01-02T15:04:05.999999999-07:00"), or null for the zero time
//	BinaryMarshaler types: byte string (MarshalBinary); TextMarshaler types: text string (MarshalText);
//	cbor.Marshaler types: their own CBOR
//	integers, floats (at their own width, NaN payloads kept), bool, string: the CBOR kinds
//
// Decoding is by field name, which is what makes a record survive a deploy
// that changes R: a field the record lacks keeps its zero value, a field R
// lacks is skipped, and a field whose recorded value does not fit its new
// type (text into an int, a number that overflows it) is a decode error
// naming the outermost field (the result, R0…; the library reports no
// deeper path) and the type that no longer fits. An integer widened (int32 to int64) or turned into a
// float decodes; a number narrowed decodes while its value fits.
//
// Which types round-trip is decided once per type by CheckResultType (and,
// at generate time, by idemgen's mirror of it, gen.resultProblem); values
// of recursive types, and values holding times, are walked before encoding
// (cycles and nesting deeper than maxResultDepth, UTC offsets that are not
// whole minutes).

// maxResultDepth bounds the nesting of a recorded value: the walk before
// encoding counts pointers, structs, slices, arrays, maps and times, which
// is at least the CBOR nesting the decoder counts (arrays, maps, tags).
const maxResultDepth = 1000

// resultPrefix starts every record: CBOR tag 55799, "self-described CBOR".
var resultPrefix = []byte{0xd9, 0xd9, 0xf7}

// resultEncMode and resultDecMode are the codec's options, built once.
var resultEncMode, resultDecMode = resultModes()

func resultModes() (cbor.UserBufferEncMode, cbor.DecMode) {
	em, err := cbor.EncOptions{
		Sort:            cbor.SortNone,
		ShortestFloat:   cbor.ShortestFloatNone,
		NaNConvert:      cbor.NaNConvertNone, // keep NaN payloads
		InfConvert:      cbor.InfConvertNone,
		Time:            cbor.TimeRFC3339Nano, // the instant, to the nanosecond, with the zone offset
		TimeTag:         cbor.EncTagRequired,
		NilContainers:   cbor.NilContainerAsNull, // nil and empty stay apart
		ByteArray:       cbor.ByteArrayToByteSlice,
		BinaryMarshaler: cbor.BinaryMarshalerByteString,
		TextMarshaler:   cbor.TextMarshalerTextString,
	}.UserBufferEncMode()
	if err != nil {
		panic("idem: result codec options: " + err.Error())
	}
	dm, err := cbor.DecOptions{
		MaxNestedLevels:   maxResultDepth,
		TimeTag:           cbor.DecTagRequired,    // times are tag 0 (or null), as written
		MaxArrayElements:  math.MaxInt32,          // never refuse what the encoder wrote;
		MaxMapPairs:       math.MaxInt32,          // the data's length bounds every count
		UTF8:              cbor.UTF8DecodeInvalid, // Go strings may hold any bytes
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		BinaryUnmarshaler: cbor.BinaryUnmarshalerByteString,
		TextUnmarshaler:   cbor.TextUnmarshalerTextString,
	}.DecMode()
	if err != nil {
		panic("idem: result codec options: " + err.Error())
	}
	return em, dm
}

var (
	resultTimeType          = reflect.TypeFor[time.Time]()
	resultCBORMarshaler     = reflect.TypeFor[cbor.Marshaler]()
	resultCBORUnmarshaler   = reflect.TypeFor[cbor.Unmarshaler]()
	resultBinaryMarshaler   = reflect.TypeFor[encoding.BinaryMarshaler]()
	resultBinaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	resultTextMarshaler     = reflect.TypeFor[encoding.TextMarshaler]()
	resultTextUnmarshaler   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// resultTypes caches what CheckResultType found for every result type used
// so far: reflect.Type -> *resultTypeInfo. It only grows, by one entry per
// result type a program records.
var resultTypes sync.Map

type resultTypeInfo struct {
	err    error   // why values of the type cannot be recorded, or nil
	walk   bool    // values are walked before encoding (see walkResult)
	shadow *shadow // values hold codec values: recorded as shadow values (result_codec.go)
}

// CheckResultType reports whether values of t round-trip through the result
// codec that records wrapped functions' results. It returns nil when they
// do, and otherwise an error naming the offending part and the fix (for
// example "field Conn of type net.Conn: interfaces cannot be recorded").
//
// Supported: booleans, integers (not uintptr), floats, strings, slices,
// arrays, maps, pointers, time.Time, structs whose fields are all exported
// (blank _ fields and fields tagged `cbor:"-"` are skipped), and any type
// whose pointer implements encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler, or encoding.TextMarshaler and
// encoding.TextUnmarshaler, and pointer types recorded by a registered
// codec (RegisterResultCodec: protobuf messages with runtime/idemproto
// imported; big.Float and *big.Float, by GobEncode). Not supported: functions, channels, unsafe
// pointers, interfaces, complex numbers, uintptr, structs with unexported
// fields (types defined from time.Time among them) that do not marshal
// themselves, types that implement only one half of a marshaler pair, and
// fields tagged `json:"-"` without a `cbor:` tag (the codec would skip them
// and replay them as zero).
func CheckResultType(t reflect.Type) error {
	if t == nil {
		return errors.New("idem: CheckResultType(nil): pass the reflect.Type of the results")
	}
	return resultTypeInfoFor(t).err
}

func resultTypeInfoFor(t reflect.Type) *resultTypeInfo {
	if e, ok := resultTypes.Load(t); ok {
		return e.(*resultTypeInfo)
	}
	c := resultTypeChecker{active: map[reflect.Type]bool{}, depth: map[reflect.Type]int{}}
	depth, err := c.check(t, "")
	info := &resultTypeInfo{walk: c.recursive || c.times || depth > maxResultDepth}
	if err == nil && c.codecs {
		if c.recursive {
			err = fmt.Errorf("it is recursive and holds values recorded by a registered codec (RegisterResultCodec), which the result codec does not combine; record the codec's values in a non-recursive type")
		} else {
			info.shadow, err = shadowOf(t)
		}
	}
	if err != nil {
		info = &resultTypeInfo{err: fmt.Errorf("idem: results of type %s cannot be recorded: %w", t, err)}
	}
	e, _ := resultTypes.LoadOrStore(t, info)
	return e.(*resultTypeInfo)
}

// resultTypeChecker walks a result type once.
type resultTypeChecker struct {
	active    map[reflect.Type]bool // types on the path being checked
	depth     map[reflect.Type]int  // checked types: the deepest nesting of their values
	recursive bool                  // some type reaches itself
	times     bool                  // some part is a time.Time
	codecs    bool                  // some part is recorded by a registered ResultCodec
}

// resultTypeError names the part of a result type that cannot be recorded.
func resultTypeError(path string, t reflect.Type, problem string) error {
	if path == "" {
		return fmt.Errorf("type %s: %s", t, problem)
	}
	return fmt.Errorf("field %s of type %s: %s", path, t, problem)
}

// resultMarshaling is how the codec writes a type: by a marshaler pair, or
// by its structure (""). A type with half a pair is an error, because the
// encoder and the decoder would treat it differently.
func resultMarshaling(t reflect.Type) (string, error) {
	pt := reflect.PointerTo(t)
	has := func(i reflect.Type) bool { return pt.Implements(i) }
	half := func(m, u string) error {
		return fmt.Errorf("it implements only one of %s and %s, so its records could not be decoded; implement both on *%s", m, u, t)
	}
	switch {
	case has(resultCBORMarshaler) || has(resultCBORUnmarshaler):
		if !has(resultCBORMarshaler) || !has(resultCBORUnmarshaler) {
			return "", half("cbor.Marshaler", "cbor.Unmarshaler")
		}
		return "cbor", nil
	case has(resultBinaryMarshaler):
		if !has(resultBinaryUnmarshaler) {
			return "", half("encoding.BinaryMarshaler", "encoding.BinaryUnmarshaler")
		}
		return "binary", nil
	case has(resultTextMarshaler):
		if !has(resultTextUnmarshaler) {
			return "", half("encoding.TextMarshaler", "encoding.TextUnmarshaler")
		}
		return "text", nil
	case has(resultBinaryUnmarshaler):
		return "", half("encoding.BinaryMarshaler", "encoding.BinaryUnmarshaler")
	case has(resultTextUnmarshaler):
		return "", half("encoding.TextMarshaler", "encoding.TextUnmarshaler")
	}
	return "", nil
}

// resultMarshaledTypes caches resultMarshaled: reflect.Type -> bool.
var resultMarshaledTypes sync.Map

// resultMarshaled reports whether the codec writes t with a marshaler.
func resultMarshaled(t reflect.Type) bool {
	if m, ok := resultMarshaledTypes.Load(t); ok {
		return m.(bool)
	}
	how, _ := resultMarshaling(t)
	resultMarshaledTypes.Store(t, how != "")
	return how != ""
}

// check returns the deepest nesting of values of t (0 for a type that
// reaches itself, which sets c.recursive), or why t cannot be recorded.
func (c *resultTypeChecker) check(t reflect.Type, path string) (int, error) {
	if c.active[t] {
		c.recursive = true
		return 0, nil
	}
	if d, ok := c.depth[t]; ok {
		return d, nil
	}
	c.active[t] = true
	d, err := c.checkKind(t, path)
	delete(c.active, t)
	c.depth[t] = d
	return d, err
}

func (c *resultTypeChecker) checkKind(t reflect.Type, path string) (int, error) {
	if codec, err := resultCodecFor(t); err != nil {
		return 0, resultTypeError(path, t, err.Error())
	} else if codec != nil {
		c.codecs = true
		return 0, nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return 0, resultTypeError(path, t, "interfaces cannot be recorded (the dynamic type is unknown when the result is replayed); return a concrete type")
	case reflect.Func:
		return 0, resultTypeError(path, t, "functions cannot be recorded; leave them out of the results")
	case reflect.Chan:
		return 0, resultTypeError(path, t, "channels cannot be recorded; leave them out of the results")
	case reflect.UnsafePointer:
		return 0, resultTypeError(path, t, "unsafe pointers cannot be recorded; leave them out of the results")
	case reflect.Pointer:
		d, err := c.check(t.Elem(), path)
		return d + 1, err
	}
	if t == resultTimeType {
		c.times = true
		return 1, nil
	}
	how, err := resultMarshaling(t)
	if err != nil {
		return 0, resultTypeError(path, t, err.Error())
	}
	if how != "" {
		return 0, nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return 0, nil
	case reflect.Complex64, reflect.Complex128:
		return 0, resultTypeError(path, t, "complex numbers cannot be recorded (CBOR has no complex type); return the real and imaginary parts as floats")
	case reflect.Uintptr:
		return 0, resultTypeError(path, t, "uintptr values cannot be recorded (an address means nothing to another process); return an integer type")
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 0, nil // a byte string, whatever the element type's methods
		}
		suffix := "[]"
		if t.Kind() == reflect.Array {
			suffix = "[" + strconv.Itoa(t.Len()) + "]"
		}
		d, err := c.check(t.Elem(), path+suffix)
		return d + 1, err
	case reflect.Map:
		dk, err := c.check(t.Key(), path+"[key]")
		if err != nil {
			return 0, err
		}
		dv, err := c.check(t.Elem(), path+"[value]")
		return max(dk, dv) + 1, err
	case reflect.Struct:
		return c.checkStruct(t, path)
	}
	return 0, resultTypeError(path, t, "values of kind "+t.Kind().String()+" cannot be recorded")
}

func (c *resultTypeChecker) checkStruct(t reflect.Type, path string) (int, error) {
	if t.ConvertibleTo(resultTimeType) {
		return 0, resultTypeError(path, t, "it is defined from time.Time without time.Time's methods, so the result codec cannot see its instant; record a time.Time (convert with time.Time(v)), or implement encoding.TextMarshaler and encoding.TextUnmarshaler on *"+t.String())
	}
	deepest := 0
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue // blank fields hold nothing to record
		}
		if !f.IsExported() {
			return 0, resultTypeError(path, t, "its field "+f.Name+" is unexported, so it cannot be recorded; export the fields, or implement encoding.BinaryMarshaler and encoding.BinaryUnmarshaler (or encoding.TextMarshaler and encoding.TextUnmarshaler) on *"+t.String())
		}
		cborTag, hasCBORTag := f.Tag.Lookup("cbor")
		if cborTag == "-" {
			continue // left out on purpose: replays as the zero value
		}
		if !hasCBORTag && f.Tag.Get("json") == "-" {
			return 0, resultTypeError(path, t, "its field "+f.Name+` is tagged json:"-", which the result codec also honours, so it would replay as its zero value; tag it cbor:"`+f.Name+`" to record it, or cbor:"-" to leave it out on purpose`)
		}
		fpath := f.Name
		if path != "" {
			fpath = path + "." + f.Name
		}
		d, err := c.check(f.Type, fpath)
		if err != nil {
			return 0, err
		}
		deepest = max(deepest, d)
	}
	return deepest + 1, nil
}

var errResultTooDeep = fmt.Errorf("value nested more than %d levels deep (is it cyclic?)", maxResultDepth)

// walkResult checks a value before it is encoded: its nesting (a cyclic
// value would never end) and its times (RFC 3339 offsets are whole
// minutes; a time at +05:53:28, a historical local mean time, would be
// recorded at another instant). depth counts the containers above v as
// resultTypeChecker does; a container at depth maxResultDepth is refused,
// so the CBOR nesting the decoder counts never exceeds maxResultDepth.
func walkResult(v reflect.Value, depth int) error {
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if depth >= maxResultDepth {
			return errResultTooDeep
		}
		return walkResult(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		if depth >= maxResultDepth {
			return errResultTooDeep
		}
		for i := range v.Len() {
			if err := walkResult(v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		if depth >= maxResultDepth {
			return errResultTooDeep
		}
		for it := v.MapRange(); it.Next(); {
			if err := walkResult(it.Key(), depth+1); err != nil {
				return err
			}
			if err := walkResult(it.Value(), depth+1); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if depth >= maxResultDepth {
			return errResultTooDeep
		}
		if t == resultTimeType {
			var tm time.Time
			if v.CanAddr() {
				tm = *(*time.Time)(v.Addr().UnsafePointer()) // no copy to the heap
			} else {
				tm = v.Interface().(time.Time)
			}
			if _, off := tm.Zone(); off%60 != 0 && !tm.IsZero() {
				return fmt.Errorf("time %s has a UTC offset of %ds, which RFC 3339 cannot hold (it has whole minutes); record it in UTC or in a zone with a whole-minute offset", tm.Format(time.RFC3339Nano), off)
			}
			return nil
		}
		if resultMarshaled(t) {
			return nil // the marshaler writes a string
		}
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				if err := walkResult(v.Field(i), depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// marshalResult encodes *v for the record, encrypted when result keys are
// configured (SetResultKeys). It fails for types that CheckResultType
// rejects, for cyclic values and values nested more than 1000 levels deep,
// and when a marshaler fails (or panics).
func marshalResult[R any](v *R) (data []byte, err error) {
	t := reflect.TypeFor[R]()
	info := resultTypeInfoFor(t)
	if info.err != nil {
		return nil, info.err
	}
	if v == nil {
		return nil, errors.New("idem: marshalResult(nil)")
	}
	keys, err := loadResultKeys()
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			data, err = nil, fmt.Errorf("idem: results of type %s cannot be recorded: a marshaler panicked: %v", t, r)
		}
	}()
	var enc any = v
	if info.shadow != nil {
		sv, err := info.shadow.to(reflect.ValueOf(v).Elem())
		if err != nil {
			return nil, fmt.Errorf("idem: results of type %s cannot be recorded: %w", t, err)
		}
		enc = sv.Interface()
	}
	if info.walk {
		wv := reflect.ValueOf(enc)
		if wv.Kind() == reflect.Pointer && info.shadow == nil {
			wv = wv.Elem() // *R: walk R, addressable
		}
		if err := walkResult(wv, 0); err != nil {
			return nil, fmt.Errorf("idem: results of type %s cannot be recorded: %w", t, err)
		}
	}
	buf := resultBufs.Get().(*bytes.Buffer)
	defer putResultBuf(buf)
	buf.Reset()
	buf.Write(resultPrefix)
	if err := resultEncMode.MarshalToBuffer(enc, buf); err != nil {
		return nil, fmt.Errorf("idem: results of type %s cannot be recorded: %w", t, err)
	}
	if keys.current == nil {
		return bytes.Clone(buf.Bytes()), nil
	}
	return keys.current.seal(buf.Bytes()[len(resultPrefix):]) // a new slice
}

// resultBufs holds the buffers marshalResult encodes into; it returns a
// copy of exactly the encoding's size, so that a call allocates one slice.
var resultBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledResultBuf bounds the buffers kept in resultBufs: a rare large
// result does not pin its buffer.
const maxPooledResultBuf = 64 << 10

func putResultBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledResultBuf {
		resultBufs.Put(b)
	}
}

// unmarshalResult decodes a record made by marshalResult into *v. On error
// *v is the zero value. Malformed data (truncated, corrupt, not a record
// of this format, encrypted under a key that is not configured, altered
// after encryption) and values whose recorded type does not fit R's are
// errors, never panics.
func unmarshalResult[R any](data []byte, v *R) (err error) {
	var zero R
	*v = zero
	t := reflect.TypeFor[R]()
	info := resultTypeInfoFor(t)
	if info.err != nil {
		return info.err
	}
	if !bytes.HasPrefix(data, resultPrefix) {
		return errors.New("idem: the recorded results are not a CBOR record of this idem release (they lack the 55799 self-described CBOR tag); records written before the release that introduced the CBOR result format are not read")
	}
	body := data[len(resultPrefix):]
	if isSealedResult(body) {
		if body, err = openResult(body); err != nil {
			return err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			*v = zero
			err = fmt.Errorf("idem: the recorded results do not decode into %s: an unmarshaler panicked: %v", t, r)
		}
	}()
	if info.shadow != nil {
		sv := reflect.New(info.shadow.typ)
		err = resultDecMode.Unmarshal(body, sv.Interface())
		if err == nil {
			err = info.shadow.from(sv.Elem(), reflect.ValueOf(v).Elem())
		}
	} else {
		err = resultDecMode.Unmarshal(body, v)
	}
	if err != nil {
		*v = zero
		return fmt.Errorf("idem: the recorded results do not decode into %s%s (a result's type changed incompatibly since the record was written, or the record is corrupt): %w", t, resultErrorField(err), err)
	}
	return nil
}

// resultErrorField names the outermost field of R where decoding failed
// (the library reports no deeper path), as ": field F".
func resultErrorField(err error) string {
	var te *cbor.UnmarshalTypeError
	if !errors.As(err, &te) || te.StructFieldName == "" {
		return ""
	}
	name := te.StructFieldName
	return ": field " + name[strings.LastIndexByte(name, '.')+1:]
}
