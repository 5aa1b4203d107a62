package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shiphook/shiphook/dispatcher/internal/inproc"
	"github.com/shiphook/shiphook/subscriptions"
)

// delivererStore is what the deliverer needs of the Store.
type delivererStore interface {
	ClaimMessage(ctx context.Context, id string, attempts int, leaseUntil time.Time) (m Message, ok bool, err error)
	RecordAttempt(ctx context.Context, a Attempt, o Outcome) error
	RecordEnd(ctx context.Context, a Attempt, o Outcome, m Message, leaseUntil time.Time) (next Message, ok bool, err error)
	DeferMessage(ctx context.Context, id string, attempts int, at time.Time) (ok bool, err error)
	HoldMessage(ctx context.Context, id string, attempts int) (ok bool, err error)
	SetMessageStatus(ctx context.Context, id string, o Outcome) error
	InsertEvents(ctx context.Context, events []Event) ([]Insert, error)
}

// The deliverer makes delivery attempts. A delivery task, from Redis or
// from the scheduler, passes
//
//  1. the gate, which admits as many deliveries of this process to an
//     endpoint at once as its cap, and lines up the rest;
//  2. the Guard, whose Permit says the endpoint's breaker is not open and
//     holds a slot of its cap, shared by every process through Redis (and
//     a unit of its rate limit, if it has one);
//  3. the claim of its message (unless the fan-out or the waker claimed
//     it already, claim.go);
//
// and then the attempt is made and recorded (attempt.go). A delivery that
// may not go now is rescheduled (reschedule) without spending an attempt.
type deliverer struct {
	store     delivererStore
	endpoints Endpoints
	guard     *Guard
	queue     *Queue
	scheduler *scheduler
	events    *eventSource
	tracing   tracing
	notifier  subscriptions.Notifier
	client    *http.Client
	userAgent string
	schedule  []time.Duration
	// timeout bounds an attempt; lease is how long a claim lasts;
	// reconcileGrace how overdue work must be before the reconciler takes
	// it for lost; autoDisableAfter how long an endpoint may fail before
	// it is disabled (Config).
	timeout, lease, reconcileGrace, autoDisableAfter time.Duration
	// metrics counts the attempts recorded; nil counts nothing.
	metrics *Metrics
}

func newDeliverer(cfg Config, events *eventSource, s *scheduler) *deliverer {
	return &deliverer{store: cfg.Store, endpoints: cfg.Endpoints, guard: cfg.Guard, queue: cfg.Queue, scheduler: s, events: events, tracing: newTracing(cfg.Tracer),
		notifier: cfg.Notifier, client: newHTTPClient(cfg.Destinations), userAgent: cfg.UserAgent, schedule: cfg.Schedule,
		timeout: cfg.Timeout, lease: cfg.Lease, reconcileGrace: cfg.ReconcileGrace, autoDisableAfter: cfg.AutoDisableAfter, metrics: cfg.Metrics}
}

// handleTask makes one attempt to deliver a message, or, when the
// endpoint's breaker or limits say not now, puts it back for later without
// spending an attempt. A task whose attempt was already made (or whose
// message is being delivered) is dropped: the message's row is the truth.
func (d *deliverer) handleTask(ctx context.Context, t *asynq.Task) error {
	dt, err := parseDeliveryTask(t.Payload())
	if err != nil {
		return err
	}
	return d.deliverTask(ctx, dt)
}

// deliverTask makes the attempt dt names, or puts it back for later (see
// handleTask). A claimed message (claim.go) is unclaimed (made pending)
// whenever no attempt is made. A delivery that finds its endpoint at its
// cap in this process waits in the gate, if it may.
func (d *deliverer) deliverTask(ctx context.Context, dt deliveryTask) error {
	return d.deliverWith(ctx, dt, admission{})
}

// deliverAdmitted is deliverTask for a delivery the gate admitted as it
// waited in line, with, maybe, the cap slot of the delivery before it.
func (d *deliverer) deliverAdmitted(ctx context.Context, a admittedTask) error {
	return d.deliverWith(ctx, a.dt, admission{admitted: true, slot: a.slot})
}

// admission is a delivery's hold on its endpoint in this process: whether
// the gate admitted it, and the cap slot passed on to it or freed by its
// attempt, if any.
type admission struct {
	admitted bool
	slot     capSlot
}

