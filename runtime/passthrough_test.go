package runtime_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

func TestPassthroughRunsEveryCall(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	// Passthrough wins over a store set further out.
	ctx := runtime.WithPassthrough(runtime.WithStore(context.Background(), s))
	spec := newSpec(t, runtime.EffectNone, 5)
	k, f := encoders(spec, "k", "fp")
	boom := errors.New("boom")
	runs := 0
	var keys []string
	fn := func(ctx context.Context) (int, error) {
		runs++
		key, ok := runtime.KeyFrom(ctx)
		require.True(t, ok)
		keys = append(keys, key)
		if runs == 1 {
			return 7, boom
		}
		return runs, nil
	}
	got, err := runtime.Do(ctx, spec, k, f, fn)
	require.Same(t, boom, err, "the function's error, exactly as returned")
	require.Equal(t, 7, got, "results are returned with the error, as the function returned them")
	require.Equal(t, 1, runs, "no retry under passthrough")
	for i := 2; i <= 3; i++ {
		got, err := runtime.Do(ctx, spec, k, f, fn)
		require.NoError(t, err)
		require.Equal(t, i, got)
	}
	require.Equal(t, 3, runs)
	require.Equal(t, keys[0], keys[2])
	sum, err := k.Sum()
	require.NoError(t, err)
	require.Equal(t, sum.String(), keys[0], "KeyFrom gives the call's real key")
	_, err = s.Get(context.Background(), sum)
	require.Error(t, err, "nothing was recorded in the store")
	require.Zero(t, runtime.StatsFor(spec.Namespace).Executed)

	// A store set inside turns deduplication back on.
	inner := runtime.WithStore(ctx, s)
	for range 2 {
		got, err := runtime.Do(inner, spec, k, f, fn)
		require.NoError(t, err)
		require.Equal(t, 4, got)
	}
	require.Equal(t, 4, runs)
}

func TestPassthroughInvalidKeyStillFails(t *testing.T) {
	t.Parallel()
	spec := newSpec(t, runtime.EffectNone, 0)
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.Float64(math.NaN())
	f.Begin(spec.Namespace, spec.Version)
	_, err := runtime.Do(runtime.WithPassthrough(context.Background()), spec, &k, &f, func(context.Context) (int, error) {
		t.Fatal("ran with an invalid key")
		return 0, nil
	})
	require.ErrorIs(t, err, runtime.ErrInvalidKey)
}

func TestPassthroughDBEffect(t *testing.T) {
	for name, open := range ledgers(t) {
		t.Run(name, func(t *testing.T) {
			l := open(t)
			ctx := runtime.WithPassthrough(context.Background())
			spec := dbSpec(t, 3)
			for i := int64(1); i <= 2; i++ {
				got, err := l.insert(ctx, spec, "evt-1", 10, nil)
				require.NoError(t, err)
				require.Equal(t, i, got, "every call runs and commits")
			}
			require.Equal(t, 2, l.rows(t, "evt-1"))
			boom := errors.New("boom")
			_, err := l.insert(ctx, spec, "evt-1", 10, func(int64) error { return boom })
			require.Same(t, boom, err)
			require.Equal(t, 2, l.rows(t, "evt-1"), "a failure rolls back")
			require.EqualValues(t, 3, l.execs(), "not retried")
			require.Panics(t, func() {
				_, _ = l.insert(ctx, spec, "evt-1", 10, func(int64) error { panic("boom") })
			})
			require.Equal(t, 2, l.rows(t, "evt-1"), "a panic rolls back")
			if l, ok := l.(*sqlLedger); ok {
				require.Zero(t, l.db.Stats().InUse, "the panicked transaction's connection was returned")
			}
		})
	}
}

// Under passthrough the db effect needs no supported dialect: a test may
// hand the wrapper any database/sql handle (a mock driver).
func TestPassthroughDBEffectAnyDriver(t *testing.T) {
	t.Parallel()
	db := sql.OpenDB(fakeConnector{})
	defer db.Close()
	spec := dbSpec(t, 0)
	k, f := encoders(spec, "k", "fp")
	_, err := runtime.DoSQL(runtime.WithPassthrough(context.Background()), spec, db, k, f, func(context.Context, *sql.Tx) (int, error) {
		return 0, nil
	})
	require.ErrorContains(t, err, "fake driver: no connections", "the driver was used directly")
	require.NotContains(t, err.Error(), "modernc.org/sqlite", "no dialect detection")
}
