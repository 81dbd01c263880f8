package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// Key is the SHA-256 digest that identifies one logical operation; see
// [store.Key].
type Key = store.Key

// Fingerprint is the SHA-256 digest of the arguments that must match when a
// key is used again; see [store.Fingerprint].
type Fingerprint = store.Fingerprint

// KeyEncodingVersion is the version of the canonical key encoding that
// [Encoder] implements, documented on Encoder, and written into the prefix
// of every encoding ("idem:e2:…"). Any change to the bytes the Encoder
// produces for any value is a new encoding version, to be made
// deliberately: keys derived before and after the change differ, so a call
// retried across the upgrade is not deduplicated against its first attempt.
// The golden vectors in testdata/keys/vectors.json fail on any such change.
const KeyEncodingVersion = 2

// MaxKeyDepth is how deeply a key or fingerprint value may nest. Each
// non-nil pointer, non-empty slice, array, struct and map that is open
// around a value is one level. A deeper value (which is how a cyclic value
// shows) makes Sum fail with an error matching [ErrInvalidKey] in typed and
// reflective encoding alike, before anything can overflow the stack.
const MaxKeyDepth = 1000

// keyPrefix starts every encoding: "idem:e" and the encoding version, then
// ":v" and the key version.
const keyPrefix = "idem:e2:v"

// Encoder derives keys and fingerprints from a canonical, injective,
// type-tagged encoding of a function's namespace, key version and key
// arguments. Generated code declares one on its stack (var e runtime.Encoder),
// calls [Encoder.Begin], one typed method per argument, and hands it to the
// runtime, which calls [Encoder.SumContext] (or [Encoder.Sum] without a
// context). The zero Encoder is ready for Begin; an Encoder is not safe for
// concurrent use.
//
// Encodings of up to 256 bytes (short namespaces and a few scalar or string
// arguments) stay in a buffer inside the Encoder and hashing them allocates
// nothing; longer encodings stream into a SHA-256 hash allocated on the heap
// the first time the buffer fills. Maps are buffered on the heap until
// [Encoder.MapEnd] so that their entries can be sorted.
//
// # Canonical encoding, version 2
//
// The digest is SHA-256 over the concatenation of the prefix written by
// Begin and the encodings of the values written after it, in call order.
// The key is that digest, unless a scope ([WithScope]) or a key secret
// ([SetKeySecret]) applies: then it is derived from the digest as
// documented on [Encoder.SumContext].
//
//	prefix = "idem:e2:v" decimal(version) ":" uvarint(len(namespace)) namespace ":"
//
// "e2" is [KeyEncodingVersion]; decimal is the base-10 form of the key
// version (with a leading "-" when negative); uvarint is the unsigned
// LEB128 varint of encoding/binary (one byte below 128). Every value starts
// with one tag byte; integers are fixed-width, big-endian, two's
// complement; lengths and counts are uvarints.
//
//	tag   method               payload after the tag
//	0x01  Nil                  none (a nil pointer or a nil interface)
//	0x02  Pointer              the pointee's encoding
//	0x03  Bool                 1 byte: 0x00 false, 0x01 true
//	0x10  Int                  8 bytes (int64(v), whatever the platform's int size)
//	0x11  Int8                 1 byte
//	0x12  Int16                2 bytes
//	0x13  Int32                4 bytes
//	0x14  Int64, Duration      8 bytes (a time.Duration is its int64 nanoseconds)
//	0x18  Uint                 8 bytes (uint64(v))
//	0x19  Uint8                1 byte
//	0x1a  Uint16               2 bytes
//	0x1b  Uint32               4 bytes
//	0x1c  Uint64               8 bytes
//	0x1d  Uintptr              8 bytes
//	0x20  Float32              4 bytes: IEEE 754 bits
//	0x21  Float64              8 bytes: IEEE 754 bits
//	0x22  Complex64            4 bytes real, then 4 bytes imaginary
//	0x23  Complex128           8 bytes real, then 8 bytes imaginary
//	0x30  String               uvarint(len), then the bytes
//	0x31  Bytes                uvarint(len), then the bytes
//	0x40  Time                 8 bytes: seconds since 0001-01-01 00:00:00 UTC
//	                           (time.Time's zero instant); 4 bytes: nanoseconds
//	0x50  List                 uvarint(n), then n element encodings (slices)
//	0x51  Struct               fields, each uvarint(len(name)) name value, sorted
//	                           by name; then 0x00
//	0x52  Map                  uvarint(n), then n (key encoding, value encoding) pairs,
//	                           sorted by the bytes of the key encoding, then of the value
//	0x53  Array                uvarint(n), then n elements, each 0x00 when it is
//	                           zero and its encoding otherwise
//
// # Zero values
//
// A value is zero when it encodes like its type's zero value: false, 0 of
// every number (-0 included), "", an empty or nil slice or map, a nil
// pointer or interface, time.Time's zero instant (not the Unix epoch), a
// struct whose fields are all zero, an array whose elements are all zero.
// A struct field whose value is zero is left out (name and value), and an
// array element that is zero is the single byte 0x00. So adding a field to
// a struct changes no key or fingerprint derived while the field is zero,
// and a struct with a zero field encodes exactly like the same struct
// without that field. Outside structs and arrays (a key part, a slice
// element, a map key or value, a pointee) a zero value is written in full:
// a nil pointer still differs from a pointer to zero.
//
// Rules that follow from the table, and that generated code relies on:
//
//   - Floats: -0 encodes as +0; NaN cannot be encoded (it is not equal to
//     itself) and makes Sum fail. Infinities encode as their bits. Complex
//     parts follow the same rules.
//   - Time: only the instant counts. The monotonic clock reading and the
//     Location are dropped, so the same instant in two zones encodes alike.
//   - nil and empty slices encode alike (List(0) or Bytes of length 0), and
//     so do nil and empty maps (Map(0)). A nil pointer (Nil) differs from a
//     pointer to a zero value (Pointer, then the zero value).
//   - A slice whose element kind is uint8 ([]byte, or []B for a named byte
//     type B) encodes as Bytes; every other slice encodes as List; every
//     array, [N]byte included, as Array.
//   - Named types encode as their underlying kind (type Status string
//     encodes as String), except that types defined from time.Time encode
//     as Time; an interface value encodes as its dynamic value (so a struct
//     field of interface type holding a zero value is left out, like a nil
//     one).
//   - Struct fields are encoded by their Go name (an embedded field by its
//     type's name), sorted by name; blank (_) fields are skipped. Reordering
//     fields changes nothing; adding or removing a field changes nothing
//     while its value is zero; renaming a field whose value is not zero
//     changes the key, like changing its value. Type names are not encoded.
//   - Every encoding is self-delimiting (tags, fixed widths, lengths,
//     counts and the struct end byte, which no field name can start with),
//     so the concatenation is injective: ("ab", "c") and ("a", "bc")
//     differ, and so do true and 1, and int and int64 values.
//   - A value nested deeper than [MaxKeyDepth] makes Sum fail.
//
// Golden vectors in testdata/keys/vectors.json pin these bytes.
type Encoder struct {
	n        int       // bytes of buf in use
	err      error     // first error, reported by Sum
	inMap    bool      // a map is open: writes go to sp.scratch
	pend     uint8     // the next value is a struct field or array element
	pendName string    // the field name of pend == pendField
	nf       int       // open frames (pointers, lists, structs, arrays, maps)
	nlazy    int       // the top nlazy frames are lazy: not written yet
	sp       *encSpill // heap state for maps, deep values and long encodings; nil until needed
	tee      *[]byte   // tests only: receives every byte that is hashed
	fr       [encInlineFrames]encFrame
	buf      [encBufSize]byte
}

