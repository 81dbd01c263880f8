package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/idem-go/idem/runtime"
)

// The composite action: one logical operation with three effects, each in
// a step. RecordSale inserts a sale row, publishes a message and adds one
// to a counter; a crash between them leaves the operation part-way, and
// the next execution (a retry, or the restarted process) replays the steps
// that completed and resumes at the first that did not.

// Sales is where RecordSale's effects go: the application's database (the
// sales table and the sales counter) and a queue.
type Sales struct {
	DB    *sql.DB
	Queue *Queue
	// afterPublish, if set, runs inside the publish step right after the
	// queue took the message (the simulated crash).
	afterPublish func(eventID string)
}

// Sale is what RecordSale did for one event.
type Sale struct {
	RowID     int64
	MessageID string
	Count     int64 // the counter after this sale
}

// RecordSale records ev as a sale: a row, a message and a counter, once
// each.
//
// Effect composite: every effect is in a step. insert-sale is a StepSQL
// (its row and its step record commit in one transaction), publish a queue
// step (the step's key is the message's deduplication id), count a none
// step (an UPDATE with no deduplication: it never runs twice; a crash
// inside it would leave the operation indeterminate). The code between
// steps only passes results along: it runs again on every execution.
//
//idem:key ev.ID
//idem:effect composite
//idem:retry attempts=5 delay=1ms max-delay=50ms
func RecordSale(ctx context.Context, s *Sales, ev Event) (Sale, error) {
	row, err := runtime.StepSQL(ctx, "insert-sale", s.DB, func(ctx context.Context, tx *sql.Tx) (int64, error) {
		res, err := tx.ExecContext(ctx, `INSERT INTO sales (event_id, customer, amount) VALUES (?, ?, ?)`, ev.ID, ev.Customer, ev.Amount)
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	})
	if err != nil {
		return Sale{}, err
	}
	msgID, err := runtime.Step(ctx, "publish", runtime.EffectQueue, func(ctx context.Context) (string, error) {
		key, _ := runtime.KeyFrom(ctx) // the step's own key
		if err := s.Queue.Send(ctx, key, Message{ID: "sale-" + ev.ID, Topic: "sales.recorded", EventID: ev.ID, RowID: row, Amount: ev.Amount, Currency: ev.Currency}); err != nil {
			return "", err
		}
		if s.afterPublish != nil {
			s.afterPublish(ev.ID)
		}
		return key, nil
	})
	if err != nil {
		return Sale{}, err
	}
	n, err := runtime.Step(ctx, "count", runtime.EffectNone, func(ctx context.Context) (int64, error) {
		var n int64
		if err := s.DB.QueryRowContext(ctx, `UPDATE sales_total SET n = n + 1 RETURNING n`).Scan(&n); err != nil {
			return 0, runtime.NotApplied(err) // a failed UPDATE changed nothing
		}
		return n, nil
	})
	if err != nil {
		return Sale{}, err
	}
	return Sale{RowID: row, MessageID: msgID, Count: n}, nil
}

// openSales opens the composite action's sinks in dir.
func openSales(ctx context.Context, dir string) (*Sales, error) {
	db, err := openAppDB(ctx, dir)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS sales (row_id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, customer TEXT NOT NULL, amount INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS sales_total (n INTEGER NOT NULL)`,
		`INSERT INTO sales_total (n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM sales_total)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("create the sales tables: %w", err)
		}
	}
	q, err := openQueue(filepath.Join(dir, "sales-queue.json"), queueFailEvery)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Sales{DB: db, Queue: q}, nil
}

// countSales counts the composite action's sinks.
func countSales(ctx context.Context, s *Sales) ([]Sink, error) {
	rows := Sink{Name: "sale rows"}
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT event_id) FROM sales`).Scan(&rows.Effects, &rows.Distinct); err != nil {
		return nil, fmt.Errorf("count the sales table: %w", err)
	}
	total := Sink{Name: "sales counter"}
	if err := s.DB.QueryRowContext(ctx, `SELECT n FROM sales_total`).Scan(&total.Effects); err != nil {
		return nil, fmt.Errorf("read the sales counter: %w", err)
	}
	total.Distinct = total.Effects // a counter has no ids: its value is the count
	qs := s.Queue.Stats()
	return []Sink{rows, {Name: "sale messages", Effects: qs.Messages, Distinct: qs.Events}, total}, nil
}

// runSales takes every event through RecordSale in one process over the
// store in dir, crashing once inside the publish step of event crashAt
// (1-based; 0: no crash) and restarting, and returns the sinks' counts.
func runSales(ctx context.Context, cfg Config, out io.Writer) ([]Sink, error) {
	s, err := openSales(ctx, cfg.Dir)
	if err != nil {
		return nil, err
	}
	defer s.DB.Close()
	before, err := countSales(ctx, s)
	if err != nil {
		return nil, err
	}
	if cfg.CrashAt > 0 {
		target, crashed := cfg.Events[cfg.CrashAt-1].ID, false
		s.afterPublish = func(id string) {
			if id == target && !crashed {
				crashed = true
				panic(crash{event: id})
			}
		}
	}
	steps := stepTally{next: cfg.Observer}
	ctx = runtime.WithObserver(ctx, &steps)
	for {
		err := processSales(ctx, cfg, s)
		c, ok := err.(crash)
		if !ok {
			if err != nil {
				return nil, err
			}
			break
		}
		fmt.Fprintf(out, "\ncrash: the process died in the publish step of %s's sale, after the queue took the message\n", c.event)
		fmt.Fprintf(out, "restart: the sale resumes at that step: its row is replayed, its message sent again with the same id\n")
	}
	after, err := countSales(ctx, s)
	if err != nil {
		return nil, err
	}
	expected := distinctIDs(cfg.Events)
	for i := range after {
		after[i].New = after[i].Effects - before[i].Effects
		after[i].Expected = expected
	}
	fmt.Fprintf(out, "\ncomposite RecordSale (row, message and counter in steps): steps executed %d, replayed %d\n", steps.executed, steps.replayed)
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "sink\teffects\tthis run\texpected\texactly once")
	for _, s := range after {
		yes := "yes"
		if !s.ExactlyOnce() {
			yes = "NO"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", s.Name, s.Effects, s.New, s.Expected, yes)
	}
	tw.Flush()
	return after, nil
}

// processSales is one life of the process for the composite action.
func processSales(ctx context.Context, cfg Config, s *Sales) (err error) {
	st, err := runtime.Open("sqlite:" + filepath.Join(cfg.Dir, "idem.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	ctx = runtime.WithStore(ctx, st)
	defer recoverCrash(&err)
	for _, ev := range cfg.Events {
		if _, err := RecordSaleIdem(ctx, s, ev); err != nil {
			return fmt.Errorf("sale %s: %w", ev.ID, err)
		}
	}
	return nil
}

// stepTally counts the steps of a run.
type stepTally struct {
	next               runtime.Observer // also told every event, if set
	executed, replayed int
}

// Observe implements runtime.Observer. Steps report on the goroutine that
// runs RecordSaleIdem, one at a time, so the counts need no lock.
func (t *stepTally) Observe(e runtime.Event) {
	if t.next != nil {
		t.next.Observe(e)
	}
	if e.Step == "" {
		return
	}
	switch e.Kind {
	case runtime.EventExecuted:
		t.executed++
	case runtime.EventReplayed:
		t.replayed++
	}
}
