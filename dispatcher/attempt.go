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

	"github.com/hibiken/asynq"

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

// handleDeliver makes one attempt to deliver a message, or, when the
// endpoint's breaker or limits say not now, puts it back for later without
// spending an attempt. A task whose attempt was already made (or whose
// message is being delivered) is dropped: the message's row is the truth.
func (w *Worker) handleDeliver(ctx context.Context, t *asynq.Task) error {
	dt, err := parseDeliveryTask(t.Payload())
	if err != nil {
		return err
	}
	return w.deliverTask(ctx, dt)
}

// deliverTask makes the attempt dt names, or puts it back for later (see
// handleDeliver). A message the fan-out claimed is handed back (made
// pending) whenever no attempt is made. A delivery that finds its endpoint
// at its cap in this process waits in the gate, if it may (gate.go).
func (w *Worker) deliverTask(ctx context.Context, dt deliveryTask) error {
	return w.deliverPlaced(ctx, dt, false, heldSlot{})
}

// deliverPlaced is deliverTask for a delivery that holds a place of its
// endpoint in the gate already, when placed says so: one that waited in
// the gate and was handed a place, and with it, maybe, the slot in Redis
// of the delivery before it.
func (w *Worker) deliverPlaced(ctx context.Context, dt deliveryTask, placed bool, slot heldSlot) error {
	// leave gives the place back, with the slot if it holds one, once: as
	// soon as the endpoint has answered, so that the next in line goes
	// while the attempt is recorded.
	leave := func() {
		if placed {
			placed = false
			w.handOn(ctx, dt.EndpointID, slot)
			slot = heldSlot{}
		}
	}
	defer leave()
	ep, err := w.cfg.Endpoints.Endpoint(ctx, dt.EndpointID)
	if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && ep.Disabled) {
		if dt.claimed != nil {
			return w.cfg.Store.SetMessageStatus(ctx, dt.ID, Outcome{Status: StatusDisabled})
		}
		return w.park(ctx, dt.ID, dt.Attempts)
	}
	if err != nil {
		w.handBack(ctx, dt)
		return fmt.Errorf("load endpoint %s: %w", dt.EndpointID, err)
	}
	for deadline := time.Now().Add(laneWait); !placed; {
		switch w.gate.enter(dt, w.cfg.Guard.limit(ep), w.gateSize()) {
		case gatePlaced:
			placed = true
		case gateLined:
			return nil
		case gateFull:
			// Deliveries wait for several endpoints at their caps: wait for
			// room, as those who offer work to a full lane do, rather than
			// outrun them through Redis.
			if w.gate.awaitRoom(deadline) {
				continue
			}
			fallthrough
		default:
			return w.postpone(ctx, dt, atCap())
		}
	}
	permit, wait, err := w.cfg.Guard.acquire(ctx, ep, slot)
	slot = heldSlot{}
	if err != nil {
		w.handBack(ctx, dt)
		return err
	}
	if wait != nil {
		return w.postpone(ctx, dt, wait)
	}
	release := func(counted, failed bool, reason string) {
		if permit != nil {
			slot = permit.pass()
			w.cfg.Guard.Release(ctx, permit, counted, failed, reason)
			permit = nil
			leave()
		}
	}
	var m Message
	if dt.claimed != nil {
		m = *dt.claimed
	} else {
		var ok bool
		m, ok, err = w.cfg.Store.ClaimMessage(ctx, dt.ID, dt.Attempts, time.Now().Add(w.cfg.Lease))
		if err != nil || !ok {
			release(false, false, "")
			if err != nil {
				return fmt.Errorf("claim message %s: %w", dt.ID, err)
			}
			return nil
		}
	}
	err = w.deliver(ctx, ep, m, dt.Manual, permit.probe, func(a Attempt) {
		counted := a.ErrorClass != ErrorBlocked && a.ErrorClass != ErrorPurged
		release(counted, breakerFailure(a), describe(a))
	})
	if err != nil {
		release(false, false, "")
		// Nothing was recorded: put the message back so that the retried
		// task (or the reconciler) can claim it again.
		_, _ = w.putBack(ctx, m)
		return err
	}
	return nil
}

