package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateKeyVectors = flag.Bool("update", false, "rewrite testdata/keys/vectors.json from the current key encoder (go test ./runtime -run TestKeyVectors -update)")

// encodeKey runs f (which calls Begin) on a fresh Encoder and returns the
// exact bytes hashed and the key. It checks that the key is SHA-256 of those
// bytes and that an Encoder without the test hook derives the same key.
func encodeKey(t testing.TB, f func(e *Encoder)) ([]byte, Key, error) {
	t.Helper()
	var e Encoder
	out := []byte{}
	e.tee = &out
	f(&e)
	k, err := e.Sum()

	var plain Encoder
	f(&plain)
	k2, err2 := plain.Sum()
	require.Equal(t, err == nil, err2 == nil, "the test hook changed the error")
	if err == nil {
		require.Equal(t, Key(sha256.Sum256(out)), k, "the key is not SHA-256 of the bytes written")
		require.Equal(t, k, k2, "the test hook changed the key")
	}
	return out, k, err
}

// keyBytes is encodeKey for encodings that must succeed, under a fixed
// namespace.
func keyBytes(t testing.TB, f func(e *Encoder)) []byte {
	t.Helper()
	b, _, err := encodeKey(t, func(e *Encoder) {
		e.Begin("test.Func", 1)
		f(e)
	})
	require.NoError(t, err)
	return b
}

func keyOf(t testing.TB, f func(e *Encoder)) Key {
	t.Helper()
	return Key(sha256.Sum256(keyBytes(t, f)))
}

type (
	keyStatus string
	keyID     int64
	keyByte   uint8
	keyInner  struct {
		A int
		B string
	}
	keyOuter struct {
		Name string
		Tags []string
		In   keyInner
		P    *keyInner
		M    map[string]int
		At   time.Time
		D    time.Duration
		S    keyStatus
		Any  any
		Arr  [2]int16
		Raw  []byte
	}
	keyNode struct {
		V    int
		Next *keyNode
	}
	keyTime  time.Time
	keyBlank struct {
		A int
		_ int
		B string
	}
)

// encodeKeyInner is what generated code writes for a keyInner argument.
func encodeKeyInner(e *Encoder, v keyInner) {
	e.Struct()
	e.Field("A")
	e.Int(v.A)
	e.Field("B")
	e.String(v.B)
	e.EndStruct()
}

// encodeKeyOuter is what generated code writes for a keyOuter argument.
func encodeKeyOuter(e *Encoder, v keyOuter) {
	e.Struct()
	e.Field("Any")
	e.Value(v.Any)
	e.Field("Arr")
	e.Array(2)
	e.Elem()
	e.Int16(v.Arr[0])
	e.Elem()
	e.Int16(v.Arr[1])
	e.EndArray()
	e.Field("At")
	e.Time(v.At)
	e.Field("D")
	e.Duration(v.D)
	e.Field("In")
	encodeKeyInner(e, v.In)
	e.Field("M")
	e.Map(len(v.M))
	for k, x := range v.M {
		e.MapKey()
		e.String(k)
		e.MapValue()
		e.Int(x)
	}
	e.MapEnd()
	e.Field("Name")
	e.String(v.Name)
	e.Field("P")
	if v.P == nil {
		e.Nil()
	} else {
		e.Pointer()
		encodeKeyInner(e, *v.P)
	}
	e.Field("Raw")
	e.Bytes(v.Raw)
	e.Field("S")
	e.String(string(v.S))
	e.Field("Tags")
	e.List(len(v.Tags))
	for _, s := range v.Tags {
		e.String(s)
	}
	e.EndStruct()
}

type keyCase struct {
	name  string
	value any
	typed func(e *Encoder)
}

