package runtime

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encodeKeyNodeTyped is what idemgen generates for the recursive type
// *keyNode: a helper that stops once the Encoder has failed.
func encodeKeyNodeTyped(e *Encoder, v *keyNode) {
	if e.Err() != nil {
		return
	}
	if v == nil {
		e.Nil()
		return
	}
	e.Pointer()
	e.Struct()
	e.Field("Next")
	encodeKeyNodeTyped(e, v.Next)
	e.Field("V")
	e.Int(v.V)
	e.EndStruct()
}

// keyDeep is a slice of itself.
type keyDeep []keyDeep

func encodeKeyDeepTyped(e *Encoder, v keyDeep) {
	if e.Err() != nil {
		return
	}
	e.List(len(v))
	for i := range v {
		encodeKeyDeepTyped(e, v[i])
	}
}

func linkedList(n int) *keyNode {
	var head *keyNode
	for i := range n {
		head = &keyNode{V: i + 1, Next: head}
	}
	return head
}

func deepList(n int) keyDeep {
	v := keyDeep{}
	for range n {
		v = keyDeep{v}
	}
	return v
}

// bothEncoders encodes v through the typed helper and through Value and
// checks that they agree: the same bytes, or both an error.
func bothEncoders(t *testing.T, typed func(e *Encoder), v any) error {
	t.Helper()
	bt, _, errT := encodeKey(t, func(e *Encoder) { e.Begin("test.Func", 1); typed(e) })
	br, _, errR := encodeKey(t, func(e *Encoder) { e.Begin("test.Func", 1); e.Value(v) })
	require.Equal(t, errT, errR, "typed and reflective encoders disagree on the error")
	if errT == nil {
		require.Equal(t, bt, br, "typed and reflective encodings differ")
	}
	return errT
}

func TestKeyDepthIsBoundedAlikeInBothEncoders(t *testing.T) {
	// Each node is two levels (the pointer and the struct); the last
	// node's nil Next is a zero field and opens nothing.
	const fits = MaxKeyDepth / 2
	l := linkedList(fits)
	require.NoError(t, bothEncoders(t, func(e *Encoder) { encodeKeyNodeTyped(e, l) }, l))
	l = linkedList(fits + 1)
	err := bothEncoders(t, func(e *Encoder) { encodeKeyNodeTyped(e, l) }, l)
	require.ErrorIs(t, err, errKeyTooDeep)

	for name, n := range map[string]int{"10,000-deep linked list": 10_000} {
		t.Run(name, func(t *testing.T) {
			l := linkedList(n)
			require.ErrorIs(t, bothEncoders(t, func(e *Encoder) { encodeKeyNodeTyped(e, l) }, l), errKeyTooDeep)
		})
	}
	t.Run("10,000-deep list", func(t *testing.T) {
		d := deepList(10_000)
		err := bothEncoders(t, func(e *Encoder) { encodeKeyDeepTyped(e, d) }, d)
		require.ErrorIs(t, err, errKeyTooDeep)
		assert.Contains(t, err.Error(), "nested more than 1000 levels deep")
		ok := deepList(MaxKeyDepth - 1) // the innermost list is empty and opens nothing
		require.NoError(t, bothEncoders(t, func(e *Encoder) { encodeKeyDeepTyped(e, ok) }, ok))
	})
	t.Run("cyclic pointer struct", func(t *testing.T) {
		c := &keyNode{V: 1}
		c.Next = c
		err := bothEncoders(t, func(e *Encoder) { encodeKeyNodeTyped(e, c) }, c)
		require.ErrorIs(t, err, errKeyTooDeep)
	})
	t.Run("cyclic slice", func(t *testing.T) {
		c := keyDeep{nil, nil}
		c[0], c[1] = c, c // every level doubles: stopping early keeps this bounded
		require.ErrorIs(t, bothEncoders(t, func(e *Encoder) { encodeKeyDeepTyped(e, c) }, c), errKeyTooDeep)
	})
	t.Run("cyclic map", func(t *testing.T) {
		m := map[string]any{}
		m["self"] = m
		var e Encoder
		e.Begin("test.Func", 1)
		e.Value(m)
		_, err := e.Sum()
		require.ErrorIs(t, err, errKeyTooDeep)
	})
}

// ZeroFields (exported, to be embedded) is a struct with a field of every kind, all zero.
type ZeroFields struct {
	A   int
	B   string
	By  []byte
	C   complex64
	F   float64
	Fl  []string
	I   any
	M   map[string]int
	P   *int
	S   struct{ X, Y int }
	T   time.Time
	Arr [3]keyInner
	U   uint8
	On  bool
}

