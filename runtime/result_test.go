package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The result tests declare their own types, so that they do not depend on
// the key tests'.
type (
	resStatus string
	resID     int64
	resByte   uint8
	resInner  struct {
		A int
		B string
	}
	resNode struct {
		V    int
		Next *resNode
	}
	resBlank struct {
		A int
		_ int
		B string
	}
	resTimeDefined time.Time
	resUnexported  struct {
		Public  int
		private int
	}
)

// roundTrip marshals v and decodes it into a fresh R, and into a used one.
func roundTrip[R any](t *testing.T, v R) R {
	t.Helper()
	data, err := marshalResult(&v)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, resultPrefix), "a record starts with the self-described CBOR tag")
	var out R
	require.NoError(t, unmarshalResult(data, &out))
	// Decoding into a dirty target gives the same value.
	dirty := out
	require.NoError(t, unmarshalResult(data, &dirty))
	if !reflect.DeepEqual(out, dirty) { // NaN is not deep-equal to itself: compare encodings
		d1, err1 := marshalResult(&out)
		d2, err2 := marshalResult(&dirty)
		require.NoError(t, errors.Join(err1, err2))
		require.Equal(t, d1, d2, "decoding into a used target differs")
	}
	return out
}

// resultSealed has unexported fields and marshals itself (value receiver for
// MarshalBinary, pointer receiver for UnmarshalBinary).
type resultSealed struct {
	id   int
	name string
}

func (s resultSealed) MarshalBinary() ([]byte, error) {
	return fmt.Appendf(nil, "%d|%s", s.id, s.name), nil
}

func (s *resultSealed) UnmarshalBinary(b []byte) error {
	i := bytes.IndexByte(b, '|')
	if i < 0 {
		return errors.New("resultSealed: no separator")
	}
	if _, err := fmt.Sscan(string(b[:i]), &s.id); err != nil {
		return err
	}
	s.name = string(b[i+1:])
	return nil
}

// resultPtrSealed marshals itself with pointer receivers only, so a copy is
// needed to marshal it from a map value.
type resultPtrSealed struct{ n uint16 }

func (s *resultPtrSealed) MarshalBinary() ([]byte, error) {
	return binary.BigEndian.AppendUint16(nil, s.n), nil
}

func (s *resultPtrSealed) UnmarshalBinary(b []byte) error {
	if len(b) != 2 {
		return errors.New("resultPtrSealed: want 2 bytes")
	}
	s.n = binary.BigEndian.Uint16(b)
	return nil
}

// resultText has unexported state and marshals itself as text only.
type resultText struct{ cents int64 }

func (m resultText) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%d.%02d EUR", m.cents/100, m.cents%100), nil
}

func (m *resultText) UnmarshalText(b []byte) error {
	var units, cents int64
	if _, err := fmt.Sscanf(string(b), "%d.%02d EUR", &units, &cents); err != nil {
		return fmt.Errorf("resultText: %w", err)
	}
	m.cents = units*100 + cents
	return nil
}

// resultCBOR has unexported state and marshals itself as CBOR.
type resultCBOR struct{ n uint8 }

func (c resultCBOR) MarshalCBOR() ([]byte, error) { return cbor.Marshal([]uint8{c.n}) }
func (c *resultCBOR) UnmarshalCBOR(b []byte) error {
	var v []uint8
	if err := cbor.Unmarshal(b, &v); err != nil || len(v) != 1 {
		return errors.New("resultCBOR: want one byte")
	}
	c.n = v[0]
	return nil
}

type resultOnlyMarshal struct{ x int }

func (resultOnlyMarshal) MarshalBinary() ([]byte, error) { return nil, nil }

type resultOnlyUnmarshalText string

func (*resultOnlyUnmarshalText) UnmarshalText([]byte) error { return nil }

type resultFailing struct{ X int }

func (resultFailing) MarshalBinary() ([]byte, error) { return nil, errors.New("cannot marshal") }
func (*resultFailing) UnmarshalBinary([]byte) error  { return nil }