func keyCases() []keyCase {
	negZero := math.Copysign(0, -1)
	tokyo := time.FixedZone("JST", 9*3600)
	instant := time.Date(2024, 3, 10, 12, 30, 45, 123456789, time.UTC)
	zero := 0
	pzero := &zero
	bigMap := map[int]bool{}
	for i := range 100 {
		bigMap[i*7919%1000] = i%3 == 0
	}
	outer := keyOuter{
		Name: "order", Tags: []string{"a", "bb"}, In: keyInner{1, "x"}, P: &keyInner{2, "y"},
		M: map[string]int{"k1": 1, "k2": 2, "k3": 3}, At: instant.In(tokyo), D: 3 * time.Second,
		S: "paid", Any: int64(9), Arr: [2]int16{-1, 1}, Raw: []byte{0, 1},
	}
	return []keyCase{
		{"string", "hello", func(e *Encoder) { e.String("hello") }},
		{"empty string", "", func(e *Encoder) { e.String("") }},
		{"utf8 string", "héllo, 世界", func(e *Encoder) { e.String("héllo, 世界") }},
		{"long string", strings.Repeat("x", 300), func(e *Encoder) { e.String(strings.Repeat("x", 300)) }},
		{"bool true", true, func(e *Encoder) { e.Bool(true) }},
		{"bool false", false, func(e *Encoder) { e.Bool(false) }},
		{"int", -1, func(e *Encoder) { e.Int(-1) }},
		{"int8", int8(math.MinInt8), func(e *Encoder) { e.Int8(math.MinInt8) }},
		{"int16", int16(-300), func(e *Encoder) { e.Int16(-300) }},
		{"int32", int32(1 << 30), func(e *Encoder) { e.Int32(1 << 30) }},
		{"int64", int64(math.MinInt64), func(e *Encoder) { e.Int64(math.MinInt64) }},
		{"uint", uint(math.MaxUint), func(e *Encoder) { e.Uint(math.MaxUint) }},
		{"uint8", uint8(255), func(e *Encoder) { e.Uint8(255) }},
		{"uint16", uint16(65535), func(e *Encoder) { e.Uint16(65535) }},
		{"uint32", uint32(1 << 31), func(e *Encoder) { e.Uint32(1 << 31) }},
		{"uint64", uint64(math.MaxUint64), func(e *Encoder) { e.Uint64(math.MaxUint64) }},
		{"uintptr", uintptr(7), func(e *Encoder) { e.Uintptr(7) }},
		{"float32", float32(1.5), func(e *Encoder) { e.Float32(1.5) }},
		{"float32 -0", float32(negZero), func(e *Encoder) { e.Float32(float32(negZero)) }},
		{"float64 -0", negZero, func(e *Encoder) { e.Float64(negZero) }},
		{"float64 +Inf", math.Inf(1), func(e *Encoder) { e.Float64(math.Inf(1)) }},
		{"complex64", complex64(complex(1, -2)), func(e *Encoder) { e.Complex64(complex(1, -2)) }},
		{"complex128 -0", complex(negZero, negZero), func(e *Encoder) { e.Complex128(complex(negZero, negZero)) }},
		{"time utc", instant, func(e *Encoder) { e.Time(instant) }},
		{"time zone", instant.In(tokyo), func(e *Encoder) { e.Time(instant) }},
		{"time monotonic", time.Now(), nil}, // typed filled in below
		{"time zero", time.Time{}, func(e *Encoder) { e.Time(time.Time{}) }},
		{"duration", 90 * time.Minute, func(e *Encoder) { e.Duration(90 * time.Minute) }},
		{"named string", keyStatus("ok"), func(e *Encoder) { e.String("ok") }},
		{"named int64", keyID(5), func(e *Encoder) { e.Int64(5) }},
		{"named byte slice", []keyByte{1, 2}, func(e *Encoder) { e.Bytes([]byte{1, 2}) }},
		{"bytes", []byte{1, 2, 3}, func(e *Encoder) { e.Bytes([]byte{1, 2, 3}) }},
		{"bytes nil", []byte(nil), func(e *Encoder) { e.Bytes(nil) }},
		{"bytes empty", []byte{}, func(e *Encoder) { e.Bytes(nil) }},
		{"long bytes", bytes.Repeat([]byte{7}, 1000), func(e *Encoder) { e.Bytes(bytes.Repeat([]byte{7}, 1000)) }},
		{"nil pointer", (*int)(nil), func(e *Encoder) { e.Nil() }},
		{"pointer to zero", pzero, func(e *Encoder) { e.Pointer(); e.Int(0) }},
		{"pointer to pointer", &pzero, func(e *Encoder) { e.Pointer(); e.Pointer(); e.Int(0) }},
		{"nil interface", nil, func(e *Encoder) { e.Nil() }},
		{"slice nil", []string(nil), func(e *Encoder) { e.List(0) }},
		{"slice empty", []string{}, func(e *Encoder) { e.List(0) }},
		{"slice", []string{"a", "b"}, func(e *Encoder) { e.List(2); e.String("a"); e.String("b") }},
		{"slice of any", []any{1, "a", nil}, func(e *Encoder) { e.List(3); e.Int(1); e.String("a"); e.Nil() }},
		{"array", [3]int{1, 0, 3}, func(e *Encoder) {
			e.Array(3)
			e.Elem()
			e.Int(1)
			e.Elem()
			e.Int(0)
			e.Elem()
			e.Int(3)
			e.EndArray()
		}},
		{"byte array", [2]byte{1, 2}, func(e *Encoder) {
			e.Array(2)
			e.Elem()
			e.Uint8(1)
			e.Elem()
			e.Uint8(2)
			e.EndArray()
		}},
		{"zero array", [2]keyInner{}, func(e *Encoder) {
			e.Array(2)
			e.Elem()
			encodeKeyInner(e, keyInner{})
			e.Elem()
			encodeKeyInner(e, keyInner{})
			e.EndArray()
		}},
		{"zero outer struct", keyOuter{}, func(e *Encoder) { encodeKeyOuter(e, keyOuter{}) }},
		{"outer struct with zero parts", keyOuter{Tags: []string{}, P: &keyInner{}, M: map[string]int{}, Arr: [2]int16{0, 5}, Any: 0.0}, func(e *Encoder) {
			encodeKeyOuter(e, keyOuter{Tags: []string{}, P: &keyInner{}, M: map[string]int{}, Arr: [2]int16{0, 5}, Any: 0.0})
		}},
		{"map", map[string]int{"a": 1, "b": 2}, func(e *Encoder) {
			e.Map(2)
			e.MapKey()
			e.String("b")
			e.MapValue()
			e.Int(2)
			e.MapKey()
			e.String("a")
			e.MapValue()
			e.Int(1)
			e.MapEnd()
		}},
		{"map nil", map[string]int(nil), func(e *Encoder) { e.Map(0); e.MapEnd() }},
		{"map empty", map[string]int{}, func(e *Encoder) { e.Map(0); e.MapEnd() }},
		{"map big", bigMap, func(e *Encoder) {
			keys := make([]int, 0, len(bigMap))
			for k := range bigMap {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			slices.Reverse(keys)
			e.Map(len(keys))
			for _, k := range keys {
				e.MapKey()
				e.Int(k)
				e.MapValue()
				e.Bool(bigMap[k])
			}
			e.MapEnd()
		}},
		{"nested map", map[string]map[int]string{"x": {1: "a", 2: "b"}, "y": nil}, func(e *Encoder) {
			e.Map(2)
			e.MapKey()
			e.String("y")
			e.MapValue()
			e.Map(0)
			e.MapEnd()
			e.MapKey()
			e.String("x")
			e.MapValue()
			e.Map(2)
			e.MapKey()
			e.Int(2)
			e.MapValue()
			e.String("b")
			e.MapKey()
			e.Int(1)
			e.MapValue()
			e.String("a")
			e.MapEnd()
			e.MapEnd()
		}},
		{"map with struct keys", map[keyInner][]int{{1, "a"}: {1}, {0, "b"}: nil}, func(e *Encoder) {
			e.Map(2)
			e.MapKey()
			encodeKeyInner(e, keyInner{0, "b"})
			e.MapValue()
			e.List(0)
			e.MapKey()
			encodeKeyInner(e, keyInner{1, "a"})
			e.MapValue()
			e.List(1)
			e.Int(1)
			e.MapEnd()
		}},
		{"struct", keyInner{1, "x"}, func(e *Encoder) { encodeKeyInner(e, keyInner{1, "x"}) }},
		{"pointer to struct", &keyInner{1, "x"}, func(e *Encoder) { e.Pointer(); encodeKeyInner(e, keyInner{1, "x"}) }},
		{"nested struct", outer, func(e *Encoder) { encodeKeyOuter(e, outer) }},
		{"linked list", &keyNode{1, &keyNode{2, nil}}, func(e *Encoder) {
			e.Pointer()
			e.Struct()
			e.Field("Next")
			e.Pointer()
			e.Struct()
			e.Field("Next")
			e.Nil()
			e.Field("V")
			e.Int(2)
			e.EndStruct()
			e.Field("V")
			e.Int(1)
			e.EndStruct()
		}},
		{"time pointer", &instant, func(e *Encoder) { e.Pointer(); e.Time(instant) }},
		{"type defined from time.Time", keyTime(instant.In(tokyo)), func(e *Encoder) { e.Time(instant) }},
		{"time types as map values", map[string]keyTime{"a": keyTime(instant)}, func(e *Encoder) {
			e.Map(1)
			e.MapKey()
			e.String("a")
			e.MapValue()
			e.Time(instant)
			e.MapEnd()
		}},
		{"blank fields are skipped", keyBlank{A: 1, B: "x"}, func(e *Encoder) { encodeKeyInner(e, keyInner{1, "x"}) }},
	}
}

func TestKeyTypedAndReflectiveAgree(t *testing.T) {
	for _, c := range keyCases() {
		t.Run(c.name, func(t *testing.T) {
			typed := c.typed
			if typed == nil { // time monotonic
				tm := c.value.(time.Time)
				typed = func(e *Encoder) { e.Time(tm.Round(0).UTC()) }
			}
			want := keyBytes(t, typed)
			got := keyBytes(t, func(e *Encoder) { e.Value(c.value) })
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
			// The value in an interface field of a struct, and behind a
			// pointer to an interface.
			wantWrapped := keyBytes(t, func(e *Encoder) { e.Struct(); e.Field("X"); typed(e); e.EndStruct() })
			gotWrapped := keyBytes(t, func(e *Encoder) { e.Value(struct{ X any }{c.value}) })
			require.Equal(t, hex.EncodeToString(wantWrapped), hex.EncodeToString(gotWrapped))
			boxed := c.value
			wantPtr := keyBytes(t, func(e *Encoder) { e.Pointer(); typed(e) })
			gotPtr := keyBytes(t, func(e *Encoder) { e.Value(&boxed) })
			require.Equal(t, hex.EncodeToString(wantPtr), hex.EncodeToString(gotPtr))
		})
	}
}

// TestKeyEncodingLayout pins the documented table byte for byte, independently
// of the golden vectors.
func TestKeyEncodingLayout(t *testing.T) {
	prefix := "idem:e2:v1:\x09test.Func:"
	h := func(s string) string { return hex.EncodeToString([]byte(prefix + s)) }
	cases := []struct {
		name string
		f    func(e *Encoder)
		want string
	}{
		{"nil", func(e *Encoder) { e.Nil() }, "\x01"},
		{"pointer", func(e *Encoder) { e.Pointer(); e.Bool(true) }, "\x02\x03\x01"},
		{"bool", func(e *Encoder) { e.Bool(false) }, "\x03\x00"},
		{"int", func(e *Encoder) { e.Int(-2) }, "\x10\xff\xff\xff\xff\xff\xff\xff\xfe"},
		{"int8", func(e *Encoder) { e.Int8(-2) }, "\x11\xfe"},
		{"int16", func(e *Encoder) { e.Int16(0x0102) }, "\x12\x01\x02"},
		{"int32", func(e *Encoder) { e.Int32(0x01020304) }, "\x13\x01\x02\x03\x04"},
		{"int64", func(e *Encoder) { e.Int64(1) }, "\x14\x00\x00\x00\x00\x00\x00\x00\x01"},
		{"duration", func(e *Encoder) { e.Duration(1) }, "\x14\x00\x00\x00\x00\x00\x00\x00\x01"},
		{"uint", func(e *Encoder) { e.Uint(1) }, "\x18\x00\x00\x00\x00\x00\x00\x00\x01"},
		{"uint8", func(e *Encoder) { e.Uint8(1) }, "\x19\x01"},
		{"uint16", func(e *Encoder) { e.Uint16(1) }, "\x1a\x00\x01"},
		{"uint32", func(e *Encoder) { e.Uint32(1) }, "\x1b\x00\x00\x00\x01"},
		{"uint64", func(e *Encoder) { e.Uint64(1) }, "\x1c\x00\x00\x00\x00\x00\x00\x00\x01"},
		{"uintptr", func(e *Encoder) { e.Uintptr(1) }, "\x1d\x00\x00\x00\x00\x00\x00\x00\x01"},
		{"float32", func(e *Encoder) { e.Float32(1) }, "\x20\x3f\x80\x00\x00"},
		{"float64", func(e *Encoder) { e.Float64(math.Copysign(0, -1)) }, "\x21\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"complex64", func(e *Encoder) { e.Complex64(complex(1, 0)) }, "\x22\x3f\x80\x00\x00\x00\x00\x00\x00"},
		{"complex128", func(e *Encoder) { e.Complex128(complex(0, 1)) }, "\x23\x00\x00\x00\x00\x00\x00\x00\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"},
		{"string", func(e *Encoder) { e.String("ab") }, "\x30\x02ab"},
		{"long string", func(e *Encoder) { e.String(strings.Repeat("z", 200)) }, "\x30\xc8\x01" + strings.Repeat("z", 200)},
		{"bytes", func(e *Encoder) { e.Bytes([]byte("ab")) }, "\x31\x02ab"},
		{"time", func(e *Encoder) { e.Time(time.Unix(1, 2).In(time.FixedZone("X", 3600))) }, "\x40\x00\x00\x00\x0e\x77\x91\xf7\x01\x00\x00\x00\x02"},
		{"time zero", func(e *Encoder) { e.Time(time.Time{}.In(time.FixedZone("X", 3600))) }, "\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"array", func(e *Encoder) {
			e.Array(2)
			e.Elem()
			e.Int8(0)
			e.Elem()
			e.Int8(1)
			e.EndArray()
		}, "\x53\x02\x00\x11\x01"},
		{"zero array", func(e *Encoder) {
			e.Array(2)
			e.Elem()
			e.Int8(0)
			e.Elem()
			e.Nil()
			e.EndArray()
		}, "\x53\x02\x00\x00"},
		{"struct fields", func(e *Encoder) {
			e.Struct()
			e.Field("A")
			e.Int8(0)
			e.Field("B")
			e.Int8(1)
			e.Field("C")
			e.Struct()
			e.Field("D")
			e.String("")
			e.EndStruct()
			e.Field("E")
			e.Array(2)
			e.Elem()
			e.Struct()
			e.EndStruct()
			e.Elem()
			e.Struct()
			e.Field("F")
			e.Bool(true)
			e.EndStruct()
			e.EndArray()
			e.EndStruct()
		}, "\x51\x01B\x11\x01\x01E\x53\x02\x00\x51\x01F\x03\x01\x00\x00"},
		{"list", func(e *Encoder) { e.List(1); e.Nil() }, "\x50\x01\x01"},
		{"struct", func(e *Encoder) { e.Struct(); e.EndStruct() }, "\x51\x00"},
		{"map sorted", func(e *Encoder) {
			e.Map(2)
			e.MapKey()
			e.String("b")
			e.MapValue()
			e.Uint8(1)
			e.MapKey()
			e.String("a")
			e.MapValue()
			e.Uint8(2)
			e.MapEnd()
		}, "\x52\x02\x30\x01a\x19\x02\x30\x01b\x19\x01"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, h(c.want), hex.EncodeToString(keyBytes(t, c.f)))
		})
	}
	t.Run("prefix", func(t *testing.T) {
		for _, c := range []struct {
			ns      string
			version int
			want    string
		}{
			{"a", 0, "idem:e2:v0:\x01a:"},
			{"a", 12, "idem:e2:v12:\x01a:"},
			{"a", -3, "idem:e2:v-3:\x01a:"},
			{"", 1, "idem:e2:v1:\x00:"},
			{strings.Repeat("n", 130), 1, "idem:e2:v1:\x82\x01" + strings.Repeat("n", 130) + ":"},
			{strings.Repeat("n", 400), math.MaxInt64, "idem:e2:v9223372036854775807:\x90\x03" + strings.Repeat("n", 400) + ":"},
		} {
			b, _, err := encodeKey(t, func(e *Encoder) { e.Begin(c.ns, c.version) })
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString([]byte(c.want)), hex.EncodeToString(b))
		}
	})
}

