package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idem-go/idem/runtime/store"
)

// defaultTable and defaultQueries are DefaultTable and its statements, for
// the functions that work in a caller's transaction. Read-only.
var (
	defaultTable   = tableName{table: DefaultTable}
	defaultQueries = buildQueries(defaultTable, true)
	// legacyQueries are defaultQueries without the fingerprint_parts
	// column, which ClaimTx and ClaimSQLTx use once MigratePool or
	// MigrateSQL could not add it (defaultNoParts).
	legacyQueries  = buildQueries(defaultTable, false)
	defaultNoParts atomic.Bool
)

// txQueries are the statements of ClaimTx and ClaimSQLTx.
func txQueries() *queries {
	if defaultNoParts.Load() {
		return &legacyQueries
	}
	return &defaultQueries
}

// noPartsIfRefused turns a migration that could not add the
// fingerprint_parts column to an existing default table into success:
// ClaimTx and ClaimSQLTx then work without the column in this process.
func noPartsIfRefused(err error) error {
	if errors.Is(err, errAddParts) {
		defaultNoParts.Store(true)
		return nil
	}
	return err
}

// inTx is the claim's error context for a caller's transaction.
const inTx = " in a transaction"

// MigratePool creates the default table (Schema: idem_records, its index
// and its token sequence) through pool if they do not
// exist, so that
// ClaimTx and CompleteTx can keep records in the caller's own database.
// Like those functions it names them unqualified, so they live in the first
// schema of the session's search_path (public by default). It
// is idempotent and safe to run concurrently from many processes: a
// transaction-scoped advisory lock (the one New's migration takes)
// serializes it.
func MigratePool(ctx context.Context, pool *pgxpool.Pool) error {
	if pool == nil {
		return errors.New("pgstore: MigratePool needs a *pgxpool.Pool; got nil")
	}
	return noPartsIfRefused(migratePool(ctx, pool, defaultTable, &defaultQueries))
}

// MigrateSQL is MigratePool for a database/sql handle opened with the pgx
// driver (github.com/jackc/pgx/v5/stdlib), for ClaimSQLTx and
// CompleteSQLTx.
func MigrateSQL(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return errors.New("pgstore: MigrateSQL needs a *sql.DB opened with github.com/jackc/pgx/v5/stdlib; got nil")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return migrateError(defaultTable, err)
	}
	defer func() { _ = tx.Rollback() }()
	err = migrateIn(defaultTable, &defaultQueries,
		func(sql string, args ...any) error {
			_, err := tx.ExecContext(ctx, sql, args...)
			return err
		},
		func(sql string, args ...any) (bool, error) {
			var b bool
			err := tx.QueryRowContext(ctx, sql, args...).Scan(&b)
			return b, err
		})
	if err != nil {
		return noPartsIfRefused(migrateError(defaultTable, err))
	}
	if err := tx.Commit(); err != nil {
		return migrateError(defaultTable, err)
	}
	return nil
}

// ClaimTx claims req.Key inside tx, a transaction the caller began on a
// database whose default table MigratePool (or New with DefaultTable)
// created, with the decision rules of Store.Claim, by the same statement.
// The record is written in tx and commits or rolls back with it, together
// with the caller's own writes and CompleteTx; a Store on the same table
// sees the committed records.
//
// A concurrent transaction claiming the same key blocks on the row (its
// unique-index entry or its row lock) until tx commits or rolls back, and
// then sees what tx committed: a completed record is returned, not granted;
// after a rollback it is granted the key.
//
// Under READ COMMITTED (PostgreSQL's default) ClaimTx runs its statement
// again when a concurrent claim changed the row after the statement's
// snapshot, as Store.Claim does. Under REPEATABLE READ or SERIALIZABLE the
// server reports that race as a serialization failure (SQLSTATE 40001),
// which aborts tx: ClaimTx returns it (errors.As finds the
// *pgconn.PgError), and the caller must run the whole transaction again.
func ClaimTx(ctx context.Context, tx pgx.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	if tx == nil {
		return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: the pgx.Tx is nil", req.Key, inTx)
	}
	if err := ctx.Err(); err != nil {
		return store.ClaimResult{}, err
	}
	res, err := claim(ctx, req, inTx, true, false, txQueries(), func(sql string, args []any) rowScanner {
		return tx.QueryRow(ctx, sql, args...)
	})
	return res, hintMigrate(err)
}

// ClaimSQLTx is ClaimTx for a database/sql transaction on a database
// opened with the pgx driver (github.com/jackc/pgx/v5/stdlib).
func ClaimSQLTx(ctx context.Context, tx *sql.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	if tx == nil {
		return store.ClaimResult{}, fmt.Errorf("pgstore: claim key %s%s: the *sql.Tx is nil", req.Key, inTx)
	}
	if err := ctx.Err(); err != nil {
		return store.ClaimResult{}, err
	}
	res, err := claim(ctx, req, inTx, true, false, txQueries(), func(query string, args []any) rowScanner {
		return tx.QueryRowContext(ctx, query, args...)
	})
	return res, hintMigrate(err)
}

// CompleteTx is Store.Complete inside tx, on the default table: it records
// result, moves the record of key to completed and sets its retention, all
// only if the record is in progress under exactly f (as ClaimTx granted
// it); otherwise it fails with store.ErrFenced and writes nothing. The
// completion commits or rolls back with tx.
func CompleteTx(ctx context.Context, tx pgx.Tx, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	if tx == nil {
		return fmt.Errorf("pgstore: complete key %s%s: the pgx.Tx is nil", key, inTx)
	}
	return completeIn(ctx, key, f, result, retainUntil, func(args []any) (int64, error) {
		tag, err := tx.Exec(ctx, defaultQueries.complete, args...)
		return tag.RowsAffected(), err
	})
}

// CompleteSQLTx is CompleteTx for a database/sql transaction on a database
// opened with the pgx driver (github.com/jackc/pgx/v5/stdlib).
func CompleteSQLTx(ctx context.Context, tx *sql.Tx, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	if tx == nil {
		return fmt.Errorf("pgstore: complete key %s%s: the *sql.Tx is nil", key, inTx)
	}
	return completeIn(ctx, key, f, result, retainUntil, func(args []any) (int64, error) {
		res, err := tx.ExecContext(ctx, defaultQueries.complete, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// completeIn runs completeSQL through exec, which returns the rows it
// affected, and maps none to store.ErrFenced.
func completeIn(ctx context.Context, key store.Key, f store.Fence, result []byte, retainUntil time.Time, exec func(args []any) (int64, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	retain, err := toNanos("retainUntil", retainUntil)
	if err != nil {
		return err
	}
	n, err := exec([]any{key[:], f.Owner[:], f.Token, result, retain})
	if err != nil {
		return hintMigrate(fmt.Errorf("pgstore: complete key %s%s: %w", key, inTx, err))
	}
	if n == 0 {
		return fmt.Errorf("pgstore: complete key %s%s (owner %s, token %d): %w", key, inTx, f.Owner, f.Token, store.ErrFenced)
	}
	return nil
}

// hintMigrate adds the fix to an error that says the table or its
// sequence does not exist (SQLSTATE 42P01, undefined_table), or that the
// table predates the fingerprint_parts column (42703, undefined_column).
func hintMigrate(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return fmt.Errorf("%w (create the table and its sequence with pgstore.MigratePool or pgstore.MigrateSQL first)", err)
	}
	if errors.As(err, &pgErr) && pgErr.Code == "42703" {
		return fmt.Errorf("%w (the table predates the fingerprint_parts column: run pgstore.MigratePool or pgstore.MigrateSQL once to add it)", err)
	}
	return err
}
