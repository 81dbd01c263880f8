// Package idemotel reports the outcomes of idem's wrapped calls as
// OpenTelemetry metrics, and optionally spans.
//
// Install the observer once at start-up:
//
//	obs, err := idemotel.NewObserver() // the global MeterProvider
//	if err != nil { ... }
//	runtime.SetDefaultObserver(obs)
//
// Instruments (meter named by this package's import path):
//
//	idem.calls           counter {call}   one per finished wrapped call, by idem.namespace and idem.outcome
//	idem.retries         counter {retry}  one per retried attempt, by idem.namespace
//	idem.takeovers       counter {takeover} one per key taken over from a holder whose lease passed, by idem.namespace
//	idem.waits           counter {wait}   one per call that found its key held by a live caller and waited, by idem.namespace
//	idem.record_pending  counter {call}   one per call that returned before its outcome was recorded (the write goes on in the background), by idem.namespace
//	idem.call.duration   histogram s      a finished call's duration, by idem.namespace and idem.outcome
//
// idem.outcome is one of executed, replayed, waited, key_reused,
// indeterminate, store_error, failed and record_failed (the names of
// [runtime.EventKind]).
// Keys and argument values never become attributes: a key identifies one
// operation, which would make every series unique, and may be derived from
// personal data.
//
// What to alert on: a rise in key_reused (callers reuse keys with other
// arguments: a key derived from too few arguments, or a fingerprint that a
// deploy changed), in indeterminate (effects that may have happened and
// now block their keys until an operator looks), in takeovers (holders
// dying mid-call), in store_error (the store is failing; wrapped calls
// fail closed) and in record_failed (functions ran but their outcome could
// not be recorded: their keys block until the lease passes).
package idemotel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/idem-go/idem/runtime"
)

// ScopeName is the instrumentation scope of the meter and tracer: this
// package's import path, as the OpenTelemetry Go instrumentation guidelines
// ask.
const ScopeName = "github.com/idem-go/idem/runtime/idemotel"

// Attribute keys.
const (
	// NamespaceKey is the wrapped function's namespace.
	NamespaceKey = attribute.Key("idem.namespace")
	// OutcomeKey is the outcome of a finished call.
	OutcomeKey = attribute.Key("idem.outcome")
	// StepKey is the name of a composite operation's step.
	StepKey = attribute.Key("idem.step")
)

// Option configures NewObserver.
type Option func(*config)

type config struct {
	mp metric.MeterProvider
	tp trace.TracerProvider
}

// WithMeterProvider sets the MeterProvider the instruments are created
// from. The default is the global provider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTracerProvider turns on one span per finished wrapped call, named
// "idem " + namespace, spanning the call's duration, with the outcome as the
// idem.outcome attribute and an error status for outcomes that are errors.
// Without it no spans are made.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// observer implements runtime.Observer.
type observer struct {
	calls     metric.Int64Counter
	retries   metric.Int64Counter
	takeovers metric.Int64Counter
	waits     metric.Int64Counter
	pending   metric.Int64Counter
	steps     metric.Int64Counter
	duration  metric.Float64Histogram
	tracer    trace.Tracer // nil: no spans
}

// NewObserver returns a runtime.Observer that records every wrapped call's
// outcome in OpenTelemetry instruments. Install it with
// runtime.SetDefaultObserver or runtime.WithObserver.
func NewObserver(opts ...Option) (runtime.Observer, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	m := cfg.mp.Meter(ScopeName)
	o := &observer{}
	var err error
	if o.calls, err = m.Int64Counter("idem.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Finished wrapped calls, by namespace and outcome.")); err != nil {
		return nil, err
	}
	if o.retries, err = m.Int64Counter("idem.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts of wrapped calls that were retried.")); err != nil {
		return nil, err
	}
	if o.takeovers, err = m.Int64Counter("idem.takeovers", metric.WithUnit("{takeover}"),
		metric.WithDescription("Keys taken over from a holder whose lease had passed.")); err != nil {
		return nil, err
	}
	if o.waits, err = m.Int64Counter("idem.waits", metric.WithUnit("{wait}"),
		metric.WithDescription("Calls that found their key held by a live caller and waited for it.")); err != nil {
		return nil, err
	}
	if o.pending, err = m.Int64Counter("idem.record_pending", metric.WithUnit("{call}"),
		metric.WithDescription("Calls that returned before their outcome was recorded; the write went on in the background.")); err != nil {
		return nil, err
	}
	if o.steps, err = m.Int64Counter("idem.steps", metric.WithUnit("{step}"),
		metric.WithDescription("Finished steps of composite operations, by namespace, step and outcome (executed, replayed, indeterminate, failed).")); err != nil {
		return nil, err
	}
	if o.duration, err = m.Float64Histogram("idem.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of finished wrapped calls, by namespace and outcome.")); err != nil {
		return nil, err
	}
	if cfg.tp != nil {
		o.tracer = cfg.tp.Tracer(ScopeName)
	}
	return o, nil
}

// outcome reports whether kind ends a call, and whether that outcome is an
// error.
func outcome(kind runtime.EventKind) (final, failed bool) {
	switch kind {
	case runtime.EventExecuted, runtime.EventReplayed, runtime.EventWaited:
		return true, false
	case runtime.EventKeyReused, runtime.EventIndeterminate, runtime.EventStoreError, runtime.EventFailed, runtime.EventRecordFailed:
		return true, true
	}
	return false, false
}

// Observe records e.
func (o *observer) Observe(e runtime.Event) {
	ctx := context.Background()
	ns := NamespaceKey.String(e.Namespace)
	if e.Step != "" {
		// A step of a composite operation: counted apart from calls.
		o.steps.Add(ctx, 1, metric.WithAttributes(ns, StepKey.String(e.Step), OutcomeKey.String(e.Kind.String())))
		return
	}
	switch e.Kind {
	case runtime.EventRetried:
		o.retries.Add(ctx, 1, metric.WithAttributes(ns))
		return
	case runtime.EventTakeover:
		o.takeovers.Add(ctx, 1, metric.WithAttributes(ns))
		return
	case runtime.EventWaiting:
		o.waits.Add(ctx, 1, metric.WithAttributes(ns))
		return
	case runtime.EventRecordPending:
		o.pending.Add(ctx, 1, metric.WithAttributes(ns))
		return
	}
	final, failed := outcome(e.Kind)
	if !final {
		return
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(ns, OutcomeKey.String(e.Kind.String())))
	o.calls.Add(ctx, 1, attrs)
	o.duration.Record(ctx, e.Duration.Seconds(), attrs)
	if o.tracer == nil {
		return
	}
	end := time.Now()
	_, span := o.tracer.Start(ctx, "idem "+e.Namespace,
		trace.WithTimestamp(end.Add(-e.Duration)),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(ns, OutcomeKey.String(e.Kind.String())))
	if failed {
		msg := e.Kind.String()
		if e.Err != nil {
			msg = e.Err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End(trace.WithTimestamp(end))
}
