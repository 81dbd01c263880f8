// Package orders stores orders in SQL.
package orders

import (
	"context"
	"database/sql"
	"os"
	"time"
)

// Order is a customer's order.
type Order struct {
	ID       string
	Customer string
	Items    []Item
	Total    int64
}

// Item is one line of an order.
type Item struct {
	SKU      string
	Quantity int
}

// InsertOrder stores a new order and its items in one transaction.
//
//idem:key o.ID
//idem:effect db
//idem:retry attempts=3
func InsertOrder(ctx context.Context, tx *sql.Tx, o Order) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, customer, total) VALUES ($1, $2, $3)`, o.ID, o.Customer, o.Total); err != nil {
		return err
	}
	for _, it := range o.Items {
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_items (order_id, sku, quantity) VALUES ($1, $2, $3)`, o.ID, it.SKU, it.Quantity); err != nil {
			return err
		}
	}
	return nil
}

// Store reads and updates orders.
type Store struct{ DB *sql.DB }

// MarkPaid records the payment of an order.
func (s *Store) MarkPaid(ctx context.Context, orderID string, receipt string) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE orders SET paid = true, receipt = $2 WHERE id = $1`, orderID, receipt)
	return err
}

// Reserve takes an item out of stock and returns what is left.
func (s *Store) Reserve(ctx context.Context, tx *sql.Tx, it Item) (int, error) {
	var left int
	err := tx.QueryRowContext(ctx, `UPDATE stock SET quantity = quantity - $2 WHERE sku = $1 RETURNING quantity`, it.SKU, it.Quantity).Scan(&left)
	return left, err
}

// Lookup reads an order's customer: a read, not a side effect.
func (s *Store) Lookup(ctx context.Context, id string) (string, error) {
	var customer string
	err := s.DB.QueryRowContext(ctx, `SELECT customer FROM orders WHERE id = $1`, id).Scan(&customer)
	return customer, err
}

// ArchiveOld deletes old orders and writes a marker file.
func ArchiveOld(ctx context.Context, db *sql.DB, before time.Time, marker string) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM orders WHERE created < $1`, before); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(before.Format(time.RFC3339)), 0o644)
}
