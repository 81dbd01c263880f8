// Package db stands for generated code (sqlc) that cannot carry idem
// directives.
package db

import (
	"context"
	"database/sql"
	"errors"
)

// InsertEventParams is sqlc's argument struct.
type InsertEventParams struct {
	ID     string
	Amount int64
}

// Queries is sqlc's query set.
type Queries struct {
	Inserts map[string]int
}

// InsertEvent is a generated query.
func (q *Queries) InsertEvent(ctx context.Context, arg InsertEventParams) (int64, error) {
	if q.Inserts == nil {
		q.Inserts = map[string]int{}
	}
	q.Inserts[arg.ID]++
	return int64(len(q.Inserts)), nil
}

// Sent counts Send's runs by id.
var Sent = map[string]int{}

// Send is a third-party function.
func Send(ctx context.Context, id string, body ...string) error {
	if id == "" {
		return errors.New("no id")
	}
	Sent[id]++
	return nil
}

// TxQueries is sqlc's query set bound to a transaction (Queries.WithTx).
type TxQueries struct{ tx *sql.Tx }

// WithTx binds the queries to tx, as sqlc's WithTx does.
func WithTx(tx *sql.Tx) *TxQueries { return &TxQueries{tx: tx} }

// Tx is the bound transaction.
func (q *TxQueries) Tx() *sql.Tx { return q.tx }

// Save is a generated query.
func (q *TxQueries) Save(ctx context.Context, id string) error {
	_, err := q.tx.ExecContext(ctx, `INSERT INTO saved (id) VALUES (?)`, id)
	return err
}
