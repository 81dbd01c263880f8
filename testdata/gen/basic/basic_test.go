package basic

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// instantClock fires every timer at once, so that retry delays take no
// wall-clock time.
type instantClock struct{}

func (instantClock) Now() time.Time { return time.Now() }
func (instantClock) After(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Now()
	return c
}

func testCtx() context.Context {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	return runtime.WithClock(ctx, instantClock{})
}

func TestInsertEventRunsOncePerKey(t *testing.T) {
	ctx := testCtx()
	ev := Event{ID: "e1", At: time.Unix(1700000000, 0), Tags: []string{"a"}, Attrs: map[string]int{"x": 1, "y": 2}, Payload: []byte("p")}
	before := inserted

	id1, err := InsertEventIdem(ctx, nil, ev)
	require.NoError(t, err)
	id2, err := InsertEventIdem(ctx, nil, ev)
	require.NoError(t, err)
	require.Equal(t, id1, id2, "the second call replays the recorded result")
	require.Equal(t, before+1, inserted, "InsertEvent ran once")
	require.Len(t, keys[len(keys)-1], 64, "InsertEvent saw the key in its context")

	// Same key, other arguments: the fingerprint differs.
	ev2 := ev
	ev2.Tags = []string{"b"}
	_, err = InsertEventIdem(ctx, nil, ev2)
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Equal(t, before+1, inserted)

	// Map order never changes the key or fingerprint.
	ev3 := ev
	ev3.Attrs = map[string]int{"y": 2, "x": 1}
	id3, err := InsertEventIdem(ctx, nil, ev3)
	require.NoError(t, err)
	require.Equal(t, id1, id3)

	// Another key runs again.
	ev4 := ev
	ev4.ID = "e2"
	id4, err := InsertEventIdem(ctx, nil, ev4)
	require.NoError(t, err)
	require.NotEqual(t, id1, id4)
	require.Equal(t, before+2, inserted)
	require.NotEqual(t, keys[len(keys)-2], keys[len(keys)-1])
}

func TestFlakyRetriesNotAppliedErrors(t *testing.T) {
	ctx := testCtx()
	got, err := FlakyIdem(ctx, "x")
	require.NoError(t, err)
	require.Equal(t, "ok after x", got)
	require.Equal(t, 3, flaky, "two not-applied failures, then success")

	again, err := FlakyIdem(ctx, "x")
	require.NoError(t, err)
	require.Equal(t, got, again)
	require.Equal(t, 3, flaky, "replayed, not run")
	require.False(t, errors.Is(err, runtime.ErrKeyReused))
}

func TestClassifierMakesUnmarkedErrorsRetryable(t *testing.T) {
	ctx := testCtx()
	got, err := BusyIdem(ctx, "y")
	require.NoError(t, err)
	require.Equal(t, "done y", got)
	require.Equal(t, 3, busy, "two failures the classifier calls not applied, then success")
	require.NotNil(t, busyIdemSpec.Classify)
}

func TestQualifiedClassifier(t *testing.T) {
	got, err := CallAPIIdem(testCtx(), "z")
	require.NoError(t, err)
	require.Equal(t, 2, got, "the 503 was retried")
}

func TestClassifierNamedByImportPath(t *testing.T) {
	got, err := CallRPCIdem(testCtx(), "r")
	require.NoError(t, err)
	require.Equal(t, 2, got, "the Unavailable was retried")
}