type resultPanicking struct{ X int }

func (resultPanicking) MarshalBinary() ([]byte, error) { return []byte{1}, nil }
func (*resultPanicking) UnmarshalBinary([]byte) error  { panic("boom") }

type resultPanicsOnMarshal struct{ X int }

func (resultPanicsOnMarshal) MarshalText() ([]byte, error) { panic("bang") }
func (*resultPanicsOnMarshal) UnmarshalText([]byte) error  { return nil }

type resultAll struct {
	B   bool
	I   int
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	F32 float32
	F64 float64
	S   string
}

type resultNested struct {
	Name    string
	Inner   resInner
	PInner  *resInner
	Items   []resInner
	Ptrs    []*resInner
	Arr     [3]resInner
	ByteArr [4]byte
	Named   resStatus
	ID      resID
	NamedB  []resByte
	Dur     time.Duration
	At      time.Time
	PAt     *time.Time
	Tags    map[string][]string
	ByKey   map[resInner]*int
	Empty   struct{}
	Zeros   []struct{}
	ZeroArr [0]int
	Sealed  resultSealed
	PSealed *resultSealed
	Addr    netip.Addr
	Money   resultText
	PMoney  *resultText
	Big     *big.Int
	Blank   resBlank
}

func TestResultRoundTripBasics(t *testing.T) {
	all := resultAll{true, -1, math.MinInt8, math.MaxInt16, math.MinInt32, math.MinInt64, math.MaxUint, 255, math.MaxUint16, math.MaxUint32, math.MaxUint64, -1.5, math.Inf(-1), "héllo\x00"}
	assert.Equal(t, all, roundTrip(t, all))
	assert.Equal(t, resultAll{}, roundTrip(t, resultAll{}))
	negZero := math.Copysign(0, -1)
	got := roundTrip(t, struct{ F float64 }{negZero})
	assert.True(t, math.Signbit(got.F), "-0 keeps its sign")
	nan := math.Float64frombits(0x7ff8_0000_dead_beef)
	gotNaN := roundTrip(t, struct {
		F  float64
		F4 float32
	}{nan, float32(math.Inf(1))})
	assert.Equal(t, math.Float64bits(nan), math.Float64bits(gotNaN.F), "NaN keeps its payload")
	assert.True(t, math.IsInf(float64(gotNaN.F4), 1))
	assert.Equal(t, float32(math.SmallestNonzeroFloat32), roundTrip(t, struct{ F float32 }{math.SmallestNonzeroFloat32}).F)

	// Go strings may hold any bytes; CBOR text must be UTF-8, but records
	// of them still replay.
	assert.Equal(t, "\xff\xfe not utf-8", roundTrip(t, struct{ S string }{"\xff\xfe not utf-8"}).S)

	assert.Equal(t, int64(7), roundTrip(t, int64(7)))
	assert.Equal(t, "just a string", roundTrip(t, "just a string"))
	assert.Equal(t, struct{}{}, roundTrip(t, struct{}{}))
	assert.Equal(t, struct {
		R0 int64
		R1 string
	}{42, "x"}, roundTrip(t, struct {
		R0 int64
		R1 string
	}{42, "x"}))
}

// TestResultRecordIsSelfDescribing decodes a record without the Go types:
// field names and values, as issue 12's `idem show` will print them.
func TestResultRecordIsSelfDescribing(t *testing.T) {
	v := struct {
		R0 int64
		R1 struct {
			Name string
			At   time.Time
			Tags []string
			Raw  []byte
		}
	}{R0: 42}
	v.R1.Name = "charge"
	v.R1.At = time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("CEST", 2*3600))
	v.R1.Raw = []byte{}
	data, err := marshalResult(&v)
	require.NoError(t, err)
	diag, err := cbor.Diagnose(data)
	require.NoError(t, err)
	assert.Equal(t, `55799({"R0": 42, "R1": {"Name": "charge", "At": 0("2024-05-06T07:08:09.00000001+02:00"), "Tags": null, "Raw": h''}})`, diag)

	var generic map[string]any
	require.NoError(t, cbor.Unmarshal(data, &generic))
	assert.Equal(t, uint64(42), generic["R0"])
}

