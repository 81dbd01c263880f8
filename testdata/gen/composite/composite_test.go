package composite

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// instantClock fires every timer at once.
type instantClock struct{}

func (instantClock) Now() time.Time { return time.Now() }
func (instantClock) After(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Now()
	return c
}

func TestFulfilRunsEachStepOnce(t *testing.T) {
	ctx := runtime.WithClock(runtime.WithStore(context.Background(), memstore.New()), instantClock{})
	r1, err := FulfilIdem(ctx, "o1", 10)
	require.NoError(t, err)
	r2, err := FulfilIdem(ctx, "o1", 10)
	require.NoError(t, err)
	require.Equal(t, r1, r2)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, reserved, "the none step ran once although the operation was retried")
	require.Len(t, charges, 1, "one charge key")
	for _, n := range charges {
		require.Equal(t, 2, n, "the api step ran again with the same key after it failed")
	}
	require.Equal(t, 1, notified)
	require.Equal(t, runtime.EffectComposite, fulfilIdemSpec.Effect)
}
