// Package composite has a composite operation with effects inside and
// outside its steps.
package composite

import (
	"context"
	"database/sql"
	"os"

	"github.com/idem-go/idem/runtime"
)

// Place is a composite operation.
//
//idem:key id
//idem:effect composite
func Place(ctx context.Context, db *sql.DB, id string) (int, error) { // want Place:"wrapped by PlaceIdem \\(effect composite\\)"
	n, err := runtime.StepSQL(ctx, "insert", db, func(ctx context.Context, tx *sql.Tx) (int, error) {
		_, err := tx.ExecContext(ctx, "INSERT INTO orders (id) VALUES ($1)", id)
		return 1, err
	})
	if err != nil {
		return 0, err
	}
	_, err = runtime.Step(ctx, "file", runtime.EffectNone, func(ctx context.Context) (int, error) {
		return 0, os.WriteFile("/tmp/"+id, nil, 0o644)
	})
	if err != nil {
		return 0, err
	}
	var count int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&count); err != nil { // reads are fine
		return 0, err
	}
	_, err = db.ExecContext(ctx, "UPDATE totals SET n = n + 1") // want `composite Place: this call makes a side effect \(db\) outside a step`
	return n + count, err
}

// Plain is not composite: idemvet leaves its effects to the audit.
//
//idem:key id
func Plain(ctx context.Context, db *sql.DB, id string) error { // want Plain:"wrapped by PlainIdem \\(effect none\\)"
	_, err := db.ExecContext(ctx, "UPDATE totals SET n = n + 1")
	return err
}
