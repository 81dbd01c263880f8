// Package amqp091 is a stub of github.com/rabbitmq/amqp091-go for the
// audit's test module: the channel's publish methods, no network code.
package amqp091

import "context"

// Publishing is a message to publish.
type Publishing struct {
	MessageId string
	Body      []byte
}

// Channel is an AMQP channel.
type Channel struct{}

// PublishWithContext publishes a message.
func (ch *Channel) PublishWithContext(ctx context.Context, exchange, key string, mandatory, immediate bool, msg Publishing) error {
	return nil
}
