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
// [Encoder] implements, documented on Encoder. Any change to the bytes the
// Encoder produces for any value is a new encoding version, to be made
// deliberately: keys derived before and after the change differ, so a call
// retried across the upgrade is not deduplicated against its first attempt.
// The golden vectors in testdata/keys/vectors.json fail on any such change.
const KeyEncodingVersion = 1

// Encoder derives keys and fingerprints from a canonical, injective,
// type-tagged encoding of a function's namespace, key version and key
// arguments. Generated code declares one on its stack (var e runtime.Encoder),
// calls [Encoder.Begin], one typed method per argument, and hands it to the
// runtime, which calls [Encoder.Sum] or [Encoder.SumFingerprint]. The zero
// Encoder is ready for Begin; an Encoder is not safe for concurrent use.
//
// Encodings of up to 256 bytes (short namespaces and a few scalar or string
// arguments) stay in a buffer inside the Encoder and hashing them allocates
// nothing; longer encodings stream into a SHA-256 hash allocated on the heap
// the first time the buffer fills. Maps are buffered on the heap until
// [Encoder.MapEnd] so that their entries can be sorted.
//
// # Canonical encoding, version 1
//
// The key is SHA-256 over the concatenation of the prefix written by Begin and
// the encodings of the values written after it, in call order.
//
//	prefix = "idem:v" decimal(version) ":" uvarint(len(namespace)) namespace ":"
//
// decimal is the base-10 form of the key version (with a leading "-" when
// negative); uvarint is the unsigned LEB128 varint of encoding/binary (one
// byte below 128). Every value starts with one tag byte; integers are
// fixed-width, big-endian, two's complement; lengths and counts are uvarints.
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
//	0x40  Time                 8 bytes: Unix seconds; 4 bytes: nanoseconds (0..999999999)
//	0x50  List                 uvarint(n), then n element encodings
//	0x51  Struct               uvarint(n), then n field encodings in declaration order
//	0x52  Map                  uvarint(n), then n (key encoding, value encoding) pairs,
//	                           sorted by the bytes of the key encoding, then of the value
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
//     type B) encodes as Bytes; every other slice, and every array including
//     [N]byte, encodes as List.
//   - Named types encode as their underlying kind (type Status string
//     encodes as String), except that types defined from time.Time encode
//     as Time; an interface value encodes as its dynamic value.
//   - Struct counts and encodes its fields in declaration order, skipping
//     blank (_) fields.
//     Type names and struct field names are not encoded: a key identifies
//     values of one function's fixed argument types.
//   - Every encoding is self-delimiting (tags, fixed widths, lengths and
//     counts), so the concatenation is injective: ("ab", "c") and ("a", "bc")
//     differ, and so do true and 1, and int and int64 values.
//
// Golden vectors in testdata/keys/vectors.json pin these bytes.
type Encoder struct {
	n     int       // bytes of buf in use
	err   error     // first error, reported by Sum
	inMap bool      // a map is open: writes go to sp.scratch
	sp    *encSpill // heap state for maps and long encodings; nil until needed
	tee   *[]byte   // tests only: receives every byte that is hashed
	buf   [encBufSize]byte
}

// encBufSize is the size of the Encoder's inline buffer.
const encBufSize = 256

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
)

var (
	errKeyNaN         = errors.New("idem: key part is NaN: NaN cannot be a key (it is not equal to itself); pass a number, or leave the argument out of the key")
	errKeyOpenMap     = errors.New("idem: Encoder misuse: Sum called with a map still open; call MapEnd after the last entry")
	errKeyMapKey      = errors.New("idem: Encoder misuse: MapKey, MapValue or MapEnd called outside a map; call Map first")
	errKeyMapOrder    = errors.New("idem: Encoder misuse: each map entry is MapKey, the key, MapValue, the value")
	errKeyMapLoose    = errors.New("idem: Encoder misuse: a value was written inside a map but outside MapKey/MapValue; call MapKey before each entry")
	errKeyNegativeLen = errors.New("idem: Encoder misuse: List, Struct or Map called with a negative count")
)

