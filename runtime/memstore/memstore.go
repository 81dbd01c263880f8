// Package memstore is the reference in-memory implementation of store.Store
// and store.Sweeper: the protocol of package store written out plainly, safe
// for concurrent use by many goroutines of one process.
//
// It is not durable: every record is lost with the process. Use it in tests
// and for functions whose deduplication only needs to hold within one
// process; use a database-backed store (sqlitestore by default) otherwise.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// Store is an in-memory store.Store and store.Sweeper. The zero value is not
// usable; call New.
//
// A completed record's result is copied once, by Complete, and the stored
// slice is immutable from then on: Claim and Get return it without copying,
// so replaying a completed key allocates nothing. Callers must treat
// Record.Result as read-only, as package store requires.
//
// Every operation checks its context first and fails with the context's error
// when it is done, so cancellation behaves as it does for stores that do I/O.
type Store struct {
	mu   sync.RWMutex
	recs map[store.Key]*entry
}

// entry is what the map keeps for one key. A released or deleted record stays
// as a tombstone (removed set) until its retention passes, so that the next
// grant of the key still gets a larger token than every grant before it.
type entry struct {
	rec     store.Record
	removed bool
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Sweeper  = (*Store)(nil)
	_ store.InMemory = (*Store)(nil)
)

// InMemoryStore implements store.InMemory: no operation of s waits for
// anything but its own short lock.
func (s *Store) InMemoryStore() store.Store { return s }

// New returns an empty store.
func New() *Store {
	return &Store{recs: make(map[store.Key]*entry)}
}

// live reports whether e holds a record that Claim must respect at now: one
// that is neither removed nor past its retention.
// record returns the entry's record, or the zero record for no entry.
func (e *entry) record() store.Record {
	if e == nil {
		return store.Record{}
	}
	return e.rec
}

func (e *entry) live(now time.Time) bool {
	return e != nil && !e.removed && e.rec.RetainUntil.After(now)
}

// Claim implements store.Store. A claim of a completed or indeterminate key,
// or of one held under another owner's live lease, takes only a read lock and
// does not allocate.
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return store.ClaimResult{}, err
	}
	if err := store.CheckClaimTimes(req); err != nil {
		return store.ClaimResult{}, fmt.Errorf("memstore: claim key %s: %w", req.Key, err)
	}

	// Fast path: the answer is the existing record, unchanged.
	s.mu.RLock()
	e := s.recs[req.Key]
	res, change := store.Decide(e.record(), e != nil, e.live(req.Now), req)
	s.mu.RUnlock()
	if change == store.NoChange {
		return res, nil
	}

	// The request's parts belong to the caller: a grant keeps a copy,
	// made outside the lock.
	req.FingerprintParts = bytes.Clone(req.FingerprintParts)
	s.mu.Lock()
	defer s.mu.Unlock()
	e = s.recs[req.Key]
	res, change = store.Decide(e.record(), e != nil, e.live(req.Now), req)
	if change != store.NoChange {
		if e == nil {
			e = &entry{}
			s.recs[req.Key] = e
		}
		e.removed = false
		e.rec = res.Record
	}
	return res, nil
}

// held returns the record of key if it is in progress under exactly f, and
// otherwise an error matching store.ErrFenced. The caller holds s.mu.
func (s *Store) held(op string, key store.Key, f store.Fence) (*entry, error) {
	e := s.recs[key]
	if e == nil || e.removed || e.rec.State != store.StateInProgress ||
		e.rec.Owner != f.Owner || e.rec.Token != f.Token {
		return nil, fmt.Errorf("memstore: %s of key %s (owner %s, token %d): %w", op, key, f.Owner, f.Token, store.ErrFenced)
	}
	return e, nil
}

// Complete implements store.Store. It stores a copy of result.
func (s *Store) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("memstore: complete key %s: %w", key, err)
	}
	kept := append([]byte(nil), result...) // copied outside the lock
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.held("complete", key, f)
	if err != nil {
		return err
	}
	e.rec.State = store.StateCompleted
	e.rec.Result = kept
	e.rec.RetainUntil = retainUntil
	return nil
}

// Release implements store.Store. The record becomes a tombstone that Get
// and Claim treat as absent; it keeps the key's token sequence until its
// retention passes.
func (s *Store) Release(ctx context.Context, key store.Key, f store.Fence) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.held("release", key, f)
	if err != nil {
		return err
	}
	e.removed = true
	e.rec.Result = nil
	return nil
}

// MarkIndeterminate implements store.Store.
func (s *Store) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retainUntil time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("memstore: mark indeterminate key %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.held("mark indeterminate", key, f)
	if err != nil {
		return err
	}
	e.rec.State = store.StateIndeterminate
	e.rec.RetainUntil = retainUntil
	return nil
}

// Renew implements store.Store: it sets the lease and shifts the retention
// with it (store.ShiftRetention).
func (s *Store) Renew(ctx context.Context, key store.Key, f store.Fence, leaseUntil time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckTime("leaseUntil", leaseUntil); err != nil {
		return fmt.Errorf("memstore: renew key %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.held("renew", key, f)
	if err != nil {
		return err
	}
	e.rec.RetainUntil = store.ShiftRetention(e.rec, leaseUntil)
	e.rec.LeaseUntil = leaseUntil
	return nil
}

// Get implements store.Store. The returned Result is the store's own
// immutable slice: read-only.
func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.recs[key]
	if e == nil || e.removed {
		return store.Record{}, fmt.Errorf("memstore: get key %s: %w", key, store.ErrNotFound)
	}
	return e.rec, nil
}

// Delete implements store.Store. Like Release it leaves a tombstone that
// keeps the key's token sequence until the record's retention passes.
func (s *Store) Delete(ctx context.Context, key store.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.recs[key]; e != nil {
		e.removed = true
		e.rec.Result = nil
	}
	return nil
}

// Sweep implements store.Sweeper: it deletes every completed or
// indeterminate record, and every tombstone, whose retention is not after
// now, and returns how many records it deleted (tombstones are not records
// and are not counted). In-progress records are never swept.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := store.CheckTime("now", now); err != nil {
		return 0, fmt.Errorf("memstore: sweep: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.recs {
		if e.rec.RetainUntil.After(now) || (!e.removed && e.rec.State == store.StateInProgress) {
			continue
		}
		if !e.removed {
			n++
		}
		delete(s.recs, k)
	}
	return n, nil
}

// Close implements store.Store. It has nothing to release; the store stays
// usable.
func (s *Store) Close() error { return nil }
