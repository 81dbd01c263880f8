package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

func embedded(t *testing.T) []Event {
	t.Helper()
	evs, err := parseEvents(embeddedEvents)
	require.NoError(t, err)
	return evs
}

func TestEmbeddedEvents(t *testing.T) {
	evs := embedded(t)
	assert.Len(t, evs, 40)
	assert.Equal(t, len(evs), distinctIDs(evs), "event ids must be distinct")
}

const wantReport = `crash: the process died charging evt-023, after the payments provider had charged it
restart: a new process over the same idem store and database, from the first event

events 40 | attempts 151 | retries 30 | replays 67 | crash+restart 1
sink            effects   this run   expected   exactly once
database rows   40        40         40         yes
charges         40        40         40         yes
messages        40        40         40         yes
payments API: 58 requests: 8 refused before charging, 9 failed after charging, 10 answered with the charge already made for their key
queue: 53 sends: 13 failed after enqueueing, 13 dropped as duplicates
crashed event evt-023: charges [ch_0023], published with [ch_0023]

crash: the process died in the publish step of evt-023's sale, after the queue took the message
restart: the sale resumes at that step: its row is replayed, its message sent again with the same id

composite RecordSale (row, message and counter in steps): steps executed 120, replayed 14
sink            effects   this run   expected   exactly once
sale rows       40        40         40         yes
sale messages   40        40         40         yes
sales counter   40        40         40         yes
`

// The showcase: a run with injected failures and a crash leaves every sink
// with exactly one effect per event, and a second run over the same
// directory replays every call and makes no new effect.
func TestPipelineExactlyOnceAcrossCrashAndRerun(t *testing.T) {
	ctx := context.Background()
	evs := embedded(t)
	n := len(evs)
	const crashAt = 23
	cfg := Config{Events: evs, Dir: t.TempDir(), CrashAt: crashAt}

	var out bytes.Buffer
	rep, err := run(ctx, cfg, &out)
	require.NoError(t, err)
	// The failures are injected on a fixed schedule, so the report is the
	// same on every run.
	assert.Equal(t, wantReport, out.String())

	require.Len(t, rep.Sinks, 3)
	for _, s := range rep.Sinks {
		assert.Equal(t, n, s.Effects, s.Name)
		assert.Equal(t, n, s.Distinct, s.Name)
		assert.Equal(t, n, s.New, s.Name)
		assert.True(t, s.ExactlyOnce(), s.Name)
	}
	assert.True(t, rep.ExactlyOnce())
	assert.Equal(t, 1, rep.Restarts)
	// The composite action: each sale's row, message and counter once,
	// although it crashed inside a step and its queue failed.
	require.Len(t, rep.Sales, 3)
	for _, s := range rep.Sales {
		assert.Equal(t, Sink{Name: s.Name, Effects: n, Distinct: n, New: n, Expected: n}, s)
	}

	// The failures happened, on both sides of the effect, and were retried.
	assert.Positive(t, rep.Payments.FailBefore)
	assert.Positive(t, rep.Payments.FailAfter)
	assert.Positive(t, rep.Queue.Failed)
	assert.Equal(t, rep.Payments.FailBefore+rep.Payments.FailAfter+rep.Queue.Failed, rep.Retries)
	// Every failure after the effect was answered from the first effect.
	assert.Equal(t, rep.Payments.FailAfter+1, rep.Payments.Repeated, "each charge failed after charging, and the crashed one, was answered with its first charge")
	assert.Equal(t, rep.Queue.Failed, rep.Queue.Dropped)
	// The restart replayed the three effects of the events before the crash
	// and the insert of the crashed event, and ran the rest.
	assert.Equal(t, 3*(crashAt-1)+1, rep.Replays)
	assert.Equal(t, rep.Payments.Requests+rep.Queue.Sends+n, rep.Attempts)

	// The crashed event was charged once, and its message carries that
	// charge: the restart got the first charge back.
	charges := map[string]Charge{}
	require.NoError(t, loadJSON(filepath.Join(cfg.Dir, "payments.json"), &charges))
	var crashed []Charge
	for _, ch := range charges {
		if ch.Reference == "evt-023" {
			crashed = append(crashed, ch)
		}
	}
	require.Len(t, crashed, 1)
	var msgs []QueuedMessage
	require.NoError(t, loadJSON(filepath.Join(cfg.Dir, "queue.json"), &msgs))
	require.Len(t, msgs, n)
	assert.Equal(t, "evt-023", msgs[crashAt-1].Message.EventID)
	assert.Equal(t, crashed[0].ID, msgs[crashAt-1].Message.ChargeID)

	// A second run over the same directory replays everything.
	out.Reset()
	rep2, err := run(ctx, cfg, &out)
	require.NoError(t, err)
	for _, s := range rep2.Sinks {
		assert.Equal(t, n, s.Effects, s.Name)
		assert.Zero(t, s.New, s.Name)
	}
	assert.True(t, rep2.ExactlyOnce())
	for _, s := range rep2.Sales {
		assert.Equal(t, n, s.Effects, s.Name)
		assert.Zero(t, s.New, s.Name)
	}
	assert.Contains(t, out.String(), "steps executed 0, replayed 0", "the second run replays every sale whole")
	assert.Equal(t, 3*n, rep2.Replays)
	assert.Zero(t, rep2.Attempts)
	assert.Zero(t, rep2.Retries)
	assert.Zero(t, rep2.Restarts, "the crash point is a charge, and no charge runs")
	assert.Nil(t, rep2.Crashed)
	assert.Zero(t, rep2.Payments.Requests)
	assert.Zero(t, rep2.Queue.Sends)
}

