package sqlexpr_test

import (
	"context"
	"database/sql"
	"math"
	"math/rand/v2"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/internal/sqlexpr"
	"github.com/idem-go/idem/runtime/store"
)

// The SQL computes store.ShiftRetention exactly, on both databases, for the
// ends of the range, the zero time, and random times across the range.
func TestShiftRetentionSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(t, db, "?", sqlexpr.ShiftRetention("?3"))
}

func TestShiftRetentionPostgres(t *testing.T) {
	db, err := sql.Open("pgx", testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(t, db, "$", sqlexpr.ShiftRetention("$3::bigint"))
}

// check evaluates expr with lease_until and retain_until bound to
// parameters 1 and 2 and the new lease to 3, and compares it with
// store.ShiftRetention.
func check(t *testing.T, db *sql.DB, mark, expr string) {
	t.Helper()
	q := `SELECT ` + expr + ` FROM (SELECT CAST(` + mark + `1 AS BIGINT) AS lease_until, CAST(` + mark + `2 AS BIGINT) AS retain_until) AS r`
	st, err := db.PrepareContext(context.Background(), q)
	if err != nil {
		t.Fatalf("prepare %s: %v", q, err)
	}
	defer st.Close()
	edges := []int64{math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 2, -1e18, -1, 0, 1, 1e18, 1.9e18, math.MaxInt64 - 1, math.MaxInt64}
	var vals [][3]int64
	for _, a := range edges {
		for _, b := range edges {
			for _, c := range edges {
				vals = append(vals, [3]int64{a, b, c})
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		v := [3]int64{int64(r.Uint64()), int64(r.Uint64()), int64(r.Uint64())}
		if r.IntN(2) == 0 { // near each other, as in real use
			v[1] = v[0] + r.Int64N(1e13) - 1e12
			v[2] = v[0] + r.Int64N(1e13) - 1e12
		}
		vals = append(vals, v)
	}
	for _, v := range vals {
		var got int64
		if err := st.QueryRow(v[0], v[1], v[2]).Scan(&got); err != nil {
			t.Fatalf("lease %d retain %d new %d: %v", v[0], v[1], v[2], err)
		}
		want := sqlexpr.Nanos(store.ShiftRetention(store.Record{LeaseUntil: sqlexpr.Time(v[0]), RetainUntil: sqlexpr.Time(v[1])}, sqlexpr.Time(v[2])))
		if got != want {
			t.Errorf("lease %d retain %d new %d: SQL %d, store.ShiftRetention %d", v[0], v[1], v[2], got, want)
		}
	}
}