func TestResultNilAndEmptyArePreserved(t *testing.T) {
	type sm struct {
		B  []byte
		S  []string
		M  map[string]int
		P  *int
		PP **int
		A  [2][]int
	}
	zero := 0
	pz := &zero
	for _, v := range []sm{
		{},
		{B: []byte{}, S: []string{}, M: map[string]int{}, P: &zero, PP: &pz, A: [2][]int{nil, {}}},
		{B: []byte{1, 2}, S: []string{"", "a"}, M: map[string]int{"": 0, "a": 1}},
	} {
		got := roundTrip(t, v)
		require.True(t, reflect.DeepEqual(v, got), "want %#v\ngot  %#v", v, got)
		assert.Equal(t, v.B == nil, got.B == nil)
		assert.Equal(t, v.S == nil, got.S == nil)
		assert.Equal(t, v.M == nil, got.M == nil)
		assert.Equal(t, v.P == nil, got.P == nil)
		assert.Equal(t, v.A[1] == nil, got.A[1] == nil)
	}
	// The one case CBOR cannot tell apart (documented): a pointer to a nil
	// pointer replays as a nil pointer.
	assert.Nil(t, roundTrip(t, sm{PP: new(*int)}).PP)
}

func TestResultRoundTripNested(t *testing.T) {
	one := 1
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	sealed := resultSealed{7, "seven"}
	v := resultNested{
		Name: "n", Inner: resInner{1, "a"}, PInner: &resInner{2, "b"},
		Items: []resInner{{3, "c"}, {}}, Ptrs: []*resInner{nil, {4, "d"}},
		Arr: [3]resInner{{5, "e"}}, ByteArr: [4]byte{1, 2, 3, 4}, Named: "paid", ID: 9,
		NamedB: []resByte{7}, Dur: -time.Hour, At: at, PAt: &at,
		Tags:  map[string][]string{"a": nil, "b": {}, "c": {"x"}},
		ByKey: map[resInner]*int{{1, "k"}: &one, {2, "k"}: nil},
		Zeros: make([]struct{}, 3), Sealed: sealed, PSealed: &sealed,
		Addr:  netip.MustParseAddr("fe80::1%eth0"),
		Money: resultText{12345}, PMoney: &resultText{5},
		Big:   new(big.Int).Lsh(big.NewInt(3), 100),
		Blank: resBlank{A: 1, B: "b"},
	}
	got := roundTrip(t, v)
	require.True(t, reflect.DeepEqual(v, got), "want %#v\ngot  %#v", v, got)
	// The pointers are fresh, not shared with the original.
	assert.NotSame(t, v.PInner, got.PInner)

	// Recursive types.
	list := &resNode{1, &resNode{2, &resNode{3, nil}}}
	assert.Equal(t, list, roundTrip(t, list))
}

func TestResultMarshalersAreRecordedAsStrings(t *testing.T) {
	v := struct {
		Money resultText
		Addr  netip.Addr // both Binary and Text marshalers: binary wins, as in the library
		Self  resultCBOR
	}{resultText{250}, netip.MustParseAddr("10.0.0.1"), resultCBOR{9}}
	data, err := marshalResult(&v)
	require.NoError(t, err)
	diag, err := cbor.Diagnose(data)
	require.NoError(t, err)
	assert.Equal(t, `55799({"Money": "2.50 EUR", "Addr": h'0a000001', "Self": h'09'})`, diag)
	assert.Equal(t, v, roundTrip(t, v))
}

