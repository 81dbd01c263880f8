// Package ifaces is a golden case of idemgen: directives on the methods of
// interfaces generate decorators, <Interface>Idem, built with
// New<Interface>Idem.
package ifaces

import (
	"context"
	"io"
)

// Order is an argument.
type Order struct {
	ID     string
	Amount int64
}

// OrderRepo is how the service reaches its orders; tests mock it.
type OrderRepo interface {
	io.Closer

	// Insert stores an order and returns its row id.
	//
	//idem:key o.ID
	Insert(ctx context.Context, o Order) (int64, error)

	// Tag adds tags to an order: a variadic method.
	//
	//idem:key id
	//idem:effect api
	//idem:retry attempts=3 delay=1ms
	Tag(ctx context.Context, id string, tags ...string) error

	// Get reads an order; it has no directives and is delegated.
	Get(ctx context.Context, id string) (Order, error)

	// Count has no directives and takes a variadic argument.
	Count(kinds ...string) int
}

// Publisher is a generic interface.
type Publisher[M any] interface {
	// Publish sends a message.
	//
	//idem:key topic, id
	//idem:effect queue
	Publish(ctx context.Context, topic string, id string, m M) error

	// Flush is delegated.
	Flush()
}
