package dispatcher

import (
	"context"
	"time"

	"github.com/shiphook/shiphook/dispatcher/internal/inproc"
	"github.com/shiphook/shiphook/subscriptions"
)

// Reschedule puts the delivery task with this payload back for delay, as
// the deliverer does when the endpoint's guard says wait for reason.
func Reschedule(ctx context.Context, w *Worker, payload string, delay time.Duration, reason string) error {
	dt, err := parseDeliveryTask([]byte(payload))
	if err != nil {
		return err
	}
	return w.deliverer.reschedule(ctx, dt, &Wait{Delay: delay, Reason: reason})
}

// AttachLanes gives q lanes of deliveries and fan-outs, as a running Worker
// does, and returns what each holds.
func AttachLanes(q *Queue) (deliveries, fanouts func() int) {
	f, d := inproc.NewLane[string](10), inproc.NewLane[deliveryTask](10)
	q.attach(f, d)
	return func() int { return d.Size() - d.Room() }, func() int { return f.Size() - f.Room() }
}

// Waker wakes held messages into a lane of its own, as a Worker's waker
// does.
type Waker struct {
	k *waker
	l *inproc.Lane[deliveryTask]
}

func NewWaker(w *Worker, size int) Waker {
	l := inproc.NewLane[deliveryTask](size)
	k := newWaker(w.cfg.Store, w.cfg.Guard, w.cfg.Queue, w.cfg.Lease)
	k.deliveries = l
	return Waker{k, l}
}

// Look looks for held messages, then makes one round of waking them, as
// Round does.
func (k Waker) Look(ctx context.Context) ([]string, bool, error) {
	if err := k.k.look(ctx); err != nil {
		return nil, false, err
	}
	return k.Round(ctx)
}

// Round makes one round of waking held messages; it returns the ids of
// the messages the lane was given, and empties it, and whether endpoints
// are left to wake.
func (k Waker) Round(ctx context.Context) ([]string, bool, error) {
	more, err := k.k.wake(ctx)
	var ids []string
	for k.l.Room() < k.l.Size() {
		dt, _ := k.l.Take()
		ids = append(ids, dt.ID)
	}
	return ids, more, err
}

// SetBreaker makes g take the breaker of id for open, its probe due at
// probe, as if it read so from Redis; a zero probe closes it.
func SetBreaker(g *Guard, id string, probe time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe.IsZero() {
		delete(g.remote, id)
		return
	}
	g.remote[id] = subscriptions.BreakerState{State: breakerOpen, NextProbeAt: &probe}
}

// StartReconciler runs w's reconciler loop, as Run does, until the
// returned func stops it.
func StartReconciler(w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	w.reconciler.start(ctx)
	return func() { cancel(); w.reconciler.shutdown() }
}

// DeliverClaimed makes the attempt of m, which the caller claimed, to ep
// and records it, as the deliverer does once the endpoint's guard lets it
// go; it returns the deliverer's answer.
func DeliverClaimed(ctx context.Context, w *Worker, ep subscriptions.Endpoint, m Message) error {
	return w.deliverer.deliver(ctx, plannedAttempt{ep: ep, m: m, trigger: triggerScheduled}, func(Attempt) {})
}
