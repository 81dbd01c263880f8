package idemotel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemotel"
	"github.com/idem-go/idem/runtime/memstore"
)

// call runs one wrapped call of ns with key k whose function returns err.
func call(ctx context.Context, spec *runtime.Spec, k string, fpv int64, err error) error {
	var key, fp runtime.Encoder
	key.Begin(spec.Namespace, spec.Version)
	key.String(k)
	fp.Begin(spec.Namespace, spec.Version)
	fp.Int64(fpv)
	_, e := runtime.Do(ctx, spec, &key, &fp, func(context.Context) (int, error) { return 7, err })
	return e
}

// counts returns the idem.calls sums by (namespace, outcome), and the
// retries by namespace.
func collect(t *testing.T, r *sdkmetric.ManualReader) (calls map[[2]string]int64, retries map[string]int64, durations map[[2]string]uint64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	calls, retries, durations = map[[2]string]int64{}, map[string]int64{}, map[[2]string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, idemotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					ns, _ := p.Attributes.Value(idemotel.NamespaceKey)
					out, _ := p.Attributes.Value(idemotel.OutcomeKey)
					switch m.Name {
					case "idem.calls":
						require.Equal(t, "{call}", m.Unit)
						calls[[2]string{ns.AsString(), out.AsString()}] += p.Value
					case "idem.retries":
						retries[ns.AsString()] += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				require.Equal(t, "idem.call.duration", m.Name)
				require.Equal(t, "s", m.Unit)
				for _, p := range d.DataPoints {
					ns, _ := p.Attributes.Value(idemotel.NamespaceKey)
					out, _ := p.Attributes.Value(idemotel.OutcomeKey)
					durations[[2]string{ns.AsString(), out.AsString()}] += p.Count
				}
			}
		}
	}
	return calls, retries, durations
}

func TestObserverCountsEachOutcome(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	obs, err := idemotel.NewObserver(idemotel.WithMeterProvider(mp))
	require.NoError(t, err)
	ctx := runtime.WithObserver(runtime.WithStore(context.Background(), memstore.New()), obs)

	spec := &runtime.Spec{Namespace: "otel/test.Charge", Version: 1,
		Retry: runtime.RetryPolicy{Attempts: 3, Delay: 1, MaxDelay: 1}}
	require.NoError(t, call(ctx, spec, "a", 1, nil))                       // executed
	require.NoError(t, call(ctx, spec, "a", 1, nil))                       // replayed
	require.NoError(t, call(ctx, spec, "a", 1, nil))                       // replayed
	require.ErrorIs(t, call(ctx, spec, "a", 2, nil), runtime.ErrKeyReused) // key_reused
	boom := errors.New("boom")
	require.ErrorIs(t, call(ctx, spec, "b", 1, boom), runtime.ErrIndeterminate) // indeterminate
	require.ErrorIs(t, call(ctx, spec, "b", 1, nil), runtime.ErrIndeterminate)  // indeterminate again
	require.Error(t, call(ctx, spec, "c", 1, runtime.NotApplied(boom)))         // 2 retries, failed
	require.Error(t, call(ctx, spec, "d", 1, runtime.Permanent(boom)))          // failed

	calls, retries, durations := collect(t, reader)
	ns := spec.Namespace
	require.Equal(t, map[[2]string]int64{
		{ns, "executed"}:      1,
		{ns, "replayed"}:      2,
		{ns, "key_reused"}:    1,
		{ns, "indeterminate"}: 2,
		{ns, "failed"}:        2,
	}, calls)
	require.Equal(t, map[string]int64{ns: 2}, retries)
	for k, n := range calls {
		require.Equal(t, uint64(n), durations[k], "one duration per call for %v", k)
	}
}

func TestObserverSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	obs, err := idemotel.NewObserver(idemotel.WithMeterProvider(mp), idemotel.WithTracerProvider(tp))
	require.NoError(t, err)
	ctx := runtime.WithObserver(runtime.WithStore(context.Background(), memstore.New()), obs)
	spec := &runtime.Spec{Namespace: "otel/test.Send", Version: 1}
	require.NoError(t, call(ctx, spec, "a", 1, nil))
	require.NoError(t, call(ctx, spec, "a", 1, nil))
	require.ErrorIs(t, call(ctx, spec, "a", 9, nil), runtime.ErrKeyReused)

	spans := rec.Ended()
	require.Len(t, spans, 3)
	var outcomes []string
	for _, s := range spans {
		require.Equal(t, "idem otel/test.Send", s.Name())
		for _, kv := range s.Attributes() {
			if kv.Key == idemotel.OutcomeKey {
				outcomes = append(outcomes, kv.Value.AsString())
			}
			require.NotEqual(t, attribute.Key("idem.key"), kv.Key, "keys never become attributes")
		}
		require.False(t, s.EndTime().Before(s.StartTime()))
	}
	require.Equal(t, []string{"executed", "replayed", "key_reused"}, outcomes)
	require.Equal(t, "Error", spans[2].Status().Code.String())
}

func TestObserverCountsWaitsPendingAndUnrecordedOutcomes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	obs, err := idemotel.NewObserver(idemotel.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	require.NoError(t, err)
	for _, k := range []runtime.EventKind{runtime.EventWaiting, runtime.EventWaiting, runtime.EventWaited,
		runtime.EventRecordPending, runtime.EventRecordFailed} {
		obs.Observe(runtime.Event{Kind: k, Namespace: "ns"})
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range d.DataPoints {
					out, _ := p.Attributes.Value(idemotel.OutcomeKey)
					sums[m.Name+"/"+out.AsString()] += p.Value
				}
			}
		}
	}
	require.Equal(t, map[string]int64{
		"idem.waits/":              2,
		"idem.record_pending/":     1,
		"idem.calls/waited":        1,
		"idem.calls/record_failed": 1,
	}, sums)
}

// Steps of a composite operation are counted in idem.steps, by namespace,
// step and outcome, and not as calls.
func TestObserverCountsSteps(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	obs, err := idemotel.NewObserver(idemotel.WithMeterProvider(mp))
	require.NoError(t, err)
	ctx := runtime.WithObserver(runtime.WithStore(context.Background(), memstore.New()), obs)
	spec := &runtime.Spec{Namespace: "otel/test.Place", Version: 1, Effect: runtime.EffectComposite}
	var key, fp runtime.Encoder
	key.Begin(spec.Namespace, spec.Version)
	key.String("o1")
	fp.Begin(spec.Namespace, spec.Version)
	_, err = runtime.Do(ctx, spec, &key, &fp, func(ctx context.Context) (int, error) {
		return runtime.Step(ctx, "charge", runtime.EffectAPI, func(context.Context) (int, error) { return 1, nil })
	})
	require.NoError(t, err)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	steps := map[[3]string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "idem.steps" {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				ns, _ := p.Attributes.Value(idemotel.NamespaceKey)
				st, _ := p.Attributes.Value(idemotel.StepKey)
				out, _ := p.Attributes.Value(idemotel.OutcomeKey)
				steps[[3]string{ns.AsString(), st.AsString(), out.AsString()}] += p.Value
			}
		}
	}
	require.Equal(t, map[[3]string]int64{{"otel/test.Place", "charge", "executed"}: 1}, steps)
	calls, _, _ := collect(t, reader)
	require.Equal(t, map[[2]string]int64{{"otel/test.Place", "executed"}: 1}, calls, "the step is not a call")
}
