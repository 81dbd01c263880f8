package shapes

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Money has unexported state but marshals itself, so it can be recorded.
type Money struct {
	cents int64
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m *Money) MarshalBinary() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(m.cents)), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (m *Money) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return errors.New("money: want 8 bytes")
	}
	m.cents = int64(binary.BigEndian.Uint64(b))
	return nil
}

// Receipt is a result behind a pointer.
type Receipt struct {
	Number int
	Lines  map[string][]float64
}

// Charge returns several results of several kinds.
//
//idem:key id
func Charge(ctx context.Context, id string, cents int64) (Money, *Receipt, time.Time, error) {
	called(ctx, "Charge")
	return Money{cents: cents}, &Receipt{Number: 7, Lines: map[string][]float64{id: {1.5}}}, time.Unix(1700000000, 0).UTC(), nil
}

// Order is published.
type Order struct {
	ID     string
	Amount int64
	Note   string
}

// Publish sets every directive.
//
//idem:key order.ID
//idem:fingerprint order.ID, order.Amount
//idem:effect queue
//idem:retry attempts=3 delay=1s max-delay=5s
//idem:ttl 72h
//idem:lease 90s
//idem:namespace "billing/publish order"
//idem:version 2
func Publish(ctx context.Context, order Order) error {
	called(ctx, "Publish")
	return nil
}

// Ping has no fingerprint: any call with a recorded key replays it.
//
//idem:key id
//idem:fingerprint -
func Ping(ctx context.Context, id string, note string) (string, error) {
	called(ctx, "Ping")
	return note, nil
}
