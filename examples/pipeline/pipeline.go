package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// Config is what one run of the pipeline needs.
type Config struct {
	// Events is the input, processed in order.
	Events []Event
	// Dir holds the databases and the fake services' files; it must exist.
	// A run over a directory that an earlier run used continues from its
	// state: the recorded calls replay.
	Dir string
	// CrashAt is the 1-based number of the event whose charge crashes the
	// process, once, right after the payments provider made the charge;
	// 0 means no crash.
	CrashAt int
	// Observer, if set, also receives every wrapped call's events (the
	// -metrics flag's OpenTelemetry observer).
	Observer runtime.Observer
}

// queueFailEvery makes every 4th send to the queue fail after enqueueing.
const queueFailEvery = 4

// chargeTimeout bounds one request to the payments API.
const chargeTimeout = 10 * time.Second

// Report is what a run did, and the proof that every effect happened
// exactly once, counted in the sinks themselves.
type Report struct {
	Events   int // events in the input
	Attempts int // runs of the three functions, failed ones included
	Retries  int // attempts after a failed one, within one call
	Replays  int // calls answered from a record without running
	Restarts int // simulated crashes, each followed by a restart
	Sinks    []Sink
	Payments PaymentsStats
	Queue    QueueStats
	// Crashed is what the sinks hold for the event whose charge crashed,
	// if one did.
	Crashed *CrashCheck
	// Sales are the sinks of the composite action (RecordSale), run after
	// the pipeline with the same crash point.
	Sales []Sink
}

// CrashCheck is what the sinks hold for the event whose charge crashed.
type CrashCheck struct {
	Event    string
	Charges  []string // ids of the charges the provider made for the event
	Messages []string // the charge ids that the event's messages carry
}

// Sink counts the effects one downstream system holds.
type Sink struct {
	Name     string
	Effects  int // effects the sink holds, from every run over the directory
	Distinct int // distinct event ids among them
	New      int // effects this run made
	Expected int // distinct event ids in the input
}

// ExactlyOnce reports whether the sink holds one effect per event, no more
// and no fewer.
func (s Sink) ExactlyOnce() bool {
	return s.Effects == s.Expected && s.Distinct == s.Expected
}

// ExactlyOnce reports whether every sink holds one effect per event.
func (r Report) ExactlyOnce() bool {
	for _, s := range append(r.Sinks[:len(r.Sinks):len(r.Sinks)], r.Sales...) {
		if !s.ExactlyOnce() {
			return false
		}
	}
	return len(r.Sinks) > 0
}

// crash is the panic value of the simulated crash.
type crash struct{ event string }

func (c crash) Error() string {
	return "simulated crash while charging " + c.event
}

