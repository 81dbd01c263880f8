// Pipeline is idem's showcase: a small event pipeline whose three side
// effects happen exactly once although the services behind them fail, the
// pipeline retries, and the process crashes and restarts from the first
// event.
//
// Each event from events.json is
//
//  1. inserted into a SQLite database (InsertEvent, effect db: the row and
//     its idem record commit in one transaction),
//  2. charged through a payments HTTP API that deduplicates on an
//     Idempotency-Key header (ChargeCustomer, effect api), and
//  3. published to a queue that deduplicates on a message deduplication id
//     (Publish, effect queue).
//
// The payments API and the queue are in-process fakes that fail on purpose,
// on a fixed schedule: some requests before doing anything, some after
// (the charge is made, the answer is a 502 or 504; the message is enqueued, the
// acknowledgement is lost). Part-way through, the process crashes right
// after a charge was made, and restarts from the first event over the same
// idem store. The report at the end counts the effects in the sinks
// themselves (rows, charges, messages) and says whether each happened
// exactly once; the exit status is 1 if not.
//
// Then the composite action (RecordSale, effect composite, in
// composite.go) takes every event through three steps of one operation:
// insert a sale row (StepSQL), publish a message (a queue step) and add
// one to a counter (a none step). It crashes once inside the publish step
// of the same event, after the queue took the message; the restart
// resumes the sale at that step, and the report counts the three sinks.
//
// Run it with
//
//	go run ./examples/pipeline
//
// It needs no server: the idem store and the database are SQLite files in
// a temporary directory (-dir keeps them; running again over the same
// directory replays every call), and the fakes listen on loopback.
// The wrappers (the *Idem functions) are generated into effects_idem.go by
// go generate (idemgen) from the directives in effects.go.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"

	"github.com/idem-go/idem/runtime"
)

//go:embed events.json
var embeddedEvents []byte

func main() {
	os.Exit(pipelineMain())
}

func pipelineMain() int {
	eventsFile := flag.String("events", "", "read the events from this JSON file instead of the embedded events.json")
	dir := flag.String("dir", "", "keep the databases in this directory (created if needed); by default a temporary directory, removed at exit")
	crashAt := flag.Int("crash-at", 23, "crash the process once, right after the charge of this event (1-based); 0 for no crash")
	metricsAddr := flag.String("metrics", "", "serve the idem metrics in the Prometheus format at http://ADDR/metrics (OpenTelemetry with its Prometheus exporter) during the run and after it, until interrupted")
	flag.Parse()

	data := embeddedEvents
	if *eventsFile != "" {
		var err error
		if data, err = os.ReadFile(*eventsFile); err != nil {
			fmt.Fprintln(os.Stderr, "pipeline:", err)
			return 2
		}
	}
	events, err := parseEvents(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		return 2
	}
	crash := *crashAt
	if crash > len(events) && !flagSet("crash-at") {
		crash = 0 // fewer events than the default crash point: no crash
	}

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "idem-pipeline-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "pipeline:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var observer runtime.Observer
	if *metricsAddr != "" {
		m, err := newMetrics()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pipeline:", err)
			return 1
		}
		defer m.Close(context.Background())
		observer = m.Observer
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler)
		srv := &http.Server{Addr: *metricsAddr, Handler: mux}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "pipeline: metrics:", err)
			}
		}()
		defer func() {
			fmt.Fprintf(os.Stderr, "pipeline: metrics at http://%s/metrics until interrupted\n", *metricsAddr)
			<-ctx.Done()
			_ = srv.Close()
		}()
	}
	rep, err := run(ctx, Config{Events: events, Dir: *dir, CrashAt: crash, Observer: observer}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		return 1
	}
	if !rep.ExactlyOnce() {
		fmt.Fprintln(os.Stderr, "pipeline: some effects did not happen exactly once")
		return 1
	}
	return 0
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