func TestResultMapValuesUseNonAddressablePaths(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	v := struct {
		Times  map[string]time.Time
		ByTime map[time.Time]int
		Addrs  map[string]netip.Addr
		ByAddr map[netip.Addr]string
		Ptr    map[string]resultPtrSealed
		Bytes  map[[4]byte][4]byte
		Sealed map[resultSealed]resultText
	}{
		Times:  map[string]time.Time{"a": at, "b": {}},
		ByTime: map[time.Time]int{at: 1},
		Addrs:  map[string]netip.Addr{"v4": netip.MustParseAddr("10.0.0.1"), "zero": {}},
		ByAddr: map[netip.Addr]string{netip.MustParseAddr("::1"): "lo"},
		Ptr:    map[string]resultPtrSealed{"x": {513}},
		Bytes:  map[[4]byte][4]byte{{1}: {9, 8, 7, 6}},
		Sealed: map[resultSealed]resultText{{1, "one"}: {100}},
	}
	assert.Equal(t, v, roundTrip(t, v))
}

func TestResultTimeKeepsInstantAndZone(t *testing.T) {
	utc := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	assert.True(t, reflect.DeepEqual(utc, roundTrip(t, utc)), "a UTC time decodes deep-equal, location UTC")

	now := time.Now() // local, with a monotonic reading
	gotNow := roundTrip(t, now)
	assert.True(t, now.Equal(gotNow))
	if _, off := now.Zone(); off != 0 {
		// time.Parse gives Local back where the offset is Local's.
		assert.Equal(t, time.Local, gotNow.Location(), "the Local location is kept by name")
		assert.True(t, reflect.DeepEqual(now.Round(0), gotNow), "monotonic reading dropped, Local kept")
	} else {
		// Where Local is UTC, "Z" reads back as UTC.
		assert.True(t, reflect.DeepEqual(now.Round(0).UTC(), gotNow), "monotonic reading dropped")
	}

	for _, loc := range []*time.Location{time.FixedZone("JST", 9*3600), time.FixedZone("", -(3*3600 + 30*60))} {
		tm := utc.In(loc)
		got := roundTrip(t, struct{ At time.Time }{tm})
		assert.True(t, tm.Equal(got.At))
		_, off := got.At.Zone()
		_, want := tm.Zone()
		assert.Equal(t, want, off, "the zone offset is kept")
	}
	assert.Equal(t, time.Time{}, roundTrip(t, time.Time{}))
	assert.Equal(t, struct{ P *time.Time }{}, roundTrip(t, struct{ P *time.Time }{}))

	// A sub-minute offset (local mean time before 1900) would be recorded at
	// another instant: refused before the record is written.
	lmt := time.Date(1890, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 5*3600+53*60+28))
	_, err := marshalResult(&struct{ At time.Time }{lmt})
	assert.ErrorContains(t, err, "UTC offset of 21208s")
	// RFC 3339 has four-digit years.
	_, err = marshalResult(&struct{ At time.Time }{time.Date(12024, 1, 1, 0, 0, 0, 0, time.UTC)})
	assert.ErrorContains(t, err, "cannot be recorded")
}

func TestResultDoesNotAliasTheRecord(t *testing.T) {
	v := struct {
		B []byte
		S string
		A [2]byte
		M resultText
	}{[]byte("bytes"), "string", [2]byte{1, 2}, resultText{7}}
	data, err := marshalResult(&v)
	require.NoError(t, err)
	var out struct {
		B []byte
		S string
		A [2]byte
		M resultText
	}
	require.NoError(t, unmarshalResult(data, &out))
	for i := range data {
		data[i] = 0xff
	}
	assert.Equal(t, v, out, "decoded values must not share memory with the record (stores hand it out read-only)")
}

type resultWithConn struct {
	ID   int
	Conn net.Conn
}

type resultDeep struct {
	R0 struct {
		Inner struct {
			F func()
		}
	}
}

