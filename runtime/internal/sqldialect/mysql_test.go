package sqldialect_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv/mysqltest"
	"github.com/idem-go/idem/runtime/internal/sqldialect"
	"github.com/idem-go/idem/runtime/internal/sqlexpr"
	"github.com/idem-go/idem/runtime/store"
	"github.com/idem-go/idem/runtime/storetest"
)

// TestConformanceMySQL holds the MySQL dialect's claim and complete to the
// store contract, at MySQL's default isolation level (REPEATABLE READ) and
// at READ COMMITTED, the latter with the driver's options that change what
// the server answers (affected rows counting matched rows, parameters
// interpolated by the driver). MySQL has no store: the other operations
// are mysqlStore's, plain statements on the dialect's table.
func TestConformanceMySQL(t *testing.T) {
	for _, iso := range []string{"REPEATABLE-READ", "READ-COMMITTED"} {
		t.Run(iso, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				db := openMySQL(t, iso, iso == "READ-COMMITTED")
				d, err := sqldialect.For(db)
				require.NoError(t, err)
				require.Equal(t, "MySQL", d.Name)
				require.NoError(t, d.Migrate(context.Background(), db), "the dialect creates the table")
				require.NoError(t, d.Migrate(context.Background(), db), "and leaves it as it is")
				return mysqlStore{db: db, d: d}
			})
		})
	}
}

// openMySQL opens a database of t's own whose sessions run at isolation
// level iso (as MySQL spells it, REPEATABLE-READ), with the driver's
// options clientFoundRows and interpolateParams where options is set.
func openMySQL(t *testing.T, iso string, options bool) *sql.DB {
	cfg, err := gomysql.ParseDSN(mysqltest.Database(t, "dialect_"))
	require.NoError(t, err)
	probe, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	defer probe.Close()
	variable := "transaction_isolation" // MySQL 8, MariaDB 11.1
	if _, err := probe.Exec("SELECT @@transaction_isolation"); err != nil {
		variable = "tx_isolation" // MariaDB before 11.1
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params[variable] = "'" + iso + "'"
	cfg.ClientFoundRows, cfg.InterpolateParams = options, options
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var got string
	require.NoError(t, db.QueryRow("SELECT @@"+variable).Scan(&got))
	require.Equal(t, iso, got)
	return db
}

// mysqlStore is a store.Store on the MySQL dialect's table, for the
// conformance suite: Claim and Complete are the dialect's (as txStore runs
// them), the operations the db effect never runs are plain statements.
type mysqlStore struct {
	db *sql.DB
	d  *sqldialect.Dialect
}

func (s mysqlStore) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	return txStore{db: s.db, d: s.d}.Claim(ctx, req)
}

func (s mysqlStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	return txStore{db: s.db, d: s.d}.Complete(ctx, key, f, result, retainUntil)
}

const fenced = " WHERE `key` = ? AND owner = ? AND token = ? AND state = 1"

func (s mysqlStore) fencedWrite(ctx context.Context, op string, key store.Key, f store.Fence, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q+fenced, append(args, key[:], f.Owner[:], f.Token)...)
	if err != nil {
		return fmt.Errorf("%s key %s: %w", op, key, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("%s key %s: %w", op, key, errors.Join(err, store.ErrFenced))
	}
	return nil
}

func (s mysqlStore) Release(ctx context.Context, key store.Key, f store.Fence) error {
	return s.fencedWrite(ctx, "release", key, f, "DELETE FROM idem_records")
}

func (s mysqlStore) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retainUntil time.Time) error {
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return err
	}
	return s.fencedWrite(ctx, "mark indeterminate", key, f, "UPDATE idem_records SET state = 3, retain_until = ?", sqlexpr.Nanos(retainUntil))
}

