package runtime_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

type receipt struct {
	ID   int64
	Name string
	At   time.Time
}

var benchReceipt = receipt{ID: 42, Name: "charge ch_3MmlLrLkdIwHu7ix0snN0B15", At: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)}

func chargeIdem(ctx context.Context, spec *runtime.Spec, order, customer, currency string) (receipt, error) {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(order)
	k.String(customer)
	k.String(currency)
	f.Begin(spec.Namespace, spec.Version)
	f.String(order)
	f.String(customer)
	f.String(currency)
	return runtime.Do(ctx, spec, &k, &f, func(context.Context) (receipt, error) { return benchReceipt, nil })
}

// TestReplayAllocations bounds the allocations of a replayed call through
// memstore: the closure the wrapper passes, the decoded results and the
// string inside them.
func TestReplayAllocations(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := &runtime.Spec{Namespace: "bench/replay-allocs", Version: 1}
	_, err := chargeIdem(ctx, spec, "order-1", "cus_9s6XKzkNRiz8i3", "eur")
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(200, func() {
		got, err := chargeIdem(ctx, spec, "order-1", "cus_9s6XKzkNRiz8i3", "eur")
		if err != nil || got != benchReceipt {
			t.Fatalf("replay returned %v, %v", got, err)
		}
	})
	require.LessOrEqual(t, allocs, 3.0)
}

// BenchmarkReplay measures a replayed call through memstore: key and
// fingerprint derivation, the claim that finds the completed record, and
// decoding a result struct of three fields.
func BenchmarkReplay(b *testing.B) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := &runtime.Spec{Namespace: "bench/replay", Version: 1}
	if _, err := chargeIdem(ctx, spec, "order-1", "cus_9s6XKzkNRiz8i3", "eur"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := chargeIdem(ctx, spec, "order-1", "cus_9s6XKzkNRiz8i3", "eur"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstCall measures a call with a new key through memstore:
// claim, run, encode and record the results.
func BenchmarkFirstCall(b *testing.B) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := &runtime.Spec{Namespace: "bench/first", Version: 1}
	orders := make([]string, b.N+1)
	for i := range orders {
		orders[i] = "order-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := chargeIdem(ctx, spec, orders[i], "cus_9s6XKzkNRiz8i3", "eur"); err != nil {
			b.Fatal(err)
		}
	}
}
