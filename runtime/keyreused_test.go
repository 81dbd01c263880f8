package runtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// TestKeyReusedNamesTheFingerprint: the message of ErrKeyReused names the
// arguments the fingerprint covers (Spec.Fingerprint, which idemgen fills)
// and how to pin it, never a version bump.
func TestKeyReusedNamesTheFingerprint(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := &runtime.Spec{Namespace: "keyreused/test.Charge", Version: 1, Fingerprint: "order, amount"}
	call := func(fp string) error {
		var key, f runtime.Encoder
		key.Begin(spec.Namespace, spec.Version)
		key.String("o1")
		f.Begin(spec.Namespace, spec.Version)
		f.String(fp)
		_, err := runtime.Do(ctx, spec, &key, &f, func(context.Context) (int, error) { return 1, nil })
		return err
	}
	require.NoError(t, call("a"))
	err := call("b")
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Contains(t, err.Error(), "fingerprint (order, amount)")
	require.Contains(t, err.Error(), "//idem:fingerprint")
	require.NotContains(t, err.Error(), "//idem:version")
}

// event is a fingerprinted struct argument.
type event struct {
	ID     string
	Amount int64
	At     time.Time
	Memo   string
}

// encodeEvent writes ev as generated code does: fields sorted by name.
func encodeEvent(e *runtime.Encoder, ev event) {
	e.Struct()
	e.Field("Amount")
	e.Int64(ev.Amount)
	e.Field("At")
	e.Time(ev.At)
	e.Field("ID")
	e.String(ev.ID)
	e.Field("Memo")
	e.String(ev.Memo)
	e.EndStruct()
}

// doer runs one wrapped call of spec: runtime.Do on a store, or the db
// effect on a database.
type doer func(spec *runtime.Spec, k, f *runtime.Encoder, run func(context.Context) (int, error)) (int, error)

// onStore is the doer of runtime.Do on the store of ctx.
func onStore(ctx context.Context) doer {
	return func(spec *runtime.Spec, k, f *runtime.Encoder, run func(context.Context) (int, error)) (int, error) {
		return runtime.Do(ctx, spec, k, f, run)
	}
}

// reuse calls a function fingerprinted on (ev, amount) and keyed on key,
// first with first, then with second, and returns the second call's error
// and how often the function ran.
func reuse(t *testing.T, ctx context.Context, key string, first, second event, amount1, amount2 int, ptr bool) (error, int) {
	t.Helper()
	return reuseThrough(t, onStore(ctx), runtime.EffectNone, key, first, second, amount1, amount2, ptr)
}

// reuseThrough is reuse through do, under effect.
func reuseThrough(t *testing.T, do doer, effect runtime.Effect, key string, first, second event, amount1, amount2 int, ptr bool) (error, int) {
	t.Helper()
	spec := &runtime.Spec{Namespace: "keyreused/test.Post", Version: 1, Fingerprint: "ev, amount", Effect: effect}
	runs := 0
	call := func(ev event, amount int) error {
		var k, f runtime.Encoder
		k.Begin(spec.Namespace, spec.Version)
		k.String(key)
		f.Begin(spec.Namespace, spec.Version)
		if ptr {
			f.Pointer()
		}
		encodeEvent(&f, ev)
		f.Int(amount)
		got, err := do(spec, &k, &f, func(context.Context) (int, error) { runs++; return 1, nil })
		if err == nil && got != 1 {
			t.Fatalf("the call returned %d, not the recorded 1", got)
		}
		return err
	}
	require.NoError(t, call(first, amount1))
	require.NoError(t, call(first, amount1), "a call with the recorded arguments replays")
	require.Equal(t, 1, runs, "a replay does not run the function")
	return call(second, amount2), runs
}

func uniqueKey(t *testing.T) string {
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return t.Name() + "/" + hex.EncodeToString(b[:])
}

// requireDiffer requires err to be ErrKeyReused naming exactly these parts.
func requireDiffer(t *testing.T, err error, parts string) {
	t.Helper()
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	msg := err.Error()
	require.Contains(t, msg, "fingerprint (ev, amount)", "today's message is kept")
	require.Contains(t, msg, "values that differ from the recorded call: "+parts+";", msg)
}

