// Package pay declares marked functions.
package pay

import (
	"context"
	"database/sql"
)

// Order is charged.
type Order struct {
	ID     string
	Amount int64
}

// ChargeOrder charges the order.
//
//idem:key o.ID
//idem:effect api
func ChargeOrder(ctx context.Context, o Order) (string, error) { // want ChargeOrder:"wrapped by ChargeOrderIdem \\(effect api\\)"
	return "receipt-" + o.ID, nil
}

// InsertOrder stores the order.
//
//idem:key o.ID
//idem:effect db
func InsertOrder(ctx context.Context, tx *sql.Tx, o Order) error { // want InsertOrder:"wrapped by InsertOrderIdem \\(effect db\\)"
	_, err := tx.ExecContext(ctx, "INSERT INTO orders (id) VALUES ($1)", o.ID)
	return err
}

// Client refunds.
type Client struct{}

// Refund refunds the order.
//
//idem:key id
//idem:name RefundOnce
func (c *Client) Refund(ctx context.Context, id string) error { // want Refund:"wrapped by RefundOnce \\(effect none\\)"
	return nil
}

// notify is marked and unexported.
//
//idem:key id
func notify(id string) error { // want notify:"wrapped by notifyIdem \\(effect none\\)"
	return nil
}

// Store puts a value under a key.
//
//idem:key k
func Store[K comparable](k K, v string) error { // want Store:"wrapped by StoreIdem \\(effect none\\)"
	return nil
}

// Settle is marked, with an unexported wrapper.
//
//idem:key id
//idem:name settleOnce
func Settle(id string) error { // want Settle:"wrapped by settleOnce \\(effect none\\)"
	return nil
}

// Plain is not marked.
func Plain(o Order) error { return notify(o.ID) } // want `call notifyIdem: notify is not idempotent on its own`
