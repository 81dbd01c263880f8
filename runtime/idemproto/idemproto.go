// Package idemproto lets wrapped functions return protobuf messages: when
// imported (blank import is enough), it registers a result codec
// (runtime.RegisterResultCodec) for every type implementing proto.Message,
// so that results holding generated messages (as a result, a struct field,
// a slice element or a map value) are recorded and replay equal to the
// original (proto.Equal), unknown fields included.
//
// idemgen adds
//
//	import _ "github.com/idem-go/idem/runtime/idemproto"
//
// to generated files whose wrappers' results hold a type with a
// ProtoReflect method; programs that return no messages never link
// protobuf through idem.
//
// A message is recorded as its binary protobuf encoding (deterministic
// marshaling), inside the CBOR record as a byte string; a nil message as
// null. Messages evolve by protobuf's own rules: a field added to the
// message replays as its default, and a removed one is kept as an unknown
// field. Record messages of generated types: a dynamicpb.Message carries
// its type in the value, which a replay does not know.
package idemproto

import (
	"reflect"

	"google.golang.org/protobuf/proto"

	"github.com/idem-go/idem/runtime"
)

func init() {
	runtime.RegisterResultCodec(reflect.TypeFor[proto.Message](), runtime.ResultCodec{
		Name: "protobuf",
		Marshal: func(v any) ([]byte, error) {
			return proto.MarshalOptions{Deterministic: true}.Marshal(v.(proto.Message))
		},
		Unmarshal: func(data []byte, v any) error {
			return proto.Unmarshal(data, v.(proto.Message))
		},
	})
}