func TestCheckResultType(t *testing.T) {
	ok := []reflect.Type{
		reflect.TypeFor[resultAll](), reflect.TypeFor[resultNested](), reflect.TypeFor[*resNode](),
		reflect.TypeFor[struct {
			R0 int64
			R1 string
		}](), reflect.TypeFor[time.Time](), reflect.TypeFor[netip.Addr](), reflect.TypeFor[[]*resultSealed](),
		reflect.TypeFor[map[netip.Addr][]time.Duration](), reflect.TypeFor[resultText](),
		reflect.TypeFor[struct {
			Skipped func() `cbor:"-"`
			Renamed int    `json:"renamed"`
		}](),
		reflect.TypeFor[struct {
			Kept int `json:"-" cbor:"Kept"`
		}](),
	}
	for _, typ := range ok {
		assert.NoError(t, CheckResultType(typ), "%s", typ)
	}
	for _, c := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[resultWithConn](), []string{"field Conn of type net.Conn: interfaces cannot be recorded", "return a concrete type"}},
		{reflect.TypeFor[error](), []string{"type error: interfaces cannot be recorded"}},
		{reflect.TypeFor[any](), []string{"interfaces cannot be recorded"}},
		{reflect.TypeFor[resultDeep](), []string{"field R0.Inner.F of type func(): functions cannot be recorded"}},
		{reflect.TypeFor[struct{ C chan int }](), []string{"field C of type chan int: channels cannot be recorded"}},
		{reflect.TypeFor[struct{ P unsafe.Pointer }](), []string{"field P of type unsafe.Pointer: unsafe pointers"}},
		{reflect.TypeFor[struct{ L []net.Conn }](), []string{"field L[] of type net.Conn"}},
		{reflect.TypeFor[struct{ M map[any]int }](), []string{"field M[key] of type interface {}"}},
		{reflect.TypeFor[struct{ M map[int]error }](), []string{"field M[value] of type error"}},
		{reflect.TypeFor[struct{ A [2]func() }](), []string{"field A[2] of type func()"}},
		{reflect.TypeFor[struct{ C complex128 }](), []string{"field C of type complex128: complex numbers cannot be recorded"}},
		{reflect.TypeFor[struct{ U uintptr }](), []string{"field U of type uintptr: uintptr values cannot be recorded"}},
		{reflect.TypeFor[resUnexported](), []string{"type runtime.resUnexported: its field private is unexported", "or encoding.TextMarshaler and encoding.TextUnmarshaler) on *runtime.resUnexported"}},
		{reflect.TypeFor[struct{ X *resUnexported }](), []string{"field X of type runtime.resUnexported: its field private is unexported"}},
		{reflect.TypeFor[resultOnlyMarshal](), []string{"implements only one of encoding.BinaryMarshaler and encoding.BinaryUnmarshaler"}},
		{reflect.TypeFor[struct{ S resultOnlyUnmarshalText }](), []string{"field S of type runtime.resultOnlyUnmarshalText: it implements only one of encoding.TextMarshaler and encoding.TextUnmarshaler"}},
		{reflect.TypeFor[resTimeDefined](), []string{"defined from time.Time without time.Time's methods", "convert with time.Time(v)"}},
		{reflect.TypeFor[struct {
			Hidden int `json:"-"`
		}](), []string{`its field Hidden is tagged json:"-"`, `cbor:"Hidden"`}},
	} {
		err := CheckResultType(c.typ)
		if assert.Error(t, err, "%s", c.typ) {
			assert.Contains(t, err.Error(), "idem: results of type "+c.typ.String()+" cannot be recorded")
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		}
	}
	assert.Error(t, CheckResultType(nil))

	// marshalResult and unmarshalResult refuse the same types.
	v := resultWithConn{ID: 1}
	_, err := marshalResult(&v)
	assert.ErrorContains(t, err, "field Conn of type net.Conn: interfaces cannot be recorded")
	assert.ErrorContains(t, unmarshalResult(append(resultPrefix[:3:3], 0xa0), &v), "field Conn of type net.Conn")
}

