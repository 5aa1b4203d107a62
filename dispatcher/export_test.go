package dispatcher

import (
	"context"
	"time"
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
