package store

import (
	"testing"
	"time"
)

// ShiftRetention keeps the gap between lease and retention, never moves the
// retention back, covers the new lease, and stays exact and capped at the
// ends of the time range.
func TestShiftRetention(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(lease, retain time.Time) Record { return Record{LeaseUntil: lease, RetainUntil: retain} }
	for _, c := range []struct {
		name                string
		lease, retain, next time.Time
		want                time.Time
	}{
		{"gap kept", at, at.Add(time.Hour), at.Add(90 * time.Second), at.Add(time.Hour + 90*time.Second)},
		{"nanoseconds carried", at.Add(999999999), at.Add(time.Hour + 999999999), at.Add(2*time.Second + 999999998), at.Add(time.Hour + 2*time.Second + 999999998)},
		{"no gap: covers the lease", at, at.Add(-time.Minute), at.Add(time.Minute), at.Add(time.Minute)},
		{"equal: covers the lease", at, at, at.Add(time.Minute), at.Add(time.Minute)},
		{"lease not moved", at, at.Add(time.Hour), at, at.Add(time.Hour)},
		{"lease moved back", at, at.Add(time.Hour), at.Add(-time.Minute), at.Add(time.Hour)},
		{"capped at MaxTime", at, MaxTime.Add(-time.Second), at.Add(time.Minute), MaxTime},
		{"renewed to MaxTime", at, at.Add(time.Hour), MaxTime, MaxTime},
		{"whole range", MinTime, MaxTime, MinTime.Add(1), MaxTime},
		{"gap over 292 years, not capped", MinTime, MinTime.Add(time.Duration(1 << 62)).Add(time.Duration(1 << 62)).Add(time.Hour), MinTime.Add(time.Second),
			MinTime.Add(time.Duration(1 << 62)).Add(time.Duration(1 << 62)).Add(time.Hour + time.Second)},
		{"before 1970", time.Unix(-100, 500), time.Unix(-50, 200), time.Unix(-10, 900), time.Unix(40, 600)},
		{"zero lease", time.Time{}, at.Add(time.Hour), at, at.Add(time.Hour)},
		{"zero lease, later lease", time.Time{}, at, at.Add(time.Hour), at.Add(time.Hour)},
		{"zero retention", at, time.Time{}, at.Add(time.Hour), at.Add(time.Hour)},
		{"zero new lease", at, at.Add(time.Hour), time.Time{}, at.Add(time.Hour)},
	} {
		got := ShiftRetention(rec(c.lease, c.retain), c.next)
		if !got.Equal(c.want) {
			t.Errorf("%s: ShiftRetention(lease %v, retain %v) to %v = %v, want %v", c.name, c.lease, c.retain, c.next, got, c.want)
		}
	}
}
