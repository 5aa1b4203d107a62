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
func (l Lane) Take() (string, bool) { return l.l.take() }

// LaneWait is the longest wait for room in a lane.
const LaneWait = laneWait

// AwaitRoom waits until deadline for room for n more.
func (l Lane) AwaitRoom(n int, deadline time.Time) bool { return l.l.awaitRoom(n, deadline) }

// OfferBy offers v, waiting for room until deadline.
func (l Lane) OfferBy(v string, deadline time.Time) bool { return l.l.offerBy(v, deadline) }

// AttachLanes gives q lanes of deliveries and fan-outs, as a running Worker
// does, and returns what each holds.
func AttachLanes(q *Queue) (deliveries, fanouts func() int) {
	f, d := newLane[string](10), newLane[deliveryTask](10)
	q.attach(f, d)
	return func() int { return len(d.work) }, func() int { return len(f.work) }
}

// Waker wakes held messages into a lane of its own, as a Worker's wake
// loop does.
type Waker struct {
	k *waker
	l *lane[deliveryTask]
}

func NewWaker(w *Worker, size int) Waker {
	l := newLane[deliveryTask](size)
	return Waker{newWaker(w, l), l}
}

// Round looks for held messages if look is set, then makes one round of
// waking them; it returns the ids of the messages the lane was given, and
// empties it, and whether endpoints are left to wake.
func (k Waker) Round(ctx context.Context, look bool) ([]string, bool, error) {
	if look {
		if err := k.k.look(ctx); err != nil {
			return nil, false, err
		}
	}
	more, err := k.k.wake(ctx)
	var ids []string
	for len(k.l.work) > 0 {
		ids = append(ids, (<-k.l.work).ID)
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

// Gate is a Worker's gate of deliveries, named by message id.
type Gate struct{ g *gate }

func NewGate() Gate { g := newGate(); g.start(); return Gate{g} }

// Enter takes a place for message id to endpoint, or lines it up, and
// says which: placed, lined, full or refused.
func (g Gate) Enter(endpoint, id string, limit, max int) string {
	return [...]string{gateRefused: "refused", gatePlaced: "placed", gateLined: "lined", gateFull: "full"}[g.g.enter(deliveryTask{ID: id, EndpointID: endpoint}, limit, max)]
}

// AwaitRoom waits for room in the lines until deadline.
func (g Gate) AwaitRoom(deadline time.Time) bool { return g.g.awaitRoom(deadline) }

// Pass hands a place of endpoint to the first in line, if any.
func (g Gate) Pass(endpoint string) (string, bool) {
	dt, _, ok := g.g.pass(endpoint)
	return dt.ID, ok
}

// Leave gives back a place of endpoint, or hands it to one who lined up.
func (g Gate) Leave(endpoint string) (string, bool) {
	dt, _, ok := g.g.leave(endpoint)
	return dt.ID, ok
}

// Close closes the gate and returns the ids of those waiting.
func (g Gate) Close() []string {
	var ids []string
	for _, dt := range g.g.close() {
		ids = append(ids, dt.ID)
	}
	return ids
}

// Awaiting is how many await room in the gate.
func (g Gate) Awaiting() int {
	g.g.mu.Lock()
	defer g.g.mu.Unlock()
	return g.g.awaiting
}

// PassWaited is Pass that also says how long the one handed the place
// waited.
func (g Gate) PassWaited(endpoint string) (string, time.Duration, bool) {
	dt, waited, ok := g.g.pass(endpoint)
	return dt.ID, waited, ok
}

// Owe puts message id, which waited so long already, back at the head of
// endpoint's line, its place kept for it until TakeOwed.
func (g Gate) Owe(endpoint, id string, waited time.Duration) bool {
	return g.g.owe(deliveryTask{ID: id, EndpointID: endpoint}, waited)
}

// TakeOwed returns the endpoint of the oldest place owed.
func (g Gate) TakeOwed() (string, bool) { return g.g.takeOwed() }
