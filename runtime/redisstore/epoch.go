package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/idem-go/idem/runtime/store"
)

// ErrUnsafeConfig is returned by the first operation of a store whose
// server is configured so that it can lose acknowledged records (no
// append-only file, appendfsync no, or an eviction policy), unless the
// store accepts the risk (WithUnsafeAcceptDataLoss, or the URL parameter
// unsafe=accept-data-loss).
var ErrUnsafeConfig = errors.New("redisstore: the Redis server can lose records")

// lostPrefix starts the error replies of the scripts that detected lost
// records (see prelude.lua).
const lostPrefix = "IDEMLOST "

// lostAdvice follows every error matching store.ErrRecordsLost.
const lostAdvice = "Redis lost records this store had written (a restart without persistence, " +
	"FLUSHALL or FLUSHDB, an eviction, or a failover to a replica that missed writes), so a key found " +
	"absent may be one that already ran; the store refuses to answer rather than run it again. " +
	"Configure Redis with appendonly yes, appendfsync everysec or always, and maxmemory-policy noeviction " +
	"(and, with replicas, the URL parameter wait=N); review which operations may have run; then start a new " +
	"epoch with (*redisstore.Store).ResetEpoch, or by deleting the epoch key(s) " +
	"(<prefix>epoch*), and restart every process that uses the store"

// lostError turns an IDEMLOST reply into an error matching
// store.ErrRecordsLost, and returns other errors as they are.
func lostError(err error) error {
	var re redis.Error
	if errors.As(err, &re) && strings.HasPrefix(re.Error(), lostPrefix) {
		return fmt.Errorf("%w: %s. %s", store.ErrRecordsLost, strings.TrimPrefix(re.Error(), lostPrefix), lostAdvice)
	}
	return err
}

// epochIDLen is the length of an epoch id: 16 random bytes in hex.
const epochIDLen = 32

// clusterSlots is the number of hash slots of Redis Cluster.
const clusterSlots = 16384

// epochKeys are the epoch keys of a store and how to find the one that
// shares a record key's hash slot: one key on a single server (or when
// the prefix has a hash tag, which puts every record in one slot), one key
// per hash slot on a cluster.
type epochKeys struct {
	all    []string
	bySlot bool
}

func newEpochKeys(prefix string, cluster bool) epochKeys {
	if !cluster || hasHashTag(prefix) {
		return epochKeys{all: []string{prefix + "epoch"}}
	}
	all := make([]string, clusterSlots)
	found := 0
	for i := 0; found < clusterSlots; i++ {
		k := prefix + "epoch{" + strconv.FormatInt(int64(i), 36) + "}"
		if s := hashSlot(k); all[s] == "" {
			all[s] = k
			found++
		}
	}
	return epochKeys{all: all, bySlot: true}
}

// of returns the epoch key of the record key rk.
func (e *epochKeys) of(rk string) string {
	if !e.bySlot {
		return e.all[0]
	}
	return e.all[hashSlot(rk)]
}

// hasHashTag reports whether every key that starts with prefix has its
// hash slot decided by a hash tag inside prefix.
func hasHashTag(prefix string) bool {
	i := strings.IndexByte(prefix, '{')
	return i >= 0 && strings.IndexByte(prefix[i+1:], '}') > 0
}

// hashSlot is Redis Cluster's HASH_SLOT of key: CRC16 (XMODEM) of the key,
// or of its hash tag, modulo 16384.
func hashSlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}