// deliverWith is deliverTask for a delivery that holds adm.
func (d *deliverer) deliverWith(ctx context.Context, dt deliveryTask, adm admission) error {
	// The admission is given back, with the slot if it holds one, once:
	// as soon as the endpoint has answered (attempt), so that the next in
	// line goes while the attempt is recorded, or else on return.
	ctx = logDelivery(ctx, dt)
	defer d.leaveGate(ctx, dt.EndpointID, &adm)
	ep, err := d.endpoints.Endpoint(ctx, dt.EndpointID)
	if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && ep.Disabled) {
		if dt.claimed != nil {
			return d.store.SetMessageStatus(ctx, dt.ID, Outcome{Status: StatusDisabled})
		}
		return d.markDisabled(ctx, dt.ID, dt.Attempts)
	}
	if err != nil {
		d.unclaimTask(ctx, dt)
		return fmt.Errorf("load endpoint %s: %w", dt.EndpointID, err)
	}
	if !adm.admitted {
		admitted, err := d.enterGate(ctx, dt, ep)
		if !admitted {
			return err
		}
		adm.admitted = true
	}
	return d.attempt(ctx, dt, ep, &adm)
}

// enterGate has the gate admit dt, and reports whether it did. If not, dt
// waits in line or was rescheduled, and err says whether rescheduling
// failed. When the lines of several endpoints fill the gate, it waits for
// room up to laneWait, as those who offer work to a full lane do, rather
// than outrun them through Redis.
func (d *deliverer) enterGate(ctx context.Context, dt deliveryTask, ep subscriptions.Endpoint) (admitted bool, err error) {
	for deadline := time.Now().Add(laneWait); ; {
		switch d.scheduler.gate.Enter(dt.EndpointID, dt, d.guard.limit(ep), d.scheduler.gateSize) {
		case inproc.Admitted:
			return true, nil
		case inproc.Waiting:
			return false, nil
		case inproc.Full:
			if d.scheduler.gate.AwaitRoom(deadline) {
				continue
			}
		}
		return false, d.reschedule(ctx, dt, atCap())
	}
}

// attempt acquires a Permit for dt, admitted by the gate, claims its
// message unless the fan-out did, and makes and records the attempt.
func (d *deliverer) attempt(ctx context.Context, dt deliveryTask, ep subscriptions.Endpoint, adm *admission) error {
	permit, wait, err := d.guard.acquire(ctx, ep, adm.slot)
	adm.slot = capSlot{}
	if err != nil {
		d.unclaimTask(ctx, dt)
		return err
	}
	if wait != nil {
		return d.reschedule(ctx, dt, wait)
	}
	// release gives the permit back, once, its slot passed on with the
	// admission to the next in line.
	release := func(v Verdict) {
		if permit != nil {
			adm.slot = permit.detachSlot()
			d.guard.Release(ctx, permit, v)
			permit = nil
			d.leaveGate(ctx, dt.EndpointID, adm)
		}
	}
	var m Message
	if dt.claimed != nil {
		m = *dt.claimed
	} else {
		var ok bool
		m, ok, err = d.store.ClaimMessage(ctx, dt.ID, dt.Attempts, time.Now().Add(d.lease))
		if err != nil || !ok {
			release(NotCounted())
			if err != nil {
				return fmt.Errorf("claim message %s: %w", dt.ID, err)
			}
			return nil
		}
	}
	ctx = logMessage(ctx, m)
	err = d.deliver(ctx, plannedAttempt{ep: ep, m: m, trigger: triggerOf(dt)}, func(a Attempt) {
		release(verdictOf(a))
	})
	if err != nil {
		release(NotCounted())
		// Nothing was recorded: unclaim the message so that the retried
		// task (or the reconciler) can claim it again.
		_, _ = unclaimMessage(ctx, d.store, m)
		return err
	}
	return nil
}

// leaveGate gives back the admission adm holds, if any, with its slot, to
// the next in line (admitNext), once.
func (d *deliverer) leaveGate(ctx context.Context, endpointID string, adm *admission) {
	if adm.admitted {
		adm.admitted = false
		d.admitNext(ctx, endpointID, adm.slot)
		adm.slot = capSlot{}
	}
}

