package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/store"
)

// schemaV0 is the default table as yesterday's binary created it, before
// the fingerprint_parts column.
const schemaV0 = `CREATE TABLE IF NOT EXISTS "idem_records" (
    key          bytea    NOT NULL PRIMARY KEY CHECK (octet_length(key) = 32),
    namespace    text     NOT NULL,
    fingerprint  bytea    NOT NULL,
    state        smallint NOT NULL CHECK (state IN (1, 2, 3)),
    owner        bytea    NOT NULL,
    token        bigint   NOT NULL,
    lease_until  bigint   NOT NULL,
    retain_until bigint   NOT NULL,
    result       bytea,
    attempts     integer  NOT NULL,
    created_at   bigint   NOT NULL,
    updated_at   bigint   NOT NULL
);
CREATE INDEX IF NOT EXISTS "idem_records_retain_until_idx" ON "idem_records" (retain_until);
CREATE SEQUENCE IF NOT EXISTS "idem_records_token_seq" AS bigint;
`

// A migration that cannot add the column to yesterday's table (here its
// ALTER times out, after sqldialect.PostgresAlterLockTimeout, behind
// another transaction's lock; a role that may not alter the table fails
// alike) leaves the store, and ClaimTx, working
// without it; once the lock is gone the next migration adds it.
func TestMigrationRefusedColumn(t *testing.T) {
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "parts_" + hex.EncodeToString(b)
	pool := func(params map[string]string) *pgxpool.Pool {
		cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN(t))
		require.NoError(t, err)
		for k, v := range params {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		return p
	}
	admin := pool(nil)
	_, err := admin.Exec(ctx, `CREATE SCHEMA "`+schema+`"`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`) })
	_, err = admin.Exec(ctx, `SET search_path TO "`+schema+`"; `+schemaV0)
	require.NoError(t, err)
	hold, err := admin.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(ctx) }()
	_, err = hold.Exec(ctx, `SELECT count(*) FROM "`+schema+`".idem_records`) // ALTER TABLE waits for this lock
	require.NoError(t, err)
	t.Cleanup(func() { defaultNoParts.Store(false) })

	app := pool(map[string]string{"search_path": schema})
	parts := []byte{0x01, 0x02}
	req := func(key store.Key) store.ClaimRequest {
		return store.ClaimRequest{Key: key, Namespace: "parts", Fingerprint: store.Fingerprint{1}, Owner: store.Owner{1},
			Now: time.Unix(1e9, 0), LeaseUntil: time.Unix(1e9+60, 0), RetainUntil: time.Unix(1e9+3600, 0), FingerprintParts: parts}
	}

	s, err := New(ctx, app)
	require.NoError(t, err, "New works on yesterday's table without the column")
	require.False(t, s.q.parts)
	res, err := s.Claim(ctx, req(store.Key{1}))
	require.NoError(t, err)
	require.True(t, res.Granted)
	rec, err := s.Get(ctx, store.Key{1})
	require.NoError(t, err)
	require.Empty(t, rec.FingerprintParts)

	require.NoError(t, MigratePool(ctx, app), "MigratePool works on yesterday's table without the column")
	tx, err := app.Begin(ctx)
	require.NoError(t, err)
	res, err = ClaimTx(ctx, tx, req(store.Key{2}))
	require.NoError(t, err)
	require.True(t, res.Granted)
	require.NoError(t, tx.Commit(ctx))
	rec, err = s.Get(ctx, store.Key{2})
	require.NoError(t, err)
	require.Empty(t, rec.FingerprintParts)

	require.NoError(t, hold.Rollback(ctx))
	s, err = New(ctx, app)
	require.NoError(t, err)
	require.True(t, s.q.parts, "the migration added the column once it could")
	res, err = s.Claim(ctx, req(store.Key{3}))
	require.NoError(t, err)
	require.True(t, res.Granted)
	rec, err = s.Get(ctx, store.Key{3})
	require.NoError(t, err)
	require.Equal(t, parts, rec.FingerprintParts)
}