// TestKeyStreaming checks every length around the inline buffer's size
// against an independently built encoding, so the overflow path hashes
// exactly the bytes the fast path would.
func TestKeyStreaming(t *testing.T) {
	for n := 0; n < 3*encBufSize; n += 1 + n/64 {
		s := strings.Repeat("q", n)
		want := []byte("idem:e2:v1:\x09test.Func:")
		for range 3 {
			want = append(want, keyTagString)
			want = binary.AppendUvarint(want, uint64(n))
			want = append(want, s...)
			want = binary.BigEndian.AppendUint64(append(want, keyTagInt64), uint64(n))
		}
		got := keyOf(t, func(e *Encoder) {
			for range 3 {
				e.String(s)
				e.Int64(int64(n))
			}
		})
		require.Equal(t, Key(sha256.Sum256(want)), got, "length %d", n)
	}
}

func TestKeyConcatenationIsInjective(t *testing.T) {
	pairs := [][2]func(e *Encoder){
		{func(e *Encoder) { e.String("ab"); e.String("c") }, func(e *Encoder) { e.String("a"); e.String("bc") }},
		{func(e *Encoder) { e.String(""); e.String("a") }, func(e *Encoder) { e.String("a"); e.String("") }},
		{func(e *Encoder) { e.Bytes([]byte("ab")); e.Bytes([]byte("c")) }, func(e *Encoder) { e.Bytes([]byte("a")); e.Bytes([]byte("bc")) }},
		{func(e *Encoder) { e.String("a") }, func(e *Encoder) { e.Bytes([]byte("a")) }},
		{func(e *Encoder) { e.List(2); e.Int(1); e.Int(2) }, func(e *Encoder) { e.List(1); e.Int(1); e.Int(2) }},
		{func(e *Encoder) { e.List(0) }, func(e *Encoder) { e.Struct(); e.EndStruct() }},
		{func(e *Encoder) { e.Array(0); e.EndArray() }, func(e *Encoder) { e.List(0) }},
		{func(e *Encoder) { e.Array(1); e.Elem(); e.Int(0); e.EndArray() }, func(e *Encoder) { e.List(1); e.Int(0) }},
		{func(e *Encoder) { e.List(0) }, func(e *Encoder) { e.Map(0); e.MapEnd() }},
		{func(e *Encoder) { e.List(1); e.List(0); e.Int(0) }, func(e *Encoder) { e.List(0); e.List(1); e.Int(0) }},
	}
	for i, p := range pairs {
		assert.NotEqual(t, keyOf(t, p[0]), keyOf(t, p[1]), "pair %d", i)
	}
	// Namespaces and versions separate key spaces, with no way to shift
	// bytes between the prefix and the arguments.
	k := func(ns string, v int, arg string) Key {
		_, key, err := encodeKey(t, func(e *Encoder) { e.Begin(ns, v); e.String(arg) })
		require.NoError(t, err)
		return key
	}
	assert.NotEqual(t, k("a", 1, "b"), k("b", 1, "b"))
	assert.NotEqual(t, k("a", 1, "b"), k("a", 2, "b"))
	assert.NotEqual(t, k("a", 1, "1"), k("a", 11, ""))
	assert.NotEqual(t, k("a:", 1, "b"), k("a", 1, ":b"))
}

