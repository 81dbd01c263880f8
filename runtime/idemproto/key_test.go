package idemproto_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemproto"
)

func key(t *testing.T, write func(e *runtime.Encoder)) string {
	t.Helper()
	var e runtime.Encoder
	e.Begin("ns", 1)
	write(&e)
	k := e.KeyString()
	require.Len(t, k, 64)
	return k
}

func TestEncodeKeyIsDeterministic(t *testing.T) {
	fields := map[string]any{}
	for _, c := range "abcdefghijklmnopqrstuvwxyz" {
		fields[string(c)] = float64(c)
	}
	s1, err := structpb.NewStruct(fields)
	require.NoError(t, err)
	first := key(t, func(e *runtime.Encoder) { idemproto.EncodeKey(e, s1) })
	for i := 0; i < 20; i++ { // map order varies between marshals without Deterministic
		s2, err := structpb.NewStruct(fields)
		require.NoError(t, err)
		require.Equal(t, first, key(t, func(e *runtime.Encoder) { idemproto.EncodeKey(e, s2) }))
	}
	fields["a"] = 0.5
	s3, err := structpb.NewStruct(fields)
	require.NoError(t, err)
	require.NotEqual(t, first, key(t, func(e *runtime.Encoder) { idemproto.EncodeKey(e, s3) }))

	require.NotEqual(t,
		key(t, func(e *runtime.Encoder) { idemproto.EncodeKey(e, wrapperspb.String("a")) }),
		key(t, func(e *runtime.Encoder) { idemproto.EncodeKey(e, wrapperspb.String("b")) }))
}
