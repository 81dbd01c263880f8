// Package realcode is a golden case of idemgen: key forms that real code
// needs (getters, map entries, constants, receiver fields, if-empty=run),
// key helpers, a wrapper that shadows a promoted method, and a transaction
// on a function whose effect is not db (a warning).
package realcode

import (
	"context"
	"database/sql"
	"errors"
	"math/big"
	"net/http"
	"sync"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/idem-go/idem/runtime"
)

var (
	mu   sync.Mutex
	runs = map[string]int{}
	seen = map[string]string{}
)

// record notes a run of name and the key it saw.
func record(ctx context.Context, name string) {
	mu.Lock()
	defer mu.Unlock()
	runs[name]++
	seen[name], _ = runtime.KeyFrom(ctx)
}

// Request mimics a protobuf message: its getters accept a nil receiver.
type Request struct {
	OrderId string
	Note    *Note
}

// GetOrderId returns the order id, "" for a nil request.
func (r *Request) GetOrderId() string {
	if r == nil {
		return ""
	}
	return r.OrderId
}

// GetNote returns the note, nil for a nil request.
func (r *Request) GetNote() *Note {
	if r == nil {
		return nil
	}
	return r.Note
}

// Note is a nested message.
type Note struct{ Text string }

// GetText returns the text, "" for a nil note.
func (n *Note) GetText() string {
	if n == nil {
		return ""
	}
	return n.Text
}

// Charge keys on getters and a constant.
//
//idem:key req.GetOrderId(), req.GetNote().GetText(), "charge"
//idem:fingerprint req.GetOrderId()
func Charge(ctx context.Context, req *Request) (string, error) {
	record(ctx, "Charge")
	return "charged " + req.GetOrderId(), nil
}

// Deliver keys on a header entry; a delivery without the header runs
// without deduplication.
//
//idem:key h["Webhook-Id"], "dlq" if-empty=run
//idem:fingerprint body
func Deliver(ctx context.Context, h http.Header, body string) error {
	record(ctx, "Deliver")
	return nil
}

// UnimplementedWorkerServer mimics gRPC's embedded Unimplemented…Server.
type UnimplementedWorkerServer struct{}

// Notify is the method the wrapper shadows.
func (UnimplementedWorkerServer) Notify(ctx context.Context, id string) error {
	return errors.New("Notify is not implemented")
}

// Worker embeds the unimplemented server and has a tenant.
type Worker struct {
	UnimplementedWorkerServer
	tenant string
}

// notify is the implementation; its wrapper Notify shadows the promoted
// method. The key holds a field of the receiver.
//
//idem:key w.tenant, id
//idem:name Notify
func (w *Worker) notify(ctx context.Context, id string) error {
	record(ctx, "notify")
	return nil
}

// Audit takes a transaction but its effect is none: a warning.
//
//idem:key id
func Audit(ctx context.Context, tx *sql.Tx, id string) error {
	record(ctx, "Audit")
	return nil
}

// Options holds a callback: the default fingerprint cannot encode it (a
// warning); a client handle is left out silently.
type Options struct {
	Retries int
	OnDone  func()
}

// Pay keys on a protobuf message's getter; the default fingerprint holds
// the message (its deterministic wire bytes) and a math/big amount (its
// text), and leaves out opts with a warning.
//
//idem:key req.GetValue()
func Pay(ctx context.Context, client *http.Client, req *wrapperspb.StringValue, amount *big.Int, opts Options) error {
	record(ctx, "Pay")
	return nil
}

// Identified is an interface with a getter.
type Identified interface{ GetId() string }

// Track keys on a method of an interface: a nil interface fails the call
// with ErrInvalidKey instead of panicking.
//
//idem:key ev.GetId()
func Track(ctx context.Context, ev Identified) error {
	record(ctx, "Track")
	return nil
}

// Meta has a getter with a value receiver.
type Meta struct{ Region string }

// GetRegion returns the region.
func (m Meta) GetRegion() string { return m.Region }

// Envelope embeds pointers: its getters are promoted through them.
type Envelope struct {
	*Meta
	*Request
}

// Route keys on getters promoted through embedded pointers: one with a
// value receiver (a nil *Meta cannot be read, so the key is invalid) and
// one with a pointer receiver (a nil *Request is the getter's to handle).
//
//idem:key env.GetRegion(), env.GetOrderId()
func Route(ctx context.Context, env *Envelope) (string, error) {
	record(ctx, "Route")
	return env.GetRegion() + "/" + env.Request.GetOrderId(), nil
}
