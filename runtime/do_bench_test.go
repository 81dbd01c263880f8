package runtime_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/cputime"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

type receipt struct {
	ID   int64
	Name string
	At   time.Time
}

var benchReceipt = receipt{ID: 42, Name: "charge ch_3MmlLrLkdIwHu7ix0snN0B15", At: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)}

func chargeIdem(ctx context.Context, spec *runtime.Spec, order, customer, currency string) (receipt, error) {
	var k, f runtime.Encoder
	encodeCharge(&k, &f, spec, order, customer, currency)
	return runtime.Do(ctx, spec, &k, &f, chargeFn)
}

func chargeFn(context.Context) (receipt, error) { return benchReceipt, nil }

// encodeCharge writes the key and fingerprint of a charge as a generated
// wrapper does.
func encodeCharge(k, f *runtime.Encoder, spec *runtime.Spec, order, customer, currency string) {
	k.Begin(spec.Namespace, spec.Version)
	k.String(order)
	k.String(customer)
	k.String(currency)
	f.Begin(spec.Namespace, spec.Version)
	f.String(order)
	f.String(customer)
	f.String(currency)
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
	orders := benchOrders(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := chargeIdem(ctx, spec, orders[i], "cus_9s6XKzkNRiz8i3", "eur"); err != nil {
			b.Fatal(err)
		}
	}
}

// leastWork does the least work any first call with a new key must do,
// the baseline of BenchmarkFirstCall: derive the key and the fingerprint
// (the same Encoder sums over the same arguments), run the function, encode
// its results with the same codec, read the clock once (a record needs its
// retention), and, under a mutex, look the key up and insert its completed
// record into a map. It leaves out only what recording a result once does
// not need: leases and their renewal, fencing, a second write, events and
// counters.
type leastWork struct {
	mu   sync.Mutex
	recs map[store.Key]leastRecord
}

// leastRecord holds what a replay needs: the fingerprint, the state, the
// retention and the results.
type leastRecord struct {
	fp          store.Fingerprint
	state       store.State
	retainUntil time.Time
	result      []byte
}

func newLeastWork() *leastWork { return &leastWork{recs: make(map[store.Key]leastRecord)} }

func (w *leastWork) charge(ctx context.Context, spec *runtime.Spec, order, customer, currency string) (receipt, error) {
	var k, f runtime.Encoder
	encodeCharge(&k, &f, spec, order, customer, currency)
	key, err := k.SumContext(ctx)
	if err != nil {
		return receipt{}, err
	}
	fp, err := f.SumFingerprintContext(ctx)
	if err != nil {
		return receipt{}, err
	}
	out, err := chargeFn(ctx)
	if err != nil {
		return receipt{}, err
	}
	data, err := runtime.MarshalResultForBench(&out)
	if err != nil {
		return receipt{}, err
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.recs[key]; ok {
		return receipt{}, fmt.Errorf("key %s recorded twice", key)
	}
	w.recs[key] = leastRecord{fp: fp, state: store.StateCompleted, retainUntil: now.Add(24 * time.Hour), result: data}
	return out, nil
}

// BenchmarkFirstCallLeastWork measures leastWork, the baseline of
// BenchmarkFirstCall; BenchmarkFirstCallRatio measures both interleaved.
func BenchmarkFirstCallLeastWork(b *testing.B) {
	ctx := context.Background()
	spec := &runtime.Spec{Namespace: "bench/first", Version: 1}
	orders := benchOrders(b.N)
	w := newLeastWork()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.charge(ctx, spec, orders[i], "cus_9s6XKzkNRiz8i3", "eur"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstCallRatio runs first calls through memstore and the least
// work (leastWork) on the same new keys, interleaved in batches whose order
// alternates, so that load from other processes weighs on both alike, and
// reports the ratio first-call/least-work with each one's ns/op: of wall
// time, and (where the platform reports it) of the process's CPU time,
// which holds on a loaded machine.
func BenchmarkFirstCallRatio(b *testing.B) {
	const batch = 256
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := &runtime.Spec{Namespace: "bench/first-ratio", Version: 1}
	orders := benchOrders(b.N)
	w := newLeastWork()
	bare := context.Background()
	var wall, cpu [2]time.Duration // first call, least work
	_, cpuOK := cputime.Process()
	measure := func(side int, run func(i int) error, from, to int) {
		c0, _ := cputime.Process()
		start := time.Now()
		for i := from; i < to; i++ {
			if err := run(i); err != nil {
				b.Fatal(err)
			}
		}
		wall[side] += time.Since(start)
		c1, _ := cputime.Process()
		cpu[side] += c1 - c0
	}
	first := func(i int) error {
		_, err := chargeIdem(ctx, spec, orders[i], "cus_9s6XKzkNRiz8i3", "eur")
		return err
	}
	least := func(i int) error {
		_, err := w.charge(bare, spec, orders[i], "cus_9s6XKzkNRiz8i3", "eur")
		return err
	}
	b.ResetTimer()
	for from := 0; from < b.N; from += batch {
		to := min(from+batch, b.N)
		if (from/batch)%2 == 0 {
			measure(0, first, from, to)
			measure(1, least, from, to)
		} else {
			measure(1, least, from, to)
			measure(0, first, from, to)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(wall[0])/n, "first-ns/op")
	b.ReportMetric(float64(wall[1])/n, "least-ns/op")
	b.ReportMetric(float64(wall[0])/float64(wall[1]), "first/least")
	if cpuOK {
		b.ReportMetric(float64(cpu[0])/n, "first-cpu-ns/op")
		b.ReportMetric(float64(cpu[1])/n, "least-cpu-ns/op")
		b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "first/least-cpu")
	}
}

func benchOrders(n int) []string {
	orders := make([]string, n+1)
	for i := range orders {
		orders[i] = "order-" + strconv.Itoa(i)
	}
	return orders
}
