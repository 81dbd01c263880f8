package runtime_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// stepsOnce runs one composite execution of the steps named names, each
// returning benchReceipt, and fails permanently at the end when park is
// set (the operation is parked, its steps kept).
func stepsOnce(ctx context.Context, spec *runtime.Spec, key string, names []string, park bool) error {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(key)
	f.Begin(spec.Namespace, spec.Version)
	_, err := runtime.Do(ctx, spec, &k, &f, func(ctx context.Context) (int, error) {
		for _, name := range names {
			if _, err := runtime.Step(ctx, name, runtime.EffectAPI, func(context.Context) (receipt, error) { return benchReceipt, nil }); err != nil {
				return 0, err
			}
		}
		if park {
			return 0, runtime.Permanent(errParked)
		}
		return len(names), nil
	})
	return err
}

var errParked = errors.New("parked")

// BenchmarkStep measures one step through memstore: "first" runs it
// (claim, run, record), "replayed" returns its recorded result in a later
// execution of the operation. Steps run in operations of stepsPerOp, so
// the operation's own claim and completion are spread over them; the
// store is replaced every 10,000 steps so that its size stays that of a
// working store.
func BenchmarkStep(b *testing.B) {
	const stepsPerOp = 100
	names := make([]string, stepsPerOp)
	for i := range names {
		names[i] = "step-" + strconv.Itoa(i)
	}
	newCtx := func() context.Context { return runtime.WithStore(context.Background(), memstore.New()) }
	b.Run("first", func(b *testing.B) {
		spec := &runtime.Spec{Namespace: "bench/step-first", Version: 1, Effect: runtime.EffectComposite}
		ctx := newCtx()
		b.ReportAllocs()
		b.ResetTimer()
		for op := 0; op*stepsPerOp < b.N; op++ {
			if op%100 == 99 {
				b.StopTimer()
				ctx = newCtx()
				b.StartTimer()
			}
			if err := stepsOnce(ctx, spec, strconv.Itoa(op), names, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replayed", func(b *testing.B) {
		spec := &runtime.Spec{Namespace: "bench/step-replayed", Version: 1, Effect: runtime.EffectComposite}
		ctx := newCtx()
		for op := range 100 {
			if err := stepsOnce(ctx, spec, strconv.Itoa(op), names, true); !errors.Is(err, errParked) {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for op := 0; op*stepsPerOp < b.N; op++ {
			// Each execution replays every step and is parked again.
			if err := stepsOnce(ctx, spec, strconv.Itoa(op%100), names, true); !errors.Is(err, errParked) {
				b.Fatal(err)
			}
		}
	})
}

// countingStore counts the store calls that write (each a durable,
// fsynced transaction on SQLite) and those that only read.
type countingStore struct {
	store.Store
	writes, reads atomic.Int64
}

func (s *countingStore) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	res, err := s.Store.Claim(ctx, req)
	if err == nil && !res.Granted && res.Record.State == store.StateCompleted {
		s.reads.Add(1) // found the completed record: nothing written
	} else {
		s.writes.Add(1)
	}
	return res, err
}

func (s *countingStore) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retain time.Time) error {
	s.writes.Add(1)
	return s.Store.Complete(ctx, key, f, result, retain)
}

func (s *countingStore) Renew(ctx context.Context, key store.Key, f store.Fence, lease time.Time) error {
	s.writes.Add(1)
	return s.Store.Renew(ctx, key, f, lease)
}

func (s *countingStore) Release(ctx context.Context, key store.Key, f store.Fence) error {
	s.writes.Add(1)
	return s.Store.Release(ctx, key, f)
}

func (s *countingStore) MarkIndeterminate(ctx context.Context, key store.Key, f store.Fence, retain time.Time) error {
	s.writes.Add(1)
	return s.Store.MarkIndeterminate(ctx, key, f, retain)
}

func (s *countingStore) Get(ctx context.Context, key store.Key) (store.Record, error) {
	s.reads.Add(1)
	return s.Store.Get(ctx, key)
}

// countingTxOps counts the commits of StepTx's transactions.
type countingTxOps struct {
	runtime.TxOps[*sql.Tx]
	commits atomic.Int64
}

func (o *countingTxOps) Commit(ctx context.Context, tx *sql.Tx) error {
	o.commits.Add(1)
	return o.TxOps.Commit(ctx, tx)
}

// TestCompositeDurableWrites counts, on one SQLite file holding both the
// store and the step's database, the durable writes of a 3-step composite
// (a SQL step, an api step, a queue step): its first execution makes one
// per SQL step, two per store-backed step (claim and result: the store
// contract has no write that creates a completed record) and two for the
// operation (claim and completion); a replay of the whole operation is one
// read.
func TestCompositeDurableWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one.db")
	st, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer st.Close()
	cs := &countingStore{Store: st}
	db := openSQLiteLedgerDB(t, path)
	_, err = db.Exec(`CREATE TABLE rows (id TEXT PRIMARY KEY)`)
	require.NoError(t, err)
	base, err := runtime.SQLTxOps(db)
	require.NoError(t, err)
	ops := &countingTxOps{TxOps: base}
	ctx := runtime.WithStore(context.Background(), cs)
	spec := newSpec(t, runtime.EffectComposite, 0)
	runs := 0
	op := func() (string, error) {
		k, f := encoders(spec, "o1", "")
		return runtime.Do(ctx, spec, k, f, func(ctx context.Context) (string, error) {
			id, err := runtime.StepTx(ctx, "insert", ops, func(ctx context.Context, tx *sql.Tx) (string, error) {
				runs++
				_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES ('o1')`)
				return "o1", err
			})
			if err != nil {
				return "", err
			}
			rc, err := runtime.Step(ctx, "charge", runtime.EffectAPI, func(context.Context) (string, error) { runs++; return "rc", nil })
			if err != nil {
				return "", err
			}
			msg, err := runtime.Step(ctx, "publish", runtime.EffectQueue, func(context.Context) (string, error) { runs++; return "m", nil })
			return id + rc + msg, err
		})
	}
	got, err := op()
	require.NoError(t, err)
	require.Equal(t, "o1rcm", got)
	require.Equal(t, 3, runs)
	require.EqualValues(t, 1, ops.commits.Load(), "the SQL step: one transaction")
	require.EqualValues(t, 2+2*2, cs.writes.Load(), "the operation's claim and completion, and two writes per store-backed step")
	require.EqualValues(t, 0, cs.reads.Load())

	cs.writes.Store(0)
	got, err = op()
	require.NoError(t, err)
	require.Equal(t, "o1rcm", got)
	require.Equal(t, 3, runs)
	require.EqualValues(t, 1, ops.commits.Load(), "a replay commits nothing")
	require.EqualValues(t, 0, cs.writes.Load(), "a replay writes nothing")
	require.EqualValues(t, 1, cs.reads.Load(), "a replay is one read")
}
