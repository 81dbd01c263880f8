package runtime_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/internal/testenv/mysqltest"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// Deploy day: tables created by yesterday's binary, before the
// fingerprint_parts column, opened by today's. The DDL below is
// yesterday's, copied as it was.

// sqliteSchemaV0 is the SQLite schema before fingerprint_parts.
const sqliteSchemaV0 = `CREATE TABLE IF NOT EXISTS idem_records (
	key          BLOB    NOT NULL PRIMARY KEY,
	namespace    TEXT    NOT NULL,
	fingerprint  BLOB    NOT NULL,
	state        INTEGER NOT NULL,
	owner        BLOB    NOT NULL,
	token        INTEGER NOT NULL,
	lease_until  INTEGER NOT NULL,
	retain_until INTEGER NOT NULL,
	result       BLOB,
	attempts     INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idem_records_retain_until ON idem_records (retain_until);
`

// postgresSchemaV0 is the PostgreSQL schema before fingerprint_parts.
const postgresSchemaV0 = `CREATE TABLE IF NOT EXISTS "idem_records" (
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

// sqliteV0 creates a SQLite file with yesterday's table and returns its
// path and a handle on it.
func sqliteV0(t *testing.T) (string, *sql.DB) {
	path := filepath.Join(t.TempDir(), "idem.db")
	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(sqliteSchemaV0)
	require.NoError(t, err)
	require.False(t, sqliteHasParts(t, db))
	return path, db
}

func sqliteHasParts(t *testing.T, db *sql.DB) bool {
	var has bool
	require.NoError(t, db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pragma_table_info('idem_records') WHERE name = 'fingerprint_parts')`).Scan(&has))
	return has
}

// deployCases runs a record of yesterday's binary (no parts: a row
// without the column's value) and one of today's through do: both claim,
// complete and replay; a reuse of yesterday's record says the store kept
// no parts, and of today's names the parts.
func deployCases(t *testing.T, yesterday, today doer, effect runtime.Effect) {
	ev := event{ID: "ev-1", Amount: 100}
	other := ev
	other.Amount = 101
	key := uniqueKey(t)
	_, runs := reuseThrough(t, yesterday, effect, key, ev, ev, 1, 1, false)
	require.Equal(t, 1, runs)
	err, runs := reuseThrough(t, today, effect, key+"/today", ev, other, 1, 1, false)
	requireDiffer(t, err, "ev.Amount")
	require.Equal(t, 1, runs)
	// Yesterday's record, replayed and reused today.
	err, _ = reuseThrough(t, today, effect, key+"/mixed", ev, other, 1, 1, false)
	requireDiffer(t, err, "ev.Amount")
	spec := &runtime.Spec{Namespace: "keyreused/test.Post", Version: 1, Fingerprint: "ev, amount", Effect: effect}
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	encodeEvent(&f, ev)
	f.Int(1)
	got, err := today(spec, &k, &f, func(context.Context) (int, error) { t.Fatal("a recorded call ran again"); return 0, nil })
	require.NoError(t, err, "today replays yesterday's record")
	require.Equal(t, 1, got)
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	encodeEvent(&f, other)
	f.Int(1)
	_, err = today(spec, &k, &f, func(context.Context) (int, error) { t.Fatal("a reused key ran"); return 0, nil })
	requireNoParts(t, err)
}

// TestDeployDaySQLiteStore: sqlitestore on yesterday's table adds the
// column when it opens.
func TestDeployDaySQLiteStore(t *testing.T) {
	path, db := sqliteV0(t)
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.True(t, sqliteHasParts(t, db), "the migration added the column")
	ctx := runtime.WithStore(context.Background(), s)
	deployCases(t, onStore(runtime.WithStore(context.Background(), partsDropper{s})), onStore(ctx), runtime.EffectNone)
}

