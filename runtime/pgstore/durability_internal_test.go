package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// Under DurableClaims, Complete, Release and MarkIndeterminate commit with
// synchronous_commit off, set by the statement itself for its own
// transaction; claims and renewals commit as the session is configured.
// DurableAll leaves every write to the session's setting. Each statement
// runs here inside a transaction whose session setting is on, to read the
// setting the statement leaves for the commit.
func TestDurabilityOfWrites(t *testing.T) {
	ctx := context.Background()
	pool, s := internalStore(t)
	all, err := New(ctx, pool, WithTable(s.Table()), WithDurability(store.DurableAll))
	require.NoError(t, err)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	for _, c := range []struct {
		name string
		sql  func(*Store) string
		args func(store.Key, store.Fence) []any
		off  bool
	}{
		{"Complete", func(s *Store) string { return s.q.complete }, func(k store.Key, f store.Fence) []any {
			return []any{k[:], f.Owner[:], f.Token, []byte("r"), nanos(base.Add(time.Hour))}
		}, true},
		{"Release", func(s *Store) string { return s.q.release }, func(k store.Key, f store.Fence) []any {
			return []any{k[:], f.Owner[:], f.Token}
		}, true},
		{"MarkIndeterminate", func(s *Store) string { return s.q.mark }, func(k store.Key, f store.Fence) []any {
			return []any{k[:], f.Owner[:], f.Token, nanos(base.Add(time.Hour))}
		}, true},
		{"Renew", func(s *Store) string { return s.q.renew }, func(k store.Key, f store.Fence) []any {
			return []any{k[:], f.Owner[:], f.Token, nanos(base.Add(2 * time.Minute))}
		}, false},
	} {
		for _, st := range []*Store{s, all} {
			key := store.Key{byte(len(c.name)), byte(time.Now().UnixNano()), byte(time.Now().UnixNano() >> 8), 7}
			res, err := st.Claim(ctx, store.ClaimRequest{Key: key, Namespace: "t", Owner: store.Owner{1}, Now: base,
				LeaseUntil: base.Add(time.Minute), RetainUntil: base.Add(time.Hour)})
			require.NoError(t, err)
			require.True(t, res.Granted)
			f := store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, `SET LOCAL synchronous_commit = on`)
			require.NoError(t, err)
			tag, err := tx.Exec(ctx, c.sql(st), c.args(key, f)...)
			require.NoError(t, err)
			require.EqualValues(t, 1, tag.RowsAffected(), "%s wrote nothing", c.name)
			var setting string
			require.NoError(t, tx.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting))
			require.NoError(t, tx.Commit(ctx))
			want := "on"
			if c.off && st == s {
				want = "off"
			}
			require.Equal(t, want, setting, "%s under %v", c.name, map[bool]string{true: "DurableClaims", false: "DurableAll"}[st == s])
		}
	}
}

// The DSN's durability parameter selects the option and is not passed on
// to the server.
func TestParseDSNDurability(t *testing.T) {
	dsn, opts, err := parseDSN("postgres://u:p@127.0.0.1:5432/db?sslmode=disable&durability=all")
	require.NoError(t, err)
	require.Equal(t, "postgres://u:p@127.0.0.1:5432/db?sslmode=disable", dsn)
	var c config
	require.Len(t, opts, 1)
	require.NoError(t, opts[0](&c))
	require.Equal(t, store.DurableAll, c.durability)
	same := "postgres://u@h/db?sslmode=disable"
	dsn, opts, err = parseDSN(same)
	require.NoError(t, err)
	require.Equal(t, same, dsn)
	require.Empty(t, opts)
	for _, bad := range []string{"postgres://h/db?durability=full", "postgres://h/db?durability=all&durability=crash"} {
		_, _, err := parseDSN(bad)
		require.Error(t, err, bad)
	}
}
