// Package queue publishes the shop's events.
package queue

import (
	"context"
	"encoding/json"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/segmentio/kafka-go"

	"github.com/idem-go/idem/runtime"
)

// OrderEvent is published when an order changes.
type OrderEvent struct {
	OrderID string
	Kind    string
}

// PublishOrderPlaced publishes the event with the key as its message key,
// on which consumers deduplicate.
//
//idem:key ev.OrderID
//idem:effect queue
//idem:retry attempts=3
func PublishOrderPlaced(ctx context.Context, w *kafka.Writer, ev OrderEvent) error {
	key, _ := runtime.KeyFrom(ctx)
	body, _ := json.Marshal(ev)
	return w.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: body})
}

// PublishShipped publishes a shipment event. Only fulfil.Ship, which is
// marked, calls it.
func PublishShipped(ctx context.Context, w *kafka.Writer, ev OrderEvent) error {
	body, _ := json.Marshal(ev)
	return w.WriteMessages(ctx, kafka.Message{Key: []byte(ev.OrderID), Value: body})
}

// AnnounceRefund tells the warehouse over AMQP.
func AnnounceRefund(ctx context.Context, ch *amqp.Channel, ev OrderEvent) error {
	body, _ := json.Marshal(ev)
	return ch.PublishWithContext(ctx, "shop", "refunds", false, false, amqp.Publishing{MessageId: ev.OrderID, Body: body})
}
