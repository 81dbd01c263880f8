package runtime

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// The benchmark key: a namespace and three string arguments of 40 bytes in
// all, the shape of a typical payment or order key.
const (
	benchNamespace = "pay.Charge"
	benchArg0      = "cus_Nffrfeufeu3284" // 18 bytes
	benchArg1      = "ord-2024-000172"    // 15 bytes
	benchArg2      = "EUR1250"            // 7 bytes
)

var (
	benchKeySink Key
	benchSumSink [32]byte
)

func benchKey() (Key, error) {
	var e Encoder
	e.Begin(benchNamespace, 1)
	e.String(benchArg0)
	e.String(benchArg1)
	e.String(benchArg2)
	return e.Sum()
}

// benchArgs is the three arguments concatenated: 40 bytes.
func benchArgs() []byte { return []byte(benchArg0 + benchArg1 + benchArg2) }

// benchEncoded is the exact encoding benchKey hashes: the prefix, the tags
// and lengths, and the arguments (69 bytes).
func benchEncoded() []byte {
	var e Encoder
	out := []byte{}
	e.tee = &out
	e.Begin(benchNamespace, 1)
	e.String(benchArg0)
	e.String(benchArg1)
	e.String(benchArg2)
	if _, err := e.Sum(); err != nil {
		panic(err)
	}
	return out
}

// BenchmarkKeySum derives a key for three string arguments: Begin, three
// String calls and Sum, with the Encoder on the stack.
func BenchmarkKeySum(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		k, err := benchKey()
		if err != nil {
			b.Fatal(err)
		}
		benchKeySink = k
	}
}

// BenchmarkSHA256Baseline is sha256.Sum256 over the three arguments
// concatenated (40 bytes, one SHA-256 block).
func BenchmarkSHA256Baseline(b *testing.B) {
	b.ReportAllocs()
	buf := benchArgs()
	for b.Loop() {
		benchSumSink = sha256.Sum256(buf)
	}
}

// BenchmarkSHA256BaselineEncoded is sha256.Sum256 over the bytes
// BenchmarkKeySum hashes (69 bytes, two SHA-256 blocks): the difference to
// BenchmarkKeySum is the encoder's own cost.
func BenchmarkSHA256BaselineEncoded(b *testing.B) {
	b.ReportAllocs()
	buf := benchEncoded()
	for b.Loop() {
		benchSumSink = sha256.Sum256(buf)
	}
}

// BenchmarkKeySumRatio reports the time of a key derivation divided by the
// time of each baseline, measured in alternating batches so that all three
// see the same machine load: keysum/sha256 against the 40 argument bytes,
// keysum/sha256enc against the 69 encoded bytes.
func BenchmarkKeySumRatio(b *testing.B) {
	args, enc := benchArgs(), benchEncoded()
	var keyTime, argsTime, encTime time.Duration
	const batch = 1000
	for b.Loop() {
		t0 := time.Now()
		for range batch {
			benchKeySink, _ = benchKey()
		}
		t1 := time.Now()
		for range batch {
			benchSumSink = sha256.Sum256(args)
		}
		t2 := time.Now()
		for range batch {
			benchSumSink = sha256.Sum256(enc)
		}
		keyTime += t1.Sub(t0)
		argsTime += t2.Sub(t1)
		encTime += time.Since(t2)
	}
	b.ReportMetric(float64(keyTime)/float64(argsTime), "keysum/sha256")
	b.ReportMetric(float64(keyTime)/float64(encTime), "keysum/sha256enc")
	b.ReportMetric(0, "ns/op") // the batches make ns/op meaningless
}

// BenchmarkKeySumContext derives the key of BenchmarkKeySum through
// SumContext, as the runtime does: plain, under a scope, and under a scope
// and a key secret (HMAC-SHA256).
func BenchmarkKeySumContext(b *testing.B) {
	scoped := WithScope(context.Background(), "tenant-42")
	for _, c := range []struct {
		name   string
		ctx    context.Context
		secret []byte
	}{
		{"plain", context.Background(), nil},
		{"scope", scoped, nil},
		{"scope+secret", scoped, []byte("0123456789abcdef0123456789abcdef")},
	} {
		b.Run(c.name, func(b *testing.B) {
			SetKeySecret(c.secret)
			defer SetKeySecret(nil)
			b.ReportAllocs()
			for b.Loop() {
				var e Encoder
				e.Begin(benchNamespace, 1)
				e.String(benchArg0)
				e.String(benchArg1)
				e.String(benchArg2)
				k, err := e.SumContext(c.ctx)
				if err != nil {
					b.Fatal(err)
				}
				benchKeySink = k
			}
		})
	}
}
