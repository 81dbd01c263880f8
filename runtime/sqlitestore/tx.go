package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/idem-go/idem/runtime/internal/sqldialect"
	"github.com/idem-go/idem/runtime/store"
)

// Migrate creates Schema (the idem_records table and its index) in db if it
// does not exist, so that ClaimTx and CompleteTx can keep records in the
// caller's own database. It is idempotent and safe to run concurrently from
// many goroutines and processes: a database another connection is writing is
// waited for as the store waits (see BusyTimeout). db must be a database of
// the "sqlite" driver of modernc.org/sqlite.
func Migrate(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return errors.New("sqlitestore: Migrate needs a *sql.DB opened with the \"sqlite\" driver; got nil")
	}
	if err := migrate(ctx, db); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	return nil
}

// migrate runs Schema, then adds the fingerprint_parts column to a table
// created before it existed, waiting for another connection's write lock.
func migrate(ctx context.Context, db *sql.DB) error {
	if err := retryBusy(ctx, func() error {
		_, err := db.ExecContext(ctx, Schema)
		return err
	}); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if err := addParts(ctx, db); err != nil {
		return fmt.Errorf("add the fingerprint_parts column: %w", err)
	}
	return nil
}

// addParts adds the fingerprint_parts column when the table lacks it.
// SQLite has no ADD COLUMN IF NOT EXISTS: the column is looked up first,
// and an ALTER that lost a race with another process's is recognised by
// looking again.
func addParts(ctx context.Context, db *sql.DB) error {
	has := func() (bool, error) {
		var has bool
		err := retryBusy(ctx, func() error {
			return db.QueryRowContext(ctx, sqldialect.SQLiteHasParts, "idem_records").Scan(&has)
		})
		return has, err
	}
	if ok, err := has(); ok || err != nil {
		return err
	}
	err := retryBusy(ctx, func() error {
		_, err := db.ExecContext(ctx, sqldialect.SQLiteAddParts)
		return err
	})
	if err != nil {
		if ok, herr := has(); ok && herr == nil {
			return nil // another connection added it
		}
	}
	return err
}

// ClaimTx claims req.Key inside tx, a transaction the caller began on a
// database of modernc.org/sqlite whose schema Migrate created, with the
// decision rules of Store.Claim; the record is written in tx and commits or
// rolls back with it, together with the caller's own writes and CompleteTx.
// An ordinary Store on the same database file sees the committed records.
//
// Call it as the transaction's first statement. Its first statement is a
// write (an INSERT of the fresh grant that does nothing when the key already
// has a row), so that a deferred transaction (database/sql's default BEGIN)
// takes SQLite's write lock before it reads anything: it never fails to
// upgrade a stale read to a write. A concurrent transaction on the same
// database therefore waits in ClaimTx, polling as the store does, for at
// most BusyTimeout or until ctx ends, until the transaction holding the lock
// commits or rolls back; it then reads the committed state: a completed
// record (returned, not granted) or, after a rollback, no record (granted).
//
// If tx read the database before ClaimTx and another connection has
// committed since, SQLite refuses the write with SQLITE_BUSY_SNAPSHOT; that
// error is returned at once (errors.As finds the *sqlite.Error), and only
// retrying the whole transaction can succeed.
func ClaimTx(ctx context.Context, tx *sql.Tx, req store.ClaimRequest) (store.ClaimResult, error) {
	if tx == nil {
		return store.ClaimResult{}, fmt.Errorf("sqlitestore: claim key %s in a transaction: the *sql.Tx is nil", req.Key)
	}
	if err := store.CheckClaimTimes(req); err != nil {
		return store.ClaimResult{}, fmt.Errorf("sqlitestore: claim key %s in a transaction: %w", req.Key, err)
	}
	fresh, _ := decide(row{}, false, req)
	var n int64
	err := retryWhile(ctx, canWaitInTx, func() error {
		res, err := tx.ExecContext(ctx, sqlInsertNew, grantArgs(fresh.Record)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return store.ClaimResult{}, txError(ctx, tx, "claim", req.Key, err)
	}
	if n == 1 {
		return fresh, nil
	}
	// The key has a row, and tx now holds the write lock: read, decide and
	// write as Store.Claim does.
	res, err := claimLocked(ctx, tx, req)
	if err != nil {
		return store.ClaimResult{}, txError(ctx, tx, "claim", req.Key, err)
	}
	return res, nil
}

// CompleteTx is Store.Complete inside tx: it records result, moves the
// record of key to completed and sets its retention, all only if the record
// is in progress under exactly f (as ClaimTx granted it); otherwise it
// fails with store.ErrFenced and writes nothing. The completion commits or
// rolls back with tx.
func CompleteTx(ctx context.Context, tx *sql.Tx, key store.Key, f store.Fence, result []byte, retainUntil time.Time) error {
	if tx == nil {
		return fmt.Errorf("sqlitestore: complete key %s in a transaction: the *sql.Tx is nil", key)
	}
	if err := store.CheckTime("retainUntil", retainUntil); err != nil {
		return fmt.Errorf("sqlitestore: complete key %s in a transaction: %w", key, err)
	}
	if result == nil {
		result = []byte{}
	}
	var n int64
	err := retryWhile(ctx, canWaitInTx, func() error {
		res, err := tx.ExecContext(ctx, sqlComplete, result, nanos(retainUntil), key[:], f.Owner[:], f.Token)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return txError(ctx, tx, "complete", key, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: complete key %s in a transaction (owner %s, token %d): %w", key, f.Owner, f.Token, store.ErrFenced)
	}
	return nil
}

// canWaitInTx reports a busy error that waiting can resolve inside a
// transaction: SQLITE_BUSY, but not SQLITE_BUSY_SNAPSHOT, which means the
// transaction's read snapshot is stale for good.
func canWaitInTx(err error) bool {
	c, _ := extendedCode(err)
	return isBusy(err) && c != sqlite3.SQLITE_BUSY_SNAPSHOT
}

// txError names the operation and, when the table is missing, the fix.
func txError(ctx context.Context, q querier, op string, key store.Key, err error) error {
	if missingTable(ctx, q, err) {
		return fmt.Errorf("sqlitestore: %s key %s in a transaction: %w (create the table with sqlitestore.Migrate first)", op, key, err)
	}
	if missingParts(ctx, q, err) {
		return fmt.Errorf("sqlitestore: %s key %s in a transaction: %w (the table predates the fingerprint_parts column: run sqlitestore.Migrate once to add it)", op, key, err)
	}
	return fmt.Errorf("sqlitestore: %s key %s in a transaction: %w", op, key, err)
}
