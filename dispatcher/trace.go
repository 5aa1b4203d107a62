package dispatcher

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// This file holds the traces of events: one trace per event, whose root
// is the ingest span (or the span of the source's traceparent, when it
// sent one), with children for storing the event and fanning it out,
// and one span per delivery attempt. The ingest span's traceparent is
// stored with the event (Event.TraceParent), so that fan-out and
// attempts, made later in any process, join the trace.

// Span names.
const (
	spanIngest  = "ingest"
	spanStore   = "store"
	spanFanout  = "fanout"
	spanAttempt = "delivery attempt"
)

// Span attributes.
const (
	attrEventID    = attribute.Key("shiphook.event.id")
	attrEvents     = attribute.Key("shiphook.events")
	attrMessages   = attribute.Key("shiphook.messages")
	attrDuplicate  = attribute.Key("shiphook.duplicate")
	attrQueued     = attribute.Key("shiphook.queued")
	attrMessageID  = attribute.Key("shiphook.message.id")
	attrEndpointID = attribute.Key("shiphook.endpoint.id")
	attrPartnerID  = attribute.Key("shiphook.partner.id")
	attrAttempt    = attribute.Key("shiphook.attempt")
	attrErrorClass = attribute.Key("shiphook.error_class")
	attrStatusCode = attribute.Key("http.response.status_code")
)

// tracerName names the spans' instrumentation scope.
const tracerName = "github.com/shiphook/shiphook/dispatcher"

// traceContext reads and writes W3C traceparent and tracestate headers.
var traceContext = propagation.TraceContext{}

// tracing makes the spans of events. Its zero value is off: it makes no
// span, stores no traceparent and costs a branch.
type tracing struct {
	tracer trace.Tracer
}

// newTracing returns tracing through tp; off when tp is nil or a no-op
// provider.
func newTracing(tp trace.TracerProvider) tracing {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return tracing{}
	}
	return tracing{tracer: tp.Tracer(tracerName)}
}

// start starts a span named name, a child of ctx's; when t is off it
// returns ctx and a span that does nothing.
func (t tracing) start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t.tracer == nil {
		return ctx, noopSpan
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

var noopSpan = trace.SpanFromContext(context.Background())

// IncomingTrace returns ctx with the remote span of h's traceparent
// header (and tracestate), if it has a valid one: the ingest span of the
// request is then its child. Otherwise ctx is returned as it is.
func IncomingTrace(ctx context.Context, h http.Header) context.Context {
	if h.Get("traceparent") == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.HeaderCarrier(h))
}

// startIngest starts the ingest span of a request that posts events.
func (t tracing) startIngest(ctx context.Context) (context.Context, trace.Span) {
	return t.start(ctx, spanIngest, trace.SpanKindServer)
}

// endIngest says on span, a single event's ingest span, which event it
// took in, and whether it was a duplicate.
func endIngest(span trace.Span, eventID string, duplicate bool) {
	if span.IsRecording() {
		span.SetAttributes(attrEventID.String(eventID), attrDuplicate.Bool(duplicate))
	}
}

// startFanoutHere starts the span of ev's fan-out at ingest, in this
// process (Ingest.Fanout); endFanoutHere ends it.
func (t tracing) startFanoutHere(ctx context.Context, ev *Event) trace.Span {
	_, span := t.start(ctx, spanFanout, trace.SpanKindInternal, attrEventID.String(ev.ID))
	return span
}

// endFanoutHere ends span, the fan-out span of ev, with its number of
// messages.
func endFanoutHere(span trace.Span, ev *Event) {
	spanMessages(span, len(ev.Messages))
	span.End()
}

// spanMessages says on span, a fan-out span, how many messages the event
// was given.
func spanMessages(span trace.Span, n int) {
	if span.IsRecording() {
		span.SetAttributes(attrMessages.Int(n))
	}
}

// startQueuedFanout starts the span of queueing the fan-out of events
// ids for the workers (Ingest without Fanout).
func (t tracing) startQueuedFanout(ctx context.Context, ids []string) trace.Span {
	_, span := t.start(ctx, spanFanout, trace.SpanKindProducer, attrEvents.Int(len(ids)), attrQueued.Bool(true))
	return span
}

// traceParent returns the traceparent of ctx's span, to store with the
// events it takes in; "" when t is off or ctx has no span.
func (t tracing) traceParent(ctx context.Context) string {
	if t.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// stamp stores ctx's traceparent on each of evs (traceParent).
func (t tracing) stamp(ctx context.Context, evs []Event) {
	if tp := t.traceParent(ctx); tp != "" {
		for i := range evs {
			evs[i].TraceParent = tp
		}
	}
}

// eventContext returns ctx under ev's trace: as a child of the span that
// took ev in (Event.TraceParent). With t off, or no traceparent stored,
// ctx is returned as it is.
func (t tracing) eventContext(ctx context.Context, ev Event) context.Context {
	if t.tracer == nil || ev.TraceParent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": ev.TraceParent})
}

// startFanout starts the fan-out span of ev, in its trace.
func (t tracing) startFanout(ctx context.Context, ev Event) (context.Context, trace.Span) {
	if t.tracer == nil {
		return ctx, noopSpan
	}
	return t.start(t.eventContext(ctx, ev), spanFanout, trace.SpanKindInternal, attrEventID.String(ev.ID))
}

// startAttempt starts the span of an attempt of p, in the trace of its
// event ev; endAttempt ends it.
func (t tracing) startAttempt(ctx context.Context, ev Event, p plannedAttempt) (context.Context, trace.Span) {
	if t.tracer == nil {
		return ctx, noopSpan
	}
	return t.start(t.eventContext(ctx, ev), spanAttempt, trace.SpanKindClient,
		attrEventID.String(ev.ID), attrMessageID.String(p.m.ID), attrEndpointID.String(p.ep.ID),
		attrPartnerID.String(p.m.PartnerID), attrAttempt.Int(p.m.Attempts+1))
}

// endAttempt ends span, an attempt's, with what a says of it: the
// endpoint's status code, the error class, and an error status unless it
// succeeded.
func endAttempt(span trace.Span, a Attempt) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(attrStatusCode.Int(a.StatusCode), attrErrorClass.String(string(a.ErrorClass)))
	if a.ErrorClass != ErrorNone {
		span.SetStatus(codes.Error, describe(a))
	}
	span.End()
}

// endStore ends span, a store span, with err if storing failed.
func endStore(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// injectTrace sets the traceparent of ctx's span on h when t is on and
// ep asked for it (its trace_context option).
func (t tracing) injectTrace(ctx context.Context, traceContextOpt bool, h http.Header) {
	if t.tracer == nil || !traceContextOpt {
		return
	}
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
}