// TestDeployDayPostgresStore: pgstore on yesterday's table works without
// the column under WithoutMigrate (detected at open), and adds it when it
// migrates.
func TestDeployDayPostgresStore(t *testing.T) {
	dsn := freshPostgresSchema(t, testenv.PostgresDSN(t))
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, postgresSchemaV0)
	require.NoError(t, err)
	hasParts := func() bool {
		var has bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'idem_records' AND column_name = 'fingerprint_parts')`).Scan(&has))
		return has
	}

	old, err := pgstore.New(ctx, pool, pgstore.WithoutMigrate())
	require.NoError(t, err)
	require.False(t, hasParts(), "WithoutMigrate adds no column")
	requireReuseWithoutParts(t, runtime.WithStore(ctx, old))

	s, err := pgstore.New(ctx, pool)
	require.NoError(t, err)
	require.True(t, hasParts(), "the migration added the column")
	deployCases(t, onStore(runtime.WithStore(ctx, old)), onStore(runtime.WithStore(ctx, s)), runtime.EffectNone)
}

// onDB is the doer of the db effect on db.
func onDB(db *sql.DB) doer {
	return func(spec *runtime.Spec, k, f *runtime.Encoder, run func(context.Context) (int, error)) (int, error) {
		return runtime.DoSQL(context.Background(), spec, db, k, f, func(ctx context.Context, _ *sql.Tx) (int, error) { return run(ctx) })
	}
}

// TestDeployDayDBEffect: the db effect on yesterday's table in the user's
// database adds the column on its first claim and claims again.
func TestDeployDayDBEffect(t *testing.T) {
	check := func(t *testing.T, db *sql.DB, hasParts func() bool) {
		today := onDB(db)
		ev := event{ID: "ev-1", Amount: 100}
		other := ev
		other.Amount = 101
		err, runs := reuseThrough(t, today, runtime.EffectDB, uniqueKey(t), ev, other, 1, 1, false)
		requireDiffer(t, err, "ev.Amount")
		require.Equal(t, 1, runs)
		require.True(t, hasParts(), "the db effect added the column")
	}
	t.Run("SQLite", func(t *testing.T) {
		_, db := sqliteV0(t)
		check(t, db, func() bool { return sqliteHasParts(t, db) })
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := freshPostgresSchema(t, testenv.PostgresDSN(t))
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = db.Exec(postgresSchemaV0)
		require.NoError(t, err)
		check(t, db, func() bool {
			var has bool
			require.NoError(t, db.QueryRow(`SELECT EXISTS (SELECT FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = 'idem_records' AND column_name = 'fingerprint_parts')`).Scan(&has))
			return has
		})
	})
	t.Run("MySQL", func(t *testing.T) {
		db, err := sql.Open("mysql", mysqltest.Database(t, "deploy_"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = db.Exec(mysqlSchemaV0)
		require.NoError(t, err)
		check(t, db, func() bool {
			var has bool
			require.NoError(t, db.QueryRow(`SELECT EXISTS (SELECT 1 FROM information_schema.columns
				WHERE table_schema = DATABASE() AND table_name = 'idem_records' AND column_name = 'fingerprint_parts')`).Scan(&has))
			return has
		})
	})
}

// mysqlSchemaV0 is the MySQL records table as the db effect created it
// before the fingerprint_parts column, copied as it was.
const mysqlSchemaV0 = "CREATE TABLE IF NOT EXISTS idem_records (\n" +
	"    `key`        BINARY(32)     NOT NULL PRIMARY KEY,\n" +
	`    namespace    TEXT           NOT NULL,
    fingerprint  VARBINARY(32)  NOT NULL,
    state        SMALLINT       NOT NULL,
    owner        VARBINARY(16)  NOT NULL,
    token        BIGINT         NOT NULL,
    lease_until  BIGINT         NOT NULL,
    retain_until BIGINT         NOT NULL,
    result       LONGBLOB,
    attempts     INT            NOT NULL,
    created_at   BIGINT         NOT NULL,
    updated_at   BIGINT         NOT NULL,
    INDEX idem_records_retain_until (retain_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`

// TestDeployDayDBEffectWithoutAlter: when the db effect cannot add the
// column (here the ALTER times out, after a second, behind a lock another
// transaction holds; a role that may not alter the table fails alike), yesterday's
// table keeps working without the digests.
func TestDeployDayDBEffectWithoutAlter(t *testing.T) {
	dsn := freshPostgresSchema(t, testenv.PostgresDSN(t))
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	_, err = admin.Exec(postgresSchemaV0)
	require.NoError(t, err)
	hold, err := admin.Begin()
	require.NoError(t, err)
	t.Cleanup(func() { _ = hold.Rollback() })
	_, err = hold.Exec(`SELECT count(*) FROM idem_records`) // an ACCESS SHARE lock, which ALTER TABLE waits for
	require.NoError(t, err)

	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	requireReuseWithoutPartsThrough(t, onDB(db), runtime.EffectDB)
	var has bool
	require.NoError(t, db.QueryRow(`SELECT EXISTS (SELECT FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'idem_records' AND column_name = 'fingerprint_parts')`).Scan(&has))
	require.False(t, has)
}