// handOn gives back a place of endpoint id in the gate, with slot, the
// slot in Redis that goes with it, if any. The first in line for it takes
// both and goes in a goroutine of its own; one that waited too long goes
// to Redis instead, and the place passes on. When every such goroutine is
// busy, the place waits for the next of them to end (gate.owe), and that
// one hands it on. A slot nobody takes is given back.
func (w *Worker) handOn(ctx context.Context, id string, slot heldSlot) {
	ctx = context.WithoutCancel(ctx)
	freeSlot := func() {
		if slot.token != "" {
			w.cfg.Guard.free(ctx, id, slot.token)
			slot = heldSlot{}
		}
	}
	for {
		dt, waited, ok := w.gate.pass(id)
		if !ok {
			// The slot is given back before the place: a delivery that
			// takes the place then finds the slot free.
			freeSlot()
			if dt, waited, ok = w.gate.leave(id); !ok {
				return
			}
		}
		if waited <= min(gateWait, w.cfg.ReconcileGrace/2) {
			if w.runPlaced(dt, slot) {
				return
			}
			if w.gate.owe(dt, waited) {
				freeSlot()
				return
			}
		}
		if err := w.postpone(ctx, dt, atCap()); err != nil {
			w.retryDelivery(ctx, dt, err)
		}
	}
}

// placed is a delivery that holds a place in the gate, and slot, the slot
// in Redis that went with it, if any.
type placed struct {
	dt   deliveryTask
	slot heldSlot
}

// runnerIdle is how long a goroutine that sends on deliveries from the
// gate waits for more before it ends.
const runnerIdle = 5 * time.Second

// runPlaced delivers dt, which holds a place in the gate and slot, in a
// goroutine of the gate's (runner), as a lane's handler would, and reports
// whether the gate had room for one more under way.
func (w *Worker) runPlaced(dt deliveryTask, slot heldSlot) bool {
	select {
	case w.runners <- struct{}{}:
	default:
		return false
	}
	if !w.gate.run(&w.running, w.idle, placed{dt: dt, slot: slot}, w.runner) {
		<-w.runners
		return false
	}
	return true
}

// runner delivers p, then those that runPlaced hands it, until none came
// for runnerIdle or the gate closes. Kept for the next delivery rather
// than started anew for each, a goroutine keeps the stack that sending and
// recording grew: a new goroutine for every delivery spent about 7 % of
// shiphook's CPU at fan-out ×1 growing its stack (docs/benchmarks.md,
// change 27).
func (w *Worker) runner(p placed) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		handleOne(w, w.runCtx, p.dt, w.cfg.Queue.taskTimeout, func(ctx context.Context, dt deliveryTask) error {
			return w.deliverPlaced(ctx, dt, true, p.slot)
		}, w.retryDelivery)
		<-w.runners
		// The goroutine freed goes to a place that waited for one.
		if id, ok := w.gate.takeOwed(); ok {
			w.handOn(w.runCtx, id, heldSlot{})
		}
		idle.Reset(runnerIdle)
		select {
		case p = <-w.idle:
		case <-idle.C:
			return
		case <-w.gate.closed:
			return
		}
	}
}

// handBack puts back the message of dt if the fan-out claimed it, when its
// task ends before an attempt, so that the task's retry in Redis can claim
// it at once rather than once its lease ends.
func (w *Worker) handBack(ctx context.Context, dt deliveryTask) {
	if dt.claimed != nil {
		_, _ = w.putBack(ctx, *dt.claimed)
	}
}

// maxTimeout is the longest an attempt may take (the per-endpoint
// maximum), unless half the lease is shorter.
const maxTimeout = time.Minute

// park marks a message whose endpoint is disabled or gone as disabled. It
// is kept: re-enabling the endpoint resumes it.
func (w *Worker) park(ctx context.Context, id string, attempts int) error {
	_, ok, err := w.cfg.Store.ClaimMessage(ctx, id, attempts, time.Now().Add(w.cfg.Lease))
	if err != nil {
		return fmt.Errorf("claim message %s: %w", id, err)
	}
	if !ok {
		return nil
	}
	return w.cfg.Store.SetMessageStatus(ctx, id, Outcome{Status: StatusDisabled})
}

// postpone schedules the same attempt again after wait. A long wait is
// written to the message too, so that the reconciler does not take the
// message for lost meanwhile. A message held back by an open breaker is
// held instead: it waits in the database, with no task in Redis, until
// the breaker closes and wakeLoop wakes it (see wakeHeld).
func (w *Worker) postpone(ctx context.Context, dt deliveryTask, wait *Wait) error {
	claimed := dt.claimed != nil
	dt.claimed = nil
	if wait.Reason == reasonBreakerOpen {
		if claimed {
			if err := w.cfg.Store.SetMessageStatus(ctx, dt.ID, Outcome{Status: StatusHeld}); err != nil {
				return fmt.Errorf("hold message %s: %w", dt.ID, err)
			}
			return nil
		}
		if _, err := w.cfg.Store.HoldMessage(ctx, dt.ID, dt.Attempts); err != nil {
			return fmt.Errorf("hold message %s: %w", dt.ID, err)
		}
		return nil
	}
	at := time.Now().Add(wait.Delay)
	if claimed {
		// Claimed by the fan-out: hand it back, due then.
		if err := w.cfg.Store.SetMessageStatus(ctx, dt.ID, Outcome{Status: StatusPending, NextAttemptAt: &at}); err != nil {
			return fmt.Errorf("postpone message %s: %w", dt.ID, err)
		}
	} else if wait.Delay > w.cfg.ReconcileGrace/2 {
		if ok, err := w.cfg.Store.DeferMessage(ctx, dt.ID, dt.Attempts, at); err != nil {
			return fmt.Errorf("postpone message %s: %w", dt.ID, err)
		} else if !ok {
			return nil
		}
	}
	return w.cfg.Queue.enqueueDelivery(ctx, dt, at)
}