// Renew reads the fenced row under its lock and shifts the retention in
// Go, with store.ShiftRetention.
func (s mysqlStore) Renew(ctx context.Context, key store.Key, f store.Fence, leaseUntil time.Time) error {
	if err := store.CheckTime("leaseUntil", leaseUntil); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var lease, retain int64
	err = tx.QueryRowContext(ctx, "SELECT lease_until, retain_until FROM idem_records"+fenced+" FOR UPDATE", key[:], f.Owner[:], f.Token).Scan(&lease, &retain)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("renew key %s: %w", key, store.ErrFenced)
	}
	if err != nil {
		return err
	}
	cur := store.Record{LeaseUntil: sqlexpr.Time(lease), RetainUntil: sqlexpr.Time(retain)}
	if _, err := tx.ExecContext(ctx, "UPDATE idem_records SET lease_until = ?, retain_until = ? WHERE `key` = ?",
		sqlexpr.Nanos(leaseUntil), sqlexpr.Nanos(store.ShiftRetention(cur, leaseUntil)), key[:]); err != nil {
		return err
	}
	return tx.Commit()
}

func (s mysqlStore) Get(ctx context.Context, key store.Key) (store.Record, error) {
	var (
		r                                                = store.Record{Key: key}
		fp, owner                                        []byte
		state, lease, retain, attempts, created, updated int64
	)
	err := s.db.QueryRowContext(ctx, "SELECT namespace, fingerprint, state, owner, token, lease_until, retain_until, result, attempts, created_at, updated_at, fingerprint_parts FROM idem_records WHERE `key` = ?", key[:]).
		Scan(&r.Namespace, &fp, &state, &owner, &r.Token, &lease, &retain, &r.Result, &attempts, &created, &updated, &r.FingerprintParts)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("get key %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return r, err
	}
	copy(r.Fingerprint[:], fp)
	copy(r.Owner[:], owner)
	r.State, r.Attempts = store.State(state), int(attempts)
	r.LeaseUntil, r.RetainUntil = sqlexpr.Time(lease), sqlexpr.Time(retain)
	r.CreatedAt, r.UpdatedAt = sqlexpr.Time(created), sqlexpr.Time(updated)
	return r, nil
}

func (s mysqlStore) Delete(ctx context.Context, key store.Key) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM idem_records WHERE `key` = ?", key[:])
	return err
}

func (s mysqlStore) Close() error { return nil }

// Grants draw their tokens from one sequence: a key whose row was deleted
// is granted a token larger than every one before it.
func TestMySQLTokensOutliveDeletedRows(t *testing.T) {
	ctx := context.Background()
	db := openMySQL(t, "REPEATABLE-READ", false)
	d, err := sqldialect.For(db)
	require.NoError(t, err)
	s := mysqlStore{db: db, d: d}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	key := store.Key{1}
	claim := func(owner byte) error {
		_, err := s.Claim(ctx, store.ClaimRequest{Key: key, Owner: store.Owner{owner}, Now: now, LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)})
		return err
	}
	err = claim(0)
	require.True(t, d.MissingTable(err), "a database without the table: %v", err)
	require.NoError(t, d.Migrate(ctx, db))
	var last int64
	for i := range 3 {
		require.NoError(t, claim(byte(i)))
		rec, err := s.Get(ctx, key)
		require.NoError(t, err)
		require.Greater(t, rec.Token, last, "grant %d, after the row was deleted", i)
		last = rec.Token
		require.NoError(t, s.Delete(ctx, key))
	}

	// A row whose token is ahead of the sequence (another primary's
	// range): the next grant of its key exceeds it still.
	require.NoError(t, claim(7))
	_, err = db.Exec("UPDATE idem_records SET token = token + 1000000")
	require.NoError(t, err)
	ahead, err := s.Get(ctx, key)
	require.NoError(t, err)
	now = now.Add(time.Hour) // past the retention
	require.NoError(t, claim(8))
	rec, err := s.Get(ctx, key)
	require.NoError(t, err)
	require.Equal(t, store.Owner{8}, rec.Owner)
	require.Equal(t, ahead.Token+1, rec.Token)

	var rows int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM idem_records_token_seq").Scan(&rows))
	require.Zero(t, rows, "the sequence's table keeps no row")
}