func TestResultTypeInfoIsCached(t *testing.T) {
	i1 := resultTypeInfoFor(reflect.TypeFor[resultNested]())
	i2 := resultTypeInfoFor(reflect.TypeFor[resultNested]())
	assert.Same(t, i1, i2)
	assert.True(t, i1.walk, "a type holding times is walked")
	assert.False(t, resultTypeInfoFor(reflect.TypeFor[resultAll]()).walk, "a flat type is not")
	assert.True(t, resultTypeInfoFor(reflect.TypeFor[resNode]()).walk, "a recursive type is")
}

func TestResultMarshalErrors(t *testing.T) {
	cyclic := &resNode{V: 1}
	cyclic.Next = cyclic
	_, err := marshalResult(&cyclic)
	assert.ErrorContains(t, err, "nested more than 1000 levels")
	loop := map[string]any{}
	loop["self"] = loop // refused by type before any walk
	_, err = marshalResult(&loop)
	assert.ErrorContains(t, err, "interfaces cannot be recorded")

	_, err = marshalResult(&resultFailing{})
	assert.ErrorContains(t, err, "cannot marshal")

	_, err = marshalResult(&resultPanicsOnMarshal{})
	assert.ErrorContains(t, err, "a marshaler panicked: bang")

	_, err = marshalResult[int](nil)
	assert.Error(t, err)

	// A marshaler that panics when decoding is an error, not a panic.
	data, err := marshalResult(&resultPanicking{})
	require.NoError(t, err)
	var out resultPanicking
	assert.ErrorContains(t, unmarshalResult(data, &out), "an unmarshaler panicked: boom")
}

// nestedList builds a list of n nodes: n nested levels.
func nestedList(n int) *resNode {
	var l *resNode
	for i := range n {
		l = &resNode{V: i, Next: l}
	}
	return l
}

func TestResultDepthLimitIsTheSameForBothDirections(t *testing.T) {
	// A *resNode chain counts two levels per node (the pointer and the
	// struct); the decoder counts one (the map). The deepest value the
	// encoder accepts decodes.
	deepest := nestedList(maxResultDepth / 2)
	got := roundTrip(t, deepest)
	assert.Equal(t, deepest, got)
	tooDeep := nestedList(maxResultDepth/2 + 1)
	_, err := marshalResult(&tooDeep)
	assert.ErrorContains(t, err, "nested more than 1000 levels")

	// Slices count one level each way: the limit is exact.
	type nest []nest
	var n nest
	for range maxResultDepth - 1 {
		n = nest{n}
	}
	assert.Equal(t, n, roundTrip(t, n), "%d nested arrays record and replay", maxResultDepth)
	n = nest{n}
	_, err = marshalResult(&n)
	assert.ErrorContains(t, err, "nested more than 1000 levels")

	// Hostile data deeper than the limit is refused by the decoder.
	hostile := append(append([]byte{}, resultPrefix...), bytes.Repeat([]byte{0x81}, maxResultDepth+1)...)
	hostile = append(hostile, 0xf6)
	var out nest
	assert.ErrorContains(t, unmarshalResult(hostile, &out), "exceeded max nested level")
}

