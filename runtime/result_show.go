package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/fxamacker/cbor/v2"
)

// showDecMode decodes a record without its Go types: maps (and so structs)
// as map[any]any, times as time.Time.
var showDecMode, _ = cbor.DecOptions{
	MaxNestedLevels:       maxResultDepth + 8,
	DefaultMapType:        nil,
	TimeTag:               cbor.DecTagOptional,
	DupMapKey:             cbor.DupMapKeyEnforcedAPF,
	IntDec:                cbor.IntDecConvertSigned,
	UTF8:                  cbor.UTF8RejectInvalid,
	IndefLength:           cbor.IndefLengthForbidden,
	DefaultByteStringType: nil,
}.DecMode()

// DecodeRecordedResult decodes a completed record's result (store.Record's
// Result) without the Go types that wrote it, for operators' tools: the
// results struct and every struct in it become maps from field name to
// value (map[string]any; maps with other keys get their keys printed with
// %v), lists []any, byte strings []byte, times time.Time, numbers int64,
// uint64 or float64. An encrypted record is decrypted with the configured
// result keys (SetResultKeys or IDEM_RESULT_KEYS). The value marshals to
// JSON.
func DecodeRecordedResult(data []byte) (any, error) {
	if !bytes.HasPrefix(data, resultPrefix) {
		return nil, errors.New("idem: the recorded results are not a CBOR record of this idem release")
	}
	body := data[len(resultPrefix):]
	if isSealedResult(body) {
		var err error
		if body, err = openResult(body); err != nil {
			return nil, err
		}
	}
	var v any
	if err := showDecMode.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("idem: the recorded results are malformed: %w", err)
	}
	return jsonable(v), nil
}

// jsonable turns the generic decoding into values encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		byName := make(map[string]any, len(x))
		for k, e := range x {
			name, ok := k.(string)
			if !ok {
				name = fmt.Sprint(k)
			}
			keys = append(keys, name)
			byName[name] = e
		}
		sort.Strings(keys)
		for _, k := range keys {
			out[k] = jsonable(byName[k])
		}
		return out
	case []any:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	case cbor.Tag:
		return map[string]any{"tag": x.Number, "content": jsonable(x.Content)}
	}
	return v
}
