package store

import "time"

// Change is what a claim writes to the store, as decided by Decide.
type Change uint8

const (
	// NoChange: answer with the existing record and write nothing.
	NoChange Change = iota
	// Grant: the claim is a new grant or a takeover; the result's Record
	// replaces whatever the store holds for the key.
	Grant
	// ExtendLease: the same owner claimed again (its first answer was
	// lost) with a later lease; write the result's LeaseUntil, RetainUntil
	// and UpdatedAt.
	ExtendLease
	// MarkIndeterminate: another owner's lease had passed and the claim
	// may not take over; write the result's State and UpdatedAt.
	MarkIndeterminate
)

// Decide applies the claim rules of the protocol to the record a store
// holds for req.Key and returns the answer and what the store must write to
// give it. Stores that can run Go under their lock (memstore, sqlitestore)
// call it so that the rules live in one place; stores that decide inside
// the database (a SQL statement, a Lua script) implement the same rules
// there, and the conformance suite holds them all to it.
//
// A granted Record's FingerprintParts is req.FingerprintParts itself, not
// a copy: a store that keeps the record beyond the call copies it.
//
// found reports whether the store keeps anything for the key (a record,
// or the trace of a released or deleted one), so that cur.Token continues
// the key's token sequence; live reports whether cur counts: it is not
// released or deleted and its RetainUntil is after req.Now.
func Decide(cur Record, found, live bool, req ClaimRequest) (ClaimResult, Change) {
	if !live {
		token := int64(1)
		if found {
			token = cur.Token + 1
		}
		return ClaimResult{Granted: true, Record: Record{
			Key:         req.Key,
			Namespace:   req.Namespace,
			Fingerprint: req.Fingerprint,
			State:       StateInProgress,
			Owner:       req.Owner,
			Token:       token,
			LeaseUntil:  req.LeaseUntil,
			RetainUntil: req.RetainUntil,
			Attempts:    1,
			CreatedAt:   req.Now,
			UpdatedAt:   req.Now,

			FingerprintParts: req.FingerprintParts,
		}}, Grant
	}
	if cur.State != StateInProgress {
		return ClaimResult{Record: cur}, NoChange
	}
	if cur.Owner == req.Owner {
		// The same owner again: its first answer was lost. Same grant,
		// same token; the lease is never shortened (see
		// ClaimResult.Granted), and the retention shifts with it as by
		// Renew.
		if !req.LeaseUntil.After(cur.LeaseUntil) {
			return ClaimResult{Granted: true, Record: cur}, NoChange
		}
		cur.RetainUntil = ShiftRetention(cur, req.LeaseUntil)
		cur.LeaseUntil = req.LeaseUntil
		cur.UpdatedAt = req.Now
		return ClaimResult{Granted: true, Record: cur}, ExtendLease
	}
	if cur.LeaseUntil.After(req.Now) {
		return ClaimResult{Record: cur}, NoChange
	}
	if !req.Takeover {
		cur.State = StateIndeterminate
		cur.UpdatedAt = req.Now
		return ClaimResult{Record: cur}, MarkIndeterminate
	}
	if cur.Fingerprint != req.Fingerprint {
		// A takeover never hides a key reused with other arguments: the
		// record is returned unchanged and the caller reports the
		// mismatch.
		return ClaimResult{Record: cur}, NoChange
	}
	// A takeover keeps the record's CreatedAt.
	return ClaimResult{Granted: true, TookOver: true, Record: Record{
		Key:         req.Key,
		Namespace:   req.Namespace,
		Fingerprint: req.Fingerprint,
		State:       StateInProgress,
		Owner:       req.Owner,
		Token:       cur.Token + 1,
		LeaseUntil:  req.LeaseUntil,
		RetainUntil: req.RetainUntil,
		Attempts:    cur.Attempts + 1,
		CreatedAt:   cur.CreatedAt,
		UpdatedAt:   req.Now,

		FingerprintParts: req.FingerprintParts,
	}}, Grant
}

// ShiftRetention returns the RetainUntil of record cur once its lease
// moves to leaseUntil, by Renew or by a same-owner retried claim. It is the
// one rule every store keeps (the SQL and Lua stores do the same
// arithmetic, and storetest holds them to it):
//
//   - leaseUntil not after cur.LeaseUntil: cur.RetainUntil, unchanged
//     (the retention never moves back);
//   - cur.LeaseUntil or cur.RetainUntil the zero time.Time (no gap to
//     keep): the later of cur.RetainUntil and leaseUntil;
//   - otherwise max(cur.RetainUntil + (leaseUntil − cur.LeaseUntil),
//     leaseUntil), computed exactly and capped at MaxTime.
//
// So the gap between lease and retention that the grant set is kept: a
// holder that renews and then dies leaves its key blocked for that gap
// after its last lease, and a live holder's record never expires.
func ShiftRetention(cur Record, leaseUntil time.Time) time.Time {
	lease, retain := cur.LeaseUntil, cur.RetainUntil
	if !leaseUntil.After(lease) {
		return retain
	}
	if lease.IsZero() || retain.IsZero() || !retain.After(lease) {
		if leaseUntil.After(retain) {
			return leaseUntil
		}
		return retain
	}
	// Seconds and nanoseconds apart, so that no step overflows whatever
	// the times in [MinTime, MaxTime].
	sec := retain.Unix() + leaseUntil.Unix() - lease.Unix()
	nsec := int64(retain.Nanosecond()) + int64(leaseUntil.Nanosecond()) - int64(lease.Nanosecond())
	t := time.Unix(sec, nsec).In(retain.Location())
	if t.After(MaxTime) {
		return MaxTime
	}
	return t
}
