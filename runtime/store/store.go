// Package store defines the contract between the idem runtime and a durable
// record store: the record a key owns, the claim protocol, and the fencing
// rules that keep a stale holder from overwriting its successor.
//
// A store is small on purpose: a user can implement it for another database
// and prove it with the conformance suite in
// github.com/idem-go/idem/runtime/storetest.
//
// # The protocol
//
// A caller claims a key with [Store.Claim] in one round trip. The claim either
// grants the key (the caller now holds an in-progress record with a fencing
// token that is larger than every token granted for that key while the
// store kept any trace of it: after Delete or Sweep a store may start the
// key's tokens afresh, which stays safe because every write is conditional
// on the owner too, and owners are unique per call), or
// returns the record that already exists: completed (replay it), indeterminate
// (the effect may have happened; do not run), or in progress under another
// live owner (wait). Every later write by the holder ([Store.Complete],
// [Store.Release], [Store.MarkIndeterminate], [Store.Renew]) names its
// [Fence] (owner and token) and fails with [ErrFenced] unless the record still
// carries exactly that fence and is still in progress.
//
// Times are the caller's: stores compare the Now, LeaseUntil and RetainUntil
// values they are given and never read their own clock, so a fake clock in a
// test drives every store alike.
//
// # Rules every store keeps
//
//   - A live holder never loses its key: [Store.Renew] sets LeaseUntil and
//     shifts RetainUntil with it ([ShiftRetention]), and [Sweeper.Sweep]
//     never deletes an in-progress record, whatever its times (its holder
//     may be alive under another clock). An in-progress record past its
//     retention is replaced by the next claim or removed by Delete.
//   - A dead holder's key stays blocked after its last sign of life: when
//     a renewal or a same-owner retried claim moves the lease forward,
//     RetainUntil moves by the same amount (and at least to the new
//     lease), so the gap between lease and retention that the grant set is
//     kept. The runtime grants with RetainUntil = LeaseUntil + TTL, so a
//     holder that renews past its TTL and dies leaves a record that every
//     claim within a TTL after its last lease marks indeterminate (or takes
//     over, with Takeover), instead of one that expires with its lease and
//     is granted afresh. [ShiftRetention] is the rule.
//   - A same-owner retried claim never shortens the lease (see
//     [ClaimResult.Granted]); [Decide] applies the rule.
//   - A takeover keeps the record's CreatedAt.
//   - Times: every time a store is given is the zero time.Time or lies
//     between [MinTime] and [MaxTime]; any other is refused with an error
//     matching [ErrTimeRange] before anything is written ([CheckTime]).
//   - A store that detects that it lost records (a Redis restart without
//     persistence, an eviction, a FLUSHALL, a failover to a replica that
//     missed writes) fails every operation it can no longer answer safely
//     with an error matching [ErrRecordsLost], never with a fresh grant.
package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Key is the SHA-256 digest that identifies one logical operation: the
// function's namespace, its key version and the canonical encoding of its key
// arguments.
type Key [32]byte

// String returns the key as 64 lowercase hexadecimal characters: the printable
// form that wrapped functions pass downstream (for example as an
// Idempotency-Key header) and that text-keyed stores persist.
func (k Key) String() string {
	var b [2 * len(k)]byte
	hex.Encode(b[:], k[:])
	return string(b[:])
}

// ParseKey parses the 64-character hexadecimal form returned by [Key.String].
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*len(k) {
		return k, errors.New("idem: a key is 64 hexadecimal characters")
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, errors.New("idem: a key is 64 hexadecimal characters")
	}
	return k, nil
}

// Fingerprint is the SHA-256 digest of the arguments that must be equal when a
// key is used again. A record whose fingerprint differs from the caller's
// belongs to a different request that happened to derive the same key.
type Fingerprint [32]byte

// Owner identifies one wrapped call (one invocation of a generated wrapper,
// across all of its attempts). It lets a store recognise a claim that
// committed but whose answer was lost: the retried claim carries the same
// owner and is granted the same record again.
type Owner [16]byte

// String returns the owner as 32 lowercase hexadecimal characters.
func (o Owner) String() string { return hex.EncodeToString(o[:]) }

// State is where a record is in its life.
type State uint8

const (
	// StateInProgress means an owner holds the key and may be running the
	// function; its lease says until when the holder is presumed alive.
	StateInProgress State = 1
	// StateCompleted means the function succeeded and Result holds its
	// encoded results, which later callers replay.
	StateCompleted State = 2
	// StateIndeterminate means an attempt failed (or its holder died) in a
	// way after which the effect may or may not have happened. The key stays
	// blocked until its retention passes or an operator deletes the record.
	StateIndeterminate State = 3
)

