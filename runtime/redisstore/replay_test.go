package redisstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/store"
)

// commands counts the commands a client sends, by name.
type commands struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *commands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.n[strings.ToLower(cmd.Name())]++
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (c *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		for _, cmd := range cmds {
			c.n[strings.ToLower(cmd.Name())]++
		}
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the counts so far and starts over.
func (c *commands) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// The replay of a key the store saw settled is one GET, no script; a key
// whose record is gone, released, expired or in progress again goes through
// the script and gets the claim's answer, never a stale replay.
func TestReplayIsOneGet(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	s := newStore(t, c)
	cmds := &commands{n: map[string]int{}}
	c.AddHook(cmds)

	key := newKey(t)
	a, err := s.Claim(ctx, request(t, key, base))
	require.NoError(t, err)
	require.True(t, a.Granted)
	require.NoError(t, s.Complete(ctx, key, store.Fence{Owner: a.Record.Owner, Token: a.Record.Token}, []byte("ran once"), base.Add(time.Hour)))
	cmds.take()

	res, err := s.Claim(ctx, request(t, key, base.Add(time.Second)))
	require.NoError(t, err)
	require.False(t, res.Granted)
	require.Equal(t, store.StateCompleted, res.Record.State)
	require.Equal(t, "ran once", string(res.Record.Result))
	require.Equal(t, map[string]int{"get": 1}, cmds.take(), "a replay of a settled key")

	// Past the retention the GET's record is not the answer: the script
	// grants afresh.
	res, err = s.Claim(ctx, request(t, key, base.Add(time.Hour)))
	require.NoError(t, err)
	require.True(t, res.Granted, "an expired record replayed")
	n := cmds.take()
	require.Equal(t, 1, n["get"])
	require.Equal(t, 1, n["evalsha"]+n["eval"], "the expired key's claim ran no script")

	// In progress again: another owner's claim is answered by the script.
	res2, err := s.Claim(ctx, request(t, key, base.Add(time.Hour+time.Second)))
	require.NoError(t, err)
	require.False(t, res2.Granted)
	require.Equal(t, store.StateInProgress, res2.Record.State)
	require.Equal(t, res.Record.Owner, res2.Record.Owner)

	// Deleted by an operator: the tombstone is no answer, the claim grants.
	require.NoError(t, s.Complete(ctx, key, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, []byte("again"), base.Add(3*time.Hour)))
	require.NoError(t, s.Delete(ctx, key))
	res, err = s.Claim(ctx, request(t, key, base.Add(2*time.Hour)))
	require.NoError(t, err)
	require.True(t, res.Granted, "a deleted key replayed")

	// A key this store has not seen settled is answered by the SET NX
	// GET that finds its record, without a script, and replays by GET
	// after.
	other := newKey(t)
	b, err := s.Claim(ctx, request(t, other, base))
	require.NoError(t, err)
	fresh := newStore(t, c, redisstore.WithPrefix(s.Prefix())) // another process
	require.NoError(t, s.Complete(ctx, other, store.Fence{Owner: b.Record.Owner, Token: b.Record.Token}, nil, base.Add(time.Hour)))
	_, err = fresh.Claim(ctx, request(t, newKey(t), base)) // its first use reads the epoch
	require.NoError(t, err)
	cmds.take()
	for i, want := range []map[string]int{
		{"set": 1, "evalsha": 1}, // SET NX GET, then the loss check, check.lua (see fresh.go)
		{"get": 1},
	} {
		res, err := fresh.Claim(ctx, request(t, other, base.Add(time.Second)))
		require.NoError(t, err)
		require.Equal(t, store.StateCompleted, res.Record.State)
		require.False(t, res.Granted)
		require.Equal(t, want, cmds.take(), "claim %d of a key completed elsewhere", i)
	}
}
