package idemproto_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/idem-go/idem/runtime"
	_ "github.com/idem-go/idem/runtime/idemproto"
	"github.com/idem-go/idem/runtime/memstore"
)

// reply is what a gRPC handler's wrapped function typically returns: a
// message, plus messages nested in Go values.
type reply struct {
	Doc    *structpb.Struct
	Times  []*timestamppb.Timestamp
	ByName map[string]*wrapperspb.StringValue
	Nested *struct{ Inner *wrapperspb.Int64Value }
	Count  int
	At     time.Time
}

func call[R any](t *testing.T, ctx context.Context, spec *runtime.Spec, key string, fn func(context.Context) (R, error)) R {
	t.Helper()
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	got, err := runtime.Do(ctx, spec, &k, &f, fn)
	require.NoError(t, err)
	return got
}

func TestProtoResultsReplayEqual(t *testing.T) {
	require.NoError(t, runtime.CheckResultType(reflect.TypeFor[struct {
		R0 *structpb.Struct
		R1 reply
	}]()))
	doc, err := structpb.NewStruct(map[string]any{"order": "o-1", "amount": 12.5, "tags": []any{"a", "b"}, "paid": true})
	require.NoError(t, err)
	want := struct {
		R0 *structpb.Struct
		R1 reply
	}{
		R0: doc,
		R1: reply{
			Doc:    doc,
			Times:  []*timestamppb.Timestamp{timestamppb.New(time.Unix(1700000000, 42)), nil, {}},
			ByName: map[string]*wrapperspb.StringValue{"a": wrapperspb.String("x"), "empty": {}, "nil": nil},
			Nested: &struct{ Inner *wrapperspb.Int64Value }{wrapperspb.Int64(-7)},
			Count:  3,
			At:     time.Unix(1700000000, 0).UTC(),
		},
	}
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := &runtime.Spec{Namespace: "test/idemproto." + t.Name(), Version: 1}
	runs := 0
	fn := func(context.Context) (struct {
		R0 *structpb.Struct
		R1 reply
	}, error) {
		runs++
		return want, nil
	}
	first := call(t, ctx, spec, "k", fn)
	replayed := call(t, ctx, spec, "k", fn)
	require.Equal(t, 1, runs)
	require.True(t, proto.Equal(want.R0, first.R0))
	require.True(t, proto.Equal(want.R0, replayed.R0), "replayed %v", replayed.R0)
	r := replayed.R1
	require.True(t, proto.Equal(doc, r.Doc))
	require.Len(t, r.Times, 3)
	require.True(t, proto.Equal(want.R1.Times[0], r.Times[0]))
	require.Nil(t, r.Times[1], "a nil message replays nil")
	require.NotNil(t, r.Times[2], "an empty message replays non-nil")
	require.Len(t, r.ByName, 3)
	require.Equal(t, "x", r.ByName["a"].GetValue())
	require.NotNil(t, r.ByName["empty"])
	require.Nil(t, r.ByName["nil"])
	require.EqualValues(t, -7, r.Nested.Inner.GetValue())
	require.Equal(t, 3, r.Count)
	require.True(t, want.R1.At.Equal(r.At))
}

// A message by value (not through its pointer) is refused with the fix.
func TestProtoByValueIsRefused(t *testing.T) {
	err := runtime.CheckResultType(reflect.TypeFor[struct{ R0 []wrapperspb.StringValue }]())
	require.ErrorContains(t, err, "record *wrapperspb.StringValue")
}