// encBufSize is the size of the Encoder's inline buffer.
const encBufSize = 256

// encInlineFrames is how many open frames an Encoder holds without
// allocating.
const encInlineFrames = 4

// Tag bytes of the canonical key encoding (see the Encoder documentation).
const (
	keyTagNil        = 0x01
	keyTagPointer    = 0x02
	keyTagBool       = 0x03
	keyTagInt        = 0x10
	keyTagInt8       = 0x11
	keyTagInt16      = 0x12
	keyTagInt32      = 0x13
	keyTagInt64      = 0x14
	keyTagUint       = 0x18
	keyTagUint8      = 0x19
	keyTagUint16     = 0x1a
	keyTagUint32     = 0x1b
	keyTagUint64     = 0x1c
	keyTagUintptr    = 0x1d
	keyTagFloat32    = 0x20
	keyTagFloat64    = 0x21
	keyTagComplex64  = 0x22
	keyTagComplex128 = 0x23
	keyTagString     = 0x30
	keyTagBytes      = 0x31
	keyTagTime       = 0x40
	keyTagList       = 0x50
	keyTagStruct     = 0x51
	keyTagMap        = 0x52
	keyTagArray      = 0x53

	// keyZero is an array element that is zero, and the end of a struct.
	keyZero = 0x00
)

// zeroInstantSec is how many seconds time.Time's zero instant
// (0001-01-01 UTC) lies before the Unix epoch; Time encodes seconds since
// the zero instant.
const zeroInstantSec = 62135596800

// Kinds of frames.
const (
	frPtr uint8 = iota + 1
	frList
	frStruct
	frArray
	frMap
)

// Positions of the next value (Encoder.pend, encFrame.hdr).
const (
	pendNone  uint8 = iota
	pendField       // a struct field: left out when zero
	pendElem        // an array element: 0x00 when zero
)

// encFrame is an open pointer, list, struct, array or map.
type encFrame struct {
	kind uint8
	// lazy: a struct or array in a field or element position whose
	// encoding is not written until one of its parts is not zero; if none
	// is, it is zero and elided. For a map, lazy means that it was declared
	// empty in such a position and is elided at MapEnd.
	lazy  bool
	hdr   uint8  // the position of a lazy frame in its parent
	name  string // the field name of a lazy frame with hdr pendField
	last  string // struct: the last field name written
	n     int    // list: elements left; array: length
	seen  int    // array: elements started
	zeros int    // lazy array: zero elements not written yet
}

