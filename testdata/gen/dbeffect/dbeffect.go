// Package dbeffect is a golden case: functions with //idem:effect db, whose
// wrappers take the database handle in place of the transaction.
package dbeffect

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is a business event.
type Event struct {
	ID     string
	Amount int64
	At     time.Time
}

// runs counts the executions of every function, for the driver.
var runs = map[string]int{}

// InsertEvent writes ev into the events table.
//
//idem:key ev.ID
//idem:effect db
//idem:retry attempts=3 delay=1ms
func InsertEvent(ctx context.Context, tx *sql.Tx, ev Event) (int64, error) {
	runs["InsertEvent"]++
	res, err := tx.ExecContext(ctx, `INSERT INTO events (id, amount) VALUES (?, ?)`, ev.ID, ev.Amount)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Debit takes no context; its wrapper begins the transaction with a
// background context.
//
//idem:key account, ref
//idem:effect db
func Debit(tx *sql.Tx, account, ref string, cents int64) error {
	runs["Debit"]++
	_, err := tx.Exec(`INSERT INTO events (id, amount) VALUES (?, ?)`, account+"/"+ref, -cents)
	return err
}

// InsertPgx writes through pgx; its wrapper takes a *pgxpool.Pool. The
// transaction parameter is named db, which the wrapper's handle must not
// clash with.
//
//idem:key id
//idem:effect db
func InsertPgx(ctx context.Context, db pgx.Tx, id string, amount int64) (string, error) {
	runs["InsertPgx"]++
	_, err := db.Exec(ctx, `INSERT INTO events (id, amount) VALUES ($1, $2)`, id, amount)
	return "inserted " + id, err
}

// Refund takes its transaction after other parameters: the wrapper takes
// the *sql.DB in the transaction's place.
//
//idem:key ref
//idem:effect db
func Refund(ctx context.Context, ref string, tx *sql.Tx, cents int64) error {
	runs["Refund"]++
	_, err := tx.ExecContext(ctx, `INSERT INTO events (id, amount) VALUES (?, ?)`, "refund/"+ref, cents)
	return err
}

// Queries is a sqlc-style query set; WithTx binds it to a transaction.
type Queries struct{ tx *sql.Tx }

// WithTx returns the queries bound to tx.
func WithTx(tx *sql.Tx) *Queries { return &Queries{tx: tx} }

// Tx is the transaction the queries run in.
func (q *Queries) Tx() *sql.Tx { return q.tx }

// Record writes through sqlc-style queries: the wrapper takes a
// runtime.TxOps[*Queries] in their place.
//
//idem:key id
//idem:effect db
func Record(ctx context.Context, q *Queries, id string) error {
	runs["Record"]++
	_, err := q.tx.ExecContext(ctx, `INSERT INTO events (id, amount) VALUES (?, 1)`, "record/"+id)
	return err
}
