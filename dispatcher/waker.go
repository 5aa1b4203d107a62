package dispatcher

import (
	"context"
	"slices"
	"time"

	"github.com/shiphook/shiphook/dispatcher/internal/inproc"
)

// wakerStore is what the waker needs of the Store.
type wakerStore interface {
	HeldEndpoints(ctx context.Context) ([]string, error)
	WakeHeld(ctx context.Context, endpointID, after string, limit int, leaseUntil time.Time) ([]Message, error)
	SetMessageStatus(ctx context.Context, id string, o Outcome) error
}

// The waker wakes held messages. While an endpoint's circuit breaker is
// open, its messages wait in the database as held (StatusHeld), with no
// next attempt and no task in Redis: a backlog of any size then costs its
// rows and nothing more. Every Worker runs a waker, which
//
//   - when a breaker's probe time comes, wakes one held message of its
//     endpoint to be the probe, a different one each time, so that a long
//     outage does not spend the attempts of one message;
//   - once the breaker is closed (or its state was lost with Redis),
//     wakes the endpoint's held messages into the scheduler's deliveries
//     as fast as they take them.
//
// A message is held only once its attempt is due, and an attempt made
// when woken, the probe's too, is followed by the next one by the retry
// schedule: waking never brings a message's attempts closer together.
//
// The rows are the only record of a hold, so it outlives any process and
// any loss of Redis: a held message whose endpoint's breaker is not open
// is woken by whichever worker looks first.
type waker struct {
	background
	store     wakerStore
	guard     *Guard
	queue     *Queue
	lease     time.Duration
	scheduler *scheduler
	// deliveries is the scheduler's lane of deliveries, from start.
	deliveries *inproc.Lane[deliveryTask]
	// probed holds, by endpoint, the id of the last message woken to be
	// its breaker's probe.
	probed map[string]string
	// waking holds the endpoints whose breakers are closed and whose held
	// messages are being woken, each with the id of the last one woken: a
	// round takes up after it, rather than step again over the index
	// entries of those woken before, which stay until vacuum.
	waking map[string]string
}

// wakeInterval is how often the waker looks for endpoints with held
// messages; wakePause is its pause between rounds of waking a backlog,
// while deliveries make room for more.
const (
	wakeInterval = 500 * time.Millisecond
	wakePause    = 10 * time.Millisecond
)

func newWaker(st wakerStore, g *Guard, q *Queue, lease time.Duration) *waker {
	return &waker{store: st, guard: g, queue: q, lease: lease, probed: map[string]string{}, waking: map[string]string{}}
}

// start wakes held messages into the scheduler's deliveries, which must
// have started, until ctx ends.
func (k *waker) start(ctx context.Context) {
	k.deliveries = k.scheduler.deliveryLane
	k.probed, k.waking = map[string]string{}, map[string]string{}
	k.launch(ctx, k.run)
}

func (k *waker) run(ctx context.Context) {
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
	ids, err := k.store.HeldEndpoints(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, id := range ids {
		switch {
		case !k.guard.Open(id):
			if _, ok := k.waking[id]; !ok {
				k.waking[id] = ""
			}
			delete(k.probed, id)
		case k.guard.probeDue(id, now):
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
	lease := time.Now().Add(k.lease)
	ms, err := k.store.WakeHeld(ctx, id, k.probed[id], 1, lease)
	if err == nil && len(ms) == 0 && k.probed[id] != "" {
		ms, err = k.store.WakeHeld(ctx, id, "", 1, lease)
	}
	if err != nil || len(ms) == 0 {
		return err
	}
	k.probed[id] = ms[0].ID
	k.offer(ctx, ms)
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
	room := k.deliveries.Room() - k.deliveries.Size()/2
	if room <= 0 {
		return true, nil
	}
	share := max(room/len(k.waking), 1)
	lease := time.Now().Add(k.lease)
	for id, after := range k.waking {
		ms, err := k.store.WakeHeld(ctx, id, after, share, lease)
		if err != nil {
			return true, err
		}
		if len(ms) < share {
			delete(k.waking, id)
		} else {
			k.waking[id] = ms[len(ms)-1].ID
		}
		k.offer(ctx, ms)
	}
	return len(k.waking) > 0, nil
}

// offer gives woken messages, claimed, to the deliveries; one that does
// not fit is unclaimed and queued in Redis.
func (k *waker) offer(ctx context.Context, ms []Message) {
	var left []Message
	deadline := time.Now().Add(laneWait)
	for _, m := range ms {
		if m, queue := offerClaimed(ctx, k.store, m, k.deliveries, deadline); queue {
			left = append(left, m)
		}
	}
	if err := k.queue.enqueueMessages(ctx, left, nil, time.Time{}); err != nil {
		logWarn(ctx, "queue woken messages; the reconciler will", "messages", len(left), "err", err)
	}
}
