package main

//go:generate go tool idemgen

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/idem-go/idem/runtime"
)

// The three side effects of the pipeline, one per kind of downstream
// deduplication. Each is an ordinary function marked with //idem:
// directives; idemgen writes its wrapper (InsertEventIdem, ChargeCustomerIdem,
// PublishIdem) in effects_idem.go, and the pipeline calls only the wrappers.
//
// The retry delays are tiny so that the demo finishes in a second; in
// production something like delay=200ms max-delay=5s suits a remote service.

// Event is one business event read from the input: a customer owes an
// amount.
type Event struct {
	ID       string    `json:"id"`
	Customer string    `json:"customer"`
	Amount   int64     `json:"amount"` // in cents
	Currency string    `json:"currency"`
	Kind     string    `json:"kind"` // order, subscription, top-up
	At       time.Time `json:"at"`
}

// InsertEvent records ev in the application's events table and returns its
// row id.
//
// Effect db: InsertEventIdem takes the *sql.DB, begins a transaction, claims
// the key in it (the record lives in the same database), calls InsertEvent
// with the transaction and commits the row and the record together. A crash
// before the commit leaves neither; after it, both. So the row is written
// exactly once, and a busy database (a transient error after which the
// transaction rolled back) is simply retried.
//
//idem:key ev.ID
//idem:effect db
//idem:retry attempts=5 delay=1ms max-delay=50ms
func InsertEvent(ctx context.Context, tx *sql.Tx, ev Event) (int64, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO events (event_id, customer, amount, currency, kind, at) VALUES (?, ?, ?, ?, ?, ?)`,
		ev.ID, ev.Customer, ev.Amount, ev.Currency, ev.Kind, ev.At.UTC().Format(time.RFC3339))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Receipt is what the payments provider answers for a charge.
type Receipt struct {
	ChargeID string
	Amount   int64
	Currency string
}

// ChargeCustomer charges ev's customer through the payments API.
//
// Effect api: the key goes to the provider as the Idempotency-Key header,
// and the provider answers a repeated key with the charge it made the first
// time. So an attempt whose outcome is unknown (a 502 after the provider
// charged, a connection lost before the answer) is retried with the same
// key, and the customer is charged once.
//
//idem:key ev.ID
//idem:effect api
//idem:retry attempts=5 delay=1ms max-delay=50ms
func ChargeCustomer(ctx context.Context, pay *PaymentsClient, ev Event) (Receipt, error) {
	if _, ok := runtime.KeyFrom(ctx); !ok {
		return Receipt{}, runtime.Permanent(errors.New("charge: called without an idempotency key; call ChargeCustomerIdem"))
	}
	// pay's transport sends the key as the Idempotency-Key header.
	ch, err := pay.Charge(ctx, ChargeRequest{
		Customer:  ev.Customer,
		Amount:    ev.Amount,
		Currency:  ev.Currency,
		Reference: ev.ID,
	})
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{ChargeID: ch.ID, Amount: ch.Amount, Currency: ch.Currency}, nil
}

// Message tells the rest of the system that an event was stored and paid.
type Message struct {
	ID       string
	Topic    string
	EventID  string
	RowID    int64
	ChargeID string
	Amount   int64
	Currency string
}

// Publish sends msg to the queue.
//
// Effect queue: the key is the message's deduplication id, and the queue
// drops a message whose deduplication id it has seen. So a send that failed
// after the queue took the message is retried, and the message is enqueued
// once.
//
//idem:key msg.ID
//idem:effect queue
//idem:retry attempts=5 delay=1ms max-delay=50ms
func Publish(ctx context.Context, q *Queue, msg Message) error {
	key, ok := runtime.KeyFrom(ctx)
	if !ok {
		return runtime.Permanent(errors.New("publish: called without a deduplication id; call PublishIdem"))
	}
	return q.Send(ctx, key, msg)
}
