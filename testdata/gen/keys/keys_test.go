//go:build !plan9

package keys

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

func testCtx() context.Context {
	return runtime.WithStore(context.Background(), memstore.New())
}

// reflective returns the key the runtime's reflective encoder derives from
// parts: the typed code idemgen generates must produce the same bytes.
func reflective(t *testing.T, spec *runtime.Spec, parts ...any) string {
	t.Helper()
	var e runtime.Encoder
	e.Begin(spec.Namespace, spec.Version)
	for _, p := range parts {
		e.Value(p)
	}
	k, err := e.Sum()
	require.NoError(t, err)
	return k.String()
}

func TestScalarsMatchReflectiveEncoding(t *testing.T) {
	ctx := testCtx()
	one, two := 1, 2
	all := All{true, -1, -2, -3, -4, -5, 1, 2, 3, 4, 5, 6, 1.5, 2.5, complex(1, 2), complex(3, 4), "s", 'r', 'b'}
	args := []any{all, Status("st"), Level(3), Raw("raw"), []B{1, 2}, [4]byte{1, 2, 3, 4}, time.Second, Dur(time.Minute),
		time.Unix(1700000000, 5), &Point{1, 2}, map[Status][]Point{"a": {{1, 2}}, "b": nil}, [][2]*int{{&one, nil}, {nil, &two}}}
	require.NoError(t, ScalarsIdem(ctx, all, "st", 3, Raw("raw"), []B{1, 2}, [4]byte{1, 2, 3, 4}, time.Second, Dur(time.Minute),
		time.Unix(1700000000, 5), &Point{1, 2}, map[Status][]Point{"a": {{1, 2}}, "b": nil}, [][2]*int{{&one, nil}, {nil, &two}}))
	require.Equal(t, reflective(t, &scalarsIdemSpec, args...), seen["Scalars"])
}

func TestTimes(t *testing.T) {
	ctx := testCtx()
	at := time.Unix(1700000000, 7)
	require.NoError(t, TimesIdem(ctx, MyTime(at)))
	var e runtime.Encoder
	e.Begin(timesIdemSpec.Namespace, timesIdemSpec.Version)
	e.Time(at)
	k, err := e.Sum()
	require.NoError(t, err)
	require.Equal(t, k.String(), seen["Times"])
}

func TestPathsNilPointers(t *testing.T) {
	ctx := testCtx()
	// A nil pointer crossed on the way to a field: ErrInvalidKey naming the
	// path, and the function does not run.
	err := PathsIdem(ctx, nil, nil)
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	require.ErrorContains(t, err, "o.ID")
	require.Zero(t, runs["Paths"])

	p := &Point{X: 3, Y: 4}
	o := &Outer{Inner: Inner{ID: "i"}, P: &Point{X: 1}, Meta: &Meta{ID: "m", Parent: &Meta{ID: "parent"}}, Deep: &p}
	require.NoError(t, PathsIdem(ctx, o, &p))
	require.Equal(t, reflective(t, &pathsIdemSpec, "i", float64(1), "parent", float64(3), float64(4)), seen["Paths"])

	// A nil in the middle of a path.
	o2 := &Outer{Inner: Inner{ID: "j"}, P: &Point{X: 1}, Meta: &Meta{ID: "m"}, Deep: &p}
	err = PathsIdem(ctx, o2, &p)
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	require.ErrorContains(t, err, "o.Meta.Parent.ID")
	var nilp *Point
	err = PathsIdem(ctx, o, &nilp)
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	require.ErrorContains(t, err, "pp.X")
	require.Equal(t, 1, runs["Paths"])
}

func TestPointerPartNilDiffersFromPointerToZero(t *testing.T) {
	ctx := testCtx()
	call := func(pt *Point) string {
		require.NoError(t, ScalarsIdem(ctx, All{}, "", 0, nil, nil, [4]byte{}, 0, 0, time.Time{}, pt, nil, nil))
		return seen["Scalars"]
	}
	require.NotEqual(t, call(nil), call(&Point{}))
}

