package dispatcher

import (
	"context"
	"time"
)

// A posted event that serve fans out as it accepts it (Worker.FanOutHere) is
// matched without first catching up with endpoint changes made through
// other processes: a read of Redis per event would cost a tenth or more of
// the throughput of single events. It is checked afterwards instead, with
// the events accepted around it: one read of Redis every recheckWindow at
// most, whatever the load. When a change arrived after the index the event
// was matched against, the event is matched again and the endpoints it
// missed get their messages, moments late.

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

// applied returns the number of the last endpoint change the index holds
// (0 without a Sync).
func (w *Worker) applied() int64 {
	if w.cfg.Sync == nil {
		return 0
	}
	return w.cfg.Sync.Applied()
}

// queueRecheck hands c to recheckLoop, or checks it at once when too many
// wait.
func (w *Worker) queueRecheck(ctx context.Context, c recheck) {
	if w.cfg.Sync == nil {
		return
	}
	select {
	case w.rechecks <- c:
	default:
		w.recheck(ctx, []recheck{c})
	}
}

// recheckLoop checks the events fanned out at ingest, every recheckWindow
// at most, until ctx ends; then once more those still waiting.
func (w *Worker) recheckLoop(ctx context.Context) {
	t := time.NewTimer(recheckWindow)
	defer t.Stop()
	var batch []recheck
	for {
		select {
		case c := <-w.rechecks:
			batch = append(batch, c)
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			w.recheck(final, w.gather(batch))
			return
		}
		t.Reset(recheckWindow)
		select {
		case <-t.C:
			w.recheck(ctx, w.gather(batch))
			batch = batch[:0]
		case <-ctx.Done():
			// The next turn checks batch, with a context of its own.
		}
	}
}

// gather appends to batch the checks waiting now.
func (w *Worker) gather(batch []recheck) []recheck {
	for {
		select {
		case c := <-w.rechecks:
			batch = append(batch, c)
		default:
			return batch
		}
	}
}

// recheck catches up with the endpoint changes made so far, then gives
// each event of batch matched before one of them the messages it missed.
// Should Redis not answer, the events keep the messages they have.
func (w *Worker) recheck(ctx context.Context, batch []recheck) {
	if len(batch) == 0 {
		return
	}
	if err := w.catchUp(ctx); err != nil {
		logWarn(ctx, "check events fanned out at ingest against endpoint changes made elsewhere", "events", len(batch), "err", err)
		return
	}
	applied := w.applied()
	for _, c := range batch {
		if c.applied < applied {
			w.addMissed(ctx, c)
		}
	}
}

// addMissed matches c's event again and stores and schedules the messages
// of the endpoints it did not match before.
func (w *Worker) addMissed(ctx context.Context, c recheck) {
	matched := make(map[string]bool, len(c.msgs))
	for _, m := range c.msgs {
		matched[m.EndpointID] = true
	}
	_, deliveries := w.cfg.Queue.lanes()
	var missed []Message
	now := time.Now().UTC()
	deadline := now.Add(laneWait)
	for _, m := range w.messages(c.ev, now, deliveries, deadline) {
		if !matched[m.EndpointID] {
			missed = append(missed, m)
		}
	}
	if len(missed) == 0 {
		return
	}
	due, err := w.cfg.Store.FanOut(ctx, c.ev.ID, missed)
	if err != nil {
		logWarn(ctx, "store the messages of endpoints changed elsewhere", "event_id", c.ev.ID, "endpoints", len(missed), "err", err)
		return
	}
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
	w.schedule(ctx, c.ev.ID, fresh, deliveries, deadline)
}
