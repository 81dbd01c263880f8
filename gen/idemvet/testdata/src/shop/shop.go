// Package shop calls pay's functions, some through their wrappers.
package shop

import (
	"context"
	"database/sql"

	"pay"
)

func viaWrappers(ctx context.Context, db *sql.DB, c *pay.Client, o pay.Order) error {
	if _, err := pay.ChargeOrderIdem(ctx, o); err != nil {
		return err
	}
	if err := pay.InsertOrderIdem(ctx, db, o); err != nil {
		return err
	}
	return c.RefundOnce(ctx, o.ID)
}

func bypass(ctx context.Context, tx *sql.Tx, c *pay.Client, o pay.Order) error {
	if _, err := pay.ChargeOrder(ctx, o); err != nil { // want `call ChargeOrderIdem: ChargeOrder is not idempotent on its own`
		return err
	}
	if err := pay.InsertOrder(ctx, tx, o); err != nil { // want `call InsertOrderIdem: InsertOrder is not idempotent on its own; InsertOrderIdem takes the database handle in place of the transaction`
		return err
	}
	if err := (c.Refund)(ctx, o.ID); err != nil { // want `call RefundOnce: Refund is not idempotent on its own`
		return err
	}
	if err := pay.Store[string](o.ID, "v"); err != nil { // want `call StoreIdem: Store is not idempotent on its own`
		return err
	}
	if err := pay.Settle(o.ID); err != nil { // want `call settleOnce: Settle is not idempotent on its own; settleOnce is unexported: give Settle an exported wrapper name with //idem:name`
		return err // no fix: settleOnce cannot be called from here
	}
	return pay.Store(7, "v") // want `call StoreIdem: Store is not idempotent on its own`
}

// A function value is not a call: not reported.
var charge = pay.ChargeOrder