// The dialect classifies the driver's own errors: a real missing table
// and deadlock from the server, and the driver's connection errors.
func TestMySQLDriverErrors(t *testing.T) {
	ctx := context.Background()
	db := openMySQL(t, "REPEATABLE-READ", false)
	d, err := sqldialect.For(db)
	require.NoError(t, err)
	require.Equal(t, "github.com/go-sql-driver/mysql", d.Driver)

	_, err = db.Exec("SELECT * FROM idem_records")
	require.True(t, d.MissingTable(err), "%#v", err)
	require.False(t, d.Transient(err))

	require.True(t, d.Transient(gomysql.ErrInvalidConn), "the connection broke during a statement")
	require.True(t, d.Transient(fmt.Errorf("exec: %w", gomysql.ErrInvalidConn)))
	require.False(t, d.Transient(errors.New("connection lost")), "never by any other text")
	for n, want := range map[uint16]bool{1213: true, 1205: true, 1412: true, 1053: true, 1927: true, 4031: true, 1062: false, 1146: false, 1064: false} {
		require.Equal(t, want, d.Transient(fmt.Errorf("x: %w", &gomysql.MySQLError{Number: n})), n)
	}

	// A real deadlock: two transactions lock two rows in opposite orders.
	_, err = db.Exec("CREATE TABLE t (id INT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO t VALUES (1), (2)")
	require.NoError(t, err)
	a, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer a.Rollback()
	b, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer b.Rollback()
	_, err = a.Exec("UPDATE t SET id = id WHERE id = 1")
	require.NoError(t, err)
	_, err = b.Exec("UPDATE t SET id = id WHERE id = 2")
	require.NoError(t, err)
	errs := make(chan error, 2)
	go func() { _, err := a.Exec("UPDATE t SET id = id WHERE id = 2"); errs <- err }()
	go func() { _, err := b.Exec("UPDATE t SET id = id WHERE id = 1"); errs <- err }()
	first, second := <-errs, <-errs
	require.True(t, (first == nil) != (second == nil), "one transaction is the victim: %v, %v", first, second)
	victim := errors.Join(first, second)
	require.True(t, d.Transient(victim), "%#v", victim)
	n, ok := mysqlNumber(victim)
	require.True(t, ok)
	require.EqualValues(t, 1213, n)
}

func mysqlNumber(err error) (uint16, bool) {
	var e *gomysql.MySQLError
	if errors.As(err, &e) {
		return e.Number, true
	}
	return 0, false
}

// Concurrent claims of one new key never deadlock: the insert takes the
// key's row's exclusive lock whether it inserts it or finds it, so no
// claimer holds a shared lock it must upgrade. Each claim runs once, in a
// transaction of its own, without retries: every one must succeed, one
// granted, the others replaying its completed record.
func TestMySQLConcurrentClaimsNeverDeadlock(t *testing.T) {
	ctx := context.Background()
	db := openMySQL(t, "REPEATABLE-READ", false)
	d, err := sqldialect.For(db)
	require.NoError(t, err)
	require.NoError(t, d.Migrate(ctx, db))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const claimers = 8
	for k := range 20 {
		key := store.Key{byte(k), 0xdd}
		start := make(chan struct{})
		errs := make(chan error, claimers)
		granted := make(chan store.Owner, claimers)
		for i := range claimers {
			go func() {
				<-start
				errs <- func() error {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					owner := store.Owner{byte(i) + 1}
					res, err := d.Claim(ctx, tx, store.ClaimRequest{Key: key, Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)})
					if err != nil {
						return err
					}
					if res.Granted {
						granted <- owner
						if err := d.Complete(ctx, tx, key, store.Fence{Owner: owner, Token: res.Record.Token}, []byte("done"), now.Add(time.Hour)); err != nil {
							return err
						}
					} else if res.Record.State != store.StateCompleted {
						return fmt.Errorf("claimer %d got a %s record", i, res.Record.State)
					}
					return tx.Commit()
				}()
			}()
		}
		close(start)
		for range claimers {
			require.NoError(t, <-errs, "key %d", k)
		}
		require.Len(t, granted, 1, "key %d: one claimer is granted", k)
	}
}
