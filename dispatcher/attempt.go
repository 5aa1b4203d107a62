package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/subscriptions"
)

// Reasons shiphook disables an endpoint by itself.
const (
	DisabledGone    = "gone"    // it answered 410 Gone
	DisabledFailing = "failing" // it kept failing for the auto-disable window
)

// Operational event types, emitted by shiphook itself.
const (
	TypeEndpointDisabled = "shiphook.endpoint.disabled"
	TypeMessageFailed    = "shiphook.message.failed"
)

// Endpoints is what delivery needs to know of endpoints; subscriptions.Store
// is one.
type Endpoints interface {
	Endpoint(ctx context.Context, id string) (subscriptions.Endpoint, error)
	MarkEndpointFailing(ctx context.Context, id string, at time.Time) (time.Time, error)
	MarkEndpointHealthy(ctx context.Context, id string) error
	DisableEndpoint(ctx context.Context, id, reason string) (bool, error)
}

// maxTimeout is the longest an attempt may take (the per-endpoint
// maximum), unless half the lease is shorter.
const maxTimeout = time.Minute

// Attempt triggers: the retry schedule, or a person (a retry or resend).
const (
	triggerScheduled = "scheduled"
	triggerManual    = "manual"
	// triggerRead is a pull endpoint's read that acknowledged the message
	// (Store.ReadFeed writes it).
	triggerRead = "read"
)

// plannedAttempt is an attempt about to be made: of message m to endpoint
// ep, for trigger.
type plannedAttempt struct {
	ep      subscriptions.Endpoint
	m       Message
	trigger string
}

// triggerOf returns the trigger of the attempt dt names.
func triggerOf(dt deliveryTask) string {
	if dt.Manual {
		return triggerManual
	}
	return triggerScheduled
}

// deliver signs and posts p's message, records the attempt and what
// follows from it: the next attempt scheduled, the endpoint's health, an
// operational event. answered hears of the attempt as soon as it is made,
// before it is recorded. An attempt whose claim was lost meanwhile
// (ErrClaimLost) is dropped with a warning, and nothing follows from it.
// It returns an error only when nothing was recorded and the message may
// still be this claim's.
func (d *deliverer) deliver(ctx context.Context, p plannedAttempt, answered func(Attempt)) error {
	ev, err := d.events.get(ctx, p.m.EventID)
	if err != nil {
		return fmt.Errorf("load event %s: %w", p.m.EventID, err)
	}
	ctx, span := d.tracing.startAttempt(ctx, ev, p)
	var (
		a    Attempt
		resp *http.Response
	)
	defer func() { endAttempt(span, a) }()
	if ev.PurgedAt != nil {
		// Retention emptied the event: there is nothing true left to send.
		a = Attempt{ID: subscriptions.NewID("att"), MessageID: p.m.ID, EndpointID: p.ep.ID, PartnerID: p.m.PartnerID, Number: p.m.Attempts + 1,
			URL: p.ep.URL, StartedAt: time.Now().UTC(), ErrorClass: ErrorPurged, Error: "the event's payload was purged by retention"}
	} else if p.ep.Format == subscriptions.FormatDCSA {
		if a, resp, err = d.postDCSA(ctx, ev, p); err != nil {
			return err
		}
	} else {
		body, err := payload(ev, p.m)
		if err != nil {
			return err
		}
		if a, resp, err = d.post(ctx, p.ep, p.m, body, nil); err != nil {
			return err
		}
	}
	answered(a)
	a.Trigger = p.trigger
	// A failed probe's message, too, waits for its next attempt by the
	// retry schedule: should the breaker still be open then, it is held.
	o := d.outcome(&a, resp)
	err = d.record(context.WithoutCancel(ctx), p, a, o)
	if errors.Is(err, ErrClaimLost) {
		// The lease ran out before the answer came and another claim took
		// the message: the message is that claim's to record and schedule.
		logWarn(ctx, "attempt made after its claim was lost; not recorded", "message_id", p.m.ID, "attempt", a.Number,
			"status_code", a.StatusCode, "error_class", string(a.ErrorClass), "duration_ms", a.DurationMS)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record attempt %d of %s: %w", a.Number, p.m.ID, err)
	}
	d.metrics.attemptRecorded(p, a, o, ev.CreatedAt)
	ctx = context.WithoutCancel(ctx)
	logAttempt(ctx, a, o)
	d.endpointHealth(ctx, p.ep, a)
	if o.Status == StatusPending {
		if err := d.queue.EnqueueDelivery(ctx, p.m.ID, p.m.EndpointID, a.Number, *o.NextAttemptAt); err != nil {
			logWarn(ctx, "schedule next attempt; the reconciler will", "message_id", p.m.ID, "err", err)
		}
	}
	if o.Status == StatusFailed && !isOperational(p.m.EventType) && a.ErrorClass != ErrorNoDCSAForm {
		d.emit(ctx, TypeMessageFailed, p.m.PartnerID, ev.Shipment, map[string]any{
			"message_id": p.m.ID, "endpoint_id": p.m.EndpointID, "original_event_id": p.m.EventID, "event_type": p.m.EventType,
			"attempts": a.Number, "last_status": a.StatusCode, "last_error": describe(a),
		})
	}
	return nil
}

