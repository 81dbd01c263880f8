// Package idemsqlx runs functions with the db effect in transactions of
// github.com/jmoiron/sqlx: wrappers that idemgen writes for functions
// whose transaction parameter is a *sqlx.Tx import it and take the
// *sqlx.DB instead. Only programs that use sqlx link it.
package idemsqlx

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"

	"github.com/idem-go/idem/runtime"
)

// Do is runtime.DoSQL for sqlx: fn receives a *sqlx.Tx begun on db (with
// db's driver name and mapper, so Rebind, Get and Select work), and the
// key's record commits in the same transaction. db's driver must be one
// runtime.DoSQL supports. idemgen emits
//
//	idemsqlx.Do(ctx, &spec, db, &key, &fp, run)
func Do[R any](ctx context.Context, spec *runtime.Spec, db *sqlx.DB, key, fingerprint *runtime.Encoder, fn func(context.Context, *sqlx.Tx) (R, error)) (R, error) {
	return runtime.DoSQLAs(ctx, spec, db.DB, key, fingerprint, func(ctx context.Context) (*sqlx.Tx, *sql.Tx, error) {
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		return tx, tx.Tx, nil
	}, fn)
}
