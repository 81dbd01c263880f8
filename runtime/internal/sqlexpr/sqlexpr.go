// Package sqlexpr holds the SQL expressions that the SQL stores
// (runtime/sqlitestore, runtime/pgstore) share, so that a rule of the store
// contract is spelled once for both.
package sqlexpr

import (
	"math"
	"strings"
	"time"
)

// shiftSQL is store.ShiftRetention over the lease_until and retain_until
// columns (Unix nanoseconds, the zero time.Time as MinInt64) and the new
// lease {N}, in SQL that SQLite and PostgreSQL both run: exact int64
// arithmetic that never overflows (every subtraction and addition is
// guarded by a comparison that cannot overflow itself, and CASE evaluates
// only the branch it takes), capped at MaxInt64 (store.MaxTime).
const shiftSQL = `CASE
	WHEN {N} <= lease_until THEN retain_until
	WHEN lease_until = {Z} OR retain_until = {Z} OR retain_until <= lease_until THEN
		CASE WHEN {N} > retain_until THEN {N} ELSE retain_until END
	WHEN lease_until >= 0 THEN
		CASE WHEN retain_until > {M} - ({N} - lease_until) THEN {M} ELSE retain_until + ({N} - lease_until) END
	WHEN {N} <= {M} + lease_until THEN
		CASE WHEN retain_until > {M} - ({N} - lease_until) THEN {M} ELSE retain_until + ({N} - lease_until) END
	WHEN retain_until <= {M} + lease_until THEN
		CASE WHEN {N} > {M} - (retain_until - lease_until) THEN {M} ELSE {N} + (retain_until - lease_until) END
	ELSE {M}
END`

// ShiftRetention returns the SQL expression of the retention of a row
// whose lease moves to the parameter lease (for example "?1" for SQLite or
// "$4::bigint" for PostgreSQL): store.ShiftRetention, computed from the
// row's lease_until and retain_until before the UPDATE changes them. The
// stores' Renew statements use it, so that SQLite and PostgreSQL keep the
// rule in one place.
func ShiftRetention(lease string) string {
	return strings.NewReplacer(
		"{N}", lease,
		"{M}", "9223372036854775807",
		"{Z}", "(-9223372036854775807 - 1)",
	).Replace(shiftSQL)
}

// Nanos is a time as the SQL stores keep it in their bigint columns: Unix
// nanoseconds, with the zero time.Time as math.MinInt64 (which no time in
// store.MinTime to store.MaxTime has). t must have passed store.CheckTime.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// Time is the inverse of Nanos, in UTC.
func Time(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
