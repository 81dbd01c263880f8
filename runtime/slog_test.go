package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

func TestSlogObserverLogsNotableEventsOnly(t *testing.T) {
	var buf bytes.Buffer
	obs := runtime.SlogObserver(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx := runtime.WithObserver(runtime.WithStore(context.Background(), memstore.New()), obs)
	spec := &runtime.Spec{Namespace: "slog/test.Send", Version: 1}
	run := func(k string, fpv int64, err error) error {
		var key, fp runtime.Encoder
		key.Begin(spec.Namespace, spec.Version)
		key.String(k)
		fp.Begin(spec.Namespace, spec.Version)
		fp.Int64(fpv)
		_, e := runtime.Do(ctx, spec, &key, &fp, func(context.Context) (int, error) { return 1, err })
		return e
	}
	require.NoError(t, run("a", 1, nil))                                          // executed: no line
	require.NoError(t, run("a", 1, nil))                                          // replayed: no line
	require.ErrorIs(t, run("a", 2, nil), runtime.ErrKeyReused)                    // warn
	require.ErrorIs(t, run("b", 1, errors.New("boom")), runtime.ErrIndeterminate) // warn

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 2)
	for _, m := range lines {
		require.Equal(t, "WARN", m["level"])
		require.Equal(t, spec.Namespace, m["namespace"])
		require.Len(t, m["key"], 64)
		require.NotEmpty(t, m["error"])
	}
	require.Contains(t, lines[0]["msg"], "key reused")
	require.Contains(t, lines[1]["msg"], "indeterminate")
	require.Contains(t, lines[1]["error"], "boom")
}

func TestSlogObserverLogsSlowWaitsAtInfo(t *testing.T) {
	var buf bytes.Buffer
	obs := runtime.SlogObserver(slog.New(slog.NewTextHandler(&buf, nil)))
	obs.Observe(runtime.Event{Kind: runtime.EventWaited, Namespace: "ns", Duration: 10 * time.Millisecond})
	require.Empty(t, buf.String(), "a short wait is not notable")
	obs.Observe(runtime.Event{Kind: runtime.EventWaited, Namespace: "ns", Duration: 2 * time.Second})
	require.Contains(t, buf.String(), "level=INFO")
	require.Contains(t, buf.String(), "waited for another holder")
	buf.Reset()
	obs.Observe(runtime.Event{Kind: runtime.EventWaiting, Namespace: "ns", LeaseUntil: time.Now().Add(100 * time.Millisecond)})
	require.Empty(t, buf.String(), "a holder about to finish is not notable")
	obs.Observe(runtime.Event{Kind: runtime.EventWaiting, Namespace: "ns", LeaseUntil: time.Now().Add(30 * time.Second)})
	require.Contains(t, buf.String(), "level=INFO")
	require.Contains(t, buf.String(), "holder_lease_until=")
	buf.Reset()
	obs.Observe(runtime.Event{Kind: runtime.EventRecordFailed, Namespace: "ns", Attempt: 1, Err: errors.New("store down")})
	require.Contains(t, buf.String(), "level=WARN")
	require.Contains(t, buf.String(), "could not be recorded")
	buf.Reset()
	obs.Observe(runtime.Event{Kind: runtime.EventTakeover, Namespace: "ns", Attempt: 1})
	require.Contains(t, buf.String(), "level=WARN")
	require.Contains(t, buf.String(), "attempt=1")
}