var (
	errKeyNaN         = errors.New("idem: key part is NaN: NaN cannot be a key (it is not equal to itself); pass a number, or leave the argument out of the key")
	errKeyOpen        = errors.New("idem: Encoder misuse: Sum called with a value still open; end every Struct, Array and Map, and write every List element and pointee")
	errKeyMapKey      = errors.New("idem: Encoder misuse: MapKey, MapValue or MapEnd called outside a map, or inside an open value of an entry; call Map first and complete each key and value")
	errKeyMapOrder    = errors.New("idem: Encoder misuse: each map entry is MapKey, the key, MapValue, the value")
	errKeyMapLoose    = errors.New("idem: Encoder misuse: a value was written inside a map but outside MapKey/MapValue; call MapKey before each entry")
	errKeyNegativeLen = errors.New("idem: Encoder misuse: List, Array or Map called with a negative count")
	errKeyLoose       = errors.New("idem: Encoder misuse: a value was written inside a struct or array without Field or Elem before it")
	errKeyField       = errors.New("idem: Encoder misuse: Field outside a struct, or after a Field without its value; call Struct first and write each field's value after its Field")
	errKeyFieldName   = errors.New("idem: Encoder misuse: Field names must be non-empty and written in increasing byte order, each once; sort the fields by name")
	errKeyElem        = errors.New("idem: Encoder misuse: Elem outside an array, after an Elem without its value, or more often than the array's length")
	errKeyEnd         = errors.New("idem: Encoder misuse: EndStruct or EndArray does not close an open Struct or Array with all of its parts written")
	errKeyTooDeep     = fmt.Errorf("idem: key part is nested more than %d levels deep (is it cyclic?); key on a value that identifies it instead", MaxKeyDepth)
)

// encSpill is the heap part of an Encoder: the streaming hash once the
// encoding outgrows the inline buffer, the buffers of open maps, and the
// frames beyond the inline ones.
type encSpill struct {
	h         hash.Hash // nil until the inline buffer first overflows
	streaming bool      // h holds the start of the current encoding
	chunk     []byte    // heap copy of the inline buffer handed to h
	sum       [sha256.Size]byte
	scratch   []byte // encodings of the entries of open maps
	frames    []keyMapFrame
	entries   []keyMapEntry
	tmp       []byte
	deep      []encFrame // frames beyond encInlineFrames
	kept      []byte     // the bytes handed to h, for per-part digests (key_parts.go)
	keptOver  bool       // the encoding outgrew maxPartsEncoding: kept is not kept
}

// keyMapFrame is an open map: its entries start at scratch[start] and at
// entries[first].
type keyMapFrame struct {
	start, first, declared int
	state                  uint8 // 0: before MapKey, 1: in key, 2: in value
}

// keyMapEntry locates one entry in scratch: key bytes [key,val), value bytes
// [val,end).
type keyMapEntry struct{ key, val, end int }

