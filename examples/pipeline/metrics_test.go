package main

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMetricsInPrometheusFormat runs the pipeline with the -metrics
// observer and reads what a Prometheus server would scrape.
func TestMetricsInPrometheusFormat(t *testing.T) {
	evs, err := parseEvents(embeddedEvents)
	require.NoError(t, err)
	m, err := newMetrics()
	require.NoError(t, err)
	defer m.Close(context.Background())
	_, err = run(context.Background(), Config{Events: evs, Dir: t.TempDir(), Observer: m.Observer}, io.Discard)
	require.NoError(t, err)

	rec := httptest.NewRecorder()
	m.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	value := func(ns, outcome string) int {
		t.Helper()
		re := regexp.MustCompile(`(?m)^idem_calls_total\{[^}]*idem_namespace="` + regexp.QuoteMeta(ns) + `"[^}]*idem_outcome="` + outcome + `"[^}]*\} (\d+)`)
		mm := re.FindStringSubmatch(body)
		require.NotNil(t, mm, "no idem_calls_total for %s %s in:\n%s", ns, outcome, body)
		n, err := strconv.Atoi(mm[1])
		require.NoError(t, err)
		return n
	}
	const ns = "github.com/idem-go/idem/examples/pipeline."
	require.Equal(t, len(evs), value(ns+"InsertEvent", "executed"))
	require.Equal(t, len(evs), value(ns+"ChargeCustomer", "executed"))
	require.Equal(t, len(evs), value(ns+"Publish", "executed"))
	require.Regexp(t, `(?m)^idem_retries_total\{`, body)
	require.Regexp(t, `(?m)^idem_call_duration_seconds_bucket\{`, body)
	require.NotRegexp(t, `idem_key`, body, "keys never become labels")
}
