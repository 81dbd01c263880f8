package runtime_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
)

// sinks are the effects of the composite test operation, kept in a
// database so that they survive a killed process: a unique business row
// (written in a StepSQL transaction), an API that deduplicates on the
// Idempotency-Key and logs every raw request, a queue that deduplicates on
// the message id and logs every raw publish, and a counter with no
// deduplication at all (a none step).
type sinks struct{ db *sql.DB }

var sinkTables = []string{
	`CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY)`,
	`CREATE TABLE IF NOT EXISTS api_raw (op TEXT NOT NULL, idem_key TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS api_keys (idem_key TEXT PRIMARY KEY, op TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS queue_raw (op TEXT NOT NULL, msg_id TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS queue_msgs (msg_id TEXT PRIMARY KEY, op TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS counter (op TEXT NOT NULL)`,
}

func newSinks(t testing.TB, db *sql.DB) *sinks {
	for _, q := range sinkTables {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	return &sinks{db: db}
}

func (s *sinks) exec(ctx context.Context, q string, args ...any) error {
	_, err := s.db.ExecContext(ctx, rebind(s.db, q), args...)
	return err
}

// charge is the API: every request is logged; the charge itself happens
// once per Idempotency-Key.
func (s *sinks) charge(ctx context.Context, op, key string) (string, error) {
	if err := s.exec(ctx, `INSERT INTO api_raw (op, idem_key) VALUES (?, ?)`, op, key); err != nil {
		return "", err
	}
	if err := s.exec(ctx, `INSERT INTO api_keys (idem_key, op) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, op); err != nil {
		return "", err
	}
	return "receipt-" + key[:8], nil
}

// publish is the queue: every publish is logged; a message is delivered
// once per id.
func (s *sinks) publish(ctx context.Context, op, id string) error {
	if err := s.exec(ctx, `INSERT INTO queue_raw (op, msg_id) VALUES (?, ?)`, op, id); err != nil {
		return err
	}
	return s.exec(ctx, `INSERT INTO queue_msgs (msg_id, op) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, op)
}

// count is the counter: every call counts.
func (s *sinks) count(ctx context.Context, op string) error {
	return s.exec(ctx, `INSERT INTO counter (op) VALUES (?)`, op)
}

// effects are the counts of one operation's effects at every sink.
type effects struct {
	Orders, APIRaw, APIKeys, QueueRaw, QueueMsgs, Counter int
}

func (s *sinks) of(t testing.TB, op string) effects {
	n := func(q string) int {
		var c int
		require.NoError(t, s.db.QueryRow(rebind(s.db, q), op).Scan(&c))
		return c
	}
	return effects{
		Orders:    n(`SELECT count(*) FROM orders WHERE id = ?`),
		APIRaw:    n(`SELECT count(*) FROM api_raw WHERE op = ?`),
		APIKeys:   n(`SELECT count(*) FROM api_keys WHERE op = ?`),
		QueueRaw:  n(`SELECT count(*) FROM queue_raw WHERE op = ?`),
		QueueMsgs: n(`SELECT count(*) FROM queue_msgs WHERE op = ?`),
		Counter:   n(`SELECT count(*) FROM counter WHERE op = ?`),
	}
}

// placed is the composite operation's result.
type placed struct {
	Order, Receipt, Message string
	Count                   int
}

// stepNames of the composite test operation, in order.
var stepNames = []string{"insert-order", "charge", "publish", "count"}

// placeOrder is the composite test operation. hook is called at points
// named "in-<step>" (inside the step, after its effect: for insert-order,
// inside the uncommitted transaction) and "after-<step>" (between steps);
// an error it returns is returned from there.
func placeOrder(ctx context.Context, spec *runtime.Spec, db *sql.DB, s *sinks, op string, hook func(point string) error) (placed, error) {
	var k, f runtime.Encoder
	k.Begin(spec.Namespace, spec.Version)
	k.String(op)
	f.Begin(spec.Namespace, spec.Version)
	return runtime.Do(ctx, spec, &k, &f, func(ctx context.Context) (placed, error) {
		var out placed
		var err error
		out.Order, err = runtime.StepSQL(ctx, "insert-order", db, func(ctx context.Context, tx *sql.Tx) (string, error) {
			if _, err := tx.ExecContext(ctx, rebind(db, `INSERT INTO orders (id) VALUES (?)`), op); err != nil {
				return "", err
			}
			return op, hook("in-insert-order")
		})
		if err != nil {
			return out, err
		}
		if err := hook("after-insert-order"); err != nil {
			return out, err
		}
		out.Receipt, err = runtime.Step(ctx, "charge", runtime.EffectAPI, func(ctx context.Context) (string, error) {
			key, _ := runtime.KeyFrom(ctx)
			rc, err := s.charge(ctx, op, key)
			if err != nil {
				return "", err
			}
			return rc, hook("in-charge")
		})
		if err != nil {
			return out, err
		}
		if err := hook("after-charge"); err != nil {
			return out, err
		}
		out.Message, err = runtime.Step(ctx, "publish", runtime.EffectQueue, func(ctx context.Context) (string, error) {
			key, _ := runtime.KeyFrom(ctx)
			if err := s.publish(ctx, op, key); err != nil {
				return "", err
			}
			return key, hook("in-publish")
		})
		if err != nil {
			return out, err
		}
		if err := hook("after-publish"); err != nil {
			return out, err
		}
		out.Count, err = runtime.Step(ctx, "count", runtime.EffectNone, func(ctx context.Context) (int, error) {
			if err := s.count(ctx, op); err != nil {
				return 0, runtime.NotApplied(err)
			}
			return 1, hook("in-count")
		})
		if err != nil {
			return out, err
		}
		return out, hook("after-count")
	})
}

func noHook(string) error { return nil }

// once is exactly one effect at every sink.
var once = effects{Orders: 1, APIRaw: 1, APIKeys: 1, QueueRaw: 1, QueueMsgs: 1, Counter: 1}

func (e effects) String() string {
	return fmt.Sprintf("orders=%d api=%d/%d raw queue=%d/%d raw counter=%d", e.Orders, e.APIKeys, e.APIRaw, e.QueueMsgs, e.QueueRaw, e.Counter)
}