func TestKeyZeroFieldsAreLeftOut(t *testing.T) {
	base := keyBytes(t, func(e *Encoder) { e.Value(struct{ ID string }{"x"}) })
	negZero := math.Copysign(0, -1)
	for name, v := range map[string]any{
		"every kind zero": struct {
			ID string
			ZeroFields
		}{ID: "x"},
		"zero-valued fields set explicitly": struct {
			F  float64
			Fl []string
			I  any
			ID string
			M  map[string]int
			T  time.Time
		}{negZero, []string{}, 0, "x", map[string]int{}, time.Time{}.In(time.FixedZone("X", 60))},
	} {
		t.Run(name, func(t *testing.T) {
			// ZeroFields is embedded: a zero embedded struct is a zero field.
			assert.Equal(t, base, keyBytes(t, func(e *Encoder) { e.Value(v) }))
		})
	}
	// Typed calls give the same bytes as the struct without the field.
	typed := keyBytes(t, func(e *Encoder) {
		e.Struct()
		e.Field("A")
		e.Int(0)
		e.Field("Arr")
		e.Array(2)
		e.Elem()
		e.Struct()
		e.Field("X")
		e.Map(0)
		e.MapEnd()
		e.EndStruct()
		e.Elem()
		e.List(0)
		e.EndArray()
		e.Field("ID")
		e.String("x")
		e.Field("P")
		e.Nil()
		e.Field("Z")
		e.Time(time.Time{})
		e.EndStruct()
	})
	assert.Equal(t, base, typed)

	// Values that are not zero stay, wherever they are.
	zero := 0
	for name, v := range map[string]any{
		"pointer to zero": struct {
			ID string
			P  *int
		}{"x", &zero},
		"unix epoch": struct {
			ID string
			T  time.Time
		}{"x", time.Unix(0, 0)},
		"array with one element set": struct {
			Arr [2]int8
			ID  string
		}{[2]int8{0, 1}, "x"},
		"slice of zeros": struct {
			ID string
			L  []int
		}{"x", []int{0}},
		"struct with a zero field and another set": struct {
			ID string
			S  struct{ X, Y int }
		}{"x", struct{ X, Y int }{0, 1}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.NotEqual(t, base, keyBytes(t, func(e *Encoder) { e.Value(v) }))
		})
	}
	// Zero values outside structs and arrays are written in full.
	assert.NotEqual(t, keyBytes(t, func(e *Encoder) { e.Int(0) }), keyBytes(t, func(e *Encoder) {}))
	assert.NotEqual(t, keyBytes(t, func(e *Encoder) { e.List(1); e.Int(0) }), keyBytes(t, func(e *Encoder) { e.List(1); e.Int(1) }))
}

func TestKeyStructMisuse(t *testing.T) {
	for name, c := range map[string]struct {
		f    func(e *Encoder)
		want string
	}{
		"field outside a struct":   {func(e *Encoder) { e.Field("A"); e.Int(1) }, "Field outside a struct"},
		"value without field":      {func(e *Encoder) { e.Struct(); e.Int(1); e.EndStruct() }, "without Field or Elem"},
		"field without value":      {func(e *Encoder) { e.Struct(); e.Field("A"); e.EndStruct() }, "EndStruct or EndArray"},
		"two fields without value": {func(e *Encoder) { e.Struct(); e.Field("A"); e.Field("B"); e.Int(1); e.EndStruct() }, "Field outside a struct, or after a Field"},
		"fields out of order": {func(e *Encoder) {
			e.Struct()
			e.Field("B")
			e.Int(1)
			e.Field("A")
			e.Int(1)
			e.EndStruct()
		}, "increasing byte order"},
		"repeated field": {func(e *Encoder) {
			e.Struct()
			e.Field("A")
			e.Int(1)
			e.Field("A")
			e.Int(2)
			e.EndStruct()
		}, "increasing byte order"},
		"empty field name":        {func(e *Encoder) { e.Struct(); e.Field(""); e.Int(1); e.EndStruct() }, "non-empty"},
		"open struct at Sum":      {func(e *Encoder) { e.Struct() }, "still open"},
		"open lazy struct at Sum": {func(e *Encoder) { e.Struct(); e.Field("A"); e.Struct() }, "still open"},
		"open list at Sum":        {func(e *Encoder) { e.List(2); e.Int(1) }, "still open"},
		"open pointer at Sum":     {func(e *Encoder) { e.Pointer() }, "still open"},
		"elem outside an array":   {func(e *Encoder) { e.Elem() }, "Elem outside an array"},
		"too many elements": {func(e *Encoder) {
			e.Array(1)
			e.Elem()
			e.Int(1)
			e.Elem()
			e.Int(2)
			e.EndArray()
		}, "more often than the array's length"},
		"too few elements":          {func(e *Encoder) { e.Array(2); e.Elem(); e.Int(1); e.EndArray() }, "EndStruct or EndArray"},
		"element without Elem":      {func(e *Encoder) { e.Array(1); e.Int(1); e.EndArray() }, "without Field or Elem"},
		"EndArray closes a struct":  {func(e *Encoder) { e.Struct(); e.EndArray() }, "EndStruct or EndArray"},
		"EndStruct outside":         {func(e *Encoder) { e.EndStruct() }, "EndStruct or EndArray"},
		"MapKey inside open struct": {func(e *Encoder) { e.Map(1); e.MapKey(); e.Struct(); e.MapValue() }, "inside an open value"},
	} {
		t.Run(name, func(t *testing.T) {
			var e Encoder
			e.Begin("ns", 1)
			c.f(&e)
			_, err := e.Sum()
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "idem: Encoder misuse"), err.Error())
		})
	}
}

func TestKeyNilPathNamesThePath(t *testing.T) {
	var e Encoder
	e.Begin("ns", 1)
	e.String("a")
	e.NilPath("o.Customer.ID")
	e.String("later parts do not clear it")
	_, err := e.Sum()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "key path o.Customer.ID crosses a nil pointer")
}
