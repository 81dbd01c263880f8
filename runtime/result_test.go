package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip marshals v and decodes it into a fresh R.
func roundTrip[R any](t *testing.T, v R) R {
	t.Helper()
	data, err := marshalResult(&v)
	require.NoError(t, err)
	require.Equal(t, resultFormatVersion, data[0])
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

// timeViaBinary is what time.Time's own MarshalBinary/UnmarshalBinary keep.
func timeViaBinary(t *testing.T, tm time.Time) time.Time {
	t.Helper()
	b, err := tm.MarshalBinary()
	require.NoError(t, err)
	var out time.Time
	require.NoError(t, out.UnmarshalBinary(b))
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

// resultAppender also implements encoding.BinaryAppender, which the codec
// prefers; its payload is long enough to need a 2-byte length.
type resultAppender struct{ s string }

func (a resultAppender) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }
func (a resultAppender) AppendBinary(b []byte) ([]byte, error) {
	return append(append(b, "A:"...), a.s...), nil
}
func (a *resultAppender) UnmarshalBinary(b []byte) error {
	s, ok := strings.CutPrefix(string(b), "A:")
	if !ok {
		return errors.New("resultAppender: bad prefix")
	}
	a.s = s
	return nil
}

type resultOnlyMarshal struct{ x int }

func (resultOnlyMarshal) MarshalBinary() ([]byte, error) { return nil, nil }

type resultFailing struct{ X int }

func (resultFailing) MarshalBinary() ([]byte, error) { return nil, errors.New("cannot marshal") }
func (*resultFailing) UnmarshalBinary([]byte) error  { return nil }

type resultPanicking struct{ X int }

func (resultPanicking) MarshalBinary() ([]byte, error) { return []byte{1}, nil }
func (*resultPanicking) UnmarshalBinary([]byte) error  { panic("boom") }

type resultAll struct {
	B    bool
	I    int
	I8   int8
	I16  int16
	I32  int32
	I64  int64
	U    uint
	U8   uint8
	U16  uint16
	U32  uint32
	U64  uint64
	UP   uintptr
	F32  float32
	F64  float64
	C64  complex64
	C128 complex128
	S    string
}

type resultNested struct {
	Name     string
	Inner    keyInner
	PInner   *keyInner
	Items    []keyInner
	Ptrs     []*keyInner
	Arr      [3]keyInner
	ByteArr  [4]byte
	Named    keyStatus
	ID       keyID
	NamedB   []keyByte
	Dur      time.Duration
	At       time.Time
	PAt      *time.Time
	Tags     map[string][]string
	ByKey    map[keyInner]*int
	Empty    struct{}
	Zeros    []struct{}
	ZeroArr  [0]int
	Sealed   resultSealed
	PSealed  *resultSealed
	Addr     netip.Addr
	Appender resultAppender
}

func TestResultRoundTripBasics(t *testing.T) {
	all := resultAll{true, -1, math.MinInt8, math.MaxInt16, math.MinInt32, math.MinInt64, math.MaxUint, 255, math.MaxUint16, math.MaxUint32, math.MaxUint64, 12345, -1.5, math.Inf(-1), complex(1, -2), complex(math.MaxFloat64, math.SmallestNonzeroFloat64), "héllo\x00"}
	assert.Equal(t, all, roundTrip(t, all))
	assert.Equal(t, resultAll{}, roundTrip(t, resultAll{}))
	negZero := math.Copysign(0, -1)
	got := roundTrip(t, struct{ F float64 }{negZero})
	assert.True(t, math.Signbit(got.F), "-0 keeps its sign")
	nan := roundTrip(t, struct{ F float64 }{math.NaN()})
	assert.True(t, math.IsNaN(nan.F))

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

func TestResultNilAndEmptyArePreserved(t *testing.T) {
	type sm struct {
		B  []byte
		S  []string
		M  map[string]int
		P  *int
		PP **int
	}
	zero := 0
	pz := &zero
	for _, v := range []sm{
		{},
		{B: []byte{}, S: []string{}, M: map[string]int{}, P: &zero, PP: &pz},
		{B: []byte{1, 2}, S: []string{"", "a"}, M: map[string]int{"": 0, "a": 1}},
		{PP: new(*int)},
	} {
		got := roundTrip(t, v)
		require.True(t, reflect.DeepEqual(v, got), "want %#v\ngot  %#v", v, got)
		assert.Equal(t, v.B == nil, got.B == nil)
		assert.Equal(t, v.S == nil, got.S == nil)
		assert.Equal(t, v.M == nil, got.M == nil)
		assert.Equal(t, v.P == nil, got.P == nil)
	}
}

func TestResultRoundTripNested(t *testing.T) {
	one := 1
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	sealed := resultSealed{7, "seven"}
	v := resultNested{
		Name: "n", Inner: keyInner{1, "a"}, PInner: &keyInner{2, "b"},
		Items: []keyInner{{3, "c"}, {}}, Ptrs: []*keyInner{nil, {4, "d"}},
		Arr: [3]keyInner{{5, "e"}}, ByteArr: [4]byte{1, 2, 3, 4}, Named: "paid", ID: 9,
		NamedB: []keyByte{7}, Dur: -time.Hour, At: at, PAt: &at,
		Tags:  map[string][]string{"a": nil, "b": {}, "c": {"x"}},
		ByKey: map[keyInner]*int{{1, "k"}: &one, {2, "k"}: nil},
		Zeros: make([]struct{}, 3), Sealed: sealed, PSealed: &sealed,
		Addr:     netip.MustParseAddr("fe80::1%eth0"),
		Appender: resultAppender{strings.Repeat("p", 300)},
	}
	got := roundTrip(t, v)
	require.True(t, reflect.DeepEqual(v, got), "want %#v\ngot  %#v", v, got)
	assert.Equal(t, v, got)
	// The pointers are fresh, not shared with the original.
	assert.NotSame(t, v.PInner, got.PInner)

	// Recursive types.
	list := &keyNode{1, &keyNode{2, &keyNode{3, nil}}}
	assert.Equal(t, list, roundTrip(t, list))
}

func TestResultMapValuesUseNonAddressablePaths(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	v := struct {
		Times  map[string]time.Time
		Addrs  map[string]netip.Addr
		Ptr    map[string]resultPtrSealed
		Bytes  map[string][4]byte
		Sealed map[resultSealed]resultAppender
	}{
		Times:  map[string]time.Time{"a": at, "b": {}},
		Addrs:  map[string]netip.Addr{"v4": netip.MustParseAddr("10.0.0.1"), "zero": {}},
		Ptr:    map[string]resultPtrSealed{"x": {513}},
		Bytes:  map[string][4]byte{"k": {9, 8, 7, 6}},
		Sealed: map[resultSealed]resultAppender{{1, "one"}: {"uno"}},
	}
	got := roundTrip(t, v)
	assert.Equal(t, v, got)
}

func TestResultTimeTypesAndBlankFields(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	v := struct {
		D  keyTime
		PD *keyTime
		MD map[string]keyTime
		B  keyBlank
	}{keyTime(at), (*keyTime)(&at), map[string]keyTime{"a": keyTime(at)}, keyBlank{A: 1, B: "b"}}
	assert.Equal(t, v, roundTrip(t, v))
	// A type defined from time.Time shares time.Time's records.
	data, err := marshalResult(&at)
	require.NoError(t, err)
	var d keyTime
	require.NoError(t, unmarshalResult(data, &d))
	assert.Equal(t, keyTime(at), d)
}

func TestResultTimeKeepsInstantAndZone(t *testing.T) {
	utc := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	got := roundTrip(t, utc)
	assert.True(t, reflect.DeepEqual(utc, got), "a UTC time decodes deep-equal")

	now := time.Now() // local, with a monotonic reading
	gotNow := roundTrip(t, now)
	assert.True(t, now.Equal(gotNow))
	assert.True(t, reflect.DeepEqual(now.Round(0), gotNow), "monotonic reading dropped, Local kept")
	assert.Equal(t, timeViaBinary(t, now), gotNow)

	for _, loc := range []*time.Location{time.FixedZone("JST", 9*3600), time.FixedZone("odd", 5*3600+30*60+17)} {
		tm := utc.In(loc)
		got := roundTrip(t, struct{ At time.Time }{tm})
		assert.True(t, tm.Equal(got.At))
		assert.Equal(t, timeViaBinary(t, tm), got.At, "zone kept the way time.Time.UnmarshalBinary keeps it")
		_, off := got.At.Zone()
		_, want := tm.Zone()
		assert.Equal(t, want, off)
	}
	assert.Equal(t, time.Time{}, roundTrip(t, time.Time{}))
}

func TestResultDoesNotAliasTheRecord(t *testing.T) {
	v := struct {
		B []byte
		S string
		A [2]byte
	}{[]byte("bytes"), "string", [2]byte{1, 2}}
	data, err := marshalResult(&v)
	require.NoError(t, err)
	var out struct {
		B []byte
		S string
		A [2]byte
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
		reflect.TypeFor[resultAll](), reflect.TypeFor[resultNested](), reflect.TypeFor[*keyNode](),
		reflect.TypeFor[struct {
			R0 int64
			R1 string
		}](), reflect.TypeFor[time.Time](), reflect.TypeFor[netip.Addr](), reflect.TypeFor[[]*resultSealed](),
		reflect.TypeFor[map[netip.Addr][]time.Duration](),
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
		{reflect.TypeFor[keyUnexported](), []string{"type runtime.keyUnexported: its field private is unexported", "implement encoding.BinaryMarshaler and encoding.BinaryUnmarshaler"}},
		{reflect.TypeFor[struct{ X *keyUnexported }](), []string{"field X of type runtime.keyUnexported: its field private is unexported"}},
		{reflect.TypeFor[resultOnlyMarshal](), []string{"its field x is unexported"}},
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
	assert.ErrorContains(t, unmarshalResult([]byte{1, 2, 3}, &v), "field Conn of type net.Conn")
}

func TestResultPlanIsCached(t *testing.T) {
	p1, err := resultPlanFor(reflect.TypeFor[resultNested]())
	require.NoError(t, err)
	p2, err := resultPlanFor(reflect.TypeFor[resultNested]())
	require.NoError(t, err)
	assert.Same(t, p1, p2)
}

func TestResultMarshalErrors(t *testing.T) {
	cyclic := &keyNode{V: 1}
	cyclic.Next = cyclic
	_, err := marshalResult(&cyclic)
	assert.ErrorContains(t, err, "nested more than 1000 levels")

	_, err = marshalResult(&resultFailing{})
	assert.ErrorContains(t, err, "cannot marshal")

	_, err = marshalResult(&struct{ T time.Time }{time.Date(-300000000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 99999*60))})
	assert.Error(t, err, "time.Time.MarshalBinary's errors are reported")

	_, err = marshalResult[int](nil)
	assert.Error(t, err)

	// A marshaler that panics when decoding is an error, not a panic.
	data, err := marshalResult(&resultPanicking{})
	require.NoError(t, err)
	var out resultPanicking
	assert.ErrorContains(t, unmarshalResult(data, &out), "UnmarshalBinary panicked: boom")
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
		var out rec
		err := unmarshalResult(b, &out)
		if err != nil {
			assert.Equal(t, rec{}, out)
		}
		return err
	}
	assert.ErrorContains(t, bad(func(b []byte) []byte { b[0] = 2; return b }), "format version 2")
	assert.ErrorContains(t, bad(func(b []byte) []byte { b[3] ^= 1; return b }), "another shape")
	assert.ErrorContains(t, bad(func(b []byte) []byte { return append(b, 0) }), "1 trailing bytes")

	// Another result type is refused by its shape, not misread.
	var other struct {
		ID   int64
		Name string
		At   time.Time
		Tags []string
		M    map[string]int
	}
	assert.ErrorContains(t, unmarshalResult(data, &other), "another shape")
	var renamed struct {
		Key  int64
		Name string
		At   time.Time
		Tags []string
		M    map[string]*int
	}
	assert.ErrorContains(t, unmarshalResult(data, &renamed), "another shape")
	// Named types with the same underlying kinds share a shape.
	var named struct {
		ID   keyID
		Name keyStatus
		At   time.Time
		Tags []keyStatus
		M    map[keyStatus]*int
	}
	require.NoError(t, unmarshalResult(data, &named))
	assert.Equal(t, keyID(7), named.ID)

	// Hand-made bodies of small types.
	body := func(typ reflect.Type, payload ...byte) []byte {
		p, err := resultPlanFor(typ)
		require.NoError(t, err)
		b := []byte{resultFormatVersion}
		b = binary.LittleEndian.AppendUint64(b, p.shape)
		return append(b, payload...)
	}
	var b struct{ B bool }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(b), 2), &b), "invalid bool byte 0x2")
	var i8 struct{ I int8 }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(i8), binary.AppendVarint(nil, 300)...), &i8), "300 overflows int8")
	var u16 struct{ U uint16 }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(u16), binary.AppendUvarint(nil, 1<<16)...), &u16), "65536 overflows uint16")
	var p struct{ P *int }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(p), 7), &p), "invalid pointer byte 0x7")
	var s struct{ S []int }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(s), binary.AppendUvarint(nil, 1<<40)...), &s), "truncated")
	var z struct{ Z []struct{} }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(z), binary.AppendUvarint(nil, 1<<40)...), &z), "implausible")
	var mz struct{ M map[struct{}]int }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(mz), 3, 2, 4), &mz), "2 entries in a map whose key type has one value")
	var vi struct{ I int64 }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(vi), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), &vi), "overflows 64 bits")
	var tm struct{ T time.Time }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(tm), 3, 9, 9, 9), &tm), "Time")
	var sealed struct{ S resultSealed }
	assert.ErrorContains(t, unmarshalResult(body(reflect.TypeOf(sealed), 2, 'x', 'y'), &sealed), "no separator")
	assert.ErrorContains(t, unmarshalResult([]byte{1, 2}, &sealed), "shorter than its header")

	// Deep nesting in hostile data stops at the depth limit.
	type deep struct{ Next *deep }
	nest := body(reflect.TypeFor[deep](), bytes.Repeat([]byte{1}, 5000)...)
	var d deep
	assert.ErrorContains(t, unmarshalResult(nest, &d), "nested more than 1000 levels")
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