// run takes cfg.Events through the pipeline, survives the crash that
// cfg.CrashAt asks for by restarting from the first event, and writes a
// report to out.
func run(ctx context.Context, cfg Config, out io.Writer) (Report, error) {
	if cfg.CrashAt < 0 || cfg.CrashAt > len(cfg.Events) {
		return Report{}, fmt.Errorf("crash at event %d: there are %d events; use 0 for no crash", cfg.CrashAt, len(cfg.Events))
	}
	pay, err := startPayments(filepath.Join(cfg.Dir, "payments.json"), defaultFaults)
	if err != nil {
		return Report{}, err
	}
	defer pay.Close()
	queue, err := openQueue(filepath.Join(cfg.Dir, "queue.json"), queueFailEvery)
	if err != nil {
		return Report{}, err
	}
	before, err := countSinks(ctx, cfg.Dir, pay, queue)
	if err != nil {
		return Report{}, err
	}

	client := pay.Client(chargeTimeout)
	if cfg.CrashAt > 0 {
		target, crashed := cfg.Events[cfg.CrashAt-1].ID, false
		client.afterCharge = func(ref string) {
			if ref == target && !crashed {
				crashed = true
				panic(crash{event: ref})
			}
		}
	}

	t := tally{next: cfg.Observer}
	ctx = runtime.WithObserver(ctx, &t)
	rep := Report{Events: len(cfg.Events)}
	for {
		err := process(ctx, cfg, client, queue)
		var c crash
		if !errors.As(err, &c) {
			if err != nil {
				return Report{}, err
			}
			break
		}
		// The crash struck after the provider had made the charge and before
		// the pipeline could record it. The restart charges that event again
		// with the same key (ChargeCustomer's effect is api: the runtime
		// released the claim of the crashed attempt; had the process died
		// for real, the restart would take the claim over once its lease
		// passed), and the provider answers the repeated key with the
		// charge it already made: the customer is charged once.
		rep.Restarts++
		fmt.Fprintf(out, "crash: the process died charging %s, after the payments provider had charged it\n", c.event)
		fmt.Fprintf(out, "restart: a new process over the same idem store and database, from the first event\n\n")
	}

	after, err := countSinks(ctx, cfg.Dir, pay, queue)
	if err != nil {
		return Report{}, err
	}
	expected := distinctIDs(cfg.Events)
	for i := range after {
		after[i].New = after[i].Effects - before[i].Effects
		after[i].Expected = expected
	}
	rep.Sinks = after
	rep.Attempts, rep.Retries, rep.Replays = t.counts()
	rep.Payments, rep.Queue = pay.Stats(), queue.Stats()
	if rep.Restarts > 0 {
		id := cfg.Events[cfg.CrashAt-1].ID
		rep.Crashed = &CrashCheck{Event: id, Charges: pay.ChargesFor(id), Messages: queue.ChargesFor(id)}
	}
	rep.Print(out)
	if rep.Sales, err = runSales(ctx, cfg, out); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// process is one life of the pipeline's process: it opens the idem store
// and the application's database and takes every event through its three
// effects, in order. It returns the crash, if one happens, as its error.
//
// Two SQLite files: app.db is the application's database, with the events
// table and the records of the db effect (the runtime keeps them in the
// idem_records table of the database the effect writes to, so that they
// commit in the same transaction as the row); idem.db is the idem store,
// with the records of the api and queue effects. One file could hold both,
// but apart they behave as in production, where the store is often another
// system (swap the DSN for postgres://… or redis://…), and the
// application's own statements never wait for the store's writes.
func process(ctx context.Context, cfg Config, pay *PaymentsClient, q *Queue) (err error) {
	st, err := runtime.Open("sqlite:" + filepath.Join(cfg.Dir, "idem.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	db, err := openAppDB(ctx, cfg.Dir)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx = runtime.WithStore(ctx, st)

	defer recoverCrash(&err)
	for _, ev := range cfg.Events {
		if err := handle(ctx, db, pay, q, ev); err != nil {
			return fmt.Errorf("event %s: %w", ev.ID, err)
		}
	}
	return nil
}

// recoverCrash, deferred, turns the simulated crash into *err; any other
// panic is a bug and continues.
func recoverCrash(err *error) {
	if p := recover(); p != nil {
		c, ok := p.(crash)
		if !ok {
			panic(p)
		}
		*err = c
	}
}

// handle takes one event through the three effects. Every call is a
// wrapper: on a restart, the effects an event already had are replayed
// from their records, and only the missing ones run.
func handle(ctx context.Context, db *sql.DB, pay *PaymentsClient, q *Queue, ev Event) error {
	rowID, err := InsertEventIdem(ctx, db, ev)
	if err != nil {
		return err
	}
	receipt, err := ChargeCustomerIdem(ctx, pay, ev)
	if err != nil {
		return err
	}
	return PublishIdem(ctx, q, Message{
		ID:       "paid-" + ev.ID,
		Topic:    "billing.paid",
		EventID:  ev.ID,
		RowID:    rowID,
		ChargeID: receipt.ChargeID,
		Amount:   receipt.Amount,
		Currency: receipt.Currency,
	})
}

// openAppDB opens the application's database in dir and creates its events
// table. sqlitestore.DSN gives it WAL mode and synchronous=FULL, as the
// db effect expects.
//
// The table deliberately has no UNIQUE constraint on event_id: it would
// turn a duplicate into an error, and the point here is that there is no
// duplicate to refuse.
func openAppDB(ctx context.Context, dir string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(dir, "app.db")))
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS events (
		row_id   INTEGER PRIMARY KEY,
		event_id TEXT    NOT NULL,
		customer TEXT    NOT NULL,
		amount   INTEGER NOT NULL,
		currency TEXT    NOT NULL,
		kind     TEXT    NOT NULL,
		at       TEXT    NOT NULL
	)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the events table: %w", err)
	}
	return db, nil
}

