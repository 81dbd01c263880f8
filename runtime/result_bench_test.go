package runtime

import (
	"testing"
	"time"
)

var benchResultSink []byte

// BenchmarkUnmarshalResult3 is the replay hot path: decoding a recorded
// {ID int64; Name string; At time.Time} into the caller's result value.
func BenchmarkUnmarshalResult3(b *testing.B) {
	v := resultBench3{ID: 1234567, Name: "customer-42", At: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)}
	data, err := marshalResult(&v)
	if err != nil {
		b.Fatal(err)
	}
	out := new(resultBench3)
	b.ReportAllocs()
	for b.Loop() {
		if err := unmarshalResult(data, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalResult3 records the same value (once per executed call).
func BenchmarkMarshalResult3(b *testing.B) {
	v := resultBench3{ID: 1234567, Name: "customer-42", At: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)}
	b.ReportAllocs()
	for b.Loop() {
		data, err := marshalResult(&v)
		if err != nil {
			b.Fatal(err)
		}
		benchResultSink = data
	}
}