// postDCSA delivers ev to p's DCSA endpoint in DCSA form
// (dcsaNotificationOf), or records that it has none: an attempt not
// made, of class ErrorNoDCSAForm, which fails the message.
func (d *deliverer) postDCSA(ctx context.Context, ev Event, p plannedAttempt) (Attempt, *http.Response, error) {
	n, ok, err := dcsaNotificationOf(ev, p.ep, p.m)
	if err != nil {
		return Attempt{}, nil, err
	}
	if !ok {
		return Attempt{ID: subscriptions.NewID("att"), MessageID: p.m.ID, EndpointID: p.ep.ID, PartnerID: p.m.PartnerID, Number: p.m.Attempts + 1,
			URL: p.ep.URL, StartedAt: time.Now().UTC(), ErrorClass: ErrorNoDCSAForm,
			Error: "the event has no DCSA Track & Trace 2.2 form (see docs/dcsa.md), so it is not delivered to this dcsa-tnt-2.2 endpoint"}, nil, nil
	}
	return d.post(ctx, p.ep, p.m, n.body, n.headers)
}

// record stores attempt a with its outcome o. When a ends a numbered
// message and its ordered queue goes on (succeeded, or failed at an
// endpoint whose on_failure is skip), the store moves the queue's head in
// the same transaction (RecordEnd), and the next message of the queue,
// made due now, is queued: claimed and given to this process's delivery
// lane when it has room, so that it needs no poll, else pending, in
// Redis. Should the process die before it is queued, the reconciler finds
// it overdue.
func (d *deliverer) record(ctx context.Context, p plannedAttempt, a Attempt, o Outcome) error {
	ends := o.Status == StatusSucceeded || (o.Status == StatusFailed && !p.ep.Blocks())
	if p.m.Sequence == 0 || !ends {
		return d.store.RecordAttempt(ctx, a, o)
	}
	_, deliveries := d.queue.lanes()
	var lease time.Time
	if deliveries.Room() > deliveries.Size()/2 {
		lease = time.Now().Add(d.lease)
	}
	next, ok, err := d.store.RecordEnd(ctx, a, o, p.m, lease)
	if err != nil || !ok {
		return err
	}
	deadline := time.Now().Add(laneWait)
	if next.Status == StatusDelivering {
		var queue bool
		if next, queue = offerClaimed(ctx, d.store, next, deliveries, deadline); !queue {
			return nil
		}
	}
	if err := d.queue.enqueueMessages(ctx, []Message{next}, deliveries, deadline); err != nil {
		logWarn(ctx, "queue the next message of a shipment; the reconciler will", "message_id", next.ID, "err", err)
	}
	return nil
}