// countSinks counts the effects in the three sinks: the rows of the events
// table, the provider's charges and the queue's messages, each with the
// number of distinct event ids among them.
func countSinks(ctx context.Context, dir string, pay *Payments, q *Queue) ([]Sink, error) {
	db, err := openAppDB(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows := Sink{Name: "database rows"}
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT event_id) FROM events`).Scan(&rows.Effects, &rows.Distinct); err != nil {
		return nil, fmt.Errorf("count the events table: %w", err)
	}
	ps, qs := pay.Stats(), q.Stats()
	return []Sink{
		rows,
		{Name: "charges", Effects: ps.Charges, Distinct: ps.References},
		{Name: "messages", Effects: qs.Messages, Distinct: qs.Events},
	}, nil
}

// Print writes the report as a short table.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "events %d | attempts %d | retries %d | replays %d | crash+restart %d\n",
		r.Events, r.Attempts, r.Retries, r.Replays, r.Restarts)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "sink\teffects\tthis run\texpected\texactly once")
	for _, s := range r.Sinks {
		yes := "yes"
		if !s.ExactlyOnce() {
			yes = "NO"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", s.Name, s.Effects, s.New, s.Expected, yes)
	}
	tw.Flush()
	p, q := r.Payments, r.Queue
	fmt.Fprintf(w, "payments API: %d requests: %d refused before charging, %d failed after charging, %d answered with the charge already made for their key\n",
		p.Requests, p.FailBefore, p.FailAfter, p.Repeated)
	fmt.Fprintf(w, "queue: %d sends: %d failed after enqueueing, %d dropped as duplicates\n",
		q.Sends, q.Failed, q.Dropped)
	if c := r.Crashed; c != nil {
		fmt.Fprintf(w, "crashed event %s: charges %v, published with %v\n", c.Event, c.Charges, c.Messages)
	}
}

// tally is the Observer that counts a run's attempts, retries and replays.
// runtime.Stats has the same numbers per function, but since the process
// started; a tally counts one run.
type tally struct {
	next                       runtime.Observer // also told every event, if set
	mu                         sync.Mutex
	attempts, retries, replays int
}

// Observe implements runtime.Observer.
func (t *tally) Observe(e runtime.Event) {
	if t.next != nil {
		t.next.Observe(e)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Kind {
	case runtime.EventExecuted, runtime.EventFailed, runtime.EventIndeterminate:
		t.attempts += e.Attempt // the call's last attempt number
	case runtime.EventRetried:
		t.retries++
	case runtime.EventReplayed, runtime.EventWaited:
		t.replays++
	}
}

func (t *tally) counts() (attempts, retries, replays int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.attempts, t.retries, t.replays
}

// parseEvents decodes a JSON array of events and checks that each has an
// id, a customer, a positive amount and a currency.
func parseEvents(data []byte) ([]Event, error) {
	var evs []Event
	if err := json.Unmarshal(data, &evs); err != nil {
		return nil, fmt.Errorf("events: want a JSON array of {id, customer, amount, currency, kind, at}: %w", err)
	}
	for i, ev := range evs {
		if ev.ID == "" || ev.Customer == "" || ev.Amount <= 0 || ev.Currency == "" {
			return nil, fmt.Errorf("events: event %d (id %q) needs an id, a customer, a positive amount and a currency", i+1, ev.ID)
		}
	}
	return evs, nil
}

// distinctIDs counts the distinct event ids: an event delivered twice
// still has its effects once.
func distinctIDs(evs []Event) int {
	ids := map[string]bool{}
	for _, ev := range evs {
		ids[ev.ID] = true
	}
	return len(ids)
}
