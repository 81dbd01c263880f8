package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

// The store runs unchanged on Redis Cluster: every script touches one key
// (no CROSSSLOT), and Sweep scans every master.
func TestConformanceCluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{testenv.RedisClusterAddr(t)}})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err(), "Redis Cluster at IDEM_TEST_REDIS_CLUSTER_ADDR")
	storetest.Run(t, func(t *testing.T) store.Store {
		prefix := freshPrefix(t, nil)
		t.Cleanup(func() {
			err := c.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
				deleteUnder(t, node, prefix)
				return nil
			})
			assert.NoError(t, err)
		})
		s, err := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithUnsafeAcceptDataLoss())
		require.NoError(t, err)
		return s
	})
}

// Sweep covers every shard of a ring.
func TestConformanceRing(t *testing.T) {
	o, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	r := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"only": o.Addr}, DB: o.DB})
	t.Cleanup(func() { _ = r.Close() })
	direct := newClient(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := redisstore.New(r, redisstore.WithPrefix(freshPrefix(t, direct)), redisstore.WithUnsafeAcceptDataLoss())
		require.NoError(t, err)
		return s
	})
}

// Sweep on a cluster counts across masters and leaves others' keys alone.
func TestSweepCluster(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{testenv.RedisClusterAddr(t)}})
	t.Cleanup(func() { _ = c.Close() })
	prefix := freshPrefix(t, nil)
	t.Cleanup(func() {
		_ = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			deleteUnder(t, node, prefix)
			return nil
		})
	})
	s, err := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithSweepBatch(3), redisstore.WithUnsafeAcceptDataLoss())
	require.NoError(t, err)
	for i := range 20 {
		req := request(t, newKey(t), base)
		if i%2 == 0 {
			req.RetainUntil = base.Add(10 * time.Hour)
		}
		r, err := s.Claim(ctx, req)
		require.NoError(t, err)
		require.NoError(t, s.Complete(ctx, req.Key, fenceOf(r.Record), nil, req.RetainUntil)) // Sweep keeps in-progress records
	}
	n, err := s.Sweep(ctx, base.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 10, n)
	n, err = s.Sweep(ctx, base.Add(20*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 10, n)
}
