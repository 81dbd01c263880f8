// Package payments calls the payment provider's HTTP API.
package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/idem-go/idem/runtime"
)

// Payment is a charge to make.
type Payment struct {
	OrderID  string
	Customer string
	Amount   int64
}

// Receipt is the provider's answer.
type Receipt struct {
	ID string
}

// Charge charges the customer, passing the key as the idempotency key.
//
//idem:key p.OrderID
//idem:effect api
//idem:retry attempts=5 delay=200ms
func Charge(ctx context.Context, c *http.Client, p Payment) (Receipt, error) {
	body, _ := json.Marshal(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://pay.example.com/charges", bytes.NewReader(body))
	if err != nil {
		return Receipt{}, err
	}
	key, _ := runtime.KeyFrom(ctx)
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return Receipt{}, err
	}
	defer resp.Body.Close()
	var r Receipt
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return Receipt{}, err
	}
	return r, hook(c, r)
}

// hook tells the shop's ledger about a receipt. Only Charge calls it.
func hook(c *http.Client, r Receipt) error {
	resp, err := c.Post("https://ledger.example.com/receipts", "text/plain", bytes.NewBufferString(r.ID))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Refund refunds a payment.
func Refund(ctx context.Context, paymentID string, amount int64) error {
	resp, err := http.Post("https://pay.example.com/refunds/"+paymentID, "text/plain", bytes.NewBufferString(fmt.Sprint(amount)))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Status reads a payment's status: a GET, not a side effect.
func Status(ctx context.Context, c *http.Client, paymentID string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://pay.example.com/charges/"+paymentID, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return resp.Status, nil
}