func TestUnexportedFieldOfThisPackageIsInTheKey(t *testing.T) {
	ctx := testCtx()
	require.NoError(t, UnexportedIdem(ctx, Inner{ID: "a", secret: 1}))
	first := seen["Unexported"]
	require.NoError(t, UnexportedIdem(ctx, Inner{ID: "a", secret: 2}))
	require.NotEqual(t, first, seen["Unexported"])
	require.Equal(t, 2, runs["Unexported"])

	var e runtime.Encoder
	e.Begin(unexportedIdemSpec.Namespace, unexportedIdemSpec.Version)
	e.Struct()
	e.Field("ID")
	e.String("a")
	e.Field("secret")
	e.Int(2)
	e.EndStruct()
	k, err := e.Sum()
	require.NoError(t, err)
	require.Equal(t, k.String(), seen["Unexported"])
}

func TestRecursiveTypes(t *testing.T) {
	ctx := testCtx()
	n := &Node{Val: 1, Kids: []*Node{{Val: 2}, nil, {Val: 3, Kids: []*Node{{Val: 4}}}}}
	tree := Tree{"a": Tree{"b": nil}, "c": Tree{}}
	l := List[int]{V: 1, Next: &List[int]{V: 2}}
	require.NoError(t, RecursiveIdem(ctx, n, tree, l))
	require.Equal(t, reflective(t, &recursiveIdemSpec, n, tree, l), seen["Recursive"])
	require.Equal(t, 1, runs["Recursive"])

	// A change deep inside is another key.
	n.Kids[2].Kids[0].Val = 5
	require.NoError(t, RecursiveIdem(ctx, n, tree, l))
	require.Equal(t, 2, runs["Recursive"])
	require.Equal(t, reflective(t, &recursiveIdemSpec, n, tree, l), seen["Recursive"])

	// The same values again replay.
	require.NoError(t, RecursiveIdem(ctx, n, tree, l))
	require.Equal(t, 2, runs["Recursive"])
}

func TestCyclicKeyIsInvalidAndDoesNotRun(t *testing.T) {
	ctx := testCtx()
	n := &Node{Val: 1}
	n.Kids = []*Node{n, n}
	before := runs["Recursive"]
	err := RecursiveIdem(ctx, n, Tree{}, List[int]{})
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	require.ErrorContains(t, err, "nested more than 1000 levels deep")
	require.Equal(t, before, runs["Recursive"])
}

func TestAddedZeroFieldKeepsKeysAndFingerprints(t *testing.T) {
	ctx := testCtx()
	// Yesterday's binary records a call with OrderV1, which had neither Note
	// nor Tags. Its generated encoders wrote what Value writes for OrderV1.
	var k, f runtime.Encoder
	k.Begin(chargeIdemSpec.Namespace, chargeIdemSpec.Version)
	k.Value(OrderV1{ID: "o-1", Amount: 5})
	f.Begin(chargeIdemSpec.Namespace, chargeIdemSpec.Version)
	f.Value(OrderV1{ID: "o-1", Amount: 5})
	r1, err := runtime.Do(ctx, &chargeIdemSpec, &k, &f, func(ctx context.Context) (struct{ R0 string }, error) {
		record(ctx, "Charge")
		return struct{ R0 string }{"charged o-1 by v1"}, nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, runs["Charge"])

	// Today's binary: the same key and fingerprint, so the call replays.
	r2, err := ChargeIdem(ctx, OrderV2{ID: "o-1", Amount: 5, Tags: []string{}})
	require.NoError(t, err)
	require.Equal(t, r1.R0, r2)
	require.Equal(t, 1, runs["Charge"])
	// A new field that is set is another operation.
	_, err = ChargeIdem(ctx, OrderV2{ID: "o-1", Amount: 5, Note: "gift"})
	require.NoError(t, err)
	require.Equal(t, 2, runs["Charge"])
}