func TestResultDecodeErrors(t *testing.T) {
	type rec struct {
		ID   int64
		Name string
		At   time.Time
		Tags []string
		M    map[string]*int
	}
	one := 1
	v := rec{7, "name", time.Unix(1, 2).UTC(), []string{"a"}, map[string]*int{"x": &one}}
	data, err := marshalResult(&v)
	require.NoError(t, err)

	var out rec
	// Every truncation fails and leaves the zero value.
	for n := range len(data) {
		out = v
		err := unmarshalResult(data[:n], &out)
		require.Error(t, err, "truncated to %d bytes", n)
		require.Equal(t, rec{}, out, "truncated to %d bytes", n)
	}
	require.NoError(t, unmarshalResult(data, &out))
	require.Equal(t, v, out)

	bad := func(mut func(b []byte) []byte) error {
		b := mut(append([]byte(nil), data...))
		out := v
		err := unmarshalResult(b, &out)
		if err != nil {
			assert.Equal(t, rec{}, out)
		}
		return err
	}
	assert.ErrorContains(t, bad(func(b []byte) []byte { return b[len(resultPrefix):] }), "not a CBOR record of this idem release")
	assert.ErrorContains(t, bad(func(b []byte) []byte { return append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, b...) }), "records written before the release that introduced the CBOR result format are not read")
	assert.ErrorContains(t, bad(func(b []byte) []byte { return append(b, 0) }), "extraneous data")

	// Another result type: an incompatible field is an error naming it.
	var other struct {
		ID   string
		Name string
	}
	err = unmarshalResult(data, &other)
	assert.ErrorContains(t, err, "the recorded results do not decode into struct { ID string; Name string }")
	assert.ErrorContains(t, err, "a result's type changed incompatibly since the record was written")
	assert.ErrorContains(t, err, "ID")
	assert.NotContains(t, err.Error(), "version")
	assert.Zero(t, other)

	// Hand-made bodies of small types.
	body := func(payload ...byte) []byte { return append(append([]byte{}, resultPrefix...), payload...) }
	var i8 struct{ I int8 }
	assert.ErrorContains(t, unmarshalResult(body(0xa1, 0x61, 'I', 0x19, 0x01, 0x2c), &i8), "300 overflows int8")
	var u16 struct{ U uint16 }
	assert.ErrorContains(t, unmarshalResult(body(0xa1, 0x61, 'U', 0x1a, 0x00, 0x01, 0x00, 0x00), &u16), "65536 overflows uint16")
	var s struct{ S []int }
	assert.ErrorContains(t, unmarshalResult(body(0xa1, 0x61, 'S', 0x9b, 0, 0, 1, 0, 0, 0, 0, 0), &s), "exceeded max number of elements")
	assert.ErrorContains(t, unmarshalResult(body(0xa1, 0x61, 'S', 0x9a, 0, 1, 0, 0, 1), &s), "unexpected EOF")
	var tm struct{ T time.Time }
	assert.ErrorContains(t, unmarshalResult(body(0xa1, 0x61, 'T', 0xc0, 0x63, 'n', 'o', 't'), &tm), "time")
	var sealed struct{ S resultSealed }
	assert.ErrorContains(t, unmarshalResult(body(0xa1, 0x61, 'S', 0x42, 'x', 'y'), &sealed), "no separator")
	var money struct{ M resultText }
	assert.ErrorContains(t, unmarshalResult(body(0xa1, 0x61, 'M', 0x62, 'x', 'y'), &money), "resultText")
	assert.ErrorContains(t, unmarshalResult([]byte{0xd9, 0xd9}, &sealed), "not a CBOR record")
}

func TestResultConcurrentUse(t *testing.T) {
	type a struct {
		X int
		M map[string]int
	}
	type b struct{ Y []string }
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				va := a{i * j, map[string]int{"k": j}}
				da, err := marshalResult(&va)
				if !assert.NoError(t, err) {
					return
				}
				var oa a
				assert.NoError(t, unmarshalResult(da, &oa))
				assert.Equal(t, va, oa)
				vb := b{[]string{fmt.Sprint(j)}}
				db, err := marshalResult(&vb)
				if !assert.NoError(t, err) {
					return
				}
				var ob b
				assert.NoError(t, unmarshalResult(db, &ob))
				assert.Equal(t, vb, ob)
			}
		}()
	}
	wg.Wait()
}

// resultBench3 is the replay hot path's typical result: three fields.
type resultBench3 struct {
	ID   int64
	Name string
	At   time.Time
}

