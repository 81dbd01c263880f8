package sqlitestore

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/idem-go/idem/internal/cputime"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/store"
)

// BenchmarkReplayFloor breaks a replay through SQLite into what it adds
// to a raw primary-key read, each measured on the same keys in the same
// file, interleaved so that machine load weighs on all alike:
//
//   - raw: SELECT val FROM raw WHERE key = ? (idembench's baseline);
//   - row: the store's own read of the whole record (sqlSelect, 11
//     columns, and scan), which Claim answers a replay from;
//   - claim: Store.Claim of a completed key (row plus the protocol's
//     checks and decision);
//   - do: runtime.Do replaying the key (claim plus the key and
//     fingerprint digests and decoding the result).
//
// It reports each one's ns/op and its ratio to raw, of wall time and of the
// process's CPU time (which holds on a loaded machine).
func BenchmarkReplayFloor(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "floor.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE raw (key BLOB NOT NULL PRIMARY KEY, val BLOB NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	sel, err := s.db.PrepareContext(ctx, `SELECT val FROM raw WHERE key = ?`)
	if err != nil {
		b.Fatal(err)
	}
	defer sel.Close()
	type receipt struct {
		ID     int64
		Status string
	}
	const keys = 64
	spec := &runtime.Spec{Namespace: "bench/replay-floor", Version: 1}
	rctx := runtime.WithStore(ctx, s)
	do := func(j int) (receipt, error) {
		var k, f runtime.Encoder
		k.Begin(spec.Namespace, spec.Version)
		k.Int(j)
		f.Begin(spec.Namespace, spec.Version)
		f.Int(j)
		return runtime.Do(rctx, spec, &k, &f, func(context.Context) (receipt, error) { return receipt{ID: int64(j), Status: "ok"}, nil })
	}
	rawKeys := make([][]byte, keys)
	recKeys := make([]store.Key, keys)
	fps := make([]store.Fingerprint, keys)
	for j := range keys {
		rawKeys[j] = binary.BigEndian.AppendUint64(make([]byte, 24, 32), uint64(j))
		if _, err := s.db.ExecContext(ctx, `INSERT INTO raw (key, val) VALUES (?, ?)`, rawKeys[j], []byte("receipt-ok")); err != nil {
			b.Fatal(err)
		}
		if _, err := do(j); err != nil {
			b.Fatal(err)
		}
		var k, f runtime.Encoder
		k.Begin(spec.Namespace, spec.Version)
		k.Int(j)
		f.Begin(spec.Namespace, spec.Version)
		f.Int(j)
		if recKeys[j], err = k.Sum(); err != nil {
			b.Fatal(err)
		}
		if fps[j], err = f.SumFingerprint(); err != nil {
			b.Fatal(err)
		}
	}
	sides := []struct {
		name string
		op   func(j int) error
	}{
		{"raw", func(j int) error {
			var v []byte
			return sel.QueryRowContext(ctx, rawKeys[j]).Scan(&v)
		}},
		{"row", func(j int) error {
			_, _, err := s.read(ctx, recKeys[j])
			return err
		}},
		{"claim", func(j int) error {
			now := time.Now()
			res, err := s.Claim(ctx, store.ClaimRequest{Key: recKeys[j], Namespace: spec.Namespace, Fingerprint: fps[j],
				Owner: store.Owner{byte(j)}, Now: now, LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)})
			if err == nil && res.Granted {
				b.Fatal("a completed key was granted")
			}
			return err
		}},
		{"do", func(j int) error {
			_, err := do(j)
			return err
		}},
	}
	const batch = 64
	wall := make([]time.Duration, len(sides))
	cpu := make([]time.Duration, len(sides))
	_, cpuOK := cputime.Process()
	b.ResetTimer()
	for from := 0; from < b.N; from += batch {
		to := min(from+batch, b.N)
		for n := range sides {
			side := (n + from/batch) % len(sides) // rotate which goes first
			c0, _ := cputime.Process()
			start := time.Now()
			for i := from; i < to; i++ {
				if err := sides[side].op(i % keys); err != nil {
					b.Fatal(err)
				}
			}
			wall[side] += time.Since(start)
			c1, _ := cputime.Process()
			cpu[side] += c1 - c0
		}
	}
	for n, sd := range sides {
		b.ReportMetric(float64(wall[n])/float64(b.N), sd.name+"-ns/op")
		if cpuOK {
			b.ReportMetric(float64(cpu[n])/float64(b.N), sd.name+"-cpu-ns/op")
		}
		if n > 0 {
			b.ReportMetric(float64(wall[0])/float64(wall[n]), "raw/"+sd.name)
			if cpuOK {
				b.ReportMetric(float64(cpu[0])/float64(cpu[n]), "raw/"+sd.name+"-cpu")
			}
		}
	}
}
