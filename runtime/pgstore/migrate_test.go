package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/pgstore"
)

// A table created by hand for an earlier version of the store (without the
// claim function) fails claims with an error that names the fix, and
// running SchemaSQL again repairs it.
func TestSchemaWithoutFunction(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	table := freshTable(t, pool)
	schema, err := pgstore.SchemaSQL(table)
	require.NoError(t, err)
	i := strings.Index(schema, "CREATE OR REPLACE FUNCTION")
	require.Positive(t, i, "the schema creates the claim function")
	_, err = pool.Exec(ctx, schema[:i]) // the table, index and sequence only
	require.NoError(t, err)

	s, err := pgstore.New(ctx, pool, pgstore.WithTable(table), pgstore.WithoutMigrate())
	require.NoError(t, err)
	_, err = s.Claim(ctx, request(t, newKey(t), base))
	require.Error(t, err)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%v", err)
	assert.Equal(t, "42883", pgErr.Code)
	assert.Contains(t, err.Error(), "SchemaSQL")

	_, err = pool.Exec(ctx, schema)
	require.NoError(t, err, "running the schema again")
	res, err := s.Claim(ctx, request(t, newKey(t), base))
	require.NoError(t, err)
	assert.True(t, res.Granted)
}

// A role that owns the table but not the claim function (an operator added
// the function by running SchemaSQL as another role, say when upgrading)
// can still open the store with migration on: Migrate leaves a function
// with the current body alone instead of replacing it, which only its owner
// may do.
func TestMigrateLeavesCurrentFunction(t *testing.T) {
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
	_, err := pgstore.New(ctx, pool, pgstore.WithTable(table)) // the operator's migration
	require.NoError(t, err)
	for _, grant := range []string{
		`GRANT USAGE, CREATE ON SCHEMA "` + schema + `" TO "` + role + `"`,
		`ALTER TABLE "` + schema + `"."records" OWNER TO "` + role + `"`,
		`ALTER SEQUENCE "` + schema + `"."records_token_seq" OWNER TO "` + role + `"`,
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
	s, err := pgstore.New(ctx, app, pgstore.WithTable(table))
	require.NoError(t, err, "migration by a role that does not own the function")
	res, err := s.Claim(ctx, request(t, newKey(t), base))
	require.NoError(t, err)
	assert.True(t, res.Granted)

	// A function with another body is replaced, which this role may not do:
	// proof that the migration above did leave it alone.
	sql, err := pgstore.SchemaSQL(table)
	require.NoError(t, err)
	fn := sql[strings.Index(sql, "CREATE OR REPLACE FUNCTION"):]
	require.Contains(t, fn, "RETURN written;")
	_, err = pool.Exec(ctx, strings.Replace(fn, "RETURN written;", "RETURN written; -- another body", 1))
	require.NoError(t, err)
	_, err = pgstore.New(ctx, app, pgstore.WithTable(table))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "owner")
}
