// Package kafka is a stub of github.com/segmentio/kafka-go for the audit's
// test module: the writer's method set, no network code.
package kafka

import "context"

// Message is a Kafka message.
type Message struct {
	Key, Value []byte
	Headers    []Header
}

// Header is a message header.
type Header struct {
	Key   string
	Value []byte
}

// Writer writes messages to a topic.
type Writer struct {
	Addr, Topic string
}

// WriteMessages writes messages.
func (w *Writer) WriteMessages(ctx context.Context, msgs ...Message) error { return nil }
