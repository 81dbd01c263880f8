package sqlitestore_test

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// snapshot copies the SQLite file at path and its write-ahead log to dir,
// as a power loss would leave them if nothing after this moment reached
// the disk, and returns the copy's path. Nothing writes the file meanwhile.
func snapshot(t *testing.T, path, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(path))
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(path + suffix)
		require.NoError(t, err)
		out, err := os.Create(dst + suffix)
		require.NoError(t, err)
		_, err = io.Copy(out, in)
		require.NoError(t, err)
		require.NoError(t, in.Close())
		require.NoError(t, out.Close())
	}
	return dst
}

func call(ctx context.Context, spec *runtime.Spec, fn func(context.Context) (int, error)) (int, error) {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String("order-1")
	f.Begin(spec.Namespace, spec.Version)
	f.String("fp")
	return runtime.Do(ctx, spec, &k, &f, fn)
}

// Under store.DurableClaims a completion may be lost in a power loss (it is on
// disk only with the next synced write). The disk as it was while the
// function ran (the claim synced, the completion not) is what the next
// process sees: under none its caller gets ErrIndeterminate once the lease
// passes and the function does not run again; under api (the callee
// deduplicates by key) it takes the key over and runs once more, then
// replays. The db effect records in the caller's transaction: a lost
// commit loses the effect and its record together.
func TestLostCompletion(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, effect := range []runtime.Effect{runtime.EffectNone, runtime.EffectAPI} {
		t.Run(effect.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "idem.db")
			s, err := sqlitestore.Open(path) // DurableClaims, the default
			require.NoError(t, err)
			defer s.Close()
			clock := fakeclock.New(t0)
			spec := &runtime.Spec{Namespace: "sqlitestore_test/lost/" + effect.String(), Version: 1, Effect: effect}

			var runs atomic.Int64
			var lost string
			got, err := call(runtime.WithClock(runtime.WithStore(context.Background(), s), clock), spec, func(context.Context) (int, error) {
				runs.Add(1)
				lost = snapshot(t, path, t.TempDir()) // the power fails here, or before the completion syncs
				return 7, nil
			})
			require.NoError(t, err)
			require.Equal(t, 7, got)

			// The process that comes back finds the claim, not the result.
			s2, err := sqlitestore.Open(lost)
			require.NoError(t, err)
			defer s2.Close()
			clock.Advance(runtime.DefaultLease + runtime.ClockSkew + time.Second)
			ctx := runtime.WithClock(runtime.WithStore(context.Background(), s2), clock)
			again := func(context.Context) (int, error) { runs.Add(1); return 8, nil }
			got, err = call(ctx, spec, again)
			if effect == runtime.EffectNone {
				require.ErrorIs(t, err, runtime.ErrIndeterminate)
				require.EqualValues(t, 1, runs.Load(), "a none function ran again after its completion was lost")
				_, err = call(ctx, spec, again)
				require.ErrorIs(t, err, runtime.ErrIndeterminate)
				require.EqualValues(t, 1, runs.Load())
				return
			}
			require.NoError(t, err)
			require.Equal(t, 8, got)
			require.EqualValues(t, 2, runs.Load(), "an api function's lost completion is a takeover: one run more")
			got, err = call(ctx, spec, again)
			require.NoError(t, err)
			require.Equal(t, 8, got, "the takeover's result replays")
			require.EqualValues(t, 2, runs.Load())
		})
	}
	t.Run("db", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.db")
		open := func(path string) *sql.DB {
			db, err := sql.Open("sqlite", sqlitestore.DSN(path))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			_, err = db.Exec(`CREATE TABLE IF NOT EXISTS effects (n INTEGER)`)
			require.NoError(t, err)
			return db
		}
		db := open(path)
		spec := &runtime.Spec{Namespace: "sqlitestore_test/lost/db", Version: 1, Effect: runtime.EffectDB}
		var k, f runtime.Encoder
		k.Begin(spec.Namespace, spec.Version)
		k.String("order-1")
		f.Begin(spec.Namespace, spec.Version)
		f.String("fp")
		var lost string
		effect := func(ctx context.Context, tx *sql.Tx) (int, error) {
			_, err := tx.ExecContext(ctx, `INSERT INTO effects VALUES (1)`)
			if lost == "" {
				lost = snapshot(t, path, t.TempDir()) // before the transaction commits
			}
			return 7, err
		}
		_, err := runtime.DoSQL(context.Background(), spec, db, &k, &f, effect)
		require.NoError(t, err)
		effects := func(db *sql.DB) (n int) {
			require.NoError(t, db.QueryRow(`SELECT count(*) FROM effects`).Scan(&n))
			return n
		}
		require.Equal(t, 1, effects(db))

		// After the lost commit, neither the effect nor its record is
		// there: the next call runs it, once, and then replays.
		db2 := open(lost)
		require.Equal(t, 0, effects(db2))
		for range 2 {
			var k, f runtime.Encoder
			k.Begin(spec.Namespace, spec.Version)
			k.String("order-1")
			f.Begin(spec.Namespace, spec.Version)
			f.String("fp")
			got, err := runtime.DoSQL(context.Background(), spec, db2, &k, &f, effect)
			require.NoError(t, err)
			require.Equal(t, 7, got)
			require.Equal(t, 1, effects(db2), "the db effect ran other than once")
		}
	})
}
