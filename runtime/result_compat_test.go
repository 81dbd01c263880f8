package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// The deploy cases: a record written by a binary whose wrapped function had
// result types v1 is replayed by the next binary, whose function has result
// types v2. Generated wrappers call runtime.Do with R = struct{ R0 T0; … }
// of the function's results, so the two binaries are two instantiations of
// Do over one store.

type receiptV1 struct {
	ID     int64
	Name   string
	Amount int32
	Lines  []lineV1
}

type lineV1 struct {
	SKU string
	Qty int32
}

var v1 = struct {
	R0 receiptV1
	R1 int32
}{receiptV1{ID: 7, Name: "charge", Amount: 1250, Lines: []lineV1{{"A-1", 2}}}, 3}

// resultStores are the stores the deploy cases run on.
func resultStores(t *testing.T) map[string]runtime.Store {
	sq, err := sqlitestore.Open(filepath.Join(t.TempDir(), "idem.db"))
	require.NoError(t, err)
	t.Cleanup(func() { sq.Close() })
	return map[string]runtime.Store{"memstore": memstore.New(), "sqlite": sq}
}

// call calls fn through runtime.Do under key, counting its runs.
func call[R any](ctx context.Context, spec *runtime.Spec, key string, runs *int, v R) (R, error) {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	f.String(key)
	return runtime.Do(ctx, spec, &k, &f, func(context.Context) (R, error) {
		*runs++
		return v, nil
	})
}

// deploy records v1 under a fresh key, then replays the key with R2 twice
// (the function never runs again) and returns the replay's result or error.
func deploy[R2 any](t *testing.T, s runtime.Store, fresh R2) (R2, error) {
	t.Helper()
	ctx := runtime.WithStore(context.Background(), s)
	spec := &runtime.Spec{Namespace: "test/deploy/" + t.Name(), Version: 1}
	runs := 0
	got1, err := call(ctx, spec, "order-1", &runs, v1)
	require.NoError(t, err)
	require.Equal(t, v1, got1)
	got2, err2 := call(ctx, spec, "order-1", &runs, fresh)
	_, err3 := call(ctx, spec, "order-1", &runs, fresh)
	assert.Equal(t, 1, runs, "the function ran again after the deploy")
	assert.Equal(t, err2 == nil, err3 == nil, "the replay is stable")
	return got2, err2
}

func TestResultsSurviveDeploys(t *testing.T) {
	for name, s := range resultStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("a field added to a result struct replays as its zero value", func(t *testing.T) {
				type receipt struct {
					ID       int64
					Name     string
					Amount   int32
					Currency string
					Refunded *time.Time
					Lines    []struct {
						SKU   string
						Qty   int32
						Price int64
					}
				}
				got, err := deploy(t, s, struct {
					R0 receipt
					R1 int32
				}{})
				require.NoError(t, err)
				assert.Equal(t, int64(7), got.R0.ID)
				assert.Equal(t, "charge", got.R0.Name)
				assert.Equal(t, int32(1250), got.R0.Amount)
				assert.Equal(t, "", got.R0.Currency)
				assert.Nil(t, got.R0.Refunded)
				require.Len(t, got.R0.Lines, 1)
				assert.Equal(t, "A-1", got.R0.Lines[0].SKU)
				assert.Zero(t, got.R0.Lines[0].Price)
				assert.Equal(t, int32(3), got.R1)
			})
			t.Run("a result added replays as its zero value", func(t *testing.T) {
				got, err := deploy(t, s, struct {
					R0 receiptV1
					R1 int32
					R2 []string
				}{R2: []string{"fresh"}})
				require.NoError(t, err)
				assert.Equal(t, v1.R0, got.R0)
				assert.Equal(t, v1.R1, got.R1)
				assert.Nil(t, got.R2)
			})
			t.Run("a field removed is ignored", func(t *testing.T) {
				got, err := deploy(t, s, struct {
					R0 struct{ ID int64 }
					R1 int32
				}{})
				require.NoError(t, err)
				assert.Equal(t, int64(7), got.R0.ID)
				assert.Equal(t, int32(3), got.R1)
			})
			t.Run("a result removed is ignored", func(t *testing.T) {
				got, err := deploy(t, s, struct{ R0 receiptV1 }{})
				require.NoError(t, err)
				assert.Equal(t, v1.R0, got.R0)
			})
			t.Run("int32 widened to int64, and a value made a pointer, replay", func(t *testing.T) {
				got, err := deploy(t, s, struct {
					R0 struct {
						ID     int64
						Amount *int64
					}
					R1 int64
				}{})
				require.NoError(t, err)
				require.NotNil(t, got.R0.Amount)
				assert.Equal(t, int64(1250), *got.R0.Amount)
				assert.Equal(t, int64(3), got.R1)
			})
			t.Run("a field narrowed replays while its value fits", func(t *testing.T) {
				got, err := deploy(t, s, struct {
					R0 struct{ Amount int16 }
					R1 int8
				}{})
				require.NoError(t, err)
				assert.Equal(t, int16(1250), got.R0.Amount)
				assert.Equal(t, int8(3), got.R1)
			})
			t.Run("a value that no longer fits is a decode error", func(t *testing.T) {
				got, err := deploy(t, s, struct {
					R0 struct{ Amount int8 }
				}{})
				require.Error(t, err)
				assert.ErrorContains(t, err, "1250 overflows int8")
				assert.Zero(t, got)
			})
			t.Run("a field whose type changed incompatibly is a decode error", func(t *testing.T) {
				got, err := deploy(t, s, struct {
					R0 struct {
						ID   int64
						Name struct{ First, Last string }
					}
					R1 int32
				}{})
				require.Error(t, err)
				assert.ErrorContains(t, err, "test/deploy/", "the error names the namespace")
				assert.ErrorContains(t, err, "a result's type changed incompatibly since the record was written")
				assert.ErrorContains(t, err, ": field R0 (", "the error names the result")
				assert.ErrorContains(t, err, "of type struct { First string; Last string }", "and the type of the field that changed")
				assert.Zero(t, got, "no half-decoded result")
			})
			t.Run("a result whose type changed incompatibly is a decode error", func(t *testing.T) {
				_, err := deploy(t, s, struct {
					R0 receiptV1
					R1 string
				}{})
				require.Error(t, err)
				assert.ErrorContains(t, err, ": field R1 (")
			})
		})
	}
}

