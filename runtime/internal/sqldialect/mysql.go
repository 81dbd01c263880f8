package sqldialect

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
)

// The MySQL dialect, for github.com/go-sql-driver/mysql on MySQL 8 or
// MariaDB 10.3 and later.
//
// MySQL has neither RETURNING nor sequences. A grant's token comes from
// the AUTO_INCREMENT column of idem_records_token_seq: the claim inserts a
// row there, reads its id, and deletes the row again, all in the caller's
// transaction. InnoDB never hands out an id twice (a rolled-back insert
// leaves a gap; the counter is persistent across restarts since MySQL 8.0
// and MariaDB 10.2.4), so every token exceeds every token granted before,
// for any key, even after its row was deleted, as PostgreSQL's sequence
// does (and a grant's token exceeds the key's row's token too: see draw);
// the table stays empty, and the auto-increment lock is held only
// while the id is allocated, not until the transaction ends. (Resetting
// the table's AUTO_INCREMENT, or TRUNCATE, breaks that; never do it.)
//
// The claim reads the key's row without a lock first (a completed record
// replays without one); otherwise it inserts the key with ON DUPLICATE
// KEY UPDATE, which takes an exclusive lock on the key's row whether it
// inserts it or finds it (a plain INSERT would take a shared lock on a
// duplicate, and two claimers upgrading theirs would deadlock), then reads
// the row under that lock (SELECT … FOR UPDATE) and decides with
// store.Decide. At REPEATABLE READ (the default) and READ COMMITTED
// concurrent claims of one key never deadlock. At SERIALIZABLE, InnoDB
// turns the first read into a shared lock, and concurrent first claims of
// one key deadlock: the victim's error (1213) is transient, and retried
// under the retry policy, as PostgreSQL's serialization failures are.
var mysql = (&Dialect{
	Name:      "MySQL",
	Driver:    "github.com/go-sql-driver/mysql",
	schema:    []string{mysqlSchema, mysqlTokenSeqSchema},
	hasParts:  mysqlHasParts,
	table:     "idem_records",
	addParts:  mysqlAddParts,
	drawToken: mysqlDrawToken,
	// A table created before the fingerprint_parts column existed is
	// migrated like a missing one.
	missingTable: func(err error) bool {
		n, _ := mysqlErrorNumber(err)
		return n == mysqlNoSuchTable || n == mysqlUnknownColumn
	},
	transient: mysqlTransient,
}).build(syntax{token: "@token", lockRow: " FOR UPDATE", conflict: "ON DUPLICATE KEY UPDATE key = key", keyColumn: "`key`"})

// mysqlSchema is the MySQL table of the records: the columns of the
// other databases' tables, binary keys and times in Unix nanoseconds. The
// CREATE TABLE is idempotent and MySQL's metadata lock serializes two of
// them, so Migrate takes no lock of its own.
const mysqlSchema = "CREATE TABLE IF NOT EXISTS idem_records (\n" +
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
    fingerprint_parts BLOB,
    INDEX idem_records_retain_until (retain_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`

// mysqlAddParts adds the fingerprint_parts column (per-part digests of
// the fingerprint) to a table created before it existed. MySQL has no ADD
// COLUMN IF NOT EXISTS: Migrate checks mysqlHasParts first.
const mysqlAddParts = `ALTER TABLE idem_records ADD COLUMN fingerprint_parts BLOB`

// mysqlHasParts selects whether the table named by ? in the current
// database has the fingerprint_parts column; false for a missing table.
const mysqlHasParts = `SELECT EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = ? AND column_name = 'fingerprint_parts')`

// mysqlTokenSeqSchema is the table whose AUTO_INCREMENT counter is the
// tokens' sequence; it holds no row outside a claim's transaction.
const mysqlTokenSeqSchema = `CREATE TABLE IF NOT EXISTS idem_records_token_seq (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY
) ENGINE=InnoDB`

// mysqlDrawToken draws the next token: see mysql.
func mysqlDrawToken(ctx context.Context, tx *sql.Tx) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO idem_records_token_seq () VALUES ()`)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	// LAST_INSERT_ID() is id, this connection's; the statement has no
	// parameter, so it takes one round trip even without interpolateParams.
	if _, err := tx.ExecContext(ctx, `DELETE FROM idem_records_token_seq WHERE id = LAST_INSERT_ID()`); err != nil {
		return 0, err
	}
	return id, nil
}

// MySQL server error numbers
// (https://mariadb.com/kb/en/mariadb-error-code-reference/,
// https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html),
// as github.com/go-sql-driver/mysql's *MySQLError reports them in its
// field Number.
const (
	mysqlNoSuchTable       = 1146 // ER_NO_SUCH_TABLE
	mysqlUnknownColumn     = 1054 // ER_BAD_FIELD_ERROR: a table created before a column existed
	mysqlLockWaitTimeout   = 1205 // ER_LOCK_WAIT_TIMEOUT: the statement rolled back; the runtime rolls back the rest
	mysqlDeadlock          = 1213 // ER_LOCK_DEADLOCK: the transaction rolled back
	mysqlTableDefChanged   = 1412 // ER_TABLE_DEF_CHANGED: "please retry transaction"
	mysqlServerShutdown    = 1053 // ER_SERVER_SHUTDOWN
	mysqlConnectionKilled  = 1927 // ER_CONNECTION_KILLED (MariaDB)
	mysqlClientIdleTimeout = 4031 // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8): the server closed the idle session
)

const mysqlDriverPkg = "github.com/go-sql-driver/mysql"

// mysqlErrorNumber returns the server error number in err's chain: the
// field Number of github.com/go-sql-driver/mysql's MySQLError, read by
// reflection (the runtime does not import the driver).
func mysqlErrorNumber(err error) (uint16, bool) {
	f, ok := driverErrorField(err, mysqlDriverPkg, "MySQLError", "Number")
	if !ok || !f.CanUint() {
		return 0, false
	}
	return uint16(f.Uint()), true
}

// mysqlInvalidConn is the text of github.com/go-sql-driver/mysql's
// ErrInvalidConn, which the driver returns when the connection broke
// during a statement (before one, it returns driver.ErrBadConn). It is a
// plain errors.New value: no type or field tells it apart, so this one
// error is recognised by its text, in errors of package errors' own type
// only; TestMySQLDriverErrors pins it to the driver's variable.
const mysqlInvalidConn = "invalid connection"

var errorsNewType = reflect.TypeOf(errors.New(""))

// mysqlTransient reports the MySQL errors after which the transaction
// did not commit (the runtime rolls back what a failed statement left)
// and a new one may succeed: deadlocks, lock wait timeouts, a table
// created or altered since the transaction's snapshot, the server shutting
// down or killing or timing out the session, and lost connections.
func mysqlTransient(err error) bool {
	switch n, _ := mysqlErrorNumber(err); n {
	case mysqlDeadlock, mysqlLockWaitTimeout, mysqlTableDefChanged, mysqlServerShutdown, mysqlConnectionKilled, mysqlClientIdleTimeout:
		return true
	}
	return anyError(err, func(err error) bool {
		return reflect.TypeOf(err) == errorsNewType && err.Error() == mysqlInvalidConn
	})
}
