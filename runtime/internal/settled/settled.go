// Package settled remembers, per store and process, the keys whose record
// the store last saw settled (completed or indeterminate), so that a claim
// of such a key, most likely a replay, can first try a plain read of the
// record (a GET, a prepared SELECT) instead of the claim's atomic write
// path. The hint is only ever a guess: the read is answered from only when
// the record it returns is settled and within its retention, which no
// claim could change; anything else (no record, a tombstone, an in-progress
// or expired record) goes through the claim as if there were no hint. A
// record that exists is never a silent re-run, so a read that skips a
// store's loss detection stays sound: loss matters only for a record that
// is absent, and an absent record takes the claim's path.
package settled

import (
	"sync"

	"github.com/idem-go/idem/runtime/store"
)

// DefaultMax is how many keys a Keys remembers before it forgets them all
// and starts over: 64 Ki keys, about 3 MB.
const DefaultMax = 1 << 16

// Keys is a bounded set of keys, safe for concurrent use. The zero value
// remembers up to DefaultMax keys.
type Keys struct {
	mu  sync.Mutex
	m   map[store.Key]struct{}
	Max int // 0 means DefaultMax
}

// Add remembers key.
func (s *Keys) Add(key store.Key) {
	s.mu.Lock()
	max := s.Max
	if max <= 0 {
		max = DefaultMax
	}
	if s.m == nil || len(s.m) >= max {
		s.m = make(map[store.Key]struct{})
	}
	s.m[key] = struct{}{}
	s.mu.Unlock()
}

// Has reports whether key is remembered.
func (s *Keys) Has(key store.Key) bool {
	s.mu.Lock()
	_, ok := s.m[key]
	s.mu.Unlock()
	return ok
}

// Forget removes key.
func (s *Keys) Forget(key store.Key) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// Answer returns the claim result a store may give for req from rec, a
// record it has just read without a claim, and true; or false when the
// claim must take its ordinary path: rec is not settled (completed or
// indeterminate) or not within its retention at req.Now. It applies
// store.Decide, so the answer is the one the claim would give.
func Answer(rec store.Record, req store.ClaimRequest) (store.ClaimResult, bool) {
	if rec.State != store.StateCompleted && rec.State != store.StateIndeterminate {
		return store.ClaimResult{}, false
	}
	res, change := store.Decide(rec, true, rec.RetainUntil.After(req.Now), req)
	if change != store.NoChange || res.Granted {
		return store.ClaimResult{}, false
	}
	return res, true
}
