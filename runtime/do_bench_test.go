package runtime_test

import (
	"context"
	"fmt"
	goruntime "runtime"
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
// BenchmarkFirstCall; BenchmarkFirstCallRatio measures both in one run.
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

// BenchmarkFirstCallRatio runs the least work (leastWork) and then first
// calls through memstore on the same new keys, b.N of each, and reports
// the ratio first-call/least-work with each one's ns/op: of wall time, and
// (where the platform reports it) of the process's CPU time, which holds
// on a loaded machine. The sides run one after the other, each starting
// from a collected heap, and the least work's map is dropped before the
// first calls start: each side pays for the collection of its own garbage
// and the marking of its own records, as it would alone (interleaving them
// would charge the first calls' garbage to the least work too).
func BenchmarkFirstCallRatio(b *testing.B) {
	spec := &runtime.Spec{Namespace: "bench/first-ratio", Version: 1}
	orders := benchOrders(b.N)
	_, cpuOK := cputime.Process()
	measure := func(run func(i int) error) (wall, cpu time.Duration) {
		goruntime.GC()
		c0, _ := cputime.Process()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := run(i); err != nil {
				b.Fatal(err)
			}
		}
		wall = time.Since(start)
		c1, _ := cputime.Process()
		return wall, c1 - c0
	}
	b.ResetTimer()
	bare := context.Background()
	w := newLeastWork()
	leastWall, leastCPU := measure(func(i int) error {
		_, err := w.charge(bare, spec, orders[i], "cus_9s6XKzkNRiz8i3", "eur")
		return err
	})
	w = nil
	ctx := runtime.WithStore(context.Background(), memstore.New())
	firstWall, firstCPU := measure(func(i int) error {
		_, err := chargeIdem(ctx, spec, orders[i], "cus_9s6XKzkNRiz8i3", "eur")
		return err
	})
	n := float64(b.N)
	b.ReportMetric(float64(firstWall)/n, "first-ns/op")
	b.ReportMetric(float64(leastWall)/n, "least-ns/op")
	b.ReportMetric(float64(firstWall)/float64(leastWall), "first/least")
	if cpuOK {
		b.ReportMetric(float64(firstCPU)/n, "first-cpu-ns/op")
		b.ReportMetric(float64(leastCPU)/n, "least-cpu-ns/op")
		b.ReportMetric(float64(firstCPU)/float64(leastCPU), "first/least-cpu")
	}
}

func benchOrders(n int) []string {
	orders := make([]string, n+1)
	for i := range orders {
		orders[i] = "order-" + strconv.Itoa(i)
	}
	return orders
}