func TestKeyFloatRules(t *testing.T) {
	negZero := math.Copysign(0, -1)
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Float64(0) }), keyOf(t, func(e *Encoder) { e.Float64(negZero) }))
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Float32(0) }), keyOf(t, func(e *Encoder) { e.Float32(float32(negZero)) }))
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Complex128(0) }), keyOf(t, func(e *Encoder) { e.Complex128(complex(negZero, negZero)) }))
	assert.NotEqual(t, keyOf(t, func(e *Encoder) { e.Float64(0) }), keyOf(t, func(e *Encoder) { e.Float32(0) }))
	assert.NotEqual(t, keyOf(t, func(e *Encoder) { e.Float64(1) }), keyOf(t, func(e *Encoder) { e.Float64(math.Nextafter(1, 2)) }))
	assert.NotEqual(t, keyOf(t, func(e *Encoder) { e.Float64(math.Inf(1)) }), keyOf(t, func(e *Encoder) { e.Float64(math.Inf(-1)) }))
}

func TestKeyNaNIsAnError(t *testing.T) {
	nan := math.NaN()
	for name, f := range map[string]func(e *Encoder){
		"float64":       func(e *Encoder) { e.Float64(nan) },
		"float32":       func(e *Encoder) { e.Float32(float32(nan)) },
		"complex64":     func(e *Encoder) { e.Complex64(complex(1, float32(nan))) },
		"complex128":    func(e *Encoder) { e.Complex128(complex(nan, 0)) },
		"value":         func(e *Encoder) { e.Value(nan) },
		"in a struct":   func(e *Encoder) { e.Value(struct{ F float64 }{nan}) },
		"as a map key":  func(e *Encoder) { e.Value(map[float64]int{nan: 1}) },
		"then more":     func(e *Encoder) { e.Float64(nan); e.String("later parts do not clear the error") },
		"named float64": func(e *Encoder) { type celsius float64; e.Value(celsius(nan)) },
	} {
		t.Run(name, func(t *testing.T) {
			var e Encoder
			e.Begin("ns", 1)
			f(&e)
			k, err := e.Sum()
			require.Error(t, err)
			assert.ErrorIs(t, err, errKeyNaN)
			assert.Contains(t, err.Error(), "NaN cannot be a key")
			assert.Equal(t, Key{}, k)
			_, err = e.SumFingerprint()
			assert.ErrorIs(t, err, errKeyNaN)
			// Begin starts over.
			e.Begin("ns", 1)
			_, err = e.Sum()
			assert.NoError(t, err)
		})
	}
}

func TestKeyTimeIsTheInstant(t *testing.T) {
	now := time.Now() // carries a monotonic reading
	tokyo := time.FixedZone("JST", 9*3600)
	ny := time.FixedZone("EST", -5*3600)
	want := keyOf(t, func(e *Encoder) { e.Time(now) })
	for _, v := range []time.Time{now.Round(0), now.UTC(), now.In(tokyo), now.In(ny).Round(0), time.Unix(0, now.UnixNano())} {
		assert.Equal(t, want, keyOf(t, func(e *Encoder) { e.Time(v) }), "%v", v)
		assert.Equal(t, want, keyOf(t, func(e *Encoder) { e.Value(v) }), "%v", v)
	}
	assert.NotEqual(t, want, keyOf(t, func(e *Encoder) { e.Time(now.Add(1)) }))
	assert.NotEqual(t, want, keyOf(t, func(e *Encoder) { e.Time(now.Add(time.Second)) }))
	before := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
	assert.NotEqual(t, keyOf(t, func(e *Encoder) { e.Time(before) }), keyOf(t, func(e *Encoder) { e.Time(time.Time{}) }))
}

