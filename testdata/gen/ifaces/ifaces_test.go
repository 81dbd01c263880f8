package ifaces

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// mockRepo is the kind of mock existing tests have.
type mockRepo struct {
	inserts, tags, gets, closes, flushes int
	keys                                 []string
	tagged                               []string
	failTag                              int
}

func (m *mockRepo) Insert(ctx context.Context, o Order) (int64, error) {
	m.inserts++
	k, _ := runtime.KeyFrom(ctx)
	m.keys = append(m.keys, k)
	return int64(m.inserts), nil
}

func (m *mockRepo) Tag(ctx context.Context, id string, tags ...string) error {
	m.tags++
	if m.tags <= m.failTag {
		return runtime.NotApplied(errors.New("busy"))
	}
	m.tagged = append(m.tagged, tags...)
	return nil
}

func (m *mockRepo) Get(ctx context.Context, id string) (Order, error) {
	m.gets++
	return Order{ID: id}, nil
}

func (m *mockRepo) Count(kinds ...string) int { return len(kinds) }
func (m *mockRepo) Close() error              { m.closes++; return nil }

func ctx() context.Context { return runtime.WithStore(context.Background(), memstore.New()) }

func TestDecoratorRunsAnnotatedMethodsOnce(t *testing.T) {
	c := ctx()
	mock := &mockRepo{}
	var repo OrderRepo = NewOrderRepoIdem(mock)

	id1, err := repo.Insert(c, Order{ID: "o1", Amount: 5})
	require.NoError(t, err)
	id2, err := repo.Insert(c, Order{ID: "o1", Amount: 5})
	require.NoError(t, err)
	require.Equal(t, id1, id2, "replayed")
	require.Equal(t, 1, mock.inserts)
	require.Equal(t, mock.keys[0], NewOrderRepoIdem(nil).InsertKey(Order{ID: "o1"}), "the key helper gives the call's key")
	_, err = repo.Insert(c, Order{ID: "o1", Amount: 6})
	require.ErrorIs(t, err, runtime.ErrKeyReused)

	// Variadic, with retries of not-applied errors.
	mock.failTag = 1
	require.NoError(t, repo.Tag(c, "o1", "a", "b"))
	require.NoError(t, repo.Tag(c, "o1", "a", "b"))
	require.Equal(t, 2, mock.tags, "one failed attempt, one success, then a replay")
	require.Equal(t, []string{"a", "b"}, mock.tagged)

	// Unannotated methods delegate on every call.
	_, err = repo.Get(c, "o1")
	require.NoError(t, err)
	_, err = repo.Get(c, "o1")
	require.NoError(t, err)
	require.Equal(t, 2, mock.gets)
	require.Equal(t, 3, repo.Count("x", "y", "z"))
	require.NoError(t, repo.Close())
	require.Equal(t, 1, mock.closes)
}

type mockPub struct {
	published []int
	flushes   int
}

func (m *mockPub) Publish(ctx context.Context, topic, id string, msg int) error {
	m.published = append(m.published, msg)
	return nil
}
func (m *mockPub) Flush() { m.flushes++ }

func TestGenericDecorator(t *testing.T) {
	c := ctx()
	mock := &mockPub{}
	var pub Publisher[int] = NewPublisherIdem[int](mock)
	require.NoError(t, pub.Publish(c, "t", "m1", 7))
	require.NoError(t, pub.Publish(c, "t", "m1", 7))
	require.NoError(t, pub.Publish(c, "t", "m2", 8))
	require.Equal(t, []int{7, 8}, mock.published)
	pub.Flush()
	require.Equal(t, 1, mock.flushes)
	require.NotEqual(t, NewPublisherIdem[int](nil).PublishKey("t", "m1"), NewPublisherIdem[int](nil).PublishKey("t", "m2"))
}