// resultFuzz covers every plan kind for FuzzUnmarshalResult.
type resultFuzz struct {
	B      bool
	I8     int8
	I      int64
	U16    uint16
	F      float64
	C      complex64
	S      string
	Bs     []byte
	Arr    [3]byte
	L      []keyInner
	P      *int32
	M      map[string][]int
	T      time.Time
	D      time.Duration
	Sealed resultSealed
	Addr   netip.Addr
	Nodes  *keyNode
	Empty  []struct{}
}

// FuzzUnmarshalResult feeds arbitrary bytes to the decoder: it must return
// an error (leaving the zero value) or a value that records and decodes to
// itself again; it must never panic.
func FuzzUnmarshalResult(f *testing.F) {
	p := int32(-5)
	full := resultFuzz{
		B: true, I8: -3, I: 1 << 40, U16: 999, F: 2.5, C: complex(1, 2), S: "seed", Bs: []byte{1, 2},
		Arr: [3]byte{7, 8, 9}, L: []keyInner{{1, "a"}}, P: &p, M: map[string][]int{"k": {1, 2}, "nil": nil},
		T: time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)), D: time.Minute,
		Sealed: resultSealed{1, "s"}, Addr: netip.MustParseAddr("::1"), Nodes: &keyNode{1, &keyNode{2, nil}},
		Empty: []struct{}{{}},
	}
	for _, v := range []resultFuzz{{}, full} {
		data, err := marshalResult(&v)
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(append(data[:len(data):len(data)], 0))
	}
	f.Add([]byte{})
	f.Add([]byte{resultFormatVersion})
	f.Add([]byte("\x01garbage that is long enough to pass the header"))
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
			t.Fatalf("a decoded value does not record: %v", err)
		}
		var out2 resultFuzz
		if err := unmarshalResult(again, &out2); err != nil {
			t.Fatalf("a re-recorded value does not decode: %v", err)
		}
		// NaN is not deep-equal to itself; compare the float bits.
		if math.Float64bits(out.F) != math.Float64bits(out2.F) || math.Float32bits(real(out.C)) != math.Float32bits(real(out2.C)) && !math.IsNaN(float64(real(out.C))) {
			t.Fatalf("floats changed: %v %v -> %v %v", out.F, out.C, out2.F, out2.C)
		}
		out.F, out2.F, out.C, out2.C = 0, 0, 0, 0
		if !reflect.DeepEqual(out, out2) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", out, out2)
		}
	})
}

func TestResultZeroSizeElementsAreBounded(t *testing.T) {
	ok := struct{ Z []struct{} }{make([]struct{}, maxResultZeroSizeLen)}
	assert.Equal(t, ok, roundTrip(t, ok))
	tooLong := struct{ Z []struct{} }{make([]struct{}, maxResultZeroSizeLen+1)}
	_, err := marshalResult(&tooLong)
	assert.ErrorContains(t, err, "zero-size elements")
}