// encSpill is the heap part of an Encoder: the streaming hash once the
// encoding outgrows the inline buffer, and the buffers of open maps.
type encSpill struct {
	h         hash.Hash // nil until the inline buffer first overflows
	streaming bool      // h holds the start of the current encoding
	chunk     []byte    // heap copy of the inline buffer handed to h
	sum       [sha256.Size]byte
	scratch   []byte // encodings of the entries of open maps
	frames    []keyMapFrame
	entries   []keyMapEntry
	tmp       []byte
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

// Begin resets e and writes the prefix of a key (or fingerprint) of the
// given namespace and key version. Everything written to e before is
// discarded, including a recorded error.
func (e *Encoder) Begin(namespace string, version int) {
	e.n = 0
	e.err = nil
	e.inMap = false
	if sp := e.sp; sp != nil {
		if sp.streaming {
			sp.h.Reset()
			sp.streaming = false
		}
		sp.scratch = sp.scratch[:0]
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
	if len(namespace) < 0x80 && len(ver)+len(namespace)+9 <= len(e.buf) {
		b := e.buf[:]
		copy(b, "idem:v")
		n := 6 + copy(b[6:], ver)
		b[n] = ':'
		b[n+1] = byte(len(namespace))
		n += 2 + copy(b[n+2:], namespace)
		b[n] = ':'
		e.n = n + 1
		return
	}
	e.putString("idem:v")
	e.putBytes(ver)
	e.putString(":")
	e.putUvarint(uint64(len(namespace)))
	e.putString(namespace)
	e.putString(":")
}

// String encodes a string: its length, then its bytes.
func (e *Encoder) String(v string) {
	if n := e.n; !e.inMap && len(v) < 0x80 && n <= len(e.buf)-2-len(v) {
		e.buf[n] = keyTagString
		e.buf[n+1] = byte(len(v))
		e.n = n + 2 + copy(e.buf[n+2:], v)
		return
	}
	e.header(keyTagString, uint64(len(v)))
	e.putString(v)
}

// Bytes encodes a byte slice: its length, then its bytes. A nil slice
// encodes like an empty one.
func (e *Encoder) Bytes(v []byte) {
	if n := e.n; !e.inMap && len(v) < 0x80 && n <= len(e.buf)-2-len(v) {
		e.buf[n] = keyTagBytes
		e.buf[n+1] = byte(len(v))
		e.n = n + 2 + copy(e.buf[n+2:], v)
		return
	}
	e.header(keyTagBytes, uint64(len(v)))
	e.putBytes(v)
}

// Bool encodes a bool, distinct from every integer.
func (e *Encoder) Bool(v bool) {
	b := e.reserve(2)
	b[0] = keyTagBool
	b[1] = 0
	if v {
		b[1] = 1
	}
}

// Int encodes an int as 8 bytes, whatever the platform's int size, under a
// tag distinct from Int64's.
func (e *Encoder) Int(v int) { e.fixed64(keyTagInt, uint64(int64(v))) }

// Int8 encodes an int8.
func (e *Encoder) Int8(v int8) {
	b := e.reserve(2)
	b[0] = keyTagInt8
	b[1] = byte(v)
}

// Int16 encodes an int16.
func (e *Encoder) Int16(v int16) { e.fixed16(keyTagInt16, uint16(v)) }

// Int32 encodes an int32 (and so a rune).
func (e *Encoder) Int32(v int32) { e.fixed32(keyTagInt32, uint32(v)) }

// Int64 encodes an int64.
func (e *Encoder) Int64(v int64) { e.fixed64(keyTagInt64, uint64(v)) }

// Uint encodes a uint as 8 bytes, whatever the platform's uint size.
func (e *Encoder) Uint(v uint) { e.fixed64(keyTagUint, uint64(v)) }

// Uint8 encodes a uint8 (a byte).
func (e *Encoder) Uint8(v uint8) {
	b := e.reserve(2)
	b[0] = keyTagUint8
	b[1] = v
}

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
	b := e.reserve(9)
	b[0] = keyTagComplex64
	binary.BigEndian.PutUint32(b[1:], re)
	binary.BigEndian.PutUint32(b[5:], im)
}

// Complex128 encodes a complex128 as its real and imaginary parts, each
// under the rules of Float64.
func (e *Encoder) Complex128(v complex128) {
	re, im := e.float64bits(real(v)), e.float64bits(imag(v))
	b := e.reserve(17)
	b[0] = keyTagComplex128
	binary.BigEndian.PutUint64(b[1:], re)
	binary.BigEndian.PutUint64(b[9:], im)
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

// Time encodes the instant of v: its Unix seconds and nanoseconds. The
// monotonic clock reading and the Location are dropped, so the same instant
// in two zones encodes alike.
func (e *Encoder) Time(v time.Time) {
	b := e.reserve(13)
	b[0] = keyTagTime
	binary.BigEndian.PutUint64(b[1:], uint64(v.Unix()))
	binary.BigEndian.PutUint32(b[9:], uint32(v.Nanosecond()))
}

// Duration encodes a time.Duration exactly as Int64(int64(v)).
func (e *Encoder) Duration(v time.Duration) { e.Int64(int64(v)) }

// Nil encodes a nil pointer (or nil interface).
func (e *Encoder) Nil() { e.reserve(1)[0] = keyTagNil }

// Pointer marks a non-nil pointer; the pointee's encoding must follow. A
// pointer to a zero value therefore differs from a nil pointer.
func (e *Encoder) Pointer() { e.reserve(1)[0] = keyTagPointer }

// List starts a slice or array of n elements; the n element encodings must
// follow. A nil slice encodes like an empty one: List(0).
func (e *Encoder) List(n int) { e.count(keyTagList, n) }

// Struct starts a struct of n fields; the n field encodings must follow in
// declaration order.
func (e *Encoder) Struct(n int) { e.count(keyTagStruct, n) }

func (e *Encoder) count(tag byte, n int) {
	if n < 0 {
		e.fail(errKeyNegativeLen)
		n = 0
	}
	e.header(tag, uint64(n))
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
		n = 0
	}
	sp := e.spill()
	if e.inMap && sp.frames[len(sp.frames)-1].state == 0 {
		e.fail(errKeyMapLoose)
	}
	sp.frames = append(sp.frames, keyMapFrame{start: len(sp.scratch), first: len(sp.entries), declared: n})
	e.inMap = true
}

// MapKey starts an entry of the innermost open map; the key's encoding must
// follow.
func (e *Encoder) MapKey() {
	f := e.frame()
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
	sp.entries = append(sp.entries, keyMapEntry{key: len(sp.scratch)})
	f.state = 1
}

// MapValue ends the current entry's key; the value's encoding must follow.
func (e *Encoder) MapValue() {
	f := e.frame()
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
	f := e.frame()
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
	e.putBytes(tmp)
}

// frame returns the innermost open map, or records misuse and returns nil.
func (e *Encoder) frame() *keyMapFrame {
	if !e.inMap {
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

// Sum returns the SHA-256 of the encoding written since Begin, or the first
// error recorded while writing it (a NaN, an unsupported value, or misuse of
// the map calls). Sum does not end the encoding: it may be called again, and
// values written after it extend the same encoding.
func (e *Encoder) Sum() (Key, error) {
	if e.err != nil || e.sp != nil || e.tee != nil {
		return e.sumSlow()
	}
	return sha256.Sum256(e.buf[:e.n]), nil
}

// SumFingerprint is Sum typed as a Fingerprint.
func (e *Encoder) SumFingerprint() (Fingerprint, error) {
	k, err := e.Sum()
	return Fingerprint(k), err
}

func (e *Encoder) sumSlow() (Key, error) {
	if e.err != nil {
		return Key{}, e.err
	}
	if e.inMap {
		return Key{}, errKeyOpenMap
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

func (e *Encoder) fixed16(tag byte, v uint16) {
	b := e.reserve(3)
	b[0] = tag
	binary.BigEndian.PutUint16(b[1:], v)
}

func (e *Encoder) fixed32(tag byte, v uint32) {
	b := e.reserve(5)
	b[0] = tag
	binary.BigEndian.PutUint32(b[1:], v)
}

func (e *Encoder) fixed64(tag byte, v uint64) {
	b := e.reserve(9)
	b[0] = tag
	binary.BigEndian.PutUint64(b[1:], v)
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