// The proof counts the sinks themselves: a duplicate row, however it got
// there, fails the report.
func TestReportCatchesADuplicate(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Events: embedded(t)[:5], Dir: t.TempDir()}
	_, err := run(ctx, cfg, &bytes.Buffer{})
	require.NoError(t, err)

	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(cfg.Dir, "app.db")))
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO events (event_id, customer, amount, currency, kind, at) SELECT event_id, customer, amount, currency, kind, at FROM events LIMIT 1`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	var out bytes.Buffer
	rep, err := run(ctx, cfg, &out)
	require.NoError(t, err)
	assert.False(t, rep.ExactlyOnce())
	assert.Equal(t, Sink{Name: "database rows", Effects: 6, Distinct: 5, Expected: 5}, rep.Sinks[0])
	assert.True(t, rep.Sinks[1].ExactlyOnce())
	assert.Contains(t, out.String(), "NO")
}

// An event delivered twice has its effects once: the second delivery
// replays.
func TestRedeliveredEventReplays(t *testing.T) {
	evs := embedded(t)[:3]
	evs = append(evs, evs[1])
	rep, err := run(context.Background(), Config{Events: evs, Dir: t.TempDir()}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, rep.ExactlyOnce())
	assert.Equal(t, 3, rep.Sinks[1].Effects)
	assert.Equal(t, 3, rep.Replays)
}

// A client timeout is an indeterminate outcome: the provider may have
// charged. ChargeCustomerIdem retries it with the same key, and the
// provider answers with the charge it made.
func TestChargeTimeoutIsRetriedWithTheSameKey(t *testing.T) {
	pay, err := startPayments(filepath.Join(t.TempDir(), "payments.json"), func(n int) fault {
		if n == 1 {
			return hangAfter
		}
		return serve
	})
	require.NoError(t, err)
	defer pay.Close()

	ctx := runtime.WithStore(context.Background(), memstore.New())
	ev := embedded(t)[0]
	// The timeout ends the hung first attempt; the second must answer
	// within it even on a loaded machine, so it is not tight.
	receipt, err := ChargeCustomerIdem(ctx, pay.Client(time.Second), ev)
	require.NoError(t, err)
	assert.Equal(t, ev.Amount, receipt.Amount)
	assert.Equal(t, PaymentsStats{Charges: 1, References: 1, Requests: 2, Repeated: 1, FailAfter: 1}, pay.Stats())
}

// Errors before the request is processed are not applied: they are retried,
// and after the last attempt the claim is released, so a later call charges.
func TestChargeRefusedIsNotApplied(t *testing.T) {
	pay, err := startPayments(filepath.Join(t.TempDir(), "payments.json"), func(n int) fault {
		if n <= 5 {
			return failBefore
		}
		return serve
	})
	require.NoError(t, err)
	defer pay.Close()

	ctx := runtime.WithStore(context.Background(), memstore.New())
	ev := embedded(t)[0]
	_, err = ChargeCustomerIdem(ctx, pay.Client(time.Second), ev)
	require.ErrorContains(t, err, "503")
	assert.Equal(t, 0, pay.Stats().Charges)

	receipt, err := ChargeCustomerIdem(ctx, pay.Client(time.Second), ev)
	require.NoError(t, err)
	assert.Equal(t, "ch_0001", receipt.ChargeID)
	assert.Equal(t, 6, pay.Stats().Requests)
}

func TestParseEventsRejectsBadInput(t *testing.T) {
	_, err := parseEvents([]byte(`{"id": "x"}`))
	assert.ErrorContains(t, err, "JSON array")
	_, err = parseEvents([]byte(`[{"id": "x", "customer": "c", "amount": 0, "currency": "EUR"}]`))
	assert.ErrorContains(t, err, "positive amount")
}

func TestRunRejectsACrashPointOutOfRange(t *testing.T) {
	_, err := run(context.Background(), Config{Events: embedded(t)[:2], Dir: t.TempDir(), CrashAt: 3}, &bytes.Buffer{})
	assert.ErrorContains(t, err, "there are 2 events")
}