// TestUnmarshalResultAllocations bounds the replay hot path: decoding three
// fields into an existing target allocates only the string.
func TestUnmarshalResultAllocations(t *testing.T) {
	v := resultBench3{ID: 1234567, Name: "customer-42", At: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)}
	data, err := marshalResult(&v)
	require.NoError(t, err)
	out := new(resultBench3)
	allocs := testing.AllocsPerRun(200, func() {
		if err := unmarshalResult(data, out); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 1.0, "unmarshalling {int64, string, time.Time} allocates more than the string")
	assert.Equal(t, v, *out)
}

// resultFuzz covers every kind the codec records for FuzzUnmarshalResult.
type resultFuzz struct {
	B      bool
	I8     int8
	I      int64
	U16    uint16
	F      float64
	F4     float32
	S      string
	Bs     []byte
	Arr    [3]byte
	L      []resInner
	P      *int32
	M      map[string][]int
	T      time.Time
	D      time.Duration
	Sealed resultSealed
	Money  resultText
	Addr   netip.Addr
	Nodes  *resNode
	Empty  []struct{}
}

// FuzzUnmarshalResult feeds arbitrary bytes to the decoder: it must return
// an error (leaving the zero value) or a value that records and decodes to
// itself again; it must never panic.
func FuzzUnmarshalResult(f *testing.F) {
	p := int32(-5)
	full := resultFuzz{
		B: true, I8: -3, I: 1 << 40, U16: 999, F: 2.5, F4: -1, S: "seed", Bs: []byte{1, 2},
		Arr: [3]byte{7, 8, 9}, L: []resInner{{1, "a"}}, P: &p, M: map[string][]int{"k": {1, 2}, "nil": nil},
		T: time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)), D: time.Minute,
		Sealed: resultSealed{1, "s"}, Money: resultText{123}, Addr: netip.MustParseAddr("::1"),
		Nodes: &resNode{1, &resNode{2, nil}}, Empty: []struct{}{{}},
	}
	for _, v := range []resultFuzz{{}, full} {
		data, err := marshalResult(&v)
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(append(data[:len(data):len(data)], 0))
	}
	f.Add([]byte{})
	f.Add(resultPrefix)
	f.Add([]byte("\xd9\xd9\xf7garbage that is long enough to look like something"))
	f.Add([]byte("\xd9\xd9\xf7\xd0\x83\x43\xa1\x01\x03\xa2\x04\x41k\x05\x4c012345678901\x50"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out resultFuzz
		if err := unmarshalResult(data, &out); err != nil {
			if !reflect.DeepEqual(out, resultFuzz{}) {
				t.Fatalf("error %v left a non-zero value", err)
			}
			return
		}
		again, err := marshalResult(&out)
		if err != nil {
			// A decoded time may carry an offset the encoder refuses
			// (sub-minute, from a hand-made record); that is an error,
			// not a panic, and the fuzz target stops there.
			if strings.Contains(err.Error(), "UTC offset") || strings.Contains(err.Error(), "RFC3339") {
				return
			}
			t.Fatalf("a decoded value does not record: %v", err)
		}
		var out2 resultFuzz
		if err := unmarshalResult(again, &out2); err != nil {
			t.Fatalf("a re-recorded value does not decode: %v", err)
		}
		// NaN is not deep-equal to itself; compare the float bits.
		if math.Float64bits(out.F) != math.Float64bits(out2.F) || math.Float32bits(out.F4) != math.Float32bits(out2.F4) {
			t.Fatalf("floats changed: %v %v -> %v %v", out.F, out.F4, out2.F, out2.F4)
		}
		out.F, out2.F, out.F4, out2.F4 = 0, 0, 0, 0
		// A time keeps its instant and offset; a hand-made epoch time (tag
		// 1) reads back in Local and is recorded as its offset.
		_, off1 := out.T.Zone()
		_, off2 := out2.T.Zone()
		if !out.T.Equal(out2.T) || off1 != off2 {
			t.Fatalf("time changed: %v -> %v", out.T, out2.T)
		}
		out.T, out2.T = time.Time{}, time.Time{}
		if !reflect.DeepEqual(out, out2) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", out, out2)
		}
	})
}