func (e *Encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Err returns the first error recorded since Begin: a NaN, an unsupported
// or too deeply nested value, a nil pointer on a key path, or misuse.
// Generated encoders of recursive types stop descending once it is set.
func (e *Encoder) Err() error { return e.err }

// Begin resets e and writes the prefix of a key (or fingerprint) of the
// given namespace and key version. Everything written to e before is
// discarded, including a recorded error.
func (e *Encoder) Begin(namespace string, version int) {
	e.n = 0
	e.err = nil
	e.inMap = false
	e.pend = pendNone
	e.pendName = ""
	e.nf = 0
	e.nlazy = 0
	if sp := e.sp; sp != nil {
		if sp.streaming {
			sp.h.Reset()
			sp.streaming = false
		}
		sp.scratch = sp.scratch[:0]
		sp.kept, sp.keptOver = sp.kept[:0], false
		sp.frames = sp.frames[:0]
		sp.entries = sp.entries[:0]
	}
	if e.tee != nil {
		*e.tee = (*e.tee)[:0]
	}
	var digits [20]byte
	var ver []byte
	if version >= 0 && version < 10 {
		digits[0] = '0' + byte(version)
		ver = digits[:1]
	} else {
		ver = strconv.AppendInt(digits[:0], int64(version), 10)
	}
	if len(namespace) < 0x80 && len(keyPrefix)+len(ver)+len(namespace)+3 <= len(e.buf) {
		b := e.buf[:]
		n := copy(b, keyPrefix)
		n += copy(b[n:], ver)
		b[n] = ':'
		b[n+1] = byte(len(namespace))
		n += 2 + copy(b[n+2:], namespace)
		b[n] = ':'
		e.n = n + 1
		return
	}
	e.putString(keyPrefix)
	e.putBytes(ver)
	e.putString(":")
	e.putUvarint(uint64(len(namespace)))
	e.putString(namespace)
	e.putString(":")
}

// String encodes a string: its length, then its bytes.
func (e *Encoder) String(v string) {
	if n := e.n; e.nf == 0 && len(v) < 0x80 && n <= len(e.buf)-2-len(v) {
		e.buf[n] = keyTagString
		e.buf[n+1] = byte(len(v))
		e.n = n + 2 + copy(e.buf[n+2:], v)
		return
	}
	if e.err != nil || !e.open(len(v) == 0) {
		return
	}
	e.header(keyTagString, uint64(len(v)))
	e.putString(v)
	e.done()
}

// Bytes encodes a byte slice: its length, then its bytes. A nil slice
// encodes like an empty one.
func (e *Encoder) Bytes(v []byte) {
	if n := e.n; e.nf == 0 && len(v) < 0x80 && n <= len(e.buf)-2-len(v) {
		e.buf[n] = keyTagBytes
		e.buf[n+1] = byte(len(v))
		e.n = n + 2 + copy(e.buf[n+2:], v)
		return
	}
	if e.err != nil || !e.open(len(v) == 0) {
		return
	}
	e.header(keyTagBytes, uint64(len(v)))
	e.putBytes(v)
	e.done()
}

// Bool encodes a bool, distinct from every integer.
func (e *Encoder) Bool(v bool) {
	var b uint8
	if v {
		b = 1
	}
	e.fixed8(keyTagBool, b)
}

// Int encodes an int as 8 bytes, whatever the platform's int size, under a
// tag distinct from Int64's.
func (e *Encoder) Int(v int) { e.fixed64(keyTagInt, uint64(int64(v))) }

// Int8 encodes an int8.
func (e *Encoder) Int8(v int8) { e.fixed8(keyTagInt8, uint8(v)) }

// Int16 encodes an int16.
func (e *Encoder) Int16(v int16) { e.fixed16(keyTagInt16, uint16(v)) }

// Int32 encodes an int32 (and so a rune).
func (e *Encoder) Int32(v int32) { e.fixed32(keyTagInt32, uint32(v)) }

// Int64 encodes an int64.
func (e *Encoder) Int64(v int64) { e.fixed64(keyTagInt64, uint64(v)) }

// Uint encodes a uint as 8 bytes, whatever the platform's uint size.
func (e *Encoder) Uint(v uint) { e.fixed64(keyTagUint, uint64(v)) }

// Uint8 encodes a uint8 (a byte).
func (e *Encoder) Uint8(v uint8) { e.fixed8(keyTagUint8, v) }

// Uint16 encodes a uint16.
func (e *Encoder) Uint16(v uint16) { e.fixed16(keyTagUint16, v) }

// Uint32 encodes a uint32.
func (e *Encoder) Uint32(v uint32) { e.fixed32(keyTagUint32, v) }

// Uint64 encodes a uint64.
func (e *Encoder) Uint64(v uint64) { e.fixed64(keyTagUint64, v) }

// Uintptr encodes a uintptr as 8 bytes.
func (e *Encoder) Uintptr(v uintptr) { e.fixed64(keyTagUintptr, uint64(v)) }

// Float32 encodes a float32. -0 encodes as +0; NaN makes Sum fail.
func (e *Encoder) Float32(v float32) {
	e.fixed32(keyTagFloat32, e.float32bits(v))
}

// Float64 encodes a float64. -0 encodes as +0; NaN makes Sum fail.
func (e *Encoder) Float64(v float64) {
	e.fixed64(keyTagFloat64, e.float64bits(v))
}

// Complex64 encodes a complex64 as its real and imaginary parts, each under
// the rules of Float32.
func (e *Encoder) Complex64(v complex64) {
	re, im := e.float32bits(real(v)), e.float32bits(imag(v))
	var b [9]byte
	b[0] = keyTagComplex64
	binary.BigEndian.PutUint32(b[1:], re)
	binary.BigEndian.PutUint32(b[5:], im)
	e.scalar(b[:], re == 0 && im == 0)
}

// Complex128 encodes a complex128 as its real and imaginary parts, each
// under the rules of Float64.
func (e *Encoder) Complex128(v complex128) {
	re, im := e.float64bits(real(v)), e.float64bits(imag(v))
	var b [17]byte
	b[0] = keyTagComplex128
	binary.BigEndian.PutUint64(b[1:], re)
	binary.BigEndian.PutUint64(b[9:], im)
	e.scalar(b[:], re == 0 && im == 0)
}

func (e *Encoder) float32bits(v float32) uint32 {
	if v != v {
		e.fail(errKeyNaN)
	}
	if v == 0 {
		v = 0 // fold -0 into +0
	}
	return math.Float32bits(v)
}

func (e *Encoder) float64bits(v float64) uint64 {
	if v != v {
		e.fail(errKeyNaN)
	}
	if v == 0 {
		v = 0 // fold -0 into +0
	}
	return math.Float64bits(v)
}

// Time encodes the instant of v: its seconds since time.Time's zero instant
// (so that the zero time.Time encodes as zero, unlike the Unix epoch) and
// its nanoseconds. The monotonic clock reading and the Location are
// dropped, so the same instant in two zones encodes alike.
func (e *Encoder) Time(v time.Time) {
	// Wrapping arithmetic: exact for every instant time.Time can hold.
	sec := uint64(v.Unix()) + zeroInstantSec
	nsec := uint32(v.Nanosecond())
	if n := e.n; e.nf == 0 && n <= len(e.buf)-13 {
		e.buf[n] = keyTagTime
		binary.BigEndian.PutUint64(e.buf[n+1:], sec)
		binary.BigEndian.PutUint32(e.buf[n+9:], nsec)
		e.n = n + 13
		return
	}
	var b [13]byte
	b[0] = keyTagTime
	binary.BigEndian.PutUint64(b[1:], sec)
	binary.BigEndian.PutUint32(b[9:], nsec)
	e.scalar(b[:], sec == 0 && nsec == 0)
}

// Duration encodes a time.Duration exactly as Int64(int64(v)).
func (e *Encoder) Duration(v time.Duration) { e.Int64(int64(v)) }

// Nil encodes a nil pointer (or nil interface).
func (e *Encoder) Nil() { e.scalar([]byte{keyTagNil}, true) }

// NilPath records that the key path (as written in //idem:key, e.g.
// "o.Customer.ID") crosses a nil pointer before the field it selects, so
// the call has no key: Sum fails with an error naming the path, which the
// runtime reports as [ErrInvalidKey]. Generated code calls it; a key part
// that is itself a nil pointer encodes as Nil instead.
func (e *Encoder) NilPath(path string) {
	e.fail(fmt.Errorf("idem: key path %s crosses a nil pointer before its last field, so the call has no key (calls with different arguments would share one); pass a value whose pointers on the path are set, or key on a path that does not cross a pointer", path))
}

// Pointer marks a non-nil pointer; the pointee's encoding must follow. A
// pointer to a zero value therefore differs from a nil pointer.
func (e *Encoder) Pointer() {
	if e.err != nil || !e.open(false) {
		return
	}
	e.reserve(1)[0] = keyTagPointer
	e.push(encFrame{kind: frPtr})
}

// List starts a slice of n elements; the n element encodings must follow.
// A nil slice encodes like an empty one: List(0).
func (e *Encoder) List(n int) {
	if n < 0 {
		e.fail(errKeyNegativeLen)
	}
	if e.err != nil || !e.open(n == 0) {
		return
	}
	e.header(keyTagList, uint64(n))
	if n == 0 {
		e.done()
		return
	}
	e.push(encFrame{kind: frList, n: n})
}

// Struct starts a struct. Each field is written as Field(name), then the
// field's value, in increasing byte order of the names; EndStruct closes
// it. A field whose value is zero is left out, so a field added to a struct
// changes no key while its value is zero.
func (e *Encoder) Struct() {
	if e.err != nil || e.lazyFrame(frStruct, 0) || !e.open(false) {
		return
	}
	e.reserve(1)[0] = keyTagStruct
	e.push(encFrame{kind: frStruct})
}

// Field starts the field called name of the innermost open struct; its
// value's encoding must follow.
func (e *Encoder) Field(name string) {
	if e.err != nil {
		return
	}
	f := e.top()
	if f == nil || f.kind != frStruct || e.pend != pendNone {
		e.fail(errKeyField)
		return
	}
	if name == "" || name <= f.last {
		e.fail(errKeyFieldName)
		return
	}
	f.last = name
	e.pend, e.pendName = pendField, name
}

// EndStruct closes the innermost open struct.
func (e *Encoder) EndStruct() {
	if e.err != nil {
		return
	}
	f := e.top()
	if f == nil || f.kind != frStruct || e.pend != pendNone {
		e.fail(errKeyEnd)
		return
	}
	if e.closeLazy() {
		return
	}
	e.nf--
	e.reserve(1)[0] = keyZero
	e.done()
}

// Array starts an array of n elements. Each element is written as Elem,
// then the element's value; EndArray closes it. An element that is zero is
// written as one byte, and an array whose elements are all zero is zero.
func (e *Encoder) Array(n int) {
	if n < 0 {
		e.fail(errKeyNegativeLen)
	}
	if e.err != nil || e.lazyFrame(frArray, n) || !e.open(false) {
		return
	}
	e.header(keyTagArray, uint64(n))
	e.push(encFrame{kind: frArray, n: n})
}

// Elem starts the next element of the innermost open array; its encoding
// must follow.
func (e *Encoder) Elem() {
	if e.err != nil {
		return
	}
	f := e.top()
	if f == nil || f.kind != frArray || e.pend != pendNone || f.seen == f.n {
		e.fail(errKeyElem)
		return
	}
	f.seen++
	e.pend = pendElem
}

// EndArray closes the innermost open array, after its n elements.
func (e *Encoder) EndArray() {
	if e.err != nil {
		return
	}
	f := e.top()
	if f == nil || f.kind != frArray || e.pend != pendNone || f.seen != f.n {
		e.fail(errKeyEnd)
		return
	}
	if e.closeLazy() {
		return
	}
	e.nf--
	e.done()
}

// lazyFrame opens a struct or array in a field or element position as a
// lazy frame, written only once one of its parts is not zero. It reports
// false outside such a position.
func (e *Encoder) lazyFrame(kind uint8, n int) bool {
	if e.pend == pendNone {
		return false
	}
	hdr, name := e.pend, e.pendName
	e.pend, e.pendName = pendNone, ""
	if e.push(encFrame{kind: kind, lazy: true, hdr: hdr, name: name, n: n}) {
		e.nlazy++
	}
	return true
}

// closeLazy pops the innermost frame if it is lazy (nothing in it was
// written, so it is zero) and elides it; it reports whether it did.
func (e *Encoder) closeLazy() bool {
	f := e.top()
	if !f.lazy {
		return false
	}
	hdr := f.hdr
	e.nf--
	e.nlazy--
	if hdr == pendElem {
		e.zeroElem()
	}
	return true
}

// scalar writes the encoding b of a value that contains no other value.
func (e *Encoder) scalar(b []byte, zero bool) {
	if e.err != nil || !e.open(zero) {
		return
	}
	e.putBytes(b)
	e.done()
}

// open starts a value and reports whether it is to be written: false when
// it is zero in a field position (left out) or an element position
// (written as keyZero here). Before a value that is written, lazy frames
// around it and its field name are written.
func (e *Encoder) open(zero bool) bool {
	if e.nf == 0 {
		return true
	}
	switch e.pend {
	case pendField:
		e.pend = pendNone
		if zero {
			return false
		}
		e.materialize()
		e.putUvarint(uint64(len(e.pendName)))
		e.putString(e.pendName)
		return true
	case pendElem:
		e.pend = pendNone
		if zero {
			e.zeroElem()
			return false
		}
		e.materialize()
		return true
	}
	if k := e.top().kind; k == frStruct || k == frArray {
		e.fail(errKeyLoose)
		return false
	}
	return true
}

// zeroElem records a zero element of the innermost array.
func (e *Encoder) zeroElem() {
	if f := e.top(); f.lazy {
		f.zeros++
		return
	}
	e.reserve(1)[0] = keyZero
}

// materialize writes the lazy frames, outermost first: a value inside them
// is not zero, so neither are they.
func (e *Encoder) materialize() {
	for i := e.nf - e.nlazy; i < e.nf; i++ {
		f := e.frame(i)
		if f.hdr == pendField {
			e.putUvarint(uint64(len(f.name)))
			e.putString(f.name)
		}
		if f.kind == frStruct {
			e.reserve(1)[0] = keyTagStruct
		} else {
			e.header(keyTagArray, uint64(f.n))
			for ; f.zeros > 0; f.zeros-- {
				e.reserve(1)[0] = keyZero
			}
		}
		f.lazy = false
	}
	e.nlazy = 0
}

// done completes a value: it closes the pointers whose pointee it was and
// the lists whose last element it was.
func (e *Encoder) done() {
	for e.nf > 0 {
		f := e.top()
		switch f.kind {
		case frPtr:
		case frList:
			if f.n--; f.n > 0 {
				return
			}
		default:
			return
		}
		e.nf--
	}
}

// push opens a frame, or records that the value is too deep.
func (e *Encoder) push(f encFrame) bool {
	if e.nf >= MaxKeyDepth {
		e.fail(errKeyTooDeep)
		return false
	}
	if e.nf < encInlineFrames {
		e.fr[e.nf] = f
	} else {
		sp := e.spill()
		if i := e.nf - encInlineFrames; i < len(sp.deep) {
			sp.deep[i] = f
		} else {
			sp.deep = append(sp.deep, f)
		}
	}
	e.nf++
	return true
}

func (e *Encoder) frame(i int) *encFrame {
	if i < encInlineFrames {
		return &e.fr[i]
	}
	return &e.sp.deep[i-encInlineFrames]
}

// top returns the innermost open frame, or nil.
func (e *Encoder) top() *encFrame {
	if e.nf == 0 {
		return nil
	}
	return e.frame(e.nf - 1)
}

// Map starts a map of n entries. Each entry is written as MapKey, the key's
// encoding, MapValue, the value's encoding; MapEnd closes the map. Entries
// may come in any order: they are emitted sorted by the bytes of their key
// encoding (then of their value encoding), so map iteration order never
// changes the key. Maps nest: a key or value may itself be a map. A nil map
// encodes like an empty one: Map(0) then MapEnd. A count that does not match
// the entries written makes Sum fail.
func (e *Encoder) Map(n int) {
	if n < 0 {
		e.fail(errKeyNegativeLen)
	}
	if e.err != nil {
		return
	}
	fr := encFrame{kind: frMap}
	if n == 0 && e.pend != pendNone {
		fr.lazy, fr.hdr = true, e.pend // elided at MapEnd
		e.pend, e.pendName = pendNone, ""
	} else if !e.open(false) {
		return
	}
	sp := e.spill()
	if e.inMap && sp.frames[len(sp.frames)-1].state == 0 {
		e.fail(errKeyMapLoose)
		return
	}
	if !e.push(fr) {
		return
	}
	sp.frames = append(sp.frames, keyMapFrame{start: len(sp.scratch), first: len(sp.entries), declared: n})
	e.inMap = true
}

// MapKey starts an entry of the innermost open map; the key's encoding must
// follow.
func (e *Encoder) MapKey() {
	f := e.mapFrame()
	if f == nil {
		return
	}
	sp := e.sp
	switch f.state {
	case 1:
		e.fail(errKeyMapOrder)
	case 2:
		sp.entries[len(sp.entries)-1].end = len(sp.scratch)
	}
	if n := len(sp.entries) - f.first; n == f.declared {
		e.fail(fmt.Errorf("idem: Encoder misuse: Map(%d) was given %d entries; pass len(m) to Map and write every entry", f.declared, n+1))
		return
	}
	sp.entries = append(sp.entries, keyMapEntry{key: len(sp.scratch)})
	f.state = 1
}

// MapValue ends the current entry's key; the value's encoding must follow.
func (e *Encoder) MapValue() {
	f := e.mapFrame()
	if f == nil {
		return
	}
	if f.state != 1 {
		e.fail(errKeyMapOrder)
		return
	}
	e.sp.entries[len(e.sp.entries)-1].val = len(e.sp.scratch)
	f.state = 2
}

// MapEnd closes the innermost open map and emits its entries in canonical
// order.
func (e *Encoder) MapEnd() {
	f := e.mapFrame()
	if f == nil {
		return
	}
	sp := e.sp
	switch f.state {
	case 1:
		e.fail(errKeyMapOrder)
		sp.entries[len(sp.entries)-1].val = len(sp.scratch)
		fallthrough
	case 2:
		sp.entries[len(sp.entries)-1].end = len(sp.scratch)
	}
	scratch := sp.scratch
	es := sp.entries[f.first:]
	if len(es) != f.declared {
		e.fail(fmt.Errorf("idem: Encoder misuse: Map(%d) was given %d entries; pass len(m) to Map and write every entry", f.declared, len(es)))
	}
	slices.SortFunc(es, func(a, b keyMapEntry) int {
		if c := bytes.Compare(scratch[a.key:a.val], scratch[b.key:b.val]); c != 0 {
			return c
		}
		return bytes.Compare(scratch[a.val:a.end], scratch[b.val:b.end])
	})
	tmp := append(sp.tmp[:0], keyTagMap)
	tmp = binary.AppendUvarint(tmp, uint64(len(es)))
	for _, en := range es {
		tmp = append(tmp, scratch[en.key:en.end]...)
	}
	sp.tmp = tmp
	sp.scratch = scratch[:f.start]
	sp.entries = sp.entries[:f.first]
	sp.frames = sp.frames[:len(sp.frames)-1]
	e.inMap = len(sp.frames) > 0
	if e.err != nil {
		return
	}
	if m := e.top(); m.lazy { // declared empty in a field or element position
		hdr := m.hdr
		e.nf--
		if hdr == pendElem {
			e.zeroElem()
		}
		return
	}
	e.nf--
	e.putBytes(tmp)
	e.done()
}

// mapFrame returns the innermost open map, or records misuse and returns
// nil: outside a map, or with a value of the current entry still open.
func (e *Encoder) mapFrame() *keyMapFrame {
	if e.err != nil {
		return nil
	}
	if !e.inMap || e.top().kind != frMap || e.pend != pendNone {
		e.fail(errKeyMapKey)
		return nil
	}
	return &e.sp.frames[len(e.sp.frames)-1]
}

func (e *Encoder) spill() *encSpill {
	if e.sp == nil {
		e.sp = new(encSpill)
	}
	return e.sp
}

// Sum returns the key of the encoding written since Begin under the key
// secret, if one is set ([SetKeySecret]), and without a scope; or the
// first error recorded while writing it (a NaN, an unsupported or too deep
// value, a nil pointer on a key path, or misuse). Sum does not end the
// encoding: it may be called again, and values written after it extend the
// same encoding. The runtime calls [Encoder.SumContext], which adds the
// scope of the call's context.
func (e *Encoder) Sum() (Key, error) {
	d, err := e.digest()
	if err != nil {
		return Key{}, err
	}
	return finalKey(d, ""), nil
}

// SumFingerprint is Sum typed as a Fingerprint.
func (e *Encoder) SumFingerprint() (Fingerprint, error) {
	k, err := e.Sum()
	return Fingerprint(k), err
}

// digest returns the SHA-256 of the encoding written since Begin.
func (e *Encoder) digest() (Key, error) {
	if e.err != nil || e.sp != nil || e.tee != nil || e.nf != 0 || e.pend != pendNone {
		return e.digestSlow()
	}
	return sha256.Sum256(e.buf[:e.n]), nil
}

func (e *Encoder) digestSlow() (Key, error) {
	if e.err != nil {
		return Key{}, e.err
	}
	if e.nf != 0 || e.pend != pendNone {
		return Key{}, errKeyOpen
	}
	if e.sp == nil || !e.sp.streaming {
		if e.tee != nil {
			*e.tee = append(*e.tee, e.buf[:e.n]...)
		}
		return sha256.Sum256(e.buf[:e.n]), nil
	}
	e.flush()
	e.sp.h.Sum(e.sp.sum[:0])
	return e.sp.sum, nil
}

// flush hands the inline buffer to the streaming hash. The bytes are copied
// to the heap first so that e itself never escapes.
func (e *Encoder) flush() {
	sp := e.spill()
	if sp.h == nil {
		sp.h = sha256.New()
		sp.chunk = make([]byte, encBufSize)
	}
	sp.streaming = true
	n := copy(sp.chunk, e.buf[:e.n])
	sp.h.Write(sp.chunk[:n])
	sp.keep(sp.chunk[:n])
	if e.tee != nil {
		*e.tee = append(*e.tee, sp.chunk[:n]...)
	}
	e.n = 0
}

// reserve returns k (at most encBufSize) bytes of the encoding to fill in.
func (e *Encoder) reserve(k int) []byte {
	if n := e.n; !e.inMap && n <= len(e.buf)-k {
		e.n = n + k
		return e.buf[n : n+k]
	}
	return e.reserveSlow(k)
}

func (e *Encoder) reserveSlow(k int) []byte {
	if e.inMap {
		sp := e.sp
		if sp.frames[len(sp.frames)-1].state == 0 {
			e.fail(errKeyMapLoose)
		}
		l := len(sp.scratch)
		sp.scratch = slices.Grow(sp.scratch, k)[:l+k]
		return sp.scratch[l:]
	}
	if e.n > len(e.buf)-k {
		e.flush()
	}
	n := e.n
	e.n = n + k
	return e.buf[n : n+k]
}

func (e *Encoder) fixed8(tag byte, v uint8) {
	if n := e.n; e.nf == 0 && n <= len(e.buf)-2 {
		e.buf[n] = tag
		e.buf[n+1] = v
		e.n = n + 2
		return
	}
	e.scalar([]byte{tag, v}, v == 0)
}

func (e *Encoder) fixed16(tag byte, v uint16) {
	if n := e.n; e.nf == 0 && n <= len(e.buf)-3 {
		e.buf[n] = tag
		binary.BigEndian.PutUint16(e.buf[n+1:], v)
		e.n = n + 3
		return
	}
	var b [3]byte
	b[0] = tag
	binary.BigEndian.PutUint16(b[1:], v)
	e.scalar(b[:], v == 0)
}

func (e *Encoder) fixed32(tag byte, v uint32) {
	if n := e.n; e.nf == 0 && n <= len(e.buf)-5 {
		e.buf[n] = tag
		binary.BigEndian.PutUint32(e.buf[n+1:], v)
		e.n = n + 5
		return
	}
	var b [5]byte
	b[0] = tag
	binary.BigEndian.PutUint32(b[1:], v)
	e.scalar(b[:], v == 0)
}

func (e *Encoder) fixed64(tag byte, v uint64) {
	if n := e.n; e.nf == 0 && n <= len(e.buf)-9 {
		e.buf[n] = tag
		binary.BigEndian.PutUint64(e.buf[n+1:], v)
		e.n = n + 9
		return
	}
	var b [9]byte
	b[0] = tag
	binary.BigEndian.PutUint64(b[1:], v)
	e.scalar(b[:], v == 0)
}

// header writes a tag and a uvarint length or count.
func (e *Encoder) header(tag byte, n uint64) {
	var tmp [1 + binary.MaxVarintLen64]byte
	tmp[0] = tag
	k := binary.PutUvarint(tmp[1:], n)
	copy(e.reserve(1+k), tmp[:1+k])
}

func (e *Encoder) putUvarint(n uint64) {
	var tmp [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(tmp[:], n)
	copy(e.reserve(k), tmp[:k])
}

func (e *Encoder) putString(s string) { putKeyBytes(e, s) }

func (e *Encoder) putBytes(p []byte) { putKeyBytes(e, p) }

// putKeyBytes appends raw bytes of any length to the encoding.
func putKeyBytes[S string | []byte](e *Encoder, s S) {
	for len(s) > 0 {
		if e.inMap {
			sp := e.sp
			if sp.frames[len(sp.frames)-1].state == 0 {
				e.fail(errKeyMapLoose)
			}
			sp.scratch = append(sp.scratch, s...)
			return
		}
		if e.n == len(e.buf) {
			e.flush()
		}
		k := copy(e.buf[e.n:], s)
		e.n += k
		s = s[k:]
	}
}
