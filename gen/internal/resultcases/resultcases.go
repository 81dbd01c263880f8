// Package resultcases declares result types on which the generator's static
// round-trip check (gen.resultProblem) and the runtime's
// runtime.CheckResultType must agree. Each case is a named type; Cases maps
// its name to a value of it.
package resultcases

import (
	"errors"
	"time"
	"unsafe"
)

// The cases: types that round-trip and types that do not.
type (
	Int        int
	Str        string
	Bytes      []byte
	ByteArray  [4]byte
	MapOfLists map[string][]int
	Time       struct{ At time.Time }
	Exported   struct {
		A int
		B *Exported
		C []Time
		D map[int]string
	}
	Unexported struct {
		A int
		b int
	}
	// Marshals has unexported state and marshals itself.
	Marshals struct{ v int }
	// ValueMarshal marshals on a value receiver and unmarshals on a pointer.
	ValueMarshal struct{ v int }
	// HalfMarshal only marshals.
	HalfMarshal struct{ v int }
	FuncField   struct{ F func() }
	ChanField   struct{ C chan int }
	IfaceField  struct{ E error }
	Any         any
	Unsafe      struct{ P unsafe.Pointer }
	Embedded    struct{ inner }
	inner       struct{ X int }
	Nested      struct{ L []map[string]*Unexported }
	PtrToMarsh  struct{ M *Marshals }
	Complex     struct {
		C complex128
		F float32
	}
	Uintptr struct{ U uintptr }
	Floats  struct {
		F32 float32
		F64 float64
	}
	// TextMarshal has unexported state and marshals itself as text.
	TextMarshal struct{ cents int64 }
	// HalfText only unmarshals text.
	HalfText string
	// HalfBinaryUnmarshal only unmarshals binary.
	HalfBinaryUnmarshal []int
	// TimeDefined is defined from time.Time, without its methods.
	TimeDefined time.Time
	// JSONDash has a field the codec would skip.
	JSONDash struct {
		A int
		B int `json:"-"`
	}
	// CBORDash leaves a field out on purpose.
	CBORDash struct {
		A int
		F func() `cbor:"-"`
		J int    `json:"-" cbor:"J"`
		R int    `json:"renamed,omitempty"`
	}
	// NamedBytes are recorded as byte strings whatever their elements' methods.
	NamedBytes []HalfByte
	HalfByte   uint8
	Blank      struct {
		A int
		_ func()
	}
	// CBORSelf has unexported state and marshals itself as CBOR.
	CBORSelf struct{ v int }
	// HalfCBOR only unmarshals CBOR.
	HalfCBOR struct{ V int }
)

// MarshalCBOR implements cbor.Marshaler.
func (c CBORSelf) MarshalCBOR() ([]byte, error) { return []byte{byte(c.v & 0x17)}, nil }

// UnmarshalCBOR implements cbor.Unmarshaler.
func (c *CBORSelf) UnmarshalCBOR(b []byte) error {
	if len(b) != 1 {
		return errors.New("bad")
	}
	c.v = int(b[0])
	return nil
}

// UnmarshalCBOR implements cbor.Unmarshaler, without the matching
// MarshalCBOR.
func (h *HalfCBOR) UnmarshalCBOR([]byte) error { return nil }

// MarshalText implements encoding.TextMarshaler.
func (m TextMarshal) MarshalText() ([]byte, error) { return []byte{byte(m.cents)}, nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *TextMarshal) UnmarshalText(b []byte) error {
	if len(b) != 1 {
		return errors.New("bad")
	}
	m.cents = int64(b[0])
	return nil
}

// UnmarshalText implements encoding.TextUnmarshaler, without the matching
// MarshalText.
func (h *HalfText) UnmarshalText(b []byte) error { *h = HalfText(b); return nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler, without the
// matching MarshalBinary.
func (h *HalfBinaryUnmarshal) UnmarshalBinary([]byte) error { return nil }

// UnmarshalText on a byte-kind element does not matter: slices of it are
// byte strings.
func (h *HalfByte) UnmarshalText([]byte) error { return nil }

// MarshalBinary implements encoding.BinaryMarshaler.
func (m *Marshals) MarshalBinary() ([]byte, error) { return []byte{byte(m.v)}, nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (m *Marshals) UnmarshalBinary(b []byte) error {
	if len(b) != 1 {
		return errors.New("bad")
	}
	m.v = int(b[0])
	return nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m ValueMarshal) MarshalBinary() ([]byte, error) { return []byte{byte(m.v)}, nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (m *ValueMarshal) UnmarshalBinary(b []byte) error {
	if len(b) != 1 {
		return errors.New("bad")
	}
	m.v = int(b[0])
	return nil
}

// MarshalBinary implements encoding.BinaryMarshaler, without the
// matching UnmarshalBinary.
func (m HalfMarshal) MarshalBinary() ([]byte, error) { return nil, nil }

// Cases maps each type's name to a pointer to a value of it.
var Cases = map[string]any{
	"Int": new(Int), "Str": new(Str), "Bytes": new(Bytes), "ByteArray": new(ByteArray),
	"MapOfLists": new(MapOfLists), "Time": new(Time), "Exported": new(Exported),
	"Unexported": new(Unexported), "Marshals": new(Marshals), "ValueMarshal": new(ValueMarshal),
	"HalfMarshal": new(HalfMarshal), "FuncField": new(FuncField), "ChanField": new(ChanField),
	"IfaceField": new(IfaceField), "Any": new(Any), "Unsafe": new(Unsafe), "Embedded": new(Embedded),
	"Nested": new(Nested), "PtrToMarsh": new(PtrToMarsh), "Complex": new(Complex),
	"Uintptr": new(Uintptr), "Floats": new(Floats), "TextMarshal": new(TextMarshal), "HalfText": new(HalfText),
	"HalfBinaryUnmarshal": new(HalfBinaryUnmarshal), "TimeDefined": new(TimeDefined), "JSONDash": new(JSONDash),
	"CBORDash": new(CBORDash), "NamedBytes": new(NamedBytes), "Blank": new(Blank),
	"CBORSelf": new(CBORSelf), "HalfCBOR": new(HalfCBOR),
}