// keyReusedCases asserts the named parts of ErrKeyReused on the store of
// ctx: fields of a struct argument, a field zero on one side, a
// top-level scalar, a struct behind a pointer, and an encoding longer
// than the Encoder's inline buffer.
func keyReusedCases(t *testing.T, ctx context.Context) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := event{ID: "ev-1", Amount: 100, At: at, Memo: "rent"}

	t.Run("Fields", func(t *testing.T) {
		other := ev
		other.Amount, other.At = 200, at.Add(time.Second)
		err, runs := reuse(t, ctx, uniqueKey(t), ev, other, 1, 1, false)
		requireDiffer(t, err, "ev.Amount, ev.At")
		require.Equal(t, 1, runs, "a reused key does not run the function")
	})
	t.Run("ZeroOnOneSide", func(t *testing.T) {
		other := ev
		other.Memo = "" // left out of the encoding
		err, _ := reuse(t, ctx, uniqueKey(t), ev, other, 1, 1, false)
		requireDiffer(t, err, "ev.Memo")
		err, _ = reuse(t, ctx, uniqueKey(t), other, ev, 1, 1, false)
		requireDiffer(t, err, "ev.Memo")
	})
	t.Run("Scalar", func(t *testing.T) {
		err, _ := reuse(t, ctx, uniqueKey(t), ev, ev, 1, 2, false)
		requireDiffer(t, err, "amount")
	})
	t.Run("StructAndScalar", func(t *testing.T) {
		other := ev
		other.ID = "ev-2"
		err, _ := reuse(t, ctx, uniqueKey(t), ev, other, 1, 2, true)
		requireDiffer(t, err, "ev.ID, amount")
	})
	t.Run("LongEncoding", func(t *testing.T) {
		long := ev
		long.Memo = strings.Repeat("m", 700) // streams past the inline buffer
		other := long
		other.At = at.Add(time.Hour)
		err, _ := reuse(t, ctx, uniqueKey(t), long, other, 1, 1, false)
		requireDiffer(t, err, "ev.At")
		other = long
		other.Memo += "!"
		err, _ = reuse(t, ctx, uniqueKey(t), long, other, 1, 1, false)
		requireDiffer(t, err, "ev.Memo")
	})
}

// TestKeyReusedNamesTheDifferingParts: with per-part digests in the
// record, ErrKeyReused names exactly the parts that differ, on every kind
// of store.
func TestKeyReusedNamesTheDifferingParts(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		keyReusedCases(t, runtime.WithStore(context.Background(), memstore.New()))
	})
	t.Run("sqlitestore", func(t *testing.T) {
		s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "idem.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		keyReusedCases(t, runtime.WithStore(context.Background(), s))
	})
	t.Run("pgstore", func(t *testing.T) {
		dsn := testenv.PostgresDSN(t)
		table := "keyreused_" + strings.ToLower(hex.EncodeToString([]byte(uniqueKey(t)[len(t.Name())+1:])))[:16]
		s, err := pgstore.Open(context.Background(), dsn, pgstore.WithTable(table))
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = s.Close()
			dropPgTable(t, dsn, table)
		})
		keyReusedCases(t, runtime.WithStore(context.Background(), s))
	})
	t.Run("redisstore", func(t *testing.T) {
		s, err := redisstore.Open(testenv.RedisURL(t), redisstore.WithPrefix("keyreused:"+uniqueKey(t)+":"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		keyReusedCases(t, runtime.WithStore(context.Background(), s))
	})
}

// TestKeyReusedNamesPartsUnderAKeySecret: keyed digests compare like
// unkeyed ones.
func TestKeyReusedNamesPartsUnderAKeySecret(t *testing.T) {
	runtime.SetKeySecret([]byte("0123456789abcdef0123456789abcdef"))
	t.Cleanup(func() { runtime.SetKeySecret(nil) })
	ctx := runtime.WithStore(context.Background(), memstore.New())
	ev := event{ID: "ev-1", Amount: 100}
	other := ev
	other.Amount = 101
	err, _ := reuse(t, ctx, uniqueKey(t), ev, other, 1, 1, false)
	requireDiffer(t, err, "ev.Amount")
}

// partsDropper is a store that keeps no per-part digests, like a SQL
// store on a table without the column.
type partsDropper struct{ store.Store }

func (s partsDropper) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	req.FingerprintParts = nil
	return s.Store.Claim(ctx, req)
}

// TestKeyReusedWithoutParts: a record without per-part digests gives
// today's message and says that the store kept none.
func TestKeyReusedWithoutParts(t *testing.T) {
	requireReuseWithoutParts(t, runtime.WithStore(context.Background(), partsDropper{memstore.New()}))
}

// requireReuseWithoutParts requires a reuse on the store of ctx to give
// the message without parts, without running the function again.
func requireReuseWithoutParts(t *testing.T, ctx context.Context) {
	t.Helper()
	requireReuseWithoutPartsThrough(t, onStore(ctx), runtime.EffectNone)
}

// requireReuseWithoutPartsThrough is requireReuseWithoutParts through do.
func requireReuseWithoutPartsThrough(t *testing.T, do doer, effect runtime.Effect) {
	t.Helper()
	ev := event{ID: "ev-1", Amount: 100}
	other := ev
	other.Amount = 101
	err, runs := reuseThrough(t, do, effect, uniqueKey(t), ev, other, 1, 1, false)
	requireNoParts(t, err)
	require.Equal(t, 1, runs)
}

// requireNoParts requires err to be today's ErrKeyReused, saying that the
// store kept no per-part digests.
func requireNoParts(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Contains(t, err.Error(), "with other values of its fingerprint (ev, amount)")
	require.Contains(t, err.Error(), "the store kept no per-part digests for the recorded call")
	require.NotContains(t, err.Error(), "values that differ")
}

// dropPgTable drops a table a test created, with its sequence.
func dropPgTable(t *testing.T, dsn, table string) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table+" CASCADE")
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), "DROP SEQUENCE IF EXISTS "+table+"_token_seq")
	require.NoError(t, err)
}
