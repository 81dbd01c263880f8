// Package adopt shows idem adopted in a package that already has tests with
// mocks: the function keeps its mockable dependency, its old tests run
// against the wrapper under idemtest.Passthrough, and a new test checks the
// deduplication under idemtest.Store (see notify_test.go).
package adopt

import (
	"context"
	"errors"
	"fmt"
)

//go:generate go run github.com/idem-go/idem/cmd/idemgen

// Mailer sends e-mails; tests replace it with a mock.
type Mailer interface {
	Send(ctx context.Context, to, subject string) (id string, err error)
}

// ErrNoRecipient is returned for an order without an e-mail address.
var ErrNoRecipient = errors.New("adopt: the order has no e-mail address")

// Order is what Confirm needs to know about an order.
type Order struct {
	ID    string
	Email string
}

// Confirm e-mails the order's confirmation and returns the message's id.
//
//idem:key o.ID
func Confirm(ctx context.Context, m Mailer, o Order) (string, error) {
	if o.Email == "" {
		return "", ErrNoRecipient
	}
	id, err := m.Send(ctx, o.Email, fmt.Sprintf("order %s confirmed", o.ID))
	if err != nil {
		return "", fmt.Errorf("confirm order %s: %w", o.ID, err)
	}
	return id, nil
}
