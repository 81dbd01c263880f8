package runtime

import (
	"encoding"
	"fmt"
)

// Text writes the text a value marshals to, for key and fingerprint values
// whose structure cannot be encoded field by field (unexported state of
// another package) but that implement encoding.TextMarshaler: math/big
// numbers, decimals, and the like. It is encoded as [Encoder.Bytes] of
// the text, so two values with the same text encode alike. A MarshalText
// error fails the encoding (a wrapped call then fails with [ErrInvalidKey]). The
// caller writes Nil for a nil pointer itself.
func (e *Encoder) Text(v encoding.TextMarshaler) {
	if e.err != nil {
		return
	}
	b, err := v.MarshalText()
	e.Marshaled(b, err, "MarshalText")
}

// Marshaled writes the bytes a value marshaled to (by a marshaler named
// how, for the error), as [Encoder.Bytes]; when err is not nil it fails the
// encoding instead with an error wrapping err (a wrapped call then fails
// with [ErrInvalidKey]).
// Encoders of other formats (runtime/idemproto for protobuf messages) call
// it.
func (e *Encoder) Marshaled(b []byte, err error, how string) {
	if e.err != nil {
		return
	}
	if err != nil {
		e.fail(fmt.Errorf("idem: a key or fingerprint value cannot be encoded: %s failed: %w", how, err))
		return
	}
	e.Bytes(b)
}
