package pgstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/store"
)

// The schema is a table, an index and a sequence, nothing else: an
// application role with only DML rights on them (the operator ran
// SchemaSQL by hand) claims, takes over and completes with WithoutMigrate.
func TestRoleWithDMLRightsOnly(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	role := randomName(t)
	if _, err := pool.Exec(ctx, `CREATE ROLE "`+role+`"`); err != nil {
		testenv.Skip(t, "the test user cannot create a role (connect as a superuser or a role with CREATEROLE): "+err.Error())
	}
	t.Cleanup(func() {
		_, err := pool.Exec(ctx, `DROP OWNED BY "`+role+`"; DROP ROLE "`+role+`"`)
		assert.NoError(t, err)
	})
	schema := freshSchema(t, pool)
	table := schema + ".records"
	sql, err := pgstore.SchemaSQL(table)
	require.NoError(t, err)
	assert.NotContains(t, strings.ToUpper(sql), "FUNCTION")
	_, err = pool.Exec(ctx, sql) // the operator's migration
	require.NoError(t, err)
	for _, grant := range []string{
		`GRANT USAGE ON SCHEMA "` + schema + `" TO "` + role + `"`,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON "` + schema + `"."records" TO "` + role + `"`,
		`GRANT USAGE ON SEQUENCE "` + schema + `"."records_token_seq" TO "` + role + `"`,
	} {
		_, err := pool.Exec(ctx, grant)
		require.NoError(t, err)
	}

	cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN(t))
	require.NoError(t, err)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE "`+role+`"`)
		return err
	}
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(app.Close)
	_, err = pgstore.New(ctx, app, pgstore.WithTable(table))
	require.Error(t, err, "a role without DDL rights migrated")
	s, err := pgstore.New(ctx, app, pgstore.WithTable(table), pgstore.WithoutMigrate())
	require.NoError(t, err)
	req := request(t, newKey(t), base)
	first, err := s.Claim(ctx, req)
	require.NoError(t, err)
	require.True(t, first.Granted)
	over := req
	over.Owner[0]++
	over.Now = first.Record.LeaseUntil
	over.LeaseUntil = over.Now.Add(time.Minute)
	over.Takeover = true
	res, err := s.Claim(ctx, over)
	require.NoError(t, err)
	require.True(t, res.TookOver)
	require.NoError(t, s.Complete(ctx, req.Key, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, []byte("ok"), base.Add(time.Hour)))
}
