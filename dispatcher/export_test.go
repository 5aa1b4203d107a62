package dispatcher

import (
	"context"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// Postpone puts the delivery task with this payload back for delay, as
// handleDeliver does when the endpoint's guard says wait for reason.
func Postpone(ctx context.Context, w *Worker, payload string, delay time.Duration, reason string) error {
	dt, err := parseDeliveryTask([]byte(payload))
	if err != nil {
		return err
	}
	return w.postpone(ctx, dt, &Wait{Delay: delay, Reason: reason})
}

// Lane is a lane of strings: Offer, Close and Take (one value, if any).
type Lane struct{ l *lane[string] }

func NewLane(size int) Lane         { return Lane{newLane[string](size)} }
func (l Lane) Offer(v string) bool  { return l.l.offer(v) }
func (l Lane) Close() []string      { return l.l.close() }
func (l Lane) Take() (string, bool) { v, ok := <-l.l.work; return v, ok }

// OfferBy offers v, waiting for room until deadline.
func (l Lane) OfferBy(v string, deadline time.Time) bool { return l.l.offerBy(v, deadline) }

// AttachLanes gives q lanes of deliveries and fan-outs, as a running Worker
// does, and returns what each holds.
func AttachLanes(q *Queue) (deliveries, fanouts func() int) {
	f, d := newLane[string](10), newLane[deliveryTask](10)
	q.attach(f, d)
	return func() int { return len(d.work) }, func() int { return len(f.work) }
}

// WakeRound makes one round of waking held messages into a lane of size,
// and returns the ids of the messages it took.
func WakeRound(ctx context.Context, w *Worker, size int, probed map[string]string) ([]string, bool, error) {
	l := newLane[deliveryTask](size)
	more, err := w.wakeHeld(ctx, l, probed)
	var ids []string
	for _, dt := range l.close() {
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