// deliver signs and posts m, records the attempt and what follows from it.
// probe is whether the attempt is its endpoint's breaker's probe;
// answered hears of the attempt as soon as it is made, before it is
// recorded. It returns an error only when nothing was recorded.
func (w *Worker) deliver(ctx context.Context, ep subscriptions.Endpoint, m Message, manual, probe bool, answered func(Attempt)) error {
	ev, err := w.event(ctx, m.EventID)
	if err != nil {
		return fmt.Errorf("load event %s: %w", m.EventID, err)
	}
	var (
		a    Attempt
		resp *http.Response
	)
	if ev.PurgedAt != nil {
		// Retention emptied the event: there is nothing true left to send.
		a = Attempt{ID: subscriptions.NewID("att"), MessageID: m.ID, EndpointID: ep.ID, PartnerID: m.PartnerID, Number: m.Attempts + 1,
			URL: ep.URL, StartedAt: time.Now().UTC(), ErrorClass: ErrorPurged, Error: "the event's payload was purged by retention"}
	} else {
		body, err := payload(ev, roleOf(ev, m.PartnerID))
		if err != nil {
			return err
		}
		if a, resp, err = w.post(ctx, ep, m, body); err != nil {
			return err
		}
	}
	answered(a)
	a.Trigger = "scheduled"
	if manual {
		a.Trigger = "manual"
	}
	o := w.outcome(&a, resp)
	if probe && o.Status == StatusPending && breakerFailure(a) {
		// The breaker stays open: the message waits with the others held
		// behind it, rather than for its retry schedule, which could put it
		// minutes after them once the endpoint is back.
		o = Outcome{Status: StatusHeld}
	}
	if err := w.cfg.Store.RecordAttempt(context.WithoutCancel(ctx), a, o); err != nil {
		return fmt.Errorf("record attempt %d of %s: %w", a.Number, m.ID, err)
	}
	ctx = context.WithoutCancel(ctx)
	w.endpointHealth(ctx, ep, a)
	if o.Status == StatusPending {
		if err := w.cfg.Queue.EnqueueDelivery(ctx, m.ID, m.EndpointID, a.Number, *o.NextAttemptAt); err != nil {
			logWarn(ctx, "schedule next attempt; the reconciler will", "message_id", m.ID, "err", err)
		}
	}
	if o.Status == StatusFailed && !isOperational(m.EventType) {
		w.emit(ctx, TypeMessageFailed, m.PartnerID, ev.Shipment, map[string]any{
			"message_id": m.ID, "endpoint_id": m.EndpointID, "original_event_id": m.EventID, "event_type": m.EventType,
			"attempts": a.Number, "last_status": a.StatusCode, "last_error": describe(a),
		})
	}
	return nil
}

