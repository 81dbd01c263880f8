// Package idemproto encodes protobuf messages in idem keys and
// fingerprints. Generated wrappers import it only when a key or
// fingerprint part is a protobuf message, so the runtime itself links no
// protobuf.
package idemproto

import (
	"google.golang.org/protobuf/proto"

	"github.com/idem-go/idem/runtime"
)

// EncodeKey writes m to e as its deterministic wire encoding
// (proto.MarshalOptions{Deterministic: true}: map entries sorted), through
// [runtime.Encoder.Marshaled]. Two messages that are proto.Equal and
// marshal to the same bytes encode alike; unknown fields are part of the
// bytes. A marshal error fails the encoding (the wrapped call then fails
// with runtime.ErrInvalidKey). The caller writes Nil for a nil message.
func EncodeKey(e *runtime.Encoder, m proto.Message) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	e.Marshaled(b, err, "deterministic protobuf marshal")
}