func TestKeyDistinctions(t *testing.T) {
	one := 1
	zero := 0
	distinct := map[string]func(e *Encoder){
		"nil pointer":     func(e *Encoder) { e.Nil() },
		"pointer to zero": func(e *Encoder) { e.Pointer(); e.Int(0) },
		"zero":            func(e *Encoder) { e.Int(0) },
		"bool true":       func(e *Encoder) { e.Bool(true) },
		"bool false":      func(e *Encoder) { e.Bool(false) },
		"int 1":           func(e *Encoder) { e.Int(1) },
		"int64 1":         func(e *Encoder) { e.Int64(1) },
		"int8 1":          func(e *Encoder) { e.Int8(1) },
		"int16 1":         func(e *Encoder) { e.Int16(1) },
		"int32 1":         func(e *Encoder) { e.Int32(1) },
		"uint 1":          func(e *Encoder) { e.Uint(1) },
		"uint8 1":         func(e *Encoder) { e.Uint8(1) },
		"uint16 1":        func(e *Encoder) { e.Uint16(1) },
		"uint32 1":        func(e *Encoder) { e.Uint32(1) },
		"uint64 1":        func(e *Encoder) { e.Uint64(1) },
		"uintptr 1":       func(e *Encoder) { e.Uintptr(1) },
		"float32 1":       func(e *Encoder) { e.Float32(1) },
		"float64 1":       func(e *Encoder) { e.Float64(1) },
		"string 1":        func(e *Encoder) { e.String("1") },
		"bytes 1":         func(e *Encoder) { e.Bytes([]byte{1}) },
		"list [1]":        func(e *Encoder) { e.List(1); e.Int(1) },
		"struct {1}":      func(e *Encoder) { e.Struct(); e.Field("A"); e.Int(1); e.EndStruct() },
		"struct {}":       func(e *Encoder) { e.Struct(); e.EndStruct() },
		"array [0]":       func(e *Encoder) { e.Array(1); e.Elem(); e.Int(0); e.EndArray() },
		"time zero":       func(e *Encoder) { e.Time(time.Time{}) },
		"time epoch":      func(e *Encoder) { e.Time(time.Unix(0, 0)) },
		"time 1s":         func(e *Encoder) { e.Time(time.Unix(1, 0)) },
		"empty string":    func(e *Encoder) { e.String("") },
		"empty list":      func(e *Encoder) { e.List(0) },
	}
	seen := map[Key]string{}
	for name, f := range distinct {
		k := keyOf(t, f)
		if other, dup := seen[k]; dup {
			t.Errorf("%s and %s encode alike", name, other)
		}
		seen[k] = name
	}
	// The same distinctions through Value.
	assert.NotEqual(t, keyOf(t, func(e *Encoder) { e.Value((*int)(nil)) }), keyOf(t, func(e *Encoder) { e.Value(&zero) }))
	assert.NotEqual(t, keyOf(t, func(e *Encoder) { e.Value(true) }), keyOf(t, func(e *Encoder) { e.Value(one) }))
	assert.NotEqual(t, keyOf(t, func(e *Encoder) { e.Value(1) }), keyOf(t, func(e *Encoder) { e.Value(int64(1)) }))
	// Documented equalities.
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Duration(5) }), keyOf(t, func(e *Encoder) { e.Int64(5) }))
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Value(5 * time.Nanosecond) }), keyOf(t, func(e *Encoder) { e.Value(int64(5)) }))
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Value(keyStatus("x")) }), keyOf(t, func(e *Encoder) { e.Value("x") }))
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Value([]int(nil)) }), keyOf(t, func(e *Encoder) { e.Value([]int{}) }))
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Value(map[int]int(nil)) }), keyOf(t, func(e *Encoder) { e.Value(map[int]int{}) }))
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Value([]byte(nil)) }), keyOf(t, func(e *Encoder) { e.Value([]byte{}) }))
}

func TestKeyMapOrderIndependence(t *testing.T) {
	const n = 500
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", rng.IntN(1_000_000))
	}
	build := func(order []int) map[string]int {
		m := make(map[string]int)
		for _, i := range order {
			m[keys[i]] = i
		}
		return m
	}
	ascending := make([]int, n)
	for i := range ascending {
		ascending[i] = i
	}
	m := build(ascending)
	want := keyOf(t, func(e *Encoder) { e.Value(m) })
	for round := range 20 {
		order := slices.Clone(ascending)
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		m2 := build(order)
		require.Equal(t, want, keyOf(t, func(e *Encoder) { e.Value(m2) }), "round %d", round)
		// Typed emission in the shuffled order.
		got := keyOf(t, func(e *Encoder) {
			e.Map(len(m2))
			seen := map[string]bool{}
			for _, i := range order {
				k := keys[i]
				if seen[k] {
					continue
				}
				seen[k] = true
				e.MapKey()
				e.String(k)
				e.MapValue()
				e.Int(m2[k])
			}
			e.MapEnd()
		})
		require.Equal(t, want, got, "round %d", round)
	}
	// A change of one value changes the key.
	m3 := build(ascending)
	m3[keys[0]]++
	assert.NotEqual(t, want, keyOf(t, func(e *Encoder) { e.Value(m3) }))

	// Nested maps, both levels built in different orders.
	nested := func(rev bool) map[int]map[string]int {
		out := map[int]map[string]int{}
		for i := range 50 {
			j := i
			if rev {
				j = 49 - i
			}
			in := map[string]int{}
			for k := range 20 {
				in[fmt.Sprint(k*j)] = k
			}
			out[j] = in
		}
		return out
	}
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.Value(nested(false)) }), keyOf(t, func(e *Encoder) { e.Value(nested(true)) }))

	// Keys that encode alike (any-typed keys of different named types)
	// are ordered by their values, so the key is still deterministic.
	dup := func() map[any]int { return map[any]int{"a": 1, keyStatus("a"): 2} }
	first := keyOf(t, func(e *Encoder) { e.Value(dup()) })
	for range 20 {
		require.Equal(t, first, keyOf(t, func(e *Encoder) { e.Value(dup()) }))
	}
}

