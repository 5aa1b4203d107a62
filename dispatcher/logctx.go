package dispatcher

import (
	"context"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// The log lines about a delivery name what it delivers: the dispatcher
// puts the ids of the delivery in the context (logDelivery, logMessage),
// and LogHandler adds them, with the trace and span ids of the context's
// span while tracing is on, to every line logged with that context.

// logIDs are the ids of the delivery a context is about, which
// LogHandler adds to the lines logged with it; an empty one is left out.
// They are turned into attributes only when a line is logged, so that a
// delivery that logs nothing pays one context value.
type logIDs struct{ event, message, endpoint, partner string }

// logIDsKey is the context key of the delivery's logIDs.
type logIDsKey struct{}

// attrs returns ids as log attributes, in the order event, message,
// endpoint, partner.
func (ids logIDs) attrs() []slog.Attr {
	out := make([]slog.Attr, 0, 4)
	for _, a := range [...]struct{ key, v string }{{"event_id", ids.event}, {"message_id", ids.message},
		{"endpoint_id", ids.endpoint}, {"partner_id", ids.partner}} {
		if a.v != "" {
			out = append(out, slog.String(a.key, a.v))
		}
	}
	return out
}

// logDelivery returns ctx whose log lines name the delivery dt: its
// message and endpoint.
func logDelivery(ctx context.Context, dt deliveryTask) context.Context {
	return context.WithValue(ctx, logIDsKey{}, logIDs{message: dt.ID, endpoint: dt.EndpointID})
}

// logMessage returns ctx whose log lines name m: its event, message,
// endpoint and partner.
func logMessage(ctx context.Context, m Message) context.Context {
	return context.WithValue(ctx, logIDsKey{}, logIDs{event: m.EventID, message: m.ID, endpoint: m.EndpointID, partner: m.PartnerID})
}

// LogHandler returns h adding to each record the attributes the
// dispatcher put in its context (the event_id, message_id, endpoint_id and
// partner_id of a delivery) that the record does not carry already, and
// the trace_id and span_id of the context's span, if it has one.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	ids, _ := ctx.Value(logIDsKey{}).(logIDs)
	sc := trace.SpanContextFromContext(ctx)
	if ids == (logIDs{}) && !sc.IsValid() {
		return h.Handler.Handle(ctx, r)
	}
	var present []string
	r.Attrs(func(a slog.Attr) bool {
		present = append(present, a.Key)
		return true
	})
	r = r.Clone()
	for _, a := range ids.attrs() {
		if !slices.Contains(present, a.Key) {
			r.AddAttrs(a)
		}
	}
	if sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }

// logAttempt logs attempt a, recorded with outcome o: a warning when it
// failed, saying whether the message is retried or has failed for good,
// and a debug line when it succeeded.
func logAttempt(ctx context.Context, a Attempt, o Outcome) {
	switch {
	case a.ErrorClass == ErrorNone:
		slog.DebugContext(ctx, "delivered", "attempt", a.Number, "status_code", a.StatusCode, "duration_ms", a.DurationMS)
	case o.Status == StatusPending && o.NextAttemptAt != nil:
		logWarn(ctx, "delivery attempt failed; retrying", "attempt", a.Number, "status_code", a.StatusCode,
			"error_class", string(a.ErrorClass), "error", a.Error, "next_attempt_at", *o.NextAttemptAt)
	default:
		logWarn(ctx, "delivery attempt failed; giving up, the message has failed", "attempt", a.Number, "status_code", a.StatusCode,
			"error_class", string(a.ErrorClass), "error", a.Error)
	}
}
