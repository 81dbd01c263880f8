package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

var (
	errBusy     = errors.New("upstream busy: request refused")
	errRejected = errors.New("upstream rejected the request")
)

// classifyUpstream is a function's own classifier: it knows errBusy means
// the request was refused, errRejected that it can never succeed.
func classifyUpstream(err error) runtime.Class {
	switch {
	case errors.Is(err, errBusy):
		return runtime.ClassNotApplied
	case errors.Is(err, errRejected):
		return runtime.ClassPermanent
	}
	return runtime.ClassDefault
}

func TestSpecClassifierRetriesWhatItSaysDidNotApply(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 3)
	spec.Classify = classifyUpstream
	c := &counted[int64]{fn: func(_ context.Context, n int64) (int64, error) {
		if n < 3 {
			return 0, fmt.Errorf("send: %w", errBusy)
		}
		return n, nil
	}}
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.EqualValues(t, 3, got, "retried under effect none: the classifier said not applied")

	// The last attempt failing not-applied releases the claim: the key
	// runs again later instead of becoming indeterminate.
	spec2 := newSpec(t, runtime.EffectNone, 2)
	spec2.Classify = classifyUpstream
	c2 := &counted[int64]{fn: func(_ context.Context, n int64) (int64, error) {
		if n <= 2 {
			return 0, errBusy
		}
		return n, nil
	}}
	_, err = do(ctx, spec2, "k", "fp", c2.call)
	require.ErrorIs(t, err, errBusy)
	require.NotErrorIs(t, err, runtime.ErrIndeterminate)
	got, err = do(ctx, spec2, "k", "fp", c2.call)
	require.NoError(t, err)
	require.EqualValues(t, 3, got)
}

func TestSpecClassifierPermanentStopsRetries(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectAPI, 5)
	spec.Classify = classifyUpstream
	c := &counted[int]{fn: func(context.Context, int64) (int, error) { return 0, errRejected }}
	_, err := do(ctx, spec, "k", "fp", c.call)
	require.ErrorIs(t, err, errRejected)
	require.EqualValues(t, 1, c.n.Load(), "an indeterminate error would be retried under api; permanent is not")
	_, err = do(ctx, spec, "k", "fp", c.call)
	require.ErrorIs(t, err, errRejected)
	require.EqualValues(t, 2, c.n.Load(), "permanent released the claim")
}

// Errors the classifier has no opinion on keep the built-in rules: under
// effect none an unmarked error is indeterminate.
func TestClassifierDefaultKeepsBuiltInRules(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 3)
	spec.Classify = classifyUpstream
	other := errors.New("connection reset")
	c := &counted[int]{fn: func(context.Context, int64) (int, error) { return 0, other }}
	_, err := do(ctx, spec, "k", "fp", c.call)
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	require.EqualValues(t, 1, c.n.Load())
}

// No classifier can make a wrapped call that ran and could not record its
// outcome retryable, and explicit marks win over the classifier.
func TestClassifierCannotOverrideAppliedOrMarks(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectAPI, 5)
	spec.Classify = func(error) runtime.Class { return runtime.ClassNotApplied }
	for _, inner := range []error{runtime.ErrNotRecorded, runtime.ErrLeaseLost} {
		c := &counted[int]{fn: func(context.Context, int64) (int, error) { return 0, fmt.Errorf("inner call: %w", inner) }}
		_, err := do(ctx, spec, inner.Error(), "fp", c.call)
		require.ErrorIs(t, err, inner)
		require.EqualValues(t, 1, c.n.Load(), "%v is never retried", inner)
	}
	spec.Classify = func(error) runtime.Class { return runtime.ClassIndeterminate }
	c := &counted[int]{fn: func(_ context.Context, n int64) (int, error) {
		if n == 1 {
			return 0, runtime.Permanent(errBusy)
		}
		return 1, nil
	}}
	_, err := do(ctx, spec, "marked", "fp", c.call)
	require.ErrorIs(t, err, errBusy)
	require.EqualValues(t, 1, c.n.Load(), "the Permanent mark wins over the classifier")
}

func TestRegisterClassifierByNamespace(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 3)
	runtime.RegisterClassifier(spec.Namespace, classifyUpstream)
	require.Panics(t, func() { runtime.RegisterClassifier(spec.Namespace, classifyUpstream) })
	require.Panics(t, func() { runtime.RegisterClassifier(spec.Namespace+"x", nil) })
	c := &counted[int64]{fn: func(_ context.Context, n int64) (int64, error) {
		if n < 2 {
			return 0, errBusy
		}
		return n, nil
	}}
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.EqualValues(t, 2, got)

	// A Spec's own classifier is asked first; the registered one when it
	// has no opinion.
	spec.Classify = func(err error) runtime.Class {
		if errors.Is(err, errBusy) {
			return runtime.ClassPermanent
		}
		return runtime.ClassDefault
	}
	c2 := &counted[int64]{fn: func(context.Context, int64) (int64, error) { return 0, errBusy }}
	_, err = do(ctx, spec, "k2", "fp", c2.call)
	require.ErrorIs(t, err, errBusy)
	require.EqualValues(t, 1, c2.n.Load())
}

func TestClassifiersCombine(t *testing.T) {
	t.Parallel()
	always := func(c runtime.Class) func(error) runtime.Class { return func(error) runtime.Class { return c } }
	f := runtime.Classifiers(classifyUpstream, always(runtime.ClassIndeterminate))
	require.Equal(t, runtime.ClassNotApplied, f(errBusy))
	require.Equal(t, runtime.ClassPermanent, f(errRejected))
	require.Equal(t, runtime.ClassIndeterminate, f(errors.New("x")))
	require.Equal(t, runtime.ClassDefault, runtime.Classifiers()(errBusy))
	require.Equal(t, "not applied", runtime.ClassNotApplied.String())
}

func TestClassifierRetriesDBEffect(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			spec := dbSpec(t, 3)
			spec.Classify = classifyUpstream
			got, err := l.insert(context.Background(), spec, "evt", 1, func(n int64) error {
				if n < 3 {
					return errBusy
				}
				return nil
			})
			require.NoError(t, err)
			require.EqualValues(t, 1, got, "the failed attempts rolled back")
			require.EqualValues(t, 3, l.execs())
			require.Equal(t, 1, l.rows(t, "evt"))
		})
	}
}