func TestKeyMapMisuse(t *testing.T) {
	for name, c := range map[string]struct {
		f    func(e *Encoder)
		want string
	}{
		"MapKey outside a map": {func(e *Encoder) { e.MapKey() }, "outside a map"},
		"MapValue outside":     {func(e *Encoder) { e.MapValue() }, "outside a map"},
		"MapEnd outside":       {func(e *Encoder) { e.MapEnd() }, "outside a map"},
		"MapValue before key":  {func(e *Encoder) { e.Map(1); e.MapValue(); e.Int(1); e.MapEnd() }, "each map entry"},
		"two keys": {func(e *Encoder) {
			e.Map(1)
			e.MapKey()
			e.Int(1)
			e.MapKey()
			e.Int(2)
			e.MapEnd()
		}, "each map entry"},
		"key without value": {func(e *Encoder) { e.Map(1); e.MapKey(); e.Int(1); e.MapEnd() }, "each map entry"},
		"count too high": {func(e *Encoder) {
			e.Map(2)
			e.MapKey()
			e.Int(1)
			e.MapValue()
			e.Int(1)
			e.MapEnd()
		}, "Map(2) was given 1 entries"},
		"count too low": {func(e *Encoder) {
			e.Map(0)
			e.MapKey()
			e.Int(1)
			e.MapValue()
			e.Int(1)
			e.MapEnd()
		}, "Map(0) was given 1 entries"},
		"open map at Sum":      {func(e *Encoder) { e.Map(0) }, "still open"},
		"loose value":          {func(e *Encoder) { e.Map(0); e.Int(1); e.MapEnd() }, "outside MapKey/MapValue"},
		"loose string":         {func(e *Encoder) { e.Map(0); e.String("x"); e.MapEnd() }, "outside MapKey/MapValue"},
		"loose map":            {func(e *Encoder) { e.Map(0); e.Map(0); e.MapEnd(); e.MapEnd() }, "outside MapKey/MapValue"},
		"negative list count":  {func(e *Encoder) { e.List(-1) }, "negative count"},
		"negative array count": {func(e *Encoder) { e.Array(-1); e.EndArray() }, "negative count"},
		"negative map count":   {func(e *Encoder) { e.Map(-1); e.MapEnd() }, "negative count"},
	} {
		t.Run(name, func(t *testing.T) {
			var e Encoder
			e.Begin("ns", 1)
			c.f(&e)
			_, err := e.Sum()
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

type keyUnexported struct {
	Public  string
	private int
}

func TestKeyUnsupportedValues(t *testing.T) {
	cyclic := &keyNode{V: 1}
	cyclic.Next = cyclic
	var x int
	for name, c := range map[string]struct {
		v    any
		want []string
	}{
		"func":                  {func() {}, []string{"func()", "functions"}},
		"chan":                  {make(chan int), []string{"chan int", "channels"}},
		"unsafe pointer":        {unsafe.Pointer(&x), []string{"unsafe.Pointer", "unsafe pointers"}},
		"interface holding fn":  {struct{ F any }{F: func(int) {}}, []string{"func(int)"}},
		"slice of chans":        {[]chan int{nil}, []string{"chan int"}},
		"map with func values":  {map[string]func(){"a": nil}, []string{"func()"}},
		"unexported fields":     {keyUnexported{Public: "a"}, []string{"runtime.keyUnexported", "field private is unexported"}},
		"pointer to unexported": {&keyUnexported{}, []string{"runtime.keyUnexported"}},
		"cyclic":                {cyclic, []string{"nested more than 1000 levels", "cyclic"}},
	} {
		t.Run(name, func(t *testing.T) {
			var e Encoder
			e.Begin("ns", 1)
			e.Value(c.v)
			_, err := e.Sum()
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestKeyBeginResets(t *testing.T) {
	fresh := keyOf(t, func(e *Encoder) { e.String("x") })
	var e Encoder
	e.Begin("other", 3)
	e.String(strings.Repeat("y", 1000)) // overflow into the streaming hash
	e.Map(1)                            // and leave a map open
	e.Float64(math.NaN())               // and record an error
	e.Begin("test.Func", 1)
	e.String("x")
	k, err := e.Sum()
	require.NoError(t, err)
	assert.Equal(t, fresh, k)
	// Sum may be called twice and values may follow it.
	k2, err := e.Sum()
	require.NoError(t, err)
	assert.Equal(t, k, k2)
	e.String("y")
	k3, _ := e.Sum()
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.String("x"); e.String("y") }), k3)
	// The same after an overflow.
	long := strings.Repeat("z", 700)
	e.Begin("test.Func", 1)
	e.String(long)
	a, _ := e.Sum()
	b, _ := e.Sum()
	assert.Equal(t, a, b)
	e.String("y")
	c, _ := e.Sum()
	assert.Equal(t, keyOf(t, func(e *Encoder) { e.String(long); e.String("y") }), c)
}

func TestKeySumFingerprint(t *testing.T) {
	var e Encoder
	e.Begin("ns", 1)
	e.String("a")
	k, err := e.Sum()
	require.NoError(t, err)
	fp, err := e.SumFingerprint()
	require.NoError(t, err)
	assert.Equal(t, [32]byte(k), [32]byte(fp))
}

// TestKeyDoesNotAllocate guards the hot path: an Encoder on the caller's
// stack, a few arguments, Sum. An escaping Encoder would show as 1 alloc.
func TestKeyDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes escape analysis")
	}
	var sink Key
	allocs := testing.AllocsPerRun(200, func() {
		k, err := benchKey()
		if err != nil {
			t.Fatal(err)
		}
		sink = k
	})
	assert.Zero(t, allocs, "Begin + 3×String + Sum allocates")
	require.Len(t, benchEncoded(), 69, "the benchmark's encoding size changed; update the benchmark comments")

	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	raw := []byte("raw bytes")
	var boxed any = "boxed"
	allocs = testing.AllocsPerRun(200, func() {
		var e Encoder
		e.Begin("github.com/acme/shop/billing.(*Client).Charge", 7)
		e.Int(1)
		e.Int64(-2)
		e.Uint32(3)
		e.Bool(true)
		e.Float64(2.5)
		e.Complex128(1i)
		e.Time(at)
		e.Duration(time.Second)
		e.Bytes(raw)
		e.Pointer()
		e.Nil()
		e.List(1)
		e.Struct()
		e.Field("A")
		e.String("x")
		e.Field("B")
		e.Value(boxed)
		e.Field("C")
		e.Array(2)
		e.Elem()
		e.Int(0)
		e.Elem()
		e.Int(1)
		e.EndArray()
		e.EndStruct()
		fp, err := e.SumFingerprint()
		if err != nil {
			t.Fatal(err)
		}
		sink = Key(fp)
	})
	assert.Zero(t, allocs, "typed calls allocate")
	_ = sink
}

// keyVector is one golden vector: a named input, its exact encoding and its
// key.
type keyVector struct {
	Name     string `json:"name"`
	Input    string `json:"input"`
	Encoding string `json:"encoding,omitempty"` // hex; omitted for long encodings
	Key      string `json:"key"`
}

type keyVectorFile struct {
	Comment         string      `json:"comment"`
	EncodingVersion int         `json:"encoding_version"`
	Vectors         []keyVector `json:"vectors"`
}

type keyVectorInput struct {
	name, input string
	f           func(e *Encoder)
}

func keyVectorInputs() []keyVectorInput {
	tokyo := time.FixedZone("JST", 9*3600)
	instant := time.Date(2024, 3, 10, 12, 30, 45, 123456789, time.UTC)
	v := func(name, input string, f func(e *Encoder)) keyVectorInput {
		return keyVectorInput{name, input, func(e *Encoder) { e.Begin("pkg.Func", 1); f(e) }}
	}
	return []keyVectorInput{
		{"prefix-only", `Begin("pkg.Func", 1)`, func(e *Encoder) { e.Begin("pkg.Func", 1) }},
		{"prefix-version-0", `Begin("pkg.Func", 0)`, func(e *Encoder) { e.Begin("pkg.Func", 0) }},
		{"prefix-version-12", `Begin("pkg.Func", 12)`, func(e *Encoder) { e.Begin("pkg.Func", 12) }},
		{"prefix-version-negative", `Begin("pkg.Func", -1)`, func(e *Encoder) { e.Begin("pkg.Func", -1) }},
		{"prefix-empty-namespace", `Begin("", 1)`, func(e *Encoder) { e.Begin("", 1) }},
		{"prefix-long-namespace", `Begin(200 × "n", 1)`, func(e *Encoder) { e.Begin(strings.Repeat("n", 200), 1) }},
		{"prefix-import-path", `Begin("github.com/acme/pay.(*Client).Charge", 1)`, func(e *Encoder) { e.Begin("github.com/acme/pay.(*Client).Charge", 1) }},
		v("nil", `Nil()`, func(e *Encoder) { e.Nil() }),
		v("pointer-to-int-0", `Pointer(); Int(0)`, func(e *Encoder) { e.Pointer(); e.Int(0) }),
		v("bool-false", `Bool(false)`, func(e *Encoder) { e.Bool(false) }),
		v("bool-true", `Bool(true)`, func(e *Encoder) { e.Bool(true) }),
		v("int-1", `Int(1)`, func(e *Encoder) { e.Int(1) }),
		v("int-min", `Int(math.MinInt64)`, func(e *Encoder) { e.Int(math.MinInt64) }),
		v("int8--1", `Int8(-1)`, func(e *Encoder) { e.Int8(-1) }),
		v("int16-1", `Int16(1)`, func(e *Encoder) { e.Int16(1) }),
		v("int32-1", `Int32(1)`, func(e *Encoder) { e.Int32(1) }),
		v("int64-1", `Int64(1)`, func(e *Encoder) { e.Int64(1) }),
		v("uint-1", `Uint(1)`, func(e *Encoder) { e.Uint(1) }),
		v("uint8-255", `Uint8(255)`, func(e *Encoder) { e.Uint8(255) }),
		v("uint16-1", `Uint16(1)`, func(e *Encoder) { e.Uint16(1) }),
		v("uint32-1", `Uint32(1)`, func(e *Encoder) { e.Uint32(1) }),
		v("uint64-max", `Uint64(math.MaxUint64)`, func(e *Encoder) { e.Uint64(math.MaxUint64) }),
		v("uintptr-1", `Uintptr(1)`, func(e *Encoder) { e.Uintptr(1) }),
		v("float32-1.5", `Float32(1.5)`, func(e *Encoder) { e.Float32(1.5) }),
		v("float64-pi", `Float64(math.Pi)`, func(e *Encoder) { e.Float64(math.Pi) }),
		v("float64-negative-zero", `Float64(-0) (equals Float64(0))`, func(e *Encoder) { e.Float64(math.Copysign(0, -1)) }),
		v("float64-inf", `Float64(+Inf)`, func(e *Encoder) { e.Float64(math.Inf(1)) }),
		v("complex64", `Complex64(1-2i)`, func(e *Encoder) { e.Complex64(1 - 2i) }),
		v("complex128", `Complex128(-0+1i) (real part folds to +0)`, func(e *Encoder) { e.Complex128(complex(math.Copysign(0, -1), 1)) }),
		v("string-empty", `String("")`, func(e *Encoder) { e.String("") }),
		v("string-utf8", `String("héllo, 世界")`, func(e *Encoder) { e.String("héllo, 世界") }),
		v("strings-ab-c", `String("ab"); String("c")`, func(e *Encoder) { e.String("ab"); e.String("c") }),
		v("strings-a-bc", `String("a"); String("bc")`, func(e *Encoder) { e.String("a"); e.String("bc") }),
		v("string-long", `String(1000 × "x") (streams past the inline buffer)`, func(e *Encoder) { e.String(strings.Repeat("x", 1000)) }),
		v("bytes", `Bytes([]byte{0, 1, 255})`, func(e *Encoder) { e.Bytes([]byte{0, 1, 255}) }),
		v("bytes-empty", `Bytes(nil) (equals Bytes([]byte{}))`, func(e *Encoder) { e.Bytes(nil) }),
		v("time", `Time(2024-03-10T12:30:45.123456789Z) (equals the same instant in any zone)`, func(e *Encoder) { e.Time(instant.In(tokyo)) }),
		v("time-zero", `Time(time.Time{})`, func(e *Encoder) { e.Time(time.Time{}) }),
		v("duration", `Duration(1500 * time.Millisecond) (equals Int64(1500000000))`, func(e *Encoder) { e.Duration(1500 * time.Millisecond) }),
		v("list-empty", `List(0) (nil or empty slice)`, func(e *Encoder) { e.List(0) }),
		v("list-strings", `List(2); String("a"); String("b")`, func(e *Encoder) { e.List(2); e.String("a"); e.String("b") }),
		v("struct", `Struct(); Field("A"); Int(1); Field("B"); String("x"); EndStruct()`, func(e *Encoder) { encodeKeyInner(e, keyInner{1, "x"}) }),
		v("map-empty", `Map(0); MapEnd() (nil or empty map)`, func(e *Encoder) { e.Map(0); e.MapEnd() }),
		v("map", `map[string]int{"b": 2, "a": 1}`, func(e *Encoder) { e.Value(map[string]int{"b": 2, "a": 1}) }),
		v("map-nested", `map[string]map[int]bool{"x": {1: true, 2: false}, "y": nil}`, func(e *Encoder) {
			e.Value(map[string]map[int]bool{"x": {1: true, 2: false}, "y": nil})
		}),
		v("value-struct", `Value(struct{Name string; Tags []string; P *int64; At time.Time}{"n", ["t"], nil, 1970-01-01T00:00:01Z})`, func(e *Encoder) {
			e.Value(struct {
				Name string
				Tags []string
				P    *int64
				At   time.Time
			}{"n", []string{"t"}, nil, time.Unix(1, 0)})
		}),
		v("value-named-types", `Value(keyStatus("paid")); Value(keyID(7)); Value([]keyByte{1})`, func(e *Encoder) {
			e.Value(keyStatus("paid"))
			e.Value(keyID(7))
			e.Value([]keyByte{1})
		}),
		v("value-interfaces", `Value([]any{1, "a", nil, int64(1)})`, func(e *Encoder) { e.Value([]any{1, "a", nil, int64(1)}) }),
		v("value-byte-array", `Value([3]byte{1, 2, 3}) (an Array of Uint8)`, func(e *Encoder) { e.Value([3]byte{1, 2, 3}) }),
		v("value-time-defined-type", `Value(keyTime(1970-01-01T00:00:01Z)) (type keyTime time.Time; equals Time)`, func(e *Encoder) { e.Value(keyTime(time.Unix(1, 0))) }),
		v("value-blank-fields", `Value(struct{A int; _ int; B string}{A: 1, B: "x"}) (equals the vector "struct")`, func(e *Encoder) { e.Value(keyBlank{A: 1, B: "x"}) }),
		v("struct-zero-field-left-out", `Value(struct{A int; B string; C *int; D []int; E time.Time}{A: 1}) (equals the vector "struct-without-zero-fields")`, func(e *Encoder) {
			e.Value(struct {
				A int
				B string
				C *int
				D []int
				E time.Time
			}{A: 1})
		}),
		v("struct-without-zero-fields", `Value(struct{A int}{A: 1})`, func(e *Encoder) { e.Value(struct{ A int }{A: 1}) }),
		v("struct-fields-reordered", `Value(struct{B string; A int}{"x", 1}) (fields sorted by name: equals the vector "struct")`, func(e *Encoder) {
			e.Value(struct {
				B string
				A int
			}{"x", 1})
		}),
		v("struct-field-renamed", `Value(struct{AA int; B string}{1, "x"}) (a renamed non-zero field changes the key)`, func(e *Encoder) {
			e.Value(struct {
				AA int
				B  string
			}{1, "x"})
		}),
		v("struct-all-zero", `Value(struct{A int; In struct{B string}}{}) (a zero struct outside a field is Struct, end)`, func(e *Encoder) {
			e.Value(struct {
				A  int
				In struct{ B string }
			}{})
		}),
		v("struct-nested-zero-left-out", `Value(struct{A int; In struct{B string; Arr [2]int}}{A: 1}) (equals the vector "struct-without-zero-fields")`, func(e *Encoder) {
			e.Value(struct {
				A  int
				In struct {
					B   string
					Arr [2]int
				}
			}{A: 1})
		}),
		v("struct-pointer-to-zero-kept", `Value(struct{A int; P *int}{1, &0}) (a pointer to zero is not zero)`, func(e *Encoder) {
			zero := 0
			e.Value(struct {
				A int
				P *int
			}{1, &zero})
		}),
		v("array-zero-elements", `Value([3]int64{0, 7, 0})`, func(e *Encoder) { e.Value([3]int64{0, 7, 0}) }),
		v("time-unix-epoch", `Time(1970-01-01T00:00:00Z) (differs from time.Time{})`, func(e *Encoder) { e.Time(time.Unix(0, 0)) }),
		v("value-pointer-to-interface", `Value(&any(int8(3))) (Pointer, then the dynamic value)`, func(e *Encoder) { var x any = int8(3); e.Value(&x) }),
	}
}

const keyVectorsPath = "../testdata/keys/vectors.json"

// TestKeyVectors re-derives every golden vector. A failure means the bytes
// of the canonical encoding changed: every key already stored would stop
// matching. Such a change needs a new KeyEncodingVersion; then regenerate
// with: go test ./runtime -run TestKeyVectors -update
func TestKeyVectors(t *testing.T) {
	var current []keyVector
	for _, in := range keyVectorInputs() {
		b, k, err := encodeKey(t, in.f)
		require.NoError(t, err, in.name)
		kv := keyVector{Name: in.name, Input: in.input, Key: k.String()}
		if len(b) <= 300 {
			kv.Encoding = hex.EncodeToString(b)
		}
		current = append(current, kv)
	}
	// The documented equalities and differences between vectors.
	byName := map[string]string{}
	for _, c := range current {
		byName[c.Name] = c.Key
	}
	for _, p := range [][2]string{
		{"struct-zero-field-left-out", "struct-without-zero-fields"},
		{"struct-nested-zero-left-out", "struct-without-zero-fields"},
		{"struct-fields-reordered", "struct"},
		{"value-blank-fields", "struct"},
	} {
		assert.Equal(t, byName[p[0]], byName[p[1]], "%s and %s must be one key", p[0], p[1])
	}
	for _, p := range [][2]string{
		{"struct-field-renamed", "struct"},
		{"time-unix-epoch", "time-zero"},
		{"struct-pointer-to-zero-kept", "struct-without-zero-fields"},
		{"struct-all-zero", "prefix-only"},
	} {
		assert.NotEqual(t, byName[p[0]], byName[p[1]], "%s and %s must differ", p[0], p[1])
	}
	if *updateKeyVectors {
		file := keyVectorFile{
			Comment:         "Golden vectors of the canonical key encoding (see runtime.Encoder). Each key is SHA-256 of the encoding. Regenerate only with a new encoding version: go test ./runtime -run TestKeyVectors -update",
			EncodingVersion: KeyEncodingVersion,
			Vectors:         current,
		}
		data, err := json.MarshalIndent(file, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(keyVectorsPath), 0o755))
		require.NoError(t, os.WriteFile(keyVectorsPath, append(data, '\n'), 0o644))
		t.Logf("wrote %d vectors to %s", len(current), keyVectorsPath)
		return
	}
	data, err := os.ReadFile(keyVectorsPath)
	require.NoError(t, err, "missing golden vectors; create them with: go test ./runtime -run TestKeyVectors -update")
	var file keyVectorFile
	require.NoError(t, json.Unmarshal(data, &file))
	require.Equal(t, KeyEncodingVersion, file.EncodingVersion, "the vectors were written for another encoding version")
	golden := map[string]keyVector{}
	for _, v := range file.Vectors {
		golden[v.Name] = v
	}
	require.Len(t, golden, len(file.Vectors), "duplicate vector names in %s", keyVectorsPath)
	for _, c := range current {
		g, ok := golden[c.Name]
		if !assert.True(t, ok, "vector %q is not in %s; run with -update after review", c.Name, keyVectorsPath) {
			continue
		}
		delete(golden, c.Name)
		assert.Equal(t, g.Encoding, c.Encoding, "the encoding of %q (%s) changed: that breaks every stored key; bump KeyEncodingVersion if intended", c.Name, c.Input)
		assert.Equal(t, g.Key, c.Key, "the key of %q (%s) changed: that breaks every stored key; bump KeyEncodingVersion if intended", c.Name, c.Input)
	}
	for name := range golden {
		t.Errorf("golden vector %q has no input in keyVectorInputs", name)
	}
}
