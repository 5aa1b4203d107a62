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

// wakeInterval is how often wakeLoop looks for endpoints with held
// messages; wakePause is its pause between rounds of waking a backlog,
// while deliveries make room for more.
const (
	wakeInterval = 500 * time.Millisecond
	wakePause    = 10 * time.Millisecond
)

// waker wakes held messages into a Worker's deliveries.
type waker struct {
	w          *Worker
	deliveries *lane[deliveryTask]
	// probed holds, by endpoint, the id of the last message woken to be
	// its breaker's probe.
	probed map[string]string
	// waking holds the endpoints whose breakers are closed and whose held
	// messages are being woken, each with the id of the last one woken: a
	// round takes up after it, rather than step again over the index
	// entries of those woken before, which stay until vacuum.
	waking map[string]string
}

func newWaker(w *Worker, deliveries *lane[deliveryTask]) *waker {
	return &waker{w: w, deliveries: deliveries, probed: map[string]string{}, waking: map[string]string{}}
}

// wakeLoop wakes held messages into deliveries until ctx ends.
func (w *Worker) wakeLoop(ctx context.Context, deliveries *lane[deliveryTask]) {
	k := newWaker(w, deliveries)
	var next time.Time
	for {
		if !time.Now().Before(next) {
			if err := k.look(ctx); err != nil && ctx.Err() == nil {
				logWarn(ctx, "look for held messages", "err", err)
			}
			next = time.Now().Add(wakeInterval)
		}
		more, err := k.wake(ctx)
		if err != nil && ctx.Err() == nil {
			logWarn(ctx, "wake held messages", "err", err)
		}
		pause := time.Until(next)
		if more {
			pause = min(pause, wakePause)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// look finds the endpoints with held messages: those whose breakers are
// closed are to be woken, and those whose probe time has come have one
// message woken to make the probe.
func (k *waker) look(ctx context.Context) error {
	ids, err := k.w.cfg.Store.HeldEndpoints(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, id := range ids {
		switch {
		case !k.w.cfg.Guard.Open(id):
			if _, ok := k.waking[id]; !ok {
				k.waking[id] = ""
			}
			delete(k.probed, id)
		case k.w.cfg.Guard.probeDue(id, now):
			if err := k.probe(ctx, id); err != nil {
				return err
			}
		}
	}
	for id := range k.probed {
		if _, held := slices.BinarySearch(ids, id); !held {
			delete(k.probed, id)
		}
	}
	return nil
}

// probe wakes the held message of endpoint id that follows the last one
// woken to be its probe (the first, after the last), to make the probe.
// Should another worker have taken the probe, the message is held again.
func (k *waker) probe(ctx context.Context, id string) error {
	lease := time.Now().Add(k.w.cfg.Lease)
	ms, err := k.w.cfg.Store.WakeHeld(ctx, id, k.probed[id], 1, lease)
	if err == nil && len(ms) == 0 && k.probed[id] != "" {
		ms, err = k.w.cfg.Store.WakeHeld(ctx, id, "", 1, lease)
	}
	if err != nil || len(ms) == 0 {
		return err
	}
	k.probed[id] = ms[0].ID
	k.hand(ctx, ms)
	return nil
}

// wake makes one round of waking: each endpoint being woken has a share
// of the free half of the lane (the other half is left to fresh work). An
// endpoint with no held message left after its cursor is done; should
// more have been held behind it, the next look starts it again. It
// reports whether endpoints are left to wake.
func (k *waker) wake(ctx context.Context) (bool, error) {
	if len(k.waking) == 0 {
		return false, nil
	}
	room := k.deliveries.room() - k.deliveries.size()/2
	if room <= 0 {
		return true, nil
	}
	share := max(room/len(k.waking), 1)
	lease := time.Now().Add(k.w.cfg.Lease)
	for id, after := range k.waking {
		ms, err := k.w.cfg.Store.WakeHeld(ctx, id, after, share, lease)
		if err != nil {
			return true, err
		}
		if len(ms) < share {
			delete(k.waking, id)
		} else {
			k.waking[id] = ms[len(ms)-1].ID
		}
		k.hand(ctx, ms)
	}
	return len(k.waking) > 0, nil
}

// hand gives woken messages, claimed, to the deliveries; one that does not
// fit is made pending again and queued in Redis.
func (k *waker) hand(ctx context.Context, ms []Message) {
	var left []Message
	deadline := time.Now().Add(laneWait)
	for _, m := range ms {
		if m, queue := k.w.handOver(ctx, m, k.deliveries, deadline); queue {
			left = append(left, m)
		}
	}
	if err := k.w.cfg.Queue.enqueueMessages(ctx, left, nil, time.Time{}); err != nil {
		logWarn(ctx, "queue woken messages; the reconciler will", "messages", len(left), "err", err)
	}
}
