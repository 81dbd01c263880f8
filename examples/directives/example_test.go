package directives_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	idem "github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"

	"github.com/idem-go/idem/examples/directives"
)

// instantClock fires retry delays at once, so that the example does not
// sleep; production code uses the system clock.
type instantClock struct{}

func (instantClock) Now() time.Time { return time.Now() }
func (instantClock) After(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Now()
	return c
}

// The wrapper charges an order once: a retried call replays the receipt,
// a call with another amount for the same order is refused, and failures
// that never reached the provider are retried.
func ExampleService_ChargeOnce() {
	ctx := idem.WithStore(context.Background(), memstore.New())
	ctx = idem.WithClock(ctx, instantClock{})
	api := &directives.PaymentAPI{FailNext: 1} // the first request fails before reaching the provider
	svc := &directives.Service{API: api}

	order := directives.Order{ID: "order-1", Amount: 1250, Note: "first try"}
	r1, err := svc.ChargeOnce(ctx, order)
	fmt.Println(r1.ChargeID, err, "requests:", api.Calls)

	order.Note = "the client retried" // Note is not in the fingerprint
	r2, err := svc.ChargeOnce(ctx, order)
	fmt.Println(r2 == r1, err, "requests:", api.Calls)

	order.Amount = 999
	_, err = svc.ChargeOnce(ctx, order)
	fmt.Println(errors.Is(err, idem.ErrKeyReused), "requests:", api.Calls)
	// Output:
	// ch_1 <nil> requests: 2
	// true <nil> requests: 2
	// true requests: 2
}

// Without a fingerprint, the first call's arguments win.
func ExampleSendWelcomeIdem() {
	ctx := idem.WithStore(context.Background(), memstore.New())
	m := &directives.Mailer{}
	fmt.Println(directives.SendWelcomeIdem(ctx, m, "u1", "en"))
	fmt.Println(directives.SendWelcomeIdem(ctx, m, "u1", "fr"))
	fmt.Println(m.Sent)
	// Output:
	// <nil>
	// <nil>
	// [welcome u1 (en)]
}

// The key is the queue's deduplication id: one message per topic and id.
func ExampleEnqueueIdem() {
	ctx := idem.WithStore(context.Background(), memstore.New())
	q := &directives.Queue{}
	msg := directives.Message{ID: "m1", Body: []byte("hello")}
	fmt.Println(directives.EnqueueIdem(ctx, q, "orders", msg))
	fmt.Println(directives.EnqueueIdem(ctx, q, "orders", msg))
	fmt.Println(directives.EnqueueIdem(ctx, q, "audit", msg))
	fmt.Println(q.Published)
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// [m1 m1]
}

// A decorator runs the annotated methods of an interface once per key and
// delegates the others; the inner implementation can be a test's mock.
func ExampleNewLedgerIdem() {
	ctx := idem.WithStore(context.Background(), memstore.New())
	inner := &directives.MemLedger{}
	var ledger directives.Ledger = directives.NewLedgerIdem(inner)

	fmt.Println(ledger.Append(ctx, "entry-1", 500))
	fmt.Println(ledger.Append(ctx, "entry-1", 500)) // a retry: replayed
	fmt.Println(ledger.Balance(ctx))
	// Output:
	// <nil>
	// <nil>
	// 500 <nil>
}

// A wrapper declared with //idem:wrap for a function of another package
// (os.WriteFile, which takes no context: its wrapper uses the default
// store), and its key helper, which goes from arguments to the key of
// their record.
func ExampleWriteFileOnceKey() {
	idem.SetDefaultStore(memstore.New())
	defer idem.SetDefaultStore(nil)
	dir, _ := os.MkdirTemp("", "idem-example")
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "report.txt")

	fmt.Println(directives.WriteFileOnce(name, []byte("v1"), 0o644))
	fmt.Println(directives.WriteFileOnce(name, []byte("v2"), 0o644)) // replayed: not written again
	b, _ := os.ReadFile(name)
	fmt.Println(string(b), len(directives.WriteFileOnceKey(name)))
	// Output:
	// <nil>
	// <nil>
	// v1 64
}
