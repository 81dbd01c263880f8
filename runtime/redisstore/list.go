package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/idem-go/idem/runtime/store"
)

var _ store.Lister = (*Store)(nil)

// List implements store.Lister. Redis keeps no order, so every page scans
// all of the store's keys (SCAN on every node), reads them with MGET and
// sorts the matches in memory: an operator's tool, not for a hot path.
func (s *Store) List(ctx context.Context, q store.ListQuery) (store.ListPage, error) {
	if err := ctx.Err(); err != nil {
		return store.ListPage{}, err
	}
	if _, _, err := store.ParseCursor(q.Cursor); err != nil {
		return store.ListPage{}, err
	}
	var (
		mu   sync.Mutex
		recs []store.Record
	)
	each := func(ctx context.Context, c *redis.Client) error {
		got, err := s.listNode(ctx, c, q)
		mu.Lock()
		recs = append(recs, got...)
		mu.Unlock()
		return err
	}
	var err error
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, each)
	case *redis.Ring:
		err = c.ForEachShard(ctx, each)
	default:
		recs, err = s.listNode(ctx, s.client, q)
	}
	if err != nil {
		return store.ListPage{}, fmt.Errorf("redisstore: list %q: %w", s.prefix, err)
	}
	return store.Page(recs, q)
}

// listNode reads the records of one server that match q.
func (s *Store) listNode(ctx context.Context, c redis.Cmdable, q store.ListQuery) ([]store.Record, error) {
	match := globEscape(s.prefix) + strings.Repeat("[0-9a-f]", 2*len(store.Key{}))
	var out []store.Record
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, match, int64(s.sweepBatch)).Result()
		if err != nil {
			return out, err
		}
		// One GET per key, pipelined: on a cluster the keys of one node
		// may still lie in different slots, which MGET refuses.
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			return out, err
		}
		for i, cmd := range cmds {
			v, err := cmd.(*redis.StringCmd).Result()
			if err == redis.Nil {
				continue // expired or deleted since the scan
			}
			if err != nil {
				return out, err
			}
			key, err := store.ParseKey(strings.TrimPrefix(keys[i], s.prefix))
			if err != nil {
				return out, err
			}
			rec, found, err := parseRecord(key, v)
			if err != nil {
				return out, fmt.Errorf("key %s: %w", key, err)
			}
			if found && q.Matches(rec) {
				out = append(out, rec)
			}
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}
