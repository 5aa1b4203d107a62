package dispatcher

import (
	"context"
	"errors"
	"time"
)

// The rechecker checks the events fanned out at ingest against endpoint
// changes made elsewhere. A posted event that serve fans out as it accepts
// it (Worker.FanOutHere) is matched without first catching up with
// endpoint changes made through other processes: a read of Redis per event
// would cost a tenth or more of the throughput of single events. It is
// checked afterwards instead, with the events accepted around it: one read
// of Redis every recheckWindow at most, whatever the load. When a change
// arrived after the index the event was matched against, the event is
// matched again and the endpoints it missed get their messages, moments
// late.
type rechecker struct {
	background
	store interface {
		FanOut(ctx context.Context, eventID string, msgs []Message) ([]Message, error)
	}
	fanout  *fanout
	queue   *Queue
	pending chan recheck
}

// recheckWindow is how long the checks of accepted events gather before
// they share one read of Redis.
const recheckWindow = 5 * time.Millisecond

// recheckQueue is how many checks may wait; one that finds it full is made
// at once, alone.
const recheckQueue = 4096

// recheck is an event fanned out at ingest, with the number of the last
// endpoint change its match took in and the messages it made.
type recheck struct {
	ev      Event
	applied int64
	msgs    []Message
}

func newRechecker(st Store, f *fanout, q *Queue) *rechecker {
	return &rechecker{store: st, fanout: f, queue: q, pending: make(chan recheck, recheckQueue)}
}

// start checks the events given to add, every recheckWindow at most,
// until ctx ends; then once more those still waiting.
func (r *rechecker) start(ctx context.Context) { r.launch(ctx, r.run) }

// add hands c to the loop, or checks it at once when too many wait.
func (r *rechecker) add(ctx context.Context, c recheck) {
	if r.fanout.sync == nil {
		return
	}
	select {
	case r.pending <- c:
	default:
		r.check(ctx, []recheck{c})
	}
}

func (r *rechecker) run(ctx context.Context) {
	t := time.NewTimer(recheckWindow)
	defer t.Stop()
	var batch []recheck
	for {
		select {
		case c := <-r.pending:
			batch = append(batch, c)
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			r.check(final, r.gather(batch))
			return
		}
		t.Reset(recheckWindow)
		select {
		case <-t.C:
			r.check(ctx, r.gather(batch))
			batch = batch[:0]
		case <-ctx.Done():
			// The next turn checks batch, with a context of its own.
		}
	}
}

// gather appends to batch the checks waiting now.
func (r *rechecker) gather(batch []recheck) []recheck {
	for {
		select {
		case c := <-r.pending:
			batch = append(batch, c)
		default:
			return batch
		}
	}
}

// check catches up with the endpoint changes made so far, then gives each
// event of batch matched before one of them the messages it missed.
// Should Redis not answer, the events keep the messages they have.
func (r *rechecker) check(ctx context.Context, batch []recheck) {
	if len(batch) == 0 {
		return
	}
	if err := r.fanout.catchUp(ctx); err != nil {
		logWarn(ctx, "check events fanned out at ingest against endpoint changes made elsewhere", "events", len(batch), "err", err)
		return
	}
	applied := r.fanout.applied()
	for _, c := range batch {
		if c.applied < applied {
			r.addMissed(ctx, c)
		}
	}
}

// addMissed matches c's event again and stores and schedules the messages
// of the endpoints it did not match before.
func (r *rechecker) addMissed(ctx context.Context, c recheck) {
	matched := make(map[string]bool, len(c.msgs))
	for _, m := range c.msgs {
		matched[m.EndpointID] = true
	}
	_, deliveries := r.queue.lanes()
	var missed []Message
	now := time.Now().UTC()
	deadline := now.Add(laneWait)
	for _, m := range r.fanout.messages(c.ev, now, deliveries, deadline) {
		if !matched[m.EndpointID] {
			missed = append(missed, m)
		}
	}
	if len(missed) == 0 {
		return
	}
	due, err := r.store.FanOut(ctx, c.ev.ID, missed)
	if errors.Is(err, ErrEarlierEvent) {
		// An ordered endpoint's message waits for the earlier events of
		// its shipment to be fanned out: check again shortly.
		time.AfterFunc(earlierEventPatience, func() { r.add(context.WithoutCancel(ctx), c) })
		return
	}
	if err != nil {
		logWarn(ctx, "store the messages of endpoints changed elsewhere", "event_id", c.ev.ID, "endpoints", len(missed), "err", err)
		return
	}
	r.fanout.metrics.messagesCreated(missed)
	isNew := make(map[string]bool, len(missed))
	for _, m := range missed {
		isNew[m.ID] = true
	}
	fresh := due[:0:0]
	for _, m := range due {
		if isNew[m.ID] {
			fresh = append(fresh, m)
		}
	}
	logInfo(ctx, "event matched again after an endpoint change made elsewhere", "event_id", c.ev.ID, "messages", len(fresh))
	r.fanout.schedule(ctx, c.ev.ID, fresh, deliveries, deadline)
}
