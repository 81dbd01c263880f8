package shapes

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

// twice calls f twice and checks that the wrapped function ran once and
// that both calls returned the same results.
func twice[R any](t *testing.T, name string, f func() (R, error)) R {
	t.Helper()
	before := count(name)
	a, err := f()
	require.NoError(t, err)
	b, err := f()
	require.NoError(t, err)
	require.Equal(t, a, b, "%s: the second call replays the first's results", name)
	require.Equal(t, before+1, count(name), "%s ran once", name)
	return a
}

func TestMethods(t *testing.T) {
	ctx := testCtx()
	r := &Repo{Name: "r"}
	row := twice(t, "Insert", func() (Row, error) { return r.InsertIdem(ctx, "1", Row{Vals: []int{1, 2}}) })
	require.Equal(t, Row{ID: "r:1", Vals: []int{1, 2}}, row)
	require.Len(t, keys["Insert"], 64)

	n := twice(t, "Count", func() (int, error) { return Repo{Name: "abc"}.CountOnce(ctx, "t") })
	require.Equal(t, 4, n)

	twice(t, "Touch", func() (struct{}, error) { return struct{}{}, r.TouchIdem(ctx, 9) })
}

func TestGenerics(t *testing.T) {
	ctx := testCtx()
	s := twice(t, "Sum", func() (float64, error) { return SumIdem[float64, string](ctx, "s", []float64{1, 2.5}) })
	require.Equal(t, 3.5, s)
	// Same key values, other type arguments: int and int64 encode apart.
	before := count("Sum")
	_, err := SumIdem[int64, int](ctx, 1, []int64{1})
	require.NoError(t, err)
	_, err = SumIdem[int64, int64](ctx, 1, []int64{1})
	require.NoError(t, err)
	require.Equal(t, before+2, count("Sum"))

	p := twice(t, "Swap", func() (Pair[int, string], error) { return SwapIdem(ctx, Pair[string, int]{"a", 1}) })
	require.Equal(t, Pair[int, string]{1, "a"}, p)

	b := &Box[[]string]{}
	v := twice(t, "Put", func() ([]string, error) { return b.PutIdem(ctx, "k", []string{"x"}) })
	require.Equal(t, []string{"x"}, v)

	type Name string
	e := twice(t, "Echo", func() (Name, error) { return EchoIdem(ctx, Name("n")) })
	require.Equal(t, Name("n"), e)
}

func TestParams(t *testing.T) {
	ctx := testCtx()
	tags := twice(t, "Tag", func() ([]string, error) { return TagIdem(ctx, "n", "a", "b") })
	require.Equal(t, []string{"n", "a", "b"}, tags)
	before := count("Tag")
	_, err := TagIdem(ctx, "n", "a")
	require.NoError(t, err)
	require.Equal(t, before+1, count("Tag"), "other variadic arguments are another key")

	type split struct{ H, T string }
	got := twice(t, "Split", func() (split, error) {
		h, tl, err := SplitIdem(ctx, "hello")
		return split{h, tl}, err
	})
	require.Equal(t, split{"h", "ello"}, got)

	twice(t, "Ignore", func() (struct{}, error) { return struct{}{}, IgnoreIdem(ctx, "i", 3) })
	before = count("Ignore")
	err = IgnoreIdem(ctx, "i", 4)
	require.ErrorIs(t, err, runtime.ErrKeyReused, "the unnamed int is in the default fingerprint")
	require.Equal(t, before, count("Ignore"))

	runtime.SetDefaultStore(memstore.New()) // Plain has no context to carry a store
	pl := twice(t, "Plain", func() (string, error) { return PlainIdem("p") })
	require.Equal(t, "plain p", pl)

	twice(t, "ctxLast", func() (struct{}, error) { return struct{}{}, ctxLastIdem("c", ctx) })
	require.Len(t, keys["ctxLast"], 64, "the context in last position carries the key")
}

func TestResults(t *testing.T) {
	ctx := testCtx()
	type charge struct {
		M Money
		R *Receipt
		T time.Time
	}
	c := twice(t, "Charge", func() (charge, error) {
		m, r, tm, err := ChargeIdem(ctx, "x", 250)
		return charge{m, r, tm}, err
	})
	require.Equal(t, Money{cents: 250}, c.M, "a BinaryMarshaler result round-trips")
	require.Equal(t, map[string][]float64{"x": {1.5}}, c.R.Lines)
	require.True(t, c.T.Equal(time.Unix(1700000000, 0)))
}

func TestDirectives(t *testing.T) {
	ctx := testCtx()
	twice(t, "Publish", func() (struct{}, error) {
		return struct{}{}, PublishIdem(ctx, Order{ID: "o", Amount: 5, Note: "a"})
	})
	before := count("Publish")
	require.NoError(t, PublishIdem(ctx, Order{ID: "o", Amount: 5, Note: "other note"}), "Note is not in the fingerprint")
	require.ErrorIs(t, PublishIdem(ctx, Order{ID: "o", Amount: 6}), runtime.ErrKeyReused, "Amount is")
	require.Equal(t, before, count("Publish"))
	require.Equal(t, "billing/publish order", publishIdemSpec.Namespace)
	require.Equal(t, 2, publishIdemSpec.Version)
	require.Equal(t, runtime.EffectQueue, publishIdemSpec.Effect)
	require.Equal(t, runtime.RetryPolicy{Attempts: 3, Delay: time.Second, MaxDelay: 5 * time.Second}, publishIdemSpec.Retry)
	require.Equal(t, 72*time.Hour, publishIdemSpec.TTL)
	require.Equal(t, 90*time.Second, publishIdemSpec.Lease)

	first := twice(t, "Ping", func() (string, error) { return PingIdem(ctx, "p", "first") })
	again, err := PingIdem(ctx, "p", "second")
	require.NoError(t, err, "no fingerprint: another note replays")
	require.Equal(t, first, again)
}