// post makes the HTTP request, with extra headers (a DCSA delivery's;
// nil for shiphook's own). It returns an error only when the attempt did
// not really happen (the worker is shutting down).
func (d *deliverer) post(ctx context.Context, ep subscriptions.Endpoint, m Message, body []byte, extra map[string]string) (Attempt, *http.Response, error) {
	start := time.Now()
	a := Attempt{ID: subscriptions.NewID("att"), MessageID: m.ID, EndpointID: ep.ID, PartnerID: m.PartnerID, Number: m.Attempts + 1, URL: ep.URL, StartedAt: start.UTC()}
	sig, err := signing.Sign(m.ID, start, body, ep.ActiveSecrets(start)...)
	if err != nil {
		return a, nil, fmt.Errorf("sign message %s: %w", m.ID, err)
	}
	timeout := d.timeout
	if ep.TimeoutSeconds > 0 {
		timeout = time.Duration(ep.TimeoutSeconds) * time.Second
	}
	timeout = min(timeout, maxTimeout, d.lease/2)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		a.ErrorClass, a.Error = ErrorConnect, "bad endpoint URL: "+err.Error()
		return a, nil, nil
	}
	for k, v := range ep.Headers {
		req.Header.Set(k, v)
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{d.userAgent}
	req.Header["webhook-id"] = []string{m.ID}
	req.Header["webhook-timestamp"] = []string{strconv.FormatInt(start.Unix(), 10)}
	req.Header["webhook-signature"] = []string{sig}
	for k, v := range extra {
		req.Header[k] = []string{v}
	}
	d.tracing.injectTrace(ctx, ep.TraceContext, req.Header)
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return a, nil, fmt.Errorf("attempt to deliver %s interrupted: %w", m.ID, ctx.Err())
		}
		a.DurationMS = time.Since(start).Milliseconds()
		a.ErrorClass, a.Error = classify(err), err.Error()
		return a, nil, nil
	}
	defer resp.Body.Close()
	excerpt, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err == nil {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	}
	a.DurationMS = time.Since(start).Milliseconds()
	a.StatusCode = resp.StatusCode
	a.ResponseBody = strings.ToValidUTF8(string(excerpt), "\uFFFD")
	a.ResponseHeaders = loggedHeaders(resp.Header)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.ErrorClass, a.Error = ErrorRedirect, "redirects are not followed; point the endpoint at "+resp.Header.Get("Location")
	default:
		a.ErrorClass, a.Error = ErrorHTTPStatus, resp.Status
	}
	if err != nil && a.ErrorClass == ErrorNone {
		a.ErrorClass, a.Error = classify(err), "reading the response: "+err.Error()
	}
	return a, resp, nil
}

// loggedHeaders returns the response headers kept in the log: all but cookies.
func loggedHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if k == "Set-Cookie" || k == "Set-Cookie2" {
			continue
		}
		out[k] = strings.Join(v, ", ")
	}
	return out
}

// outcome decides what the attempt a means for its message: where the
// next attempt is scheduled, by the retry schedule (retry.go), if any.
func (d *deliverer) outcome(a *Attempt, resp *http.Response) Outcome {
	switch {
	case a.ErrorClass == ErrorNone:
		return Outcome{Status: StatusSucceeded}
	case a.StatusCode == http.StatusGone, a.ErrorClass == ErrorBlocked, a.ErrorClass == ErrorPurged, a.ErrorClass == ErrorNoDCSAForm:
		return Outcome{Status: StatusFailed}
	}
	now := time.Now()
	delay, ok := nextDelay(d.schedule, a.Number, resp, now)
	if !ok {
		return Outcome{Status: StatusFailed}
	}
	next := now.Add(delay).UTC()
	return Outcome{Status: StatusPending, NextAttemptAt: &next}
}

// breakerFailure reports whether a says the endpoint is unwell: it could
// not be reached, timed out, or answered 5xx, 408 or 429. Other 4xx and 3xx
// answers come from a working endpoint.
func breakerFailure(a Attempt) bool {
	switch a.ErrorClass {
	case ErrorNone, ErrorRedirect, ErrorBlocked, ErrorPurged, ErrorNoDCSAForm:
		return false
	case ErrorHTTPStatus:
		return a.StatusCode >= 500 || a.StatusCode == http.StatusTooManyRequests || a.StatusCode == http.StatusRequestTimeout
	}
	return true
}

// describe sums up a failed attempt in a line.
func describe(a Attempt) string {
	if a.ErrorClass == ErrorNone {
		return ""
	}
	return string(a.ErrorClass) + ": " + a.Error
}

// verdictOf returns what a says about its endpoint's health, for the
// Guard: nothing if it was blocked by policy or not made for want of a
// payload, else whether the endpoint is unwell (breakerFailure).
func verdictOf(a Attempt) Verdict {
	switch {
	case a.ErrorClass == ErrorBlocked || a.ErrorClass == ErrorPurged || a.ErrorClass == ErrorNoDCSAForm:
		return NotCounted()
	case breakerFailure(a):
		return Unhealthy(describe(a))
	}
	return Healthy()
}