// String returns "in_progress", "completed", "indeterminate" or "unknown(N)".
func (s State) String() string {
	switch s {
	case StateInProgress:
		return "in_progress"
	case StateCompleted:
		return "completed"
	case StateIndeterminate:
		return "indeterminate"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// Record is everything a store keeps for one key.
type Record struct {
	Key         Key
	Namespace   string // the wrapped function's namespace, for operators
	Fingerprint Fingerprint
	State       State
	Owner       Owner     // the current or last holder
	Token       int64     // fencing token of the current or last grant
	LeaseUntil  time.Time // in progress: the holder is presumed dead after this
	RetainUntil time.Time // after this the record is expired: it no longer blocks or replays
	Result      []byte    // completed: the encoded results; read-only for callers
	Attempts    int       // how many times the key was granted (first claim and takeovers)
	CreatedAt   time.Time // the Now of the claim that created the record
	UpdatedAt   time.Time // the Now of the last claim that changed the record (later writes carry no time)
	// FingerprintParts is the ClaimRequest.FingerprintParts of the grant
	// (or takeover) that wrote the record: opaque bytes (short digests of
	// each part of the fingerprint, in a format the runtime defines and
	// versions) that let the runtime say which arguments differ when a
	// key is reused. Stores keep it through Renew, Complete,
	// MarkIndeterminate and same-owner retried claims and return it with
	// every record; it is empty when the claim had none, or when the
	// store has nowhere to keep it (a table created before the column
	// existed). Read-only for callers.
	FingerprintParts []byte
}

// Fence names the holder of a grant. Every write after the claim is
// conditional on it.
type Fence struct {
	Owner Owner
	Token int64
}

// ClaimRequest asks for a key.
type ClaimRequest struct {
	Key         Key
	Namespace   string
	Fingerprint Fingerprint
	Owner       Owner
	// Now is the caller's clock. A record whose RetainUntil is not after Now
	// is expired and is treated as absent (it is replaced, keeping its token
	// sequence increasing where the store still has it).
	Now time.Time
	// LeaseUntil is the lease of a new grant.
	LeaseUntil time.Time
	// RetainUntil is the retention of a new grant. It is kept when the
	// record later completes or becomes indeterminate, unless the write
	// names another.
	RetainUntil time.Time
	// FingerprintParts are opaque bytes that the runtime derives from the
	// fingerprint's parts (see Record.FingerprintParts). A store writes
	// them on a new grant and on a takeover, keeps the record's own
	// otherwise (a same-owner retried claim, a claim answered with the
	// existing record), and never interprets them. The store must not
	// retain the slice: it belongs to the caller once Claim returns.
	FingerprintParts []byte
	// Takeover decides what happens to an in-progress record of another
	// owner whose lease is not after Now: true grants it to this owner with
	// a new token (the effect is deduplicated downstream, so running again
	// is safe), but only when the record's fingerprint equals the
	// request's, so that a takeover never hides a key reused with other
	// arguments (otherwise the record is returned unchanged, and the caller
	// reports the mismatch); false marks it indeterminate and returns it.
	Takeover bool
}

// ClaimResult is the answer to a claim.
type ClaimResult struct {
	// Granted reports that the caller holds the key: Record is the
	// in-progress record, and Record.Owner and Record.Token form its fence.
	// A retried claim by the same owner whose first answer was lost is
	// granted again with the same token, whether or not its lease has
	// passed, as long as the record is retained. Such a claim never
	// shortens the lease: LeaseUntil becomes the later of the record's and
	// the retry's (and UpdatedAt the retry's Now only when it moved), and
	// RetainUntil shifts with a lease that moves, as by Renew
	// ([ShiftRetention]); the retry's own RetainUntil is not used.
	Granted bool
	// TookOver reports a grant that replaced another owner's expired lease.
	TookOver bool
	// Record is the granted record, or, when not granted, the record that
	// exists: completed, indeterminate (possibly made so by this claim, when
	// Takeover was false and the holder's lease had passed), or in progress
	// under another owner whose lease is still live.
	Record Record
}

// Store keeps idempotency records durably. Implementations must be safe for
// concurrent use by many goroutines and, where the backing database is
// shared, by many processes.
type Store interface {
	// Claim grants the key or returns the record that holds it, atomically,
	// in one round trip to the backing database.
	Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error)
	// Complete records result, moves the record to StateCompleted and sets
	// its retention to retainUntil. It fails with ErrFenced unless the
	// record is in progress under exactly this fence.
	Complete(ctx context.Context, key Key, f Fence, result []byte, retainUntil time.Time) error
	// Release removes an in-progress record held under this fence, so that
	// a later call may run the function again. It fails with ErrFenced
	// otherwise.
	Release(ctx context.Context, key Key, f Fence) error
	// MarkIndeterminate moves an in-progress record held under this fence to
	// StateIndeterminate, retained until retainUntil. It fails with
	// ErrFenced otherwise.
	MarkIndeterminate(ctx context.Context, key Key, f Fence, retainUntil time.Time) error
	// Renew sets the lease of an in-progress record held under this fence
	// to leaseUntil and sets its RetainUntil to
	// ShiftRetention(record, leaseUntil): a lease that moves forward moves
	// the retention by as much (and at least to leaseUntil), so that a
	// live, renewing holder's record never expires, and a dead holder's
	// record stays retained for the gap the grant set after its last
	// lease. The retention never moves back. It fails with ErrFenced
	// otherwise.
	Renew(ctx context.Context, key Key, f Fence, leaseUntil time.Time) error
	// Get returns the record of key whatever its state or retention, or an
	// error matching ErrNotFound.
	Get(ctx context.Context, key Key) (Record, error)
	// Delete removes the record of key whatever its state: the operator's
	// way to resolve an indeterminate key. Deleting an absent key is not an
	// error.
	Delete(ctx context.Context, key Key) error
	// Close releases the store's connections. Stores opened from a
	// caller-supplied handle leave that handle open.
	Close() error
}

// Sweeper is implemented by stores that can delete expired records in bulk.
// Sweep deletes the completed and indeterminate records whose RetainUntil
// is not after now and returns how many it deleted. It never deletes a
// record before its retention, and never deletes an in-progress record,
// whatever its times: its holder may be alive under a clock that runs
// behind now. (The next claim of such a key replaces it once the
// claimer's clock passes its retention, and Delete removes it.)
type Sweeper interface {
	Sweep(ctx context.Context, now time.Time) (int, error)
}

var (
	// ErrFenced is returned by a write whose fence no longer holds the
	// record: its lease was taken over, it was released or completed, or it
	// expired and was replaced.
	ErrFenced = errors.New("idem: fenced: the record is no longer held under this owner and token")
	// ErrNotFound is returned by Get for a key that has no record.
	ErrNotFound = errors.New("idem: no record for this key")
	// ErrRecordsLost is returned by a store that detected that its backend
	// lost records it had acknowledged (a restart without persistence, an
	// eviction, a FLUSHALL, a failover to a replica that missed writes).
	// The store cannot tell a key that never ran from one whose record was
	// lost, so it refuses to answer instead of granting the key again: the
	// runtime fails closed on it like on any store error. The error's
	// message says what happened and how to configure the backend.
	ErrRecordsLost = errors.New("idem: the store lost records it had acknowledged")
	// ErrTimeRange is returned, before anything is written, for a time
	// outside [MinTime, MaxTime] that is not the zero time.Time.
	ErrTimeRange = errors.New("idem: time outside the range every store keeps")
)

// MinTime and MaxTime bound the times a store accepts (the zero time.Time
// aside, which every store keeps as itself): the range of int64 Unix
// nanoseconds, from 1677-09-21 to 2262-04-11 UTC, which every store of this
// module keeps exactly. The rule is one for every store, so that a request
// one store accepts is never refused or altered by another.
var (
	MinTime = time.Unix(0, math.MinInt64+1).UTC()
	MaxTime = time.Unix(0, math.MaxInt64).UTC()
)

// CheckTime returns nil when t is the zero time.Time or lies between
// MinTime and MaxTime, and otherwise an error matching ErrTimeRange that
// names field. Stores call it on every time they are given, before they
// write anything; they never clamp.
func CheckTime(field string, t time.Time) error {
	if t.IsZero() || (!t.Before(MinTime) && !t.After(MaxTime)) {
		return nil
	}
	return fmt.Errorf("%w: %s %v is outside %v to %v; pass a time in that range (a TTL or lease that long is not meaningful)",
		ErrTimeRange, field, t, MinTime, MaxTime)
}

// CheckClaimTimes applies CheckTime to the times of req.
func CheckClaimTimes(req ClaimRequest) error {
	if err := CheckTime("Now", req.Now); err != nil {
		return err
	}
	if err := CheckTime("LeaseUntil", req.LeaseUntil); err != nil {
		return err
	}
	return CheckTime("RetainUntil", req.RetainUntil)
}
