package adopt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/examples/adopt"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemtest"
)

// mockMailer is the package's existing mock: it records every e-mail and
// fails the calls its test tells it to.
type mockMailer struct {
	sent []string
	fail []error // fail[i] is returned by the i-th call, if set
	keys []string
}

func (m *mockMailer) Send(ctx context.Context, to, subject string) (string, error) {
	i := len(m.sent)
	m.sent = append(m.sent, to+": "+subject)
	key, _ := runtime.KeyFrom(ctx)
	m.keys = append(m.keys, key)
	if i < len(m.fail) && m.fail[i] != nil {
		return "", m.fail[i]
	}
	return "msg-" + string(rune('a'+i)), nil
}

// The tests written for Confirm before it was wrapped run unchanged
// against ConfirmIdem under idemtest.Passthrough: every call reaches the
// mock, errors come back as Confirm returns them, and no store is needed.
func TestConfirmLogicThroughWrapper(t *testing.T) {
	t.Setenv("IDEM_STORE", "") // no store anywhere: Passthrough needs none
	ctx := idemtest.Passthrough(context.Background())
	down := errors.New("smtp down")
	m := &mockMailer{fail: []error{down}}
	o := adopt.Order{ID: "o1", Email: "a@example.com"}

	_, err := adopt.ConfirmIdem(ctx, m, o)
	require.ErrorIs(t, err, down)
	require.NotErrorIs(t, err, runtime.ErrIndeterminate, "no deduplication: the error is the function's own")
	require.Equal(t, "confirm order o1: smtp down", err.Error())

	id, err := adopt.ConfirmIdem(ctx, m, o)
	require.NoError(t, err)
	require.Equal(t, "msg-b", id)
	id, err = adopt.ConfirmIdem(ctx, m, o)
	require.NoError(t, err)
	require.Equal(t, "msg-c", id, "the same key runs again under Passthrough")
	require.Len(t, m.sent, 3)
	require.Len(t, m.keys[0], 64, "the function still sees its key")
	require.Equal(t, m.keys[0], m.keys[2])

	_, err = adopt.ConfirmIdem(ctx, m, adopt.Order{ID: "o2"})
	require.ErrorIs(t, err, adopt.ErrNoRecipient)
	require.Len(t, m.sent, 3)
}

// A new test checks what the wrapper adds, on a store of its own.
func TestConfirmOncePerOrder(t *testing.T) {
	t.Parallel()
	ctx := idemtest.Store(t)
	m := &mockMailer{}
	o := adopt.Order{ID: "o1", Email: "a@example.com"}
	for range 3 {
		id, err := adopt.ConfirmIdem(ctx, m, o)
		require.NoError(t, err)
		require.Equal(t, "msg-a", id, "later calls replay the first call's id")
	}
	require.Len(t, m.sent, 1, "one e-mail per order")

	_, err := adopt.ConfirmIdem(ctx, m, adopt.Order{ID: "o1", Email: "b@example.com"})
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Len(t, m.sent, 1)
}

// Each test's store is its own: the same order confirmed in another test
// (or in a parallel one) runs again.
func TestStoresAreIsolated(t *testing.T) {
	t.Parallel()
	o := adopt.Order{ID: "o1", Email: "a@example.com"}
	m := &mockMailer{}
	for range 2 {
		t.Run("test", func(t *testing.T) {
			_, err := adopt.ConfirmIdem(idemtest.Store(t), m, o)
			require.NoError(t, err)
		})
	}
	require.Len(t, m.sent, 2)
}

// Without a store (and without Passthrough) a wrapper never runs its
// function: what Passthrough changes is exactly that.
func TestWithoutStoreFailsClosed(t *testing.T) {
	t.Setenv("IDEM_STORE", "")
	m := &mockMailer{}
	_, err := adopt.ConfirmIdem(context.Background(), m, adopt.Order{ID: "o1", Email: "a@example.com"})
	require.ErrorIs(t, err, runtime.ErrNoStore)
	require.Empty(t, m.sent)
}
