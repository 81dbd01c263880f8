package runtime

// MarshalResultForBench exposes marshalResult, the codec a wrapped call
// records its results with, to the external benchmarks.
func MarshalResultForBench[R any](v *R) ([]byte, error) { return marshalResult(v) }
