// Package directives shows every //idem: directive on a small payments
// service, with the wrappers idemgen generated for it in
// directives_idem.go. The examples run the wrappers against the in-memory
// store.
//
// Regenerate with go generate after editing a directive.
package directives

//go:generate go tool idemgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	idem "github.com/idem-go/idem/runtime"
)

// PaymentAPI is a fake payment provider that deduplicates charges on their
// idempotency key, as real ones do with an Idempotency-Key header.
type PaymentAPI struct {
	mu      sync.Mutex
	charges map[string]string // idempotency key → charge id
	// Calls counts requests, duplicates included.
	Calls int
	// FailNext makes the next requests fail before reaching the provider.
	FailNext int
}

// Charge charges amount once per idempotency key and returns the charge id.
func (a *PaymentAPI) Charge(idempotencyKey string, amount int64) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Calls++
	if a.FailNext > 0 {
		a.FailNext--
		// The request never left: safe to retry under any effect.
		return "", idem.NotApplied(errors.New("payment api: connection refused"))
	}
	if a.charges == nil {
		a.charges = map[string]string{}
	}
	if id, ok := a.charges[idempotencyKey]; ok {
		return id, nil
	}
	id := fmt.Sprintf("ch_%d", len(a.charges)+1)
	a.charges[idempotencyKey] = id
	return id, nil
}

// Order is what a customer pays for.
type Order struct {
	ID     string
	Amount int64  // cents
	Note   string // free text, not part of the request's identity
}

// Receipt is the result of a charge.
type Receipt struct {
	OrderID  string
	ChargeID string
	Amount   int64
}

// Service charges orders.
type Service struct {
	API *PaymentAPI
}

// Charge charges an order. Its wrapper, ChargeOnce, runs it at most once
// per order: the key is the order id; a retried call with the same order
// and amount replays the receipt, and one with another amount fails with
// ErrKeyReused. The key goes to the payment API, which deduplicates on it
// (effect api), so failed attempts are retried.
//
//idem:key order.ID
//idem:fingerprint order.ID, order.Amount
//idem:effect api
//idem:retry attempts=3 delay=50ms max-delay=1s
//idem:ttl 48h
//idem:lease 10s
//idem:name ChargeOnce
//idem:namespace "payments.charge"
//idem:version 2
func (s *Service) Charge(ctx context.Context, order Order) (Receipt, error) {
	key, ok := idem.KeyFrom(ctx)
	if !ok {
		return Receipt{}, errors.New("charge: not called through ChargeOnce")
	}
	id, err := s.API.Charge(key, order.Amount)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{OrderID: order.ID, ChargeID: id, Amount: order.Amount}, nil
}

// Mailer records the mails it sends.
type Mailer struct {
	mu   sync.Mutex
	Sent []string
}

// SendWelcome mails a user once, whatever the language asked for: the key
// is the user id and there is no fingerprint. The effect is the default,
// none: the mailer does not deduplicate, so a failed attempt is never
// repeated.
//
//idem:key userID
//idem:fingerprint -
func SendWelcome(ctx context.Context, m *Mailer, userID string, lang string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Sent = append(m.Sent, "welcome "+userID+" ("+lang+")")
	return nil
}

// Message is published to a queue.
type Message struct {
	ID   string
	Body []byte
}

// Queue is a fake queue that drops messages whose deduplication id it has
// seen.
type Queue struct {
	mu        sync.Mutex
	seen      map[string]bool
	Published []string
}

// Publish publishes msg with its deduplication id.
func (q *Queue) Publish(dedupID string, msg Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen == nil {
		q.seen = map[string]bool{}
	}
	if !q.seen[dedupID] {
		q.seen[dedupID] = true
		q.Published = append(q.Published, msg.ID)
	}
}

// Enqueue publishes msg on topic once per (topic, message id), with the key
// as the queue's deduplication id (effect queue).
//
//idem:key topic, msg.ID
//idem:effect queue
func Enqueue(ctx context.Context, q *Queue, topic string, msg Message) error {
	key, _ := idem.KeyFrom(ctx)
	q.Publish(key, msg)
	return nil
}

// Ledger is how the service records payments; callers hold the interface
// and tests mock it. The directive on Append makes idemgen write
// LedgerIdem, built with NewLedgerIdem(inner), which runs Append at most
// once per entry id and delegates Balance.
type Ledger interface {
	// Append adds an entry.
	//
	//idem:key entryID
	Append(ctx context.Context, entryID string, cents int64) error

	// Balance reads; it has no directives.
	Balance(ctx context.Context) (int64, error)
}

// MemLedger is an in-memory Ledger.
type MemLedger struct {
	mu      sync.Mutex
	Entries []int64
}

// Append adds an entry, once per call.
func (l *MemLedger) Append(ctx context.Context, entryID string, cents int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Entries = append(l.Entries, cents)
	return nil
}

// Balance sums the entries.
func (l *MemLedger) Balance(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum int64
	for _, c := range l.Entries {
		sum += c
	}
	return sum, nil
}

// os.WriteFile cannot carry directives: //idem:wrap declares its wrapper,
// WriteFileOnce, here. The file is written once per name.
//
//idem:wrap os.WriteFile
//idem:key name
//idem:fingerprint -
//idem:name WriteFileOnce
var _ = os.WriteFile
