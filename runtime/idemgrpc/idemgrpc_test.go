package idemgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemgrpc"
	"github.com/idem-go/idem/runtime/memstore"
)

func TestClassifyCodes(t *testing.T) {
	want := map[codes.Code]runtime.Class{
		codes.OK:                 runtime.ClassDefault,
		codes.Unavailable:        runtime.ClassNotApplied,
		codes.ResourceExhausted:  runtime.ClassNotApplied,
		codes.InvalidArgument:    runtime.ClassPermanent,
		codes.FailedPrecondition: runtime.ClassPermanent,
		codes.NotFound:           runtime.ClassPermanent,
		codes.AlreadyExists:      runtime.ClassPermanent,
		codes.PermissionDenied:   runtime.ClassPermanent,
		codes.Unauthenticated:    runtime.ClassPermanent,
		codes.Unimplemented:      runtime.ClassPermanent,
		codes.OutOfRange:         runtime.ClassPermanent,
		codes.DeadlineExceeded:   runtime.ClassIndeterminate,
		codes.Internal:           runtime.ClassIndeterminate,
		codes.Unknown:            runtime.ClassIndeterminate,
		codes.Canceled:           runtime.ClassIndeterminate,
		codes.Aborted:            runtime.ClassIndeterminate,
		codes.DataLoss:           runtime.ClassIndeterminate,
	}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		w, ok := want[c]
		require.True(t, ok, "code %v has no expectation", c)
		err := fmt.Errorf("charge: %w", status.Error(c, "x"))
		require.Equal(t, w, idemgrpc.Classify(err), "code %v (wrapped)", c)
	}
	require.Equal(t, runtime.ClassDefault, idemgrpc.Classify(nil))
	require.Equal(t, runtime.ClassDefault, idemgrpc.Classify(errors.New("no status")))
}

// Through the runtime: Unavailable is retried under effect none, and
// InvalidArgument is not retried under effect api.
func TestClassifyInWrappedCalls(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	run := func(spec *runtime.Spec, key string, fn func(context.Context) (int, error)) (int, error) {
		var k, f runtime.Encoder
		k.Begin(spec.Namespace, 1)
		k.String(key)
		f.Begin(spec.Namespace, 1)
		return runtime.Do(ctx, spec, &k, &f, fn)
	}
	spec := &runtime.Spec{Namespace: "test/grpc/none", Version: 1, Effect: runtime.EffectNone,
		Retry: runtime.RetryPolicy{Attempts: 3, Delay: 1, MaxDelay: 1}, Classify: idemgrpc.Classify}
	n := 0
	got, err := run(spec, "a", func(context.Context) (int, error) {
		n++
		if n < 3 {
			return 0, status.Error(codes.Unavailable, "try later")
		}
		return n, nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, got)

	spec = &runtime.Spec{Namespace: "test/grpc/api", Version: 1, Effect: runtime.EffectAPI,
		Retry: runtime.RetryPolicy{Attempts: 3, Delay: 1, MaxDelay: 1}, Classify: idemgrpc.Classify}
	n = 0
	_, err = run(spec, "a", func(context.Context) (int, error) {
		n++
		return 0, status.Error(codes.InvalidArgument, "bad amount")
	})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.Equal(t, 1, n, "permanent: not retried even under api")

	spec = &runtime.Spec{Namespace: "test/grpc/none2", Version: 1, Effect: runtime.EffectNone,
		Retry: runtime.RetryPolicy{Attempts: 3, Delay: 1, MaxDelay: 1}, Classify: idemgrpc.Classify}
	n = 0
	_, err = run(spec, "a", func(context.Context) (int, error) {
		n++
		return 0, status.Error(codes.Internal, "crashed mid-way")
	})
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	require.Equal(t, 1, n)
}
