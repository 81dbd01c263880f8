package runtime_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// sealed is a type the CBOR codec cannot walk (unexported field), recorded
// through a registered codec keyed by the sealedValue interface.
type sealed struct{ n int }

type sealedValue interface{ sealedN() int }

func (s *sealed) sealedN() int { return s.n }

var errBadSealed = errors.New("bad sealed bytes")

func init() {
	runtime.RegisterResultCodec(reflect.TypeFor[sealedValue](), runtime.ResultCodec{
		Name:    "sealed",
		Marshal: func(v any) ([]byte, error) { return []byte(strconv.Itoa(v.(*sealed).n)), nil },
		Unmarshal: func(data []byte, v any) error {
			n, err := strconv.Atoi(string(data))
			if err != nil {
				return errBadSealed
			}
			v.(*sealed).n = n
			return nil
		},
	})
}

func TestRegisterResultCodecRefusesMistakes(t *testing.T) {
	ok := runtime.ResultCodec{Name: "x", Marshal: func(any) ([]byte, error) { return nil, nil }, Unmarshal: func([]byte, any) error { return nil }}
	require.Panics(t, func() { runtime.RegisterResultCodec(reflect.TypeFor[sealed](), ok) }, "not an interface")
	require.Panics(t, func() { runtime.RegisterResultCodec(reflect.TypeFor[sealedValue](), ok) }, "registered twice")
	require.Panics(t, func() {
		runtime.RegisterResultCodec(reflect.TypeFor[interface{ other() }](), runtime.ResultCodec{Name: "x"})
	})
}

type withSealed struct {
	One   *sealed
	Many  []*sealed
	ByKey map[string]*sealed
	Arr   [2]*sealed
	Plain string
	_     int
	Skip  *sealed `cbor:"-"`
}

func TestResultCodecRoundTripsThroughDo(t *testing.T) {
	t.Parallel()
	require.NoError(t, runtime.CheckResultType(reflect.TypeFor[withSealed]()))
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	want := withSealed{
		One: &sealed{1}, Many: []*sealed{{2}, nil}, ByKey: map[string]*sealed{"a": {3}}, Arr: [2]*sealed{nil, {4}},
		Plain: "p", Skip: &sealed{5},
	}
	c := &counted[withSealed]{fn: func(context.Context, int64) (withSealed, error) { return want, nil }}
	first, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.Equal(t, want, first)
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.EqualValues(t, 1, c.n.Load())
	want.Skip = nil // cbor:"-" is not recorded
	require.Equal(t, want, got)
}

func TestResultCodecErrorsAreUndecodable(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	// A record whose R0 holds bytes the codec refuses (as after a codec
	// change): replaying it fails without running the function.
	_, err := do(ctx, spec, "k", "fp", func(context.Context) (struct{ R0 []byte }, error) {
		return struct{ R0 []byte }{[]byte("not a number")}, nil
	})
	require.NoError(t, err)
	c := &counted[struct{ R0 *sealed }]{fn: func(context.Context, int64) (struct{ R0 *sealed }, error) {
		return struct{ R0 *sealed }{&sealed{1}}, nil
	}}
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.ErrorIs(t, err, errBadSealed)
	require.ErrorContains(t, err, "sealed codec")
	require.Nil(t, got.R0)
	require.Zero(t, c.n.Load())
}

func TestResultCodecRefusesByValueAndRecursive(t *testing.T) {
	err := runtime.CheckResultType(reflect.TypeFor[struct{ S sealed }]())
	require.ErrorContains(t, err, "record *runtime_test.sealed")
	type node struct {
		S    *sealed
		Next *node
	}
	require.ErrorContains(t, runtime.CheckResultType(reflect.TypeFor[node]()), "recursive")
	type embeds struct{ *sealed }
	require.Error(t, runtime.CheckResultType(reflect.TypeFor[embeds]()))
}
