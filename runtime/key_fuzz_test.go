package runtime

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"
	"time"
)

// keyTuple is the argument list of FuzzKeyInjective.
type keyTuple struct {
	s string
	i int64
	b []byte
	t bool
	f float64
}

func (k keyTuple) encode(e *Encoder) {
	e.Begin("fuzz.Func", 1)
	e.String(k.s)
	e.Int64(k.i)
	e.Bytes(k.b)
	e.Bool(k.t)
	e.Float64(k.f)
}

// canonicallyEqual is equality under the documented rules: nil and empty
// byte slices are equal, and so are -0 and +0 (== on floats).
func (k keyTuple) canonicallyEqual(o keyTuple) bool {
	return k.s == o.s && k.i == o.i && bytes.Equal(k.b, o.b) && k.t == o.t && k.f == o.f
}

// FuzzKeyInjective checks that two argument tuples encode to the same bytes
// exactly when they are equal under the canonical rules.
func FuzzKeyInjective(f *testing.F) {
	negZero := math.Copysign(0, -1)
	f.Add("ab", int64(1), []byte("c"), true, 1.5, "a", int64(1), []byte("bc"), true, 1.5)
	f.Add("", int64(0), []byte(nil), false, 0.0, "", int64(0), []byte{}, false, negZero)
	f.Add("x", int64(-1), []byte{0x14}, false, math.Inf(1), "x", int64(-1), []byte{0x14}, false, math.Inf(-1))
	f.Add("\x30\x01a", int64(256), []byte{1}, true, 2.0, "\x30", int64(1), []byte{1, 0}, true, 2.0)
	f.Add("same", int64(42), []byte("same"), true, 3.25, "same", int64(42), []byte("same"), true, 3.25)
	f.Add("nan", int64(0), []byte{}, false, math.NaN(), "nan", int64(0), []byte{}, false, math.NaN())
	f.Add(string(bytes.Repeat([]byte{'L'}, 300)), int64(7), bytes.Repeat([]byte{1}, 200), true, 1e300,
		string(bytes.Repeat([]byte{'L'}, 299)), int64(7), bytes.Repeat([]byte{1}, 201), true, 1e300)
	f.Add("a", int64(math.MinInt64), []byte("\x00"), false, math.SmallestNonzeroFloat64, "a", int64(math.MaxInt64), []byte("\x00"), false, -math.SmallestNonzeroFloat64)
	f.Fuzz(func(t *testing.T, s1 string, i1 int64, b1 []byte, t1 bool, f1 float64, s2 string, i2 int64, b2 []byte, t2 bool, f2 float64) {
		x := keyTuple{s1, i1, b1, t1, f1}
		y := keyTuple{s2, i2, b2, t2, f2}
		ex, kx, errx := encodeKey(t, x.encode)
		ey, ky, erry := encodeKey(t, y.encode)
		if math.IsNaN(f1) || math.IsNaN(f2) {
			if math.IsNaN(f1) && errx == nil || math.IsNaN(f2) && erry == nil {
				t.Fatal("a NaN argument did not make Sum fail")
			}
			return
		}
		if errx != nil || erry != nil {
			t.Fatalf("unexpected errors: %v, %v", errx, erry)
		}
		same := bytes.Equal(ex, ey)
		if eq := x.canonicallyEqual(y); same != eq {
			t.Fatalf("canonically equal: %v, encodings equal: %v\n%+v -> %s\n%+v -> %s", eq, same, x, hex.EncodeToString(ex), y, hex.EncodeToString(ey))
		}
		if same != (kx == ky) {
			t.Fatalf("equal encodings must give equal keys and distinct ones distinct keys")
		}
	})
}

// fuzzComposite is a struct of every encoding rule, for FuzzTypedReflectAgree.
type fuzzComposite struct {
	S   string
	I   int64
	N   int
	B   []byte
	F   float64
	F32 float32
	On  bool
	At  time.Time
	P   *int32
	L   []keyStatus
	M   map[string]int32
	MM  map[int8]map[string]bool
	In  keyInner
	D   time.Duration
	A   [2]uint16
	C   complex128
	Any any
	Ins [2]keyInner
}

// encodeFuzzComposite is what generated code writes for a fuzzComposite.
func encodeFuzzComposite(e *Encoder, v *fuzzComposite) {
	e.Struct()
	e.Field("A")
	e.Array(2)
	e.Elem()
	e.Uint16(v.A[0])
	e.Elem()
	e.Uint16(v.A[1])
	e.EndArray()
	e.Field("Any")
	e.Value(v.Any)
	e.Field("At")
	e.Time(v.At)
	e.Field("B")
	e.Bytes(v.B)
	e.Field("C")
	e.Complex128(v.C)
	e.Field("D")
	e.Duration(v.D)
	e.Field("F")
	e.Float64(v.F)
	e.Field("F32")
	e.Float32(v.F32)
	e.Field("I")
	e.Int64(v.I)
	e.Field("In")
	encodeKeyInner(e, v.In)
	e.Field("Ins")
	e.Array(2)
	for _, in := range v.Ins {
		e.Elem()
		encodeKeyInner(e, in)
	}
	e.EndArray()
	e.Field("L")
	e.List(len(v.L))
	for _, s := range v.L {
		e.String(string(s))
	}
	e.Field("M")
	e.Map(len(v.M))
	for k, x := range v.M {
		e.MapKey()
		e.String(k)
		e.MapValue()
		e.Int32(x)
	}
	e.MapEnd()
	e.Field("MM")
	e.Map(len(v.MM))
	for k, in := range v.MM {
		e.MapKey()
		e.Int8(k)
		e.MapValue()
		e.Map(len(in))
		for k2, x := range in {
			e.MapKey()
			e.String(k2)
			e.MapValue()
			e.Bool(x)
		}
		e.MapEnd()
	}
	e.MapEnd()
	e.Field("N")
	e.Int(v.N)
	e.Field("On")
	e.Bool(v.On)
	e.Field("P")
	if v.P == nil {
		e.Nil()
	} else {
		e.Pointer()
		e.Int32(*v.P)
	}
	e.Field("S")
	e.String(v.S)
	e.EndStruct()
}