// establish reads the store's epoch, creating it where there is none yet,
// and returns its id. On a single server a missing epoch key means a new
// data set (a new server, or one that lost everything before this process
// opened the store: indistinguishable), and is created. On a cluster the
// epoch is created only when every slot lacks it; some slots with the
// epoch and others without mean that a node lost its data, which is
// store.ErrRecordsLost.
func (s *Store) establish(ctx context.Context) (string, error) {
	var b [epochIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	fresh := hex.EncodeToString(b[:])
	if !s.epochs.bySlot {
		v, err := s.sc.epoch.Run(ctx, s.client, s.epochs.all[:1], fresh, "1").Text()
		if err != nil {
			return "", err
		}
		return epochID(s.epochs.all[0], v)
	}
	vals, err := s.readEpochs(ctx)
	if err != nil {
		return "", err
	}
	missing, id := 0, ""
	for i, v := range vals {
		if v == "" {
			missing++
			continue
		}
		got, err := epochID(s.epochs.all[i], v)
		if err != nil {
			return "", err
		}
		if id != "" && got != id {
			return "", fmt.Errorf("%w: the epoch keys of the store disagree (%s and %s): some slots hold another data set. %s", store.ErrRecordsLost, id, got, lostAdvice)
		}
		id = got
	}
	switch {
	case missing == 0:
		return id, nil
	case missing < len(vals):
		return "", fmt.Errorf("%w: %d of %d hash slots lost the store epoch: a cluster node lost its data. %s", store.ErrRecordsLost, missing, len(vals), lostAdvice)
	}
	// A new data set: create the epoch in slot 0 first, so that concurrent
	// openers agree on the winner's id, then everywhere else with the
	// evicted_keys count of the master that holds each slot.
	v, err := s.sc.epoch.Run(ctx, s.client, s.epochs.all[:1], fresh, "1").Text()
	if err != nil {
		return "", err
	}
	if id, err = epochID(s.epochs.all[0], v); err != nil {
		return "", err
	}
	evicted, err := s.evictedBySlot(ctx)
	if err != nil {
		return "", err
	}
	pipe := s.client.Pipeline()
	set := make([]*redis.BoolCmd, len(s.epochs.all))
	for slot, k := range s.epochs.all {
		set[slot] = pipe.SetNX(ctx, k, id+" "+evicted[slot], 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return "", err
	}
	for _, c := range set {
		if !c.Val() {
			// A concurrent opener created some: check that all agree.
			return id, s.verifyEpoch(ctx, id)
		}
	}
	return id, nil
}

// evictedBySlot returns, for each hash slot of the cluster, the
// evicted_keys count of the master that holds it.
func (s *Store) evictedBySlot(ctx context.Context) ([]string, error) {
	c := s.client.(*redis.ClusterClient)
	var mu sync.Mutex
	byAddr := map[string]string{}
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		info, err := n.Info(ctx, "stats").Result()
		if err != nil {
			return err
		}
		count := "0"
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "evicted_keys:"); ok {
				count = v
			}
		}
		mu.Lock()
		byAddr[n.Options().Addr] = count
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	ranges, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	out := make([]string, clusterSlots)
	for _, r := range ranges {
		if len(r.Nodes) == 0 {
			continue
		}
		for slot := r.Start; slot <= r.End && slot < clusterSlots; slot++ {
			out[slot] = byAddr[r.Nodes[0].Addr]
		}
	}
	for slot, v := range out {
		if v == "" {
			return nil, fmt.Errorf("hash slot %d has no master the client knows; is the cluster complete?", slot)
		}
	}
	return out, nil
}

