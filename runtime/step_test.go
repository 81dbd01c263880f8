package runtime_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idempgx"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/store"
)

// compositeEnv is a composite operation's world: a memstore for the
// operation's records, a SQLite database for StepSQL and the sinks.
type compositeEnv struct {
	ctx   context.Context
	store *memstore.Store
	clock *fakeclock.Clock
	db    *sql.DB
	sinks *sinks
	spec  *runtime.Spec
}

func newCompositeEnv(t *testing.T, attempts int) *compositeEnv {
	e := &compositeEnv{store: memstore.New(), clock: fakeclock.New(t0)}
	e.ctx = runtime.WithClock(runtime.WithStore(context.Background(), e.store), e.clock)
	e.db = openSQLiteLedgerDB(t, filepath.Join(t.TempDir(), "sinks.db"))
	e.sinks = newSinks(t, e.db)
	e.spec = newSpec(t, runtime.EffectComposite, attempts)
	return e
}

func (e *compositeEnv) place(op string, hook func(string) error) (placed, error) {
	return placeOrder(e.ctx, e.spec, e.db, e.sinks, op, hook)
}

// failAt returns a hook that fails with err the first n times point is
// reached.
func failAt(point string, n int, err error) func(string) error {
	var mu sync.Mutex
	return func(p string) error {
		mu.Lock()
		defer mu.Unlock()
		if p == point && n > 0 {
			n--
			return err
		}
		return nil
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestCompositeRunsEachStepOnceThenReplays(t *testing.T) {
	e := newCompositeEnv(t, 0)
	got, err := e.place("o1", noHook)
	require.NoError(t, err)
	require.Equal(t, "o1", got.Order)
	require.Regexp(t, hex64, got.Message, "the step's key is 64 hex characters")
	require.Equal(t, once, e.sinks.of(t, "o1"))
	again, err := e.place("o1", noHook)
	require.NoError(t, err)
	require.Equal(t, got, again)
	require.Equal(t, once, e.sinks.of(t, "o1"), "a replay runs no step")
	for _, name := range stepNames {
		require.EqualValues(t, 1, runtime.StepStatsFor(e.spec.Namespace, name).Executed, name)
	}
	require.EqualValues(t, 1, runtime.StatsFor(e.spec.Namespace).Replayed)
}

// Rule 1: the step's key is derived from the operation's key and the
// step's name only: the same on every attempt, in every store and process.
func TestStepKeyIsStableAndItsOwn(t *testing.T) {
	keys := func(e *compositeEnv, op string) (opKey, charge, publish string) {
		_, err := placeOrder(e.ctx, e.spec, e.db, e.sinks, op, noHook)
		require.NoError(t, err)
		row := e.db.QueryRow(`SELECT idem_key FROM api_keys WHERE op = ?`, op)
		require.NoError(t, row.Scan(&charge))
		row = e.db.QueryRow(`SELECT msg_id FROM queue_msgs WHERE op = ?`, op)
		require.NoError(t, row.Scan(&publish))
		return keyOf(t, e.spec, op).String(), charge, publish
	}
	e1 := newCompositeEnv(t, 0)
	e2 := newCompositeEnv(t, 0)
	e2.spec = e1.spec // another process, with other stores, same function
	op1, c1, p1 := keys(e1, "o1")
	_, c2, p2 := keys(e2, "o1")
	require.Regexp(t, hex64, c1)
	require.Equal(t, c1, c2)
	require.Equal(t, p1, p2)
	require.NotEqual(t, c1, p1, "each step has its own key")
	require.NotEqual(t, op1, c1, "a step's key is not the operation's")
	_, c3, _ := keys(e1, "o2")
	require.NotEqual(t, c1, c3, "another operation's step has another key")
}

// Rules 2 and 4: a retry replays the completed steps and resumes at the
// first that did not complete; an api or queue step that may have run runs
// again with the same key.
func TestRetryResumesAtTheFirstStepNotCompleted(t *testing.T) {
	for _, point := range []string{"in-insert-order", "after-insert-order", "in-charge", "after-charge", "in-publish", "after-publish", "after-count"} {
		t.Run(point, func(t *testing.T) {
			e := newCompositeEnv(t, 3)
			got, err := e.place("o1", failAt(point, 1, errors.New("connection reset")))
			require.NoError(t, err)
			require.Equal(t, "o1", got.Order)
			want := once
			switch point {
			case "in-charge":
				want.APIRaw = 2 // the same key, sent again; charged once
			case "in-publish":
				want.QueueRaw = 2
			}
			require.Equal(t, want, e.sinks.of(t, "o1"))
			require.EqualValues(t, 1, runtime.StatsFor(e.spec.Namespace).Retried)
		})
	}
}

// Rule 2 across calls: the operation failed for good (one attempt); a
// later call resumes where it stopped.
func TestLaterCallResumesAFailedOperation(t *testing.T) {
	e := newCompositeEnv(t, 0)
	_, err := e.place("o1", failAt("after-charge", 1, errors.New("boom")))
	require.Error(t, err)
	require.Equal(t, effects{Orders: 1, APIRaw: 1, APIKeys: 1}, e.sinks.of(t, "o1"))
	rec, err := e.store.Get(context.Background(), keyOf(t, e.spec, "o1"))
	require.NoError(t, err)
	require.Equal(t, store.StateInProgress, rec.State, "a failed composite is parked, not released")
	require.False(t, rec.LeaseUntil.After(e.clock.Now()), "with its lease ended")

	_, err = e.place("o1", noHook)
	require.NoError(t, err)
	require.Equal(t, once, e.sinks.of(t, "o1"))
	st := runtime.StepStatsFor(e.spec.Namespace, "insert-order")
	require.EqualValues(t, 1, st.Executed)
	require.EqualValues(t, 1, st.Replayed)
}

// Rule 3 and 4 for none: a none step that failed after it may have applied
// its effect is indeterminate, and so is the operation, until an operator
// deletes its record.
func TestIndeterminateNoneStepBlocksTheOperation(t *testing.T) {
	e := newCompositeEnv(t, 5)
	_, err := e.place("o1", failAt("in-count", 1, errors.New("connection reset")))
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	require.Contains(t, err.Error(), e.spec.Namespace)
	require.Contains(t, err.Error(), `step "count"`)
	require.Equal(t, once, e.sinks.of(t, "o1"), "not retried")
	require.EqualValues(t, 0, runtime.StatsFor(e.spec.Namespace).Retried)
	rec, err := e.store.Get(context.Background(), keyOf(t, e.spec, "o1"))
	require.NoError(t, err)
	require.Equal(t, store.StateIndeterminate, rec.State)
	require.EqualValues(t, 1, runtime.StepStatsFor(e.spec.Namespace, "count").Indeterminate)

	_, err = e.place("o1", noHook)
	require.ErrorIs(t, err, runtime.ErrIndeterminate)
	require.Equal(t, once, e.sinks.of(t, "o1"))
}

// Rule 4: permanent errors are not retried, and the operation resumes on
// a later call.
func TestPermanentErrorIsNotRetried(t *testing.T) {
	e := newCompositeEnv(t, 5)
	_, err := e.place("o1", failAt("after-charge", 1, runtime.Permanent(errors.New("card declined"))))
	require.Error(t, err)
	require.EqualValues(t, 0, runtime.StatsFor(e.spec.Namespace).Retried)
	require.Equal(t, effects{Orders: 1, APIRaw: 1, APIKeys: 1}, e.sinks.of(t, "o1"))
}

// Rule 5: a name used twice is an error; computed names work in loops;
// Step outside a composite operation says so.
func TestStepNamesAndOutsideComposite(t *testing.T) {
	e := newCompositeEnv(t, 3)
	k, f := encoders(e.spec, "loop", "")
	runs := 0
	got, err := runtime.Do(e.ctx, e.spec, k, f, func(ctx context.Context) (int, error) {
		sum := 0
		for _, u := range []string{"a", "b", "c"} {
			n, err := runtime.Step(ctx, "notify-"+u, runtime.EffectNone, func(context.Context) (int, error) { runs++; return 1, nil })
			if err != nil {
				return 0, err
			}
			sum += n
		}
		return sum, nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, got)
	require.Equal(t, 3, runs)

	k, f = encoders(e.spec, "dup", "")
	calls := 0
	_, err = runtime.Do(e.ctx, e.spec, k, f, func(ctx context.Context) (int, error) {
		calls++
		if _, err := runtime.Step(ctx, "x", runtime.EffectNone, func(context.Context) (int, error) { runs++; return 1, nil }); err != nil {
			return 0, err
		}
		return runtime.Step(ctx, "x", runtime.EffectNone, func(context.Context) (int, error) { runs++; return 1, nil })
	})
	require.ErrorContains(t, err, `step name "x" used twice`)
	require.Equal(t, 1, calls, "a duplicate name is permanent: not retried")
	require.Equal(t, 4, runs)

	_, err = runtime.Step(context.Background(), "x", runtime.EffectNone, func(context.Context) (int, error) { runs++; return 1, nil })
	require.ErrorIs(t, err, runtime.ErrStepOutsideComposite)
	plain := newSpec(t, runtime.EffectNone, 0)
	_, err = do(e.ctx, plain, "k", "", func(ctx context.Context) (int, error) {
		return runtime.Step(ctx, "x", runtime.EffectAPI, func(context.Context) (int, error) { runs++; return 1, nil })
	})
	require.ErrorIs(t, err, runtime.ErrStepOutsideComposite)
	_, err = runtime.StepSQL(e.ctx, "x", e.db, func(context.Context, *sql.Tx) (int, error) { runs++; return 1, nil })
	require.ErrorIs(t, err, runtime.ErrStepOutsideComposite)
	require.Equal(t, 4, runs)
}

// Rules 3 and 6: a holder paused inside a step past its lease is taken
// over; its successor runs the api step again with the same key and the
// stale holder can neither record the step nor run the next one; a none
// step its predecessor left in progress is indeterminate.
func TestTakeoverInsideAStepAndFencing(t *testing.T) {
	for _, stuck := range []string{"in-charge", "in-count"} {
		t.Run(stuck, func(t *testing.T) {
			e := newCompositeEnv(t, 0)
			e.spec.Lease = 30 * time.Second
			paused, resume := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				_, err := e.place("o1", func(p string) error {
					if p == stuck {
						close(paused)
						<-resume
					}
					return nil
				})
				done <- err
			}()
			<-paused
			// A successor whose clock is past the holder's lease.
			later := fakeclock.New(t0.Add(e.spec.Lease + runtime.ClockSkew + time.Second))
			succ := runtime.WithClock(e.ctx, later)
			_, err := placeOrder(succ, e.spec, e.db, e.sinks, "o1", noHook)
			if stuck == "in-count" {
				require.ErrorIs(t, err, runtime.ErrIndeterminate)
				require.ErrorContains(t, err, `step "count"`)
				rec, gerr := e.store.Get(context.Background(), keyOf(t, e.spec, "o1"))
				require.NoError(t, gerr)
				require.Equal(t, store.StateIndeterminate, rec.State)
			} else {
				require.NoError(t, err)
			}
			// The stale holder wakes up: its next renewal is fenced.
			e.clock.Advance(e.spec.Lease / 3)
			close(resume)
			require.ErrorIs(t, <-done, runtime.ErrLeaseLost)
			got := e.sinks.of(t, "o1")
			require.Equal(t, 1, got.Orders)
			require.Equal(t, 1, got.APIKeys)
			require.Equal(t, 1, got.Counter, "the none step never runs twice")
			if stuck == "in-charge" {
				require.Equal(t, 2, got.APIRaw, "the successor sent the same key again")
				require.Equal(t, 1, got.QueueRaw, "the stale holder did not run the next step")
				res, err := placeOrder(succ, e.spec, e.db, e.sinks, "o1", noHook)
				require.NoError(t, err)
				require.Equal(t, 1, res.Count, "the successor's results stand")
			}
		})
	}
}

// Rule 6: the step's context is canceled with cause ErrLeaseLost when the
// holder loses its claim, and the step's result is not recorded.
func TestStaleHolderCannotRecordAStep(t *testing.T) {
	e := newCompositeEnv(t, 0)
	e.spec.Lease = 30 * time.Second
	k, f := encoders(e.spec, "o1", "")
	started := make(chan struct{})
	cause := make(chan error, 1)
	done := make(chan error, 1)
	runs := 0
	go func() {
		_, err := runtime.Do(e.ctx, e.spec, k, f, func(ctx context.Context) (int, error) {
			return runtime.Step(ctx, "s", runtime.EffectAPI, func(ctx context.Context) (int, error) {
				runs++
				close(started)
				<-ctx.Done()
				cause <- context.Cause(ctx)
				return 1, nil // pretends to have succeeded: must not be recorded
			})
		})
		done <- err
	}()
	<-started
	// The successor, whose clock is past the holder's lease, takes over
	// and runs the step itself: nothing was recorded.
	later := runtime.WithClock(e.ctx, fakeclock.New(t0.Add(e.spec.Lease+runtime.ClockSkew+time.Second)))
	succ := func() (int, error) {
		return runtime.Do(later, e.spec, k, f, func(ctx context.Context) (int, error) {
			return runtime.Step(ctx, "s", runtime.EffectAPI, func(ctx context.Context) (int, error) { runs++; return 2, nil })
		})
	}
	got, err := succ()
	require.NoError(t, err)
	require.Equal(t, 2, got)
	blockUntil(t, e.clock, 1, "the timers the call waits on never came")
	e.clock.Advance(e.spec.Lease / 3) // the stale holder's renewal is fenced
	require.ErrorIs(t, <-cause, runtime.ErrLeaseLost)
	require.ErrorIs(t, <-done, runtime.ErrLeaseLost)
	require.EqualValues(t, 1, runtime.StepStatsFor(e.spec.Namespace, "s").Executed, "only the successor recorded the step")
	got, err = succ()
	require.NoError(t, err)
	require.Equal(t, 2, got, "the successor's result stands")
	require.Equal(t, 2, runs)
}

// Rule 7: a wrapped function called inside a composite keeps its own key.
func TestWrappedCallInsideACompositeKeepsItsKey(t *testing.T) {
	e := newCompositeEnv(t, 3)
	inner := newSpec(t, runtime.EffectNone, 0)
	var seen []string
	runs := 0
	fails := 1
	k, f := encoders(e.spec, "o1", "")
	_, err := runtime.Do(e.ctx, e.spec, k, f, func(ctx context.Context) (int, error) {
		n, err := do(ctx, inner, "inner-arg", "", func(ctx context.Context) (int, error) {
			key, _ := runtime.KeyFrom(ctx)
			seen = append(seen, key)
			runs++
			_, serr := runtime.Step(ctx, "s", runtime.EffectNone, func(context.Context) (int, error) { return 0, nil })
			require.ErrorIs(t, serr, runtime.ErrStepOutsideComposite, "a wrapped call inside is not the composite")
			return 1, nil
		})
		if err != nil {
			return 0, err
		}
		if fails > 0 {
			fails--
			return 0, errors.New("later failure")
		}
		return n, nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, runs, "the inner call ran once and was replayed on the retry")
	require.Equal(t, []string{keyOf(t, inner, "inner-arg").String()}, seen)
}

// Rule 8: deleting the operation's record deletes its steps: the next call
// runs every step again; so does the expiry of the operation's record.
func TestDeletingTheOperationDeletesItsSteps(t *testing.T) {
	e := newCompositeEnv(t, 0)
	k, f := encoders(e.spec, "o1", "")
	runs := 0
	op := func() error {
		_, err := runtime.Do(e.ctx, e.spec, k, f, func(ctx context.Context) (int, error) {
			return runtime.Step(ctx, "s", runtime.EffectNone, func(context.Context) (int, error) { runs++; return runs, errors.New("maybe applied") })
		})
		return err
	}
	require.ErrorIs(t, op(), runtime.ErrIndeterminate)
	require.ErrorIs(t, op(), runtime.ErrIndeterminate)
	require.Equal(t, 1, runs)
	require.NoError(t, e.store.Delete(context.Background(), keyOf(t, e.spec, "o1")))
	e.clock.Advance(time.Millisecond)
	require.ErrorIs(t, op(), runtime.ErrIndeterminate)
	require.Equal(t, 2, runs, "after the operator deleted the operation, its step runs again")
	e.clock.Advance(runtime.DefaultTTL + time.Second)
	require.ErrorIs(t, op(), runtime.ErrIndeterminate)
	require.Equal(t, 3, runs, "after the retention passed, its step runs again")
}

// Rule 9: observers see steps with the operation's namespace and the
// step's name.
func TestObserverSeesSteps(t *testing.T) {
	e := newCompositeEnv(t, 0)
	var mu sync.Mutex
	var all []runtime.Event
	e.ctx = runtime.WithObserver(e.ctx, runtime.ObserverFunc(func(x runtime.Event) {
		mu.Lock()
		defer mu.Unlock()
		all = append(all, x)
	}))
	_, err := e.place("o1", failAt("after-charge", 1, errors.New("boom")))
	require.Error(t, err)
	_, err = e.place("o1", noHook)
	require.NoError(t, err)
	type ev struct {
		kind runtime.EventKind
		step string
	}
	var steps []ev
	mu.Lock()
	defer mu.Unlock()
	for _, x := range all {
		if x.Step != "" {
			require.Equal(t, e.spec.Namespace, x.Namespace)
			steps = append(steps, ev{x.Kind, x.Step})
		}
	}
	require.Equal(t, []ev{
		{runtime.EventExecuted, "insert-order"}, {runtime.EventExecuted, "charge"},
		{runtime.EventReplayed, "insert-order"}, {runtime.EventReplayed, "charge"},
		{runtime.EventExecuted, "publish"}, {runtime.EventExecuted, "count"},
	}, steps)
}

// A StepSQL step whose transaction rolled back runs again; its row is
// written once.
func TestStepSQLRollsBackAndRunsAgain(t *testing.T) {
	e := newCompositeEnv(t, 3)
	_, err := e.place("o1", failAt("in-insert-order", 2, errors.New("serialization failure")))
	require.NoError(t, err)
	require.Equal(t, once, e.sinks.of(t, "o1"))
	st := runtime.StepStatsFor(e.spec.Namespace, "insert-order")
	require.EqualValues(t, 1, st.Executed)
	require.EqualValues(t, 2, st.Failed)
}

// A panic in a step re-panics; an api step is released and runs again at
// once on the next call, a none step is indeterminate.
func TestPanicInAStep(t *testing.T) {
	for _, effect := range []runtime.Effect{runtime.EffectAPI, runtime.EffectNone} {
		t.Run(effect.String(), func(t *testing.T) {
			e := newCompositeEnv(t, 0)
			k, f := encoders(e.spec, "o1", "")
			runs := 0
			op := func(panics bool) (int, error) {
				return runtime.Do(e.ctx, e.spec, k, f, func(ctx context.Context) (int, error) {
					return runtime.Step(ctx, "s", effect, func(context.Context) (int, error) {
						runs++
						if panics {
							panic("crash")
						}
						return runs, nil
					})
				})
			}
			require.PanicsWithValue(t, "crash", func() { _, _ = op(true) })
			got, err := op(false) // the fake clock stands still: no lease passes
			if effect == runtime.EffectNone {
				require.ErrorIs(t, err, runtime.ErrIndeterminate)
				require.Equal(t, 1, runs)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 2, got)
		})
	}
}

// idempgx.StepPgx: the step's row and record commit in one pgx
// transaction; a failed transaction runs again, a committed one replays.
func TestStepPgxCommitsWithItsRecord(t *testing.T) {
	dsn := freshPostgresSchema(t, testenv.PostgresDSN(t))
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(context.Background(), ledgerTable)
	require.NoError(t, err)
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectComposite, 3)
	k, f := encoders(spec, "o1", "")
	runs, fails := 0, 1
	got, err := runtime.Do(ctx, spec, k, f, func(ctx context.Context) (int64, error) {
		n, err := idempgx.StepPgx(ctx, "insert", pool, func(ctx context.Context, tx pgx.Tx) (int64, error) {
			runs++
			if _, err := tx.Exec(ctx, `INSERT INTO ledger (key, amount) VALUES ('o1', 5)`); err != nil {
				return 0, err
			}
			if runs == 1 {
				return 0, errors.New("rolled back")
			}
			return 5, nil
		})
		if err != nil {
			return 0, err
		}
		if fails > 0 {
			fails--
			return 0, errors.New("a later failure")
		}
		return n, nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 5, got)
	require.Equal(t, 2, runs, "run again after the rollback, replayed after the commit")
	var rows int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM ledger WHERE key = 'o1'`).Scan(&rows))
	require.Equal(t, 1, rows)
}

// lostFirstComplete applies the first Complete and loses its answer.
type lostFirstComplete struct {
	store.Store
	lost atomic.Bool
}

func (s *lostFirstComplete) Complete(ctx context.Context, key store.Key, f store.Fence, result []byte, retain time.Time) error {
	err := s.Store.Complete(ctx, key, f, result, retain)
	if err == nil && s.lost.CompareAndSwap(false, true) {
		return errors.New("connection reset before the answer")
	}
	return err
}

// A step's result write whose answer was lost is recognised on its retry:
// the none step is recorded, not indeterminate.
func TestStepRecordWithALostAnswer(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), &lostFirstComplete{Store: memstore.New()})
	spec := newSpec(t, runtime.EffectComposite, 0)
	k, f := encoders(spec, "o1", "")
	runs := 0
	op := func() (int, error) {
		return runtime.Do(ctx, spec, k, f, func(ctx context.Context) (int, error) {
			return runtime.Step(ctx, "count", runtime.EffectNone, func(context.Context) (int, error) { runs++; return 7, nil })
		})
	}
	got, err := op()
	require.NoError(t, err)
	require.Equal(t, 7, got)
	got, err = op()
	require.NoError(t, err)
	require.Equal(t, 7, got)
	require.Equal(t, 1, runs)
}

// Rule 4: a context error ends the operation without a retry; a later
// call resumes it.
func TestContextErrorIsNotRetried(t *testing.T) {
	e := newCompositeEnv(t, 5)
	ctx, cancel := context.WithCancel(e.ctx)
	k, f := encoders(e.spec, "o1", "")
	first, second := 0, 0
	op := func(ctx context.Context) (int, error) {
		return runtime.Do(ctx, e.spec, k, f, func(ctx context.Context) (int, error) {
			if _, err := runtime.Step(ctx, "first", runtime.EffectNone, func(context.Context) (int, error) { first++; return 1, nil }); err != nil {
				return 0, err
			}
			return runtime.Step(ctx, "second", runtime.EffectAPI, func(ctx context.Context) (int, error) {
				second++
				if second == 1 {
					cancel()
					return 0, ctx.Err()
				}
				return 2, nil
			})
		})
	}
	_, err := op(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 0, runtime.StatsFor(e.spec.Namespace).Retried)
	// The park may finish in the background after the canceled caller
	// returned.
	require.Eventually(t, func() bool {
		rec, err := e.store.Get(context.Background(), keyOf(t, e.spec, "o1"))
		return err == nil && rec.State == store.StateInProgress && !rec.LeaseUntil.After(e.clock.Now())
	}, 10*time.Second, time.Millisecond, "the operation is parked")
	got, err := op(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, got)
	require.Equal(t, 1, first, "the none step was replayed")
	require.Equal(t, 2, second)
}
