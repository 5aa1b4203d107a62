package dispatcher

import (
	"context"
	"slices"
	"time"
)

// Held messages. While an endpoint's circuit breaker is open, its messages
// wait in the database as held, with no next attempt and no task in Redis:
// a backlog of any size then costs its rows and nothing more. Every Worker
// runs wakeLoop, which
//
//   - when a breaker's probe time comes, wakes one held message of its
//     endpoint to be the probe, a different one each time, so that a long
//     outage does not spend the attempts of one message;
//   - once the breaker is closed (or its state was lost with Redis),
//     wakes the endpoint's held messages into the process's deliveries as
//     fast as they take them, whatever their retry schedule said.
//
// The rows are the only record of a hold, so it outlives any process and
// any loss of Redis: a held message whose endpoint's breaker is not open
// is woken by whichever worker looks first.

// wakeInterval is how often wakeLoop looks for held messages when it has
// nothing to wake; wakePause is its pause between rounds of waking a
// backlog, while deliveries make room for more.
const (
	wakeInterval = 500 * time.Millisecond
	wakePause    = 10 * time.Millisecond
)

// wakeLoop wakes held messages into deliveries until ctx ends.
func (w *Worker) wakeLoop(ctx context.Context, deliveries *lane[deliveryTask]) {
	probed := map[string]string{}
	for {
		more, err := w.wakeHeld(ctx, deliveries, probed)
		if err != nil && ctx.Err() == nil {
			logWarn(ctx, "wake held messages", "err", err)
		}
		pause := wakeInterval
		if more {
			pause = wakePause
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// wakeHeld makes one round of wakeLoop. probed holds, by endpoint, the id
// of the last message woken to be its probe. It reports whether endpoints
// whose breakers are closed have held messages left to wake.
func (w *Worker) wakeHeld(ctx context.Context, deliveries *lane[deliveryTask], probed map[string]string) (bool, error) {
	ids, err := w.cfg.Store.HeldEndpoints(ctx)
	if err != nil {
		return false, err
	}
	now := time.Now()
	var closed []string
	for _, id := range ids {
		switch {
		case !w.cfg.Guard.Open(id):
			closed = append(closed, id)
			delete(probed, id)
		case w.cfg.Guard.probeDue(id, now):
			if err := w.wakeProbe(ctx, id, deliveries, probed, now); err != nil {
				return false, err
			}
		}
	}
	for id := range probed {
		if _, held := slices.BinarySearch(ids, id); !held {
			delete(probed, id)
		}
	}
	if len(closed) == 0 {
		return false, nil
	}
	// Into the free half of the lane, shared among the endpoints: the
	// other half is left to fresh work.
	room := deliveries.room() - deliveries.size()/2
	if room <= 0 {
		return true, nil
	}
	share := max(room/len(closed), 1)
	more := false
	for _, id := range closed {
		ms, err := w.cfg.Store.WakeHeld(ctx, id, "", share, now)
		if err != nil {
			return more, err
		}
		more = more || len(ms) == share
		if err := w.cfg.Queue.enqueueMessages(ctx, ms, deliveries); err != nil {
			// Woken and due now: the reconciler queues them.
			return more, err
		}
	}
	return more, nil
}

// wakeProbe wakes the held message of endpoint id that follows the last
// one woken to be its probe (the first after the last), to make the probe.
// Should another worker have taken the probe, the message is held again.
func (w *Worker) wakeProbe(ctx context.Context, id string, deliveries *lane[deliveryTask], probed map[string]string, now time.Time) error {
	ms, err := w.cfg.Store.WakeHeld(ctx, id, probed[id], 1, now)
	if err == nil && len(ms) == 0 && probed[id] != "" {
		ms, err = w.cfg.Store.WakeHeld(ctx, id, "", 1, now)
	}
	if err != nil || len(ms) == 0 {
		return err
	}
	probed[id] = ms[0].ID
	return w.cfg.Queue.enqueueMessages(ctx, ms, deliveries)
}