// endpointHealth keeps the endpoint's FailingSince, and disables it after a
// 410 or when it has failed for the whole auto-disable window.
func (d *deliverer) endpointHealth(ctx context.Context, ep subscriptions.Endpoint, a Attempt) {
	switch {
	case a.ErrorClass == ErrorNoDCSAForm:
		// No request was made: nothing is known of the endpoint.
	case a.ErrorClass == ErrorNone:
		if ep.FailingSince != nil {
			if err := d.endpoints.MarkEndpointHealthy(ctx, ep.ID); err != nil {
				logWarn(ctx, "mark endpoint healthy", "endpoint_id", ep.ID, "err", err)
			}
		}
	case a.StatusCode == http.StatusGone:
		d.disable(ctx, ep.ID, DisabledGone, "the endpoint answered 410 Gone")
	default:
		since := a.StartedAt
		if ep.FailingSince != nil {
			since = *ep.FailingSince
		} else {
			var err error
			if since, err = d.endpoints.MarkEndpointFailing(ctx, ep.ID, a.StartedAt); err != nil {
				logWarn(ctx, "mark endpoint failing", "endpoint_id", ep.ID, "err", err)
				return
			}
		}
		if a.StartedAt.Sub(since) >= d.autoDisableAfter {
			d.disable(ctx, ep.ID, DisabledFailing, fmt.Sprintf("every attempt has failed since %s; the last: %s", since.UTC().Format(time.RFC3339), describe(a)))
		}
	}
}

// disable disables an endpoint, keeps its pending messages for when it is
// enabled again, and says so to the partner and in the log.
func (d *deliverer) disable(ctx context.Context, id, code, reason string) {
	changed, err := d.endpoints.DisableEndpoint(ctx, id, code)
	if err != nil {
		logWarn(ctx, "disable endpoint", "endpoint_id", id, "err", err)
		return
	}
	if !changed {
		return // disabled already, perhaps by another worker just now
	}
	ep, err := d.endpoints.Endpoint(ctx, id)
	if err != nil {
		logWarn(ctx, "load disabled endpoint", "endpoint_id", id, "err", err)
		return
	}
	d.notifier.Changed(ctx, ep.PartnerID)
	data := map[string]any{"endpoint_id": ep.ID, "reason": reason, "url": ep.URL}
	if ep.FailingSince != nil {
		data["failing_since"] = ep.FailingSince.UTC().Format(time.RFC3339Nano)
	}
	d.emit(ctx, TypeEndpointDisabled, ep.PartnerID, Shipment{}, data)
}

// isOperational reports whether typ is one of shiphook's own event types.
func isOperational(typ string) bool { return strings.HasPrefix(typ, "shiphook.") }

// emit stores an operational event for partnerID and fans it out to the
// partner's endpoints subscribed to it. It is also logged, for admins.
// While tracing is on, it joins the trace of ctx's span: the attempt that
// caused it.
func (d *deliverer) emit(ctx context.Context, typ, partnerID string, shipment Shipment, data map[string]any) {
	raw, err := json.Marshal(data)
	if err != nil {
		logWarn(ctx, "encode operational event", "type", typ, "err", err)
		return
	}
	now := time.Now().UTC()
	ev := Event{ID: subscriptions.NewID("evt"), Type: typ, OccurredAt: now, Shipment: shipment,
		Parties: []Party{{PartnerID: partnerID}}, Data: raw, CreatedAt: now, TraceParent: d.tracing.traceParent(ctx)}
	if _, err := d.store.InsertEvents(ctx, []Event{ev}); err != nil {
		logWarn(ctx, "store operational event", "type", typ, "err", err)
		return
	}
	args := []any{"event_id", ev.ID, "partner_id", partnerID}
	for k, v := range data {
		args = append(args, k, v)
	}
	logWarn(ctx, typ, args...)
	if err := d.queue.EnqueueFanout(ctx, ev.ID); err != nil {
		logWarn(ctx, "enqueue operational event; the reconciler will", "event_id", ev.ID, "err", err)
	}
}
