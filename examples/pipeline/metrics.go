package main

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemotel"
)

// metrics is the pipeline's OpenTelemetry setup for -metrics: the idem
// observer on a MeterProvider read by the Prometheus exporter, served in
// the Prometheus text format.
type metrics struct {
	Observer runtime.Observer
	Handler  http.Handler
	provider *sdkmetric.MeterProvider
}

// newMetrics builds the observer and the /metrics handler on a registry of
// their own.
func newMetrics() (*metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	obs, err := idemotel.NewObserver(idemotel.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	return &metrics{Observer: obs, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), provider: mp}, nil
}

// Close flushes and stops the meter provider.
func (m *metrics) Close(ctx context.Context) error { return m.provider.Shutdown(ctx) }