// readEpochs reads every epoch key in one pipeline and returns their
// values ("" for a missing key).
func (s *Store) readEpochs(ctx context.Context) ([]string, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(s.epochs.all))
	for i, k := range s.epochs.all {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	vals := make([]string, len(cmds))
	for i, c := range cmds {
		v, err := c.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

// verifyEpoch checks that every epoch key holds the epoch id, and returns
// an error matching store.ErrRecordsLost otherwise.
func (s *Store) verifyEpoch(ctx context.Context, id string) error {
	vals, err := s.readEpochs(ctx)
	if err != nil {
		return err
	}
	for i, v := range vals {
		if got, err := epochID(s.epochs.all[i], v); err != nil || got != id {
			return fmt.Errorf("%w: the store epoch key %s holds %q, not epoch %s. %s", store.ErrRecordsLost, s.epochs.all[i], v, id, lostAdvice)
		}
	}
	return nil
}

// epochID returns the id of the epoch value v read at key k.
func epochID(k, v string) (string, error) {
	if len(v) <= epochIDLen+1 || v[epochIDLen] != ' ' {
		return "", fmt.Errorf("the value at %s is not a store epoch; delete it or use another prefix", k)
	}
	return v[:epochIDLen], nil
}

// ResetEpoch starts a new epoch after an operator has dealt with lost
// records (see store.ErrRecordsLost and the package doc): it deletes the
// store's epoch keys and creates a new epoch that this store adopts.
// Every other process using the store keeps failing with
// store.ErrRecordsLost until it is restarted (or calls ResetEpoch too,
// which then starts yet another epoch: restart them instead). Calls that
// may have run before the loss will run again: decide that first.
func (s *Store) ResetEpoch(ctx context.Context) error {
	if s.noEpoch {
		return errors.New("redisstore: ResetEpoch: this store detects no loss (a Ring client): there is no epoch")
	}
	pipe := s.client.Pipeline()
	for _, k := range s.epochs.all {
		pipe.Del(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: reset the epoch: %w", err)
	}
	s.epoch.Store(nil)
	if _, err := s.init(ctx); err != nil {
		return fmt.Errorf("redisstore: reset the epoch: %w", err)
	}
	return nil
}

// checkConfig refuses a server (every master of a cluster) whose
// configuration can lose acknowledged records. It reads CONFIG GET, and,
// where CONFIG is disabled (managed services rename it), INFO, which
// shows whether the append-only file is on and the eviction policy but
// not appendfsync.
func (s *Store) checkConfig(ctx context.Context) error {
	check := func(ctx context.Context, c redis.Cmdable) error {
		var problems []string
		cfg := map[string]string{}
		for _, p := range []string{"appendonly", "appendfsync", "maxmemory-policy"} {
			m, err := c.ConfigGet(ctx, p).Result()
			if err != nil {
				cfg = nil
				break
			}
			cfg[p] = m[p]
		}
		if cfg == nil {
			info, err := c.Info(ctx, "persistence", "memory").Result()
			if err != nil {
				return fmt.Errorf("redisstore: neither CONFIG GET nor INFO answers, so the store cannot check that Redis keeps its records: %w", err)
			}
			cfg = map[string]string{"appendonly": "no", "appendfsync": "everysec"}
			for _, line := range strings.Split(info, "\n") {
				k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
				switch k {
				case "aof_enabled":
					if v == "1" {
						cfg["appendonly"] = "yes"
					}
				case "maxmemory_policy":
					cfg["maxmemory-policy"] = v
				}
			}
		}
		if cfg["appendonly"] != "yes" {
			problems = append(problems, "appendonly is "+strconv.Quote(cfg["appendonly"])+": a restart loses every record written since the last snapshot (set appendonly yes)")
		}
		if cfg["appendfsync"] == "no" {
			problems = append(problems, "appendfsync is \"no\": a crash loses the records the OS had not yet flushed, up to about 30 s (set appendfsync everysec, which loses at most about a second, or always, which loses none)")
		}
		if p := cfg["maxmemory-policy"]; p != "noeviction" {
			problems = append(problems, "maxmemory-policy is "+strconv.Quote(p)+": Redis evicts records under memory pressure (set maxmemory-policy noeviction)")
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: %s. A lost record lets a call that already ran run again. Fix the configuration (CONFIG SET, then CONFIG REWRITE or redis.conf), or accept the risk with the URL parameter %s=%s (redisstore.WithUnsafeAcceptDataLoss)",
				ErrUnsafeConfig, strings.Join(problems, "; "), unsafeParam, unsafeValue)
		}
		return nil
	}
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return check(ctx, n) })
	case *redis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return check(ctx, n) })
	}
	return check(ctx, s.client)
}