// FuzzTypedReflectAgree checks that Value writes the same bytes as the typed
// calls generated code makes, for fuzzed values of a composite struct.
func FuzzTypedReflectAgree(f *testing.F) {
	f.Add("s", int64(1), []byte("b"), 1.5, true, int64(1700000000), int64(5), "k", int32(3), uint8(2))
	f.Add("", int64(0), []byte(nil), 0.0, false, int64(0), int64(0), "", int32(0), uint8(0))
	f.Add("long"+string(bytes.Repeat([]byte("z"), 400)), int64(-9), []byte{}, math.Copysign(0, -1), true, int64(-62135596800), int64(999999999), "k\x00", int32(-1), uint8(255))
	f.Add("nan", int64(2), []byte{1}, math.NaN(), false, int64(1), int64(1), "m", int32(7), uint8(9))
	f.Fuzz(func(t *testing.T, s string, i int64, b []byte, fl float64, on bool, sec, nsec int64, k string, p int32, n uint8) {
		v := fuzzComposite{
			S: s, I: i, N: int(i >> 1), B: b, F: fl, F32: float32(fl), On: on,
			At: time.Unix(sec, nsec).In(time.FixedZone("Z", int(p%50000))),
			In: keyInner{A: int(p), B: k}, D: time.Duration(i), A: [2]uint16{uint16(p), uint16(n)},
			C: complex(fl, float64(p)),
		}
		v.Ins[n%2] = keyInner{A: int(n) - 3, B: k}
		if on {
			v.P = &p
			v.Any = keyStatus(k)
		} else {
			v.Any = []any{p, nil, s}
		}
		count := int(n % 16)
		for j := range count {
			v.L = append(v.L, keyStatus(k[:min(j, len(k))]))
			if v.M == nil {
				v.M = map[string]int32{}
				v.MM = map[int8]map[string]bool{}
			}
			v.M[s[:min(j, len(s))]+k] = p + int32(j)
			in := map[string]bool{}
			for x := range j {
				in[k+string(rune('a'+x))] = x%2 == 0
			}
			v.MM[int8(j)-int8(n)] = in
		}
		typed, _, errTyped := encodeKey(t, func(e *Encoder) { e.Begin("fuzz.Composite", 1); encodeFuzzComposite(e, &v) })
		refl, _, errRefl := encodeKey(t, func(e *Encoder) { e.Begin("fuzz.Composite", 1); e.Value(v) })
		reflPtr, _, errPtr := encodeKey(t, func(e *Encoder) { e.Begin("fuzz.Composite", 1); e.Pointer(); encodeFuzzComposite(e, &v) })
		reflOfPtr, _, errOfPtr := encodeKey(t, func(e *Encoder) { e.Begin("fuzz.Composite", 1); e.Value(&v) })
		if (errTyped == nil) != (errRefl == nil) || (errPtr == nil) != (errOfPtr == nil) {
			t.Fatalf("errors differ: typed %v, reflective %v", errTyped, errRefl)
		}
		if math.IsNaN(fl) != (errTyped != nil) {
			t.Fatalf("NaN %v but error %v", math.IsNaN(fl), errTyped)
		}
		if errTyped != nil {
			return
		}
		if !bytes.Equal(typed, refl) {
			t.Fatalf("typed and reflective encodings differ:\ntyped %s\nrefl  %s", hex.EncodeToString(typed), hex.EncodeToString(refl))
		}
		if !bytes.Equal(reflPtr, reflOfPtr) {
			t.Fatalf("typed and reflective encodings of a pointer differ")
		}
	})
}

// FuzzEncoderCallsNeverPanic drives the Encoder with arbitrary sequences of
// calls, well-formed or not: misuse must end in an error from Sum, never in
// a panic.
func FuzzEncoderCallsNeverPanic(f *testing.F) {
	f.Add([]byte{5, 6, 0, 7, 15})
	f.Add([]byte{8, 9, 5, 6, 1, 7, 9, 2, 10, 15})
	f.Add([]byte{5, 6, 11, 12, 0, 13, 5, 7, 14, 7, 15})
	f.Add([]byte{3, 4, 5, 6, 8, 9, 11, 14, 10, 7, 15, 12, 13, 14})
	names := []string{"A", "B", "C", ""}
	f.Fuzz(func(t *testing.T, ops []byte) {
		var e Encoder
		e.Begin("fuzz.Calls", 1)
		for i, op := range ops {
			arg := int(op >> 4)
			switch op & 15 {
			case 0:
				e.Int(arg - 1)
			case 1:
				e.String(names[arg%len(names)])
			case 2:
				e.Nil()
			case 3:
				e.Pointer()
			case 4:
				e.List(arg % 3)
			case 5:
				e.Struct()
			case 6:
				e.Field(names[arg%len(names)])
			case 7:
				e.EndStruct()
			case 8:
				e.Array(arg % 3)
			case 9:
				e.Elem()
			case 10:
				e.EndArray()
			case 11:
				e.Map(arg % 3)
			case 12:
				e.MapKey()
			case 13:
				e.MapValue()
			case 14:
				e.MapEnd()
			case 15:
				if i%2 == 0 {
					_, _ = e.Sum()
				} else {
					e.Value(ops[i:])
				}
			}
		}
		_, _ = e.Sum()
	})
}
