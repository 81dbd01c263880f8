// Package fulfil ships orders.
package fulfil

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"example.com/shop/notify"
	"example.com/shop/queue"
)

// Shipment is one parcel.
type Shipment struct {
	ID      string
	OrderID string
	Invoice []byte
}

// Ship records the shipment, publishes it and writes the invoice.
//
//idem:key s.ID
func Ship(ctx context.Context, pool *pgxpool.Pool, w *kafka.Writer, dir string, s Shipment) error {
	if _, err := pool.Exec(ctx, `INSERT INTO shipments (id, order_id) VALUES ($1, $2)`, s.ID, s.OrderID); err != nil {
		return err
	}
	if err := queue.PublishShipped(ctx, w, queue.OrderEvent{OrderID: s.OrderID, Kind: "shipped"}); err != nil {
		return err
	}
	return notify.WriteInvoice(dir, s.OrderID, s.Invoice)
}