// capturingStore keeps the result bytes every Complete writes.
type capturingStore struct {
	runtime.Store
	mu      sync.Mutex
	results [][]byte
}

func (c *capturingStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	c.mu.Lock()
	c.results = append(c.results, bytes.Clone(result))
	c.mu.Unlock()
	return c.Store.Complete(ctx, key, f, result, retainUntil)
}

// TestResultsEncryptedAtRest records through each store with result keys:
// the store never sees the results in clear, replays decrypt them, and a
// rotated key keeps replaying old records.
func TestResultsEncryptedAtRest(t *testing.T) {
	t.Cleanup(func() { require.NoError(t, runtime.SetResultKeys("", nil)) })
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	for name, s := range resultStores(t) {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, runtime.SetResultKeys("k1", map[string][]byte{"k1": k1}))
			cs := &capturingStore{Store: s}
			ctx := runtime.WithStore(context.Background(), cs)
			spec := &runtime.Spec{Namespace: "test/encrypted/" + name, Version: 1}
			runs := 0
			for i := range 2 {
				got, err := call(ctx, spec, fmt.Sprint("order-", i), &runs, v1)
				require.NoError(t, err)
				require.Equal(t, v1, got)
			}
			require.Len(t, cs.results, 2)
			for _, r := range cs.results {
				assert.NotContains(t, string(r), "charge")
				assert.NotContains(t, string(r), "SKU")
				assert.Contains(t, string(r), "k1", "the key id is in clear")
			}

			// Rotate; the old record replays, the new one is under k2.
			require.NoError(t, runtime.SetResultKeys("k2", map[string][]byte{"k1": k1, "k2": k2}))
			got, err := call(ctx, spec, "order-0", &runs, v1)
			require.NoError(t, err)
			assert.Equal(t, v1, got)
			_, err = call(ctx, spec, "order-2", &runs, v1)
			require.NoError(t, err)
			assert.Contains(t, string(cs.results[2]), "k2")

			// Without k1, its record is a clear error, and nothing runs.
			require.NoError(t, runtime.SetResultKeys("k2", map[string][]byte{"k2": k2}))
			_, err = call(ctx, spec, "order-1", &runs, v1)
			require.ErrorIs(t, err, runtime.ErrResultKeyUnknown)
			assert.ErrorContains(t, err, `key id "k1"`)
			assert.Equal(t, 3, runs, "the function ran once per key")
		})
	}
}