// post makes the HTTP request. It returns an error only when the attempt
// did not really happen (the worker is shutting down).
func (w *Worker) post(ctx context.Context, ep subscriptions.Endpoint, m Message, body []byte) (Attempt, *http.Response, error) {
	start := time.Now()
	a := Attempt{ID: subscriptions.NewID("att"), MessageID: m.ID, EndpointID: ep.ID, PartnerID: m.PartnerID, Number: m.Attempts + 1, URL: ep.URL, StartedAt: start.UTC()}
	sig, err := signing.Sign(m.ID, start, body, ep.ActiveSecrets(start)...)
	if err != nil {
		return a, nil, fmt.Errorf("sign message %s: %w", m.ID, err)
	}
	timeout := w.cfg.Timeout
	if ep.TimeoutSeconds > 0 {
		timeout = time.Duration(ep.TimeoutSeconds) * time.Second
	}
	timeout = min(timeout, maxTimeout, w.cfg.Lease/2)
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
	req.Header["User-Agent"] = []string{w.cfg.UserAgent}
	req.Header["webhook-id"] = []string{m.ID}
	req.Header["webhook-timestamp"] = []string{strconv.FormatInt(start.Unix(), 10)}
	req.Header["webhook-signature"] = []string{sig}
	resp, err := w.client.Do(req)
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

// outcome decides what the attempt a means for its message.
func (w *Worker) outcome(a *Attempt, resp *http.Response) Outcome {
	switch {
	case a.ErrorClass == ErrorNone:
		return Outcome{Status: StatusSucceeded}
	case a.StatusCode == http.StatusGone, a.ErrorClass == ErrorBlocked, a.ErrorClass == ErrorPurged:
		return Outcome{Status: StatusFailed}
	}
	now := time.Now()
	d, ok := nextDelay(w.cfg.Schedule, a.Number, resp, now)
	if !ok {
		return Outcome{Status: StatusFailed}
	}
	next := now.Add(d).UTC()
	return Outcome{Status: StatusPending, NextAttemptAt: &next}
}

// breakerFailure reports whether a says the endpoint is unwell: it could
// not be reached, timed out, or answered 5xx, 408 or 429. Other 4xx and 3xx
// answers come from a working endpoint.
func breakerFailure(a Attempt) bool {
	switch a.ErrorClass {
	case ErrorNone, ErrorRedirect, ErrorBlocked, ErrorPurged:
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

// endpointHealth keeps the endpoint's FailingSince, and disables it after a
// 410 or when it has failed for the whole auto-disable window.
func (w *Worker) endpointHealth(ctx context.Context, ep subscriptions.Endpoint, a Attempt) {
	switch {
	case a.ErrorClass == ErrorNone:
		if ep.FailingSince != nil {
			if err := w.cfg.Endpoints.MarkEndpointHealthy(ctx, ep.ID); err != nil {
				logWarn(ctx, "mark endpoint healthy", "endpoint_id", ep.ID, "err", err)
			}
		}
	case a.StatusCode == http.StatusGone:
		w.disable(ctx, ep.ID, DisabledGone, "the endpoint answered 410 Gone")
	default:
		since := a.StartedAt
		if ep.FailingSince != nil {
			since = *ep.FailingSince
		} else {
			var err error
			if since, err = w.cfg.Endpoints.MarkEndpointFailing(ctx, ep.ID, a.StartedAt); err != nil {
				logWarn(ctx, "mark endpoint failing", "endpoint_id", ep.ID, "err", err)
				return
			}
		}
		if a.StartedAt.Sub(since) >= w.cfg.AutoDisableAfter {
			w.disable(ctx, ep.ID, DisabledFailing, fmt.Sprintf("every attempt has failed since %s; the last: %s", since.UTC().Format(time.RFC3339), describe(a)))
		}
	}
}

// disable disables an endpoint, keeps its pending messages for when it is
// enabled again, and says so to the partner and in the log.
func (w *Worker) disable(ctx context.Context, id, code, reason string) {
	changed, err := w.cfg.Endpoints.DisableEndpoint(ctx, id, code)
	if err != nil {
		logWarn(ctx, "disable endpoint", "endpoint_id", id, "err", err)
		return
	}
	if !changed {
		return // disabled already, perhaps by another worker just now
	}
	ep, err := w.cfg.Endpoints.Endpoint(ctx, id)
	if err != nil {
		logWarn(ctx, "load disabled endpoint", "endpoint_id", id, "err", err)
		return
	}
	w.cfg.Notifier.Changed(ctx, ep.PartnerID)
	data := map[string]any{"endpoint_id": ep.ID, "reason": reason, "url": ep.URL}
	if ep.FailingSince != nil {
		data["failing_since"] = ep.FailingSince.UTC().Format(time.RFC3339Nano)
	}
	w.emit(ctx, TypeEndpointDisabled, ep.PartnerID, Shipment{}, data)
}

// isOperational reports whether typ is one of shiphook's own event types.
func isOperational(typ string) bool { return strings.HasPrefix(typ, "shiphook.") }

// emit stores an operational event for partnerID and fans it out to the
// partner's endpoints subscribed to it. It is also logged, for admins.
func (w *Worker) emit(ctx context.Context, typ, partnerID string, shipment Shipment, data map[string]any) {
	raw, err := json.Marshal(data)
	if err != nil {
		logWarn(ctx, "encode operational event", "type", typ, "err", err)
		return
	}
	now := time.Now().UTC()
	ev := Event{ID: subscriptions.NewID("evt"), Type: typ, OccurredAt: now, Shipment: shipment,
		Parties: []Party{{PartnerID: partnerID}}, Data: raw, CreatedAt: now}
	if _, err := w.cfg.Store.InsertEvents(ctx, []Event{ev}); err != nil {
		logWarn(ctx, "store operational event", "type", typ, "err", err)
		return
	}
	args := []any{"event_id", ev.ID, "partner_id", partnerID}
	for k, v := range data {
		args = append(args, k, v)
	}
	logWarn(ctx, typ, args...)
	if err := w.cfg.Queue.EnqueueFanout(ctx, ev.ID); err != nil {
		logWarn(ctx, "enqueue operational event; the reconciler will", "event_id", ev.ID, "err", err)
	}
}
