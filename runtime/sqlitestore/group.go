package sqlitestore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/idem-go/idem/runtime/store"
)

// pendingClaim is a claim that must write, waiting for a group commit.
type pendingClaim struct {
	ctx  context.Context
	req  store.ClaimRequest
	res  store.ClaimResult
	err  error
	done chan struct{}
}

// claimGrouped writes a claim that must write, together with the other
// claims of this store that are waiting at the same time: one transaction,
// one commit, so one fsync for all of them (group commit). Each claim in
// the group is decided under the transaction's write lock, in the order
// the claims arrived (ClaimTx: a claim of the same key later in the group
// sees the earlier one's write), and none is answered before the commit.
//
// Whoever gets the writer slot starts a group in the background with every
// claim queued so far; each claimer waits for its answer or its context,
// whichever comes first. A claim whose context ends while its group is
// being written may still be committed, as a request in flight to a
// database server may: the runtime treats both alike.
func (s *Store) claimGrouped(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	// The group may still write the claim after the claimer's context
	// ended and it returned: the request's slice is the caller's then.
	req.FingerprintParts = bytes.Clone(req.FingerprintParts)
	p := &pendingClaim{ctx: ctx, req: req, done: make(chan struct{})}
	s.queueMu.Lock()
	s.queue = append(s.queue, p)
	s.queueMu.Unlock()
	for {
		select {
		case <-p.done:
			return s.groupSynced(ctx, p)
		default:
		}
		select {
		case <-p.done:
			return s.groupSynced(ctx, p)
		case <-ctx.Done():
			s.dequeue(p)
			return store.ClaimResult{}, ctx.Err()
		case s.writer <- struct{}{}:
			go func() {
				defer func() { <-s.writer }()
				s.commitGroup()
			}()
		}
	}
}

// groupSynced returns p's answer once its group's commit is on disk: the
// group committed under the write lock, and the fsync of the log runs
// after it released the lock, shared with every writer waiting for one
// (walSync).
func (s *Store) groupSynced(ctx context.Context, p *pendingClaim) (store.ClaimResult, error) {
	if p.err != nil {
		return p.res, p.err
	}
	if err := s.synced(ctx, ""); err != nil {
		return store.ClaimResult{}, err
	}
	return p.res, nil
}

// dequeue removes p from the queue, and reports whether it was still there.
func (s *Store) dequeue(p *pendingClaim) bool {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	for i, q := range s.queue {
		if q == p {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

// commitGroup takes the queued claims and writes them in one transaction,
// and answers them. The caller holds the writer slot. A claim whose context ended before the
// group started fails with its context's error and is not written; an
// error writing any claim, or committing, fails every claim of the group
// and writes none.
func (s *Store) commitGroup() {
	s.queueMu.Lock()
	group := s.queue
	s.queue = nil
	s.queueMu.Unlock()
	live := group[:0:0]
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			close(p.done)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	// The group waits for another process's lock until every claimer's
	// context has ended (one claimer's end does not fail the others).
	ctx, cancel := context.WithCancel(context.WithoutCancel(live[0].ctx))
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for _, p := range live {
			select {
			case <-p.ctx.Done():
			case <-stop:
				return
			}
		}
		cancel()
	}()
	err := s.writeGroup(ctx, live)
	for _, p := range live {
		if err != nil {
			p.res, p.err = store.ClaimResult{}, err
		}
		close(p.done)
	}
}

// writeGroup claims each of group in one transaction and commits it.
func (s *Store) writeGroup(ctx context.Context, group []*pendingClaim) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	s.groups.Add(1)
	for _, p := range group {
		// The first claim's first statement is a write that takes the
		// write lock (waiting for another process as ClaimTx does); the
		// rest run under it.
		if p.res, err = ClaimTx(ctx, tx, p.req); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %d claims: %w", len(group), err)
	}
	return nil
}