// admitNext gives back an admission of endpoint id to the gate, with
// slot, the cap slot in Redis that goes with it, if any. The first in line
// for it takes both and goes in a sender goroutine (scheduler.send); those
// before it in line that waited too long are passed over, and rescheduled
// through Redis once the admission has gone on (rescheduleLate). When
// every sender is busy, the admission stalls (inproc.Gate.Stall) until
// the next of them ends, which takes it up. A slot nobody takes is freed.
func (d *deliverer) admitNext(ctx context.Context, id string, slot capSlot) {
	ctx = context.WithoutCancel(ctx)
	freeSlot := func() {
		if slot.token != "" {
			d.guard.free(ctx, id, slot.token)
			slot = capSlot{}
		}
	}
	var late []deliveryTask
	defer func() { d.rescheduleLate(ctx, late) }()
	for {
		dt, waited, ok := d.scheduler.gate.Pass(id)
		if !ok {
			// The slot is freed before the admission is given back: a
			// delivery admitted next then finds the slot free.
			freeSlot()
			if dt, waited, ok = d.scheduler.gate.Leave(id); !ok {
				return
			}
		}
		if waited > min(gateWait, d.reconcileGrace/2) {
			late = append(late, dt)
			continue
		}
		if d.scheduler.send(admittedTask{dt: dt, slot: slot}) {
			return
		}
		if d.scheduler.gate.Stall(id, dt, waited) {
			freeSlot()
			return
		}
		late = append(late, dt)
	}
}

// rescheduleLate reschedules through Redis the deliveries that waited in
// the gate too long. admitNext passes them over and leaves them to this,
// after the admission went on: were each rescheduled, a round trip or two,
// before the admission passed to the next in line, a long line would keep
// the admission rescheduling, and the longer it did, the more of those
// behind would wait too long in turn, until none went at all.
func (d *deliverer) rescheduleLate(ctx context.Context, late []deliveryTask) {
	_ = inParallel(len(late), func(i int) error {
		if err := d.reschedule(ctx, late[i], atCap()); err != nil {
			d.scheduler.retryDelivery(ctx, late[i], err)
		}
		return nil
	})
}

// unclaimTask unclaims the message of dt if it came claimed, when
// its task ends before an attempt, so that the task's retry in Redis can
// claim it at once rather than once its lease ends.
func (d *deliverer) unclaimTask(ctx context.Context, dt deliveryTask) {
	if dt.claimed != nil {
		_, _ = unclaimMessage(ctx, d.store, *dt.claimed)
	}
}

// markDisabled marks a message whose endpoint is disabled or gone as
// disabled. It is kept: re-enabling the endpoint resumes it.
func (d *deliverer) markDisabled(ctx context.Context, id string, attempts int) error {
	_, ok, err := d.store.ClaimMessage(ctx, id, attempts, time.Now().Add(d.lease))
	if err != nil {
		return fmt.Errorf("claim message %s: %w", id, err)
	}
	if !ok {
		return nil
	}
	return d.store.SetMessageStatus(ctx, id, Outcome{Status: StatusDisabled})
}

// reschedule schedules the same attempt again after wait, without
// spending an attempt. A long wait is written to the message too, so that
// the reconciler does not take the message for lost meanwhile. A message
// held back by an open breaker is held instead: it waits in the database,
// with no task in Redis, until the breaker closes and the waker wakes it
// (waker.go).
func (d *deliverer) reschedule(ctx context.Context, dt deliveryTask, wait *Wait) error {
	claimed := dt.claimed != nil
	dt.claimed = nil
	if wait.Reason == reasonBreakerOpen {
		if claimed {
			if err := d.store.SetMessageStatus(ctx, dt.ID, Outcome{Status: StatusHeld}); err != nil {
				return fmt.Errorf("hold message %s: %w", dt.ID, err)
			}
			return nil
		}
		if _, err := d.store.HoldMessage(ctx, dt.ID, dt.Attempts); err != nil {
			return fmt.Errorf("hold message %s: %w", dt.ID, err)
		}
		return nil
	}
	at := time.Now().Add(wait.Delay)
	if claimed {
		// Came claimed: unclaim it, due then.
		if err := d.store.SetMessageStatus(ctx, dt.ID, Outcome{Status: StatusPending, NextAttemptAt: &at}); err != nil {
			return fmt.Errorf("reschedule message %s: %w", dt.ID, err)
		}
	} else if wait.Delay > d.reconcileGrace/2 {
		if ok, err := d.store.DeferMessage(ctx, dt.ID, dt.Attempts, at); err != nil {
			return fmt.Errorf("reschedule message %s: %w", dt.ID, err)
		} else if !ok {
			return nil
		}
	}
	return d.queue.enqueueDelivery(ctx, dt, at)
}
