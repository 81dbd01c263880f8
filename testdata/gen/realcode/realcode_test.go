package realcode

import (
	"context"
	"math/big"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

func ctxWithStore() context.Context {
	return runtime.WithStore(context.Background(), memstore.New())
}

func TestGettersAndConstantKey(t *testing.T) {
	ctx := ctxWithStore()
	req := &Request{OrderId: "o1", Note: &Note{Text: "gift"}}
	before := runs["Charge"]
	r1, err := ChargeIdem(ctx, req)
	require.NoError(t, err)
	r2, err := ChargeIdem(ctx, &Request{OrderId: "o1", Note: &Note{Text: "gift"}})
	require.NoError(t, err)
	require.Equal(t, r1, r2)
	require.Equal(t, before+1, runs["Charge"])
	require.Equal(t, seen["Charge"], ChargeIdemKey(req), "the key helper gives the key the call used")
	require.Len(t, ChargeIdemKey(req), 64)

	// Another note is another key; a nil note reads "" through the getter.
	_, err = ChargeIdem(ctx, &Request{OrderId: "o1"})
	require.NoError(t, err)
	require.Equal(t, before+2, runs["Charge"])
	require.NotEqual(t, ChargeIdemKey(req), ChargeIdemKey(&Request{OrderId: "o1"}))
	// A nil request: the getters handle it.
	_, err = ChargeIdem(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, seen["Charge"], ChargeIdemKey(nil))
}

func TestMapEntryKeyAndIfEmptyRun(t *testing.T) {
	ctx := ctxWithStore()
	h := http.Header{}
	h["Webhook-Id"] = []string{"w1"}
	before := runs["Deliver"]
	require.NoError(t, DeliverIdem(ctx, h, "a"))
	require.NoError(t, DeliverIdem(ctx, http.Header{"Webhook-Id": {"w1"}, "Other": {"x"}}, "a"))
	require.Equal(t, before+1, runs["Deliver"], "the other header is not part of the key")
	require.Equal(t, seen["Deliver"], DeliverIdemKey(h))

	// Without the entry the key is empty: every call runs, with no key.
	require.NoError(t, DeliverIdem(ctx, http.Header{}, "a"))
	require.NoError(t, DeliverIdem(ctx, nil, "a"))
	require.Equal(t, before+3, runs["Deliver"])
	require.Equal(t, "", seen["Deliver"], "a call without deduplication has no key")
}

func TestReceiverFieldKeyAndShadowedMethod(t *testing.T) {
	ctx := ctxWithStore()
	a, b := &Worker{tenant: "a"}, &Worker{tenant: "b"}
	before := runs["notify"]
	require.NoError(t, a.Notify(ctx, "n1"), "the wrapper shadows the promoted Notify")
	require.Equal(t, seen["notify"], a.NotifyKey("n1"))
	require.NoError(t, a.Notify(ctx, "n1"))
	require.Equal(t, before+1, runs["notify"])
	require.NoError(t, b.Notify(ctx, "n1"))
	require.Equal(t, before+2, runs["notify"], "another tenant is another key")
	require.NotEqual(t, a.NotifyKey("n1"), b.NotifyKey("n1"))
	// The embedded implementation is still reachable explicitly.
	require.Error(t, a.UnimplementedWorkerServer.Notify(ctx, "n1"))
}

func TestKeyHelperScopeAndInvalid(t *testing.T) {
	ctx := runtime.WithScope(ctxWithStore(), "tenant-1")
	require.NoError(t, AuditIdem(ctx, nil, "x"))
	require.NotEqual(t, AuditIdemKey("x"), seen["Audit"], "the helper returns the unscoped key")
	require.NoError(t, AuditIdem(ctxWithStore(), nil, "x"))
	require.Equal(t, AuditIdemKey("x"), seen["Audit"])
}

func TestProtoAndBigFingerprint(t *testing.T) {
	ctx := ctxWithStore()
	before := runs["Pay"]
	req := wrapperspb.String("p1")
	require.NoError(t, PayIdem(ctx, nil, req, big.NewInt(100), Options{}))
	require.Equal(t, seen["Pay"], PayIdemKey(req))
	// Equal values in other pointers replay.
	require.NoError(t, PayIdem(ctx, http.DefaultClient, wrapperspb.String("p1"), big.NewInt(100), Options{Retries: 3}))
	require.Equal(t, before+1, runs["Pay"])
	// Another amount is another fingerprint.
	err := PayIdem(ctx, nil, req, big.NewInt(101), Options{})
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	// A nil amount differs from a zero one.
	require.ErrorIs(t, PayIdem(ctx, nil, req, nil, Options{}), runtime.ErrKeyReused)
	require.Equal(t, before+1, runs["Pay"])
}

type ident string

func (i ident) GetId() string { return string(i) }

func TestInterfaceGetterKey(t *testing.T) {
	ctx := ctxWithStore()
	before := runs["Track"]
	require.NoError(t, TrackIdem(ctx, ident("t1")))
	require.NoError(t, TrackIdem(ctx, ident("t1")))
	require.Equal(t, before+1, runs["Track"])
	require.Equal(t, seen["Track"], TrackIdemKey(ident("t1")))
	require.ErrorIs(t, TrackIdem(ctx, nil), runtime.ErrInvalidKey)
	require.Equal(t, "", TrackIdemKey(nil))
	require.Equal(t, before+1, runs["Track"])
}

func TestProtoResultReplays(t *testing.T) {
	ctx := ctxWithStore()
	before := runs["Quote"]
	first, err := QuoteIdem(ctx, "q1")
	require.NoError(t, err)
	again, err := QuoteIdem(ctx, "q1")
	require.NoError(t, err)
	require.Equal(t, before+1, runs["Quote"], "replayed, not run")
	require.True(t, proto.Equal(first, again), "%v != %v", first, again)
	require.Equal(t, "quote for q1", again.GetValue())
}

// Getters promoted through embedded pointers: a nil embedded pointer that
// must be read is a nil on the key path (ErrInvalidKey, nothing runs), not
// a panic; one passed as a getter's pointer receiver is the getter's to
// handle.
func TestPromotedGetterThroughNilEmbeddedPointer(t *testing.T) {
	ctx := ctxWithStore()
	before := runs["Route"]
	got, err := RouteIdem(ctx, &Envelope{Meta: &Meta{Region: "eu"}, Request: &Request{OrderId: "o9"}})
	require.NoError(t, err)
	require.Equal(t, "eu/o9", got)
	_, err = RouteIdem(ctx, &Envelope{Meta: &Meta{Region: "eu"}})
	require.NoError(t, err, "a nil *Request is read by its getter as \"\"")
	require.Equal(t, before+2, runs["Route"])
	_, err = RouteIdem(ctx, &Envelope{Request: &Request{OrderId: "o9"}})
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	_, err = RouteIdem(ctx, nil)
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
	require.Equal(t, before+2, runs["Route"])
	require.Equal(t, "", RouteIdemKey(&Envelope{}))
}
