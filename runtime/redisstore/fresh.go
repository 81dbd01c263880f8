package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/idem-go/idem/runtime/internal/settled"
	"github.com/idem-go/idem/runtime/store"
)

// The claim of a key without a record (a first call) needs no claim
// script: it is a native SET NX GET, which writes the grant only where the
// key is absent and otherwise answers with the value it found, atomically.
// What the claim script adds, loss detection (see "Lost records" in the
// package doc), is then checked by check.lua, pipelined behind the SET on
// the same connection (one round trip): it reads the epoch key of the
// record's hash slot and Redis' evicted_keys count (INFO stats, searched
// with a plain find, cheaper than the claim script's pattern match).
//
// Why a check that runs after the write is as sound as the script's, which
// ran before it. Redis runs the commands of one connection in the order
// they were sent, each atomically, on one thread, so the check runs at t2,
// after the SET found the key absent at t1 (and wrote the grant). The grant
// is answered only when, at t2:
//
//   - the epoch key holds the store's epoch id. An epoch key that was lost
//     (FLUSHALL, FLUSHDB, a restart without persistence, the key evicted or
//     deleted) can only come back with another id: every epoch id is drawn
//     at random and written only where the key is missing. So the data set
//     was not lost between the epoch's creation and t2, hence not before t1;
//   - evicted_keys is not above the count the epoch recorded when it was
//     created. The count only grows while the server runs, so Redis evicted
//     nothing before t2, hence nothing before t1.
//
// So the record was absent at t1 because it never existed (or was
// natively expired or deleted, which are no losses), exactly what the
// script concludes. A check that fails withdraws the grant (unclaim.lua
// deletes it only while it is still the very value written) and fails the
// claim with store.ErrRecordsLost, as the script would have. An eviction
// between t1 and t2 fails this claim too, where the script would have let
// it pass; the next claim of an absent key fails anyway, so nothing is
// lost by failing closed a little early. A server without the check script
// (SCRIPT FLUSH, a restart) answers NOSCRIPT having run only the SET; the
// check is then run on its own, sent after the SET was answered, so it
// still runs after it.
//
// Measured alternatives (BenchmarkParallel, 8 workers, CPU per first call,
// client + server, on a loaded 2-core machine, so ±10%): the claim script
// with INFO inside, as before, ~85 µs; GET of the epoch and INFO stats
// as plain commands pipelined behind the SET, ~87 µs (less server CPU,
// but go-redis spends ~10 µs reading INFO's ~2 KB reply); this, ~83 µs; no
// eviction check at all, ~67 µs, the price of detection. Sharing one INFO
// among concurrent claims (a group check: a claim may use a read sent
// after its SET was answered; rounds run one at a time, and claims
// arriving during one wait for the next) shared each INFO between about
// two claims only at 8 workers, and its extra round trip and goroutine
// hand-off cost more client CPU (~54 µs against ~46) than the halved INFOs
// saved on the server.
//
// A key that has a value takes the script as before (one more round trip),
// unless the value is a completed or indeterminate record retained past
// the request's Now, which is the answer as it stands (see
// internal/settled): a record that exists is no loss.
//
// SET with both NX and GET needs Redis 7.0; an older server answers with a
// syntax error (having written nothing), and the store then claims with the
// script only.

// freshState is what a store learned about claiming with SET NX GET:
// unsupported is set once the server refused it.
type freshState struct {
	unsupported atomic.Bool
}

// claimFresh claims req's key (record key rk) with SET NX GET as described
// above. grant is the record a fresh grant writes, expiry its native expiry
// in milliseconds (an int64) or "" for none. It returns done false when the
// claim must run the claim script instead: the key has a value that is not
// answered as it stands, or the server cannot run the command here.
func (s *Store) claimFresh(ctx context.Context, req *store.ClaimRequest, rk string, grant []byte, expiry any) (res store.ClaimResult, done bool, err error) {
	if s.fresh.unsupported.Load() {
		return res, false, nil
	}
	id, err := s.init(ctx)
	if err != nil {
		return res, true, err
	}
	args := []any{"SET", rk, grant, "NX", "GET"}
	if ms, ok := expiry.(int64); ok {
		args = append(args, "PX", ms)
	}
	var set *redis.Cmd
	var check func() error
	if s.noEpoch && s.waitN == 0 {
		set = s.client.Do(ctx, args...)
	} else {
		node, err := s.master(ctx, rk)
		if err != nil {
			return res, true, err
		}
		pipe := node.Pipeline()
		set = pipe.Do(ctx, args...)
		ek := s.epochs.of(rk)
		var lost *redis.Cmd
		if !s.noEpoch {
			lost = s.sc.check.EvalSha(ctx, pipe, []string{ek}, id)
		}
		var wait *redis.Cmd
		if s.waitN > 0 {
			wait = pipe.Do(ctx, "WAIT", s.waitN, s.waitFor.Milliseconds())
		}
		_, _ = pipe.Exec(ctx)
		check = func() error {
			if lost != nil {
				err := lost.Err()
				if redis.HasErrorPrefix(err, "NOSCRIPT") {
					// The server lacks the script: run it now, which loads
					// it. Sent after the SET was answered, it still runs
					// after it.
					err = s.sc.check.Run(ctx, node, []string{ek}, id).Err()
				}
				if err != nil {
					return lostError(err)
				}
			}
			if wait != nil {
				return s.checkWait(wait)
			}
			return nil
		}
	}
	v, err := set.Text()
	switch {
	case errors.Is(err, redis.Nil):
		// Written: the key was absent.
		if check != nil {
			if err := check(); err != nil {
				if errors.Is(err, store.ErrRecordsLost) {
					// Best effort: a grant left behind is found and released
					// by the runtime, or passes with its lease.
					_ = s.sc.unclaim.Run(ctx, s.client, []string{rk}, grant).Err()
				}
				return res, true, err
			}
		}
		return store.ClaimResult{Granted: true, Record: grantRecord(req, 1)}, true, nil
	case err != nil:
		if redis.HasErrorPrefix(err, "ERR syntax error") {
			// Redis before 7.0: SET NX GET is refused and wrote nothing.
			s.fresh.unsupported.Store(true)
			return res, false, nil
		}
		if redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK") {
			// A slot on the move: the script's path follows redirections.
			return res, false, nil
		}
		return res, true, err
	}
	// The key has a value, which no check after it can make a loss; an
	// answer from it wrote nothing, so it waits for no replica either (as
	// the settled GET in Claim).
	rec, found, err := parseRecord(req.Key, v)
	if err != nil || !found {
		return res, false, nil // the script reports what it finds
	}
	if res, ok := settled.Answer(rec, *req); ok {
		s.settled.Add(req.Key)
		return res, true, nil
	}
	return res, false, nil
}

// master returns the client of the server that holds record key rk: the
// store's client, or the master of rk's slot on a cluster, so that the
// commands of one pipeline run on one connection in order.
func (s *Store) master(ctx context.Context, rk string) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, rk)
	case *redis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("pipelining on one connection needs a *redis.Client or *redis.ClusterClient, not a %T", s.client)
}
