package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shiphook/shiphook/dispatcher/internal/inproc"
	"github.com/shiphook/shiphook/subscriptions"
)

// fanoutStore is what fan-out needs of the Store.
type fanoutStore interface {
	FanOut(ctx context.Context, eventID string, msgs []Message) ([]Message, error)
	SetMessageStatus(ctx context.Context, id string, o Outcome) error
}

// fanout turns an event into its messages, one to each endpoint it
// matches, stores them and schedules their first attempts: those due now
// in the scheduler's lane of deliveries while it has room, the rest in
// Redis. Messages whose endpoint's breaker is open are held instead
// (waker.go).
type fanout struct {
	store  fanoutStore
	events *eventSource
	index  *subscriptions.Index
	sync   IndexSync
	guard  *Guard
	queue  *Queue
	lease  time.Duration
	// tracing makes the spans of queued fan-outs.
	tracing tracing
	// metrics counts the messages created; nil counts nothing.
	metrics *Metrics
}

// handleTask creates the messages of one event and schedules them.
func (f *fanout) handleTask(ctx context.Context, t *asynq.Task) error {
	return f.fanOutEvent(ctx, string(t.Payload()))
}

// earlierEventPatience is how long the rechecker waits before it checks
// again an event whose earlier events are not fanned out yet.
const earlierEventPatience = time.Second

// earlierEventBudget is how many fan-outs one fan-out may make, its own
// tries included, to fan out the earlier events of its shipment first.
const earlierEventBudget = 50

// fanOutEvent creates the messages of event id and schedules them. An
// event with messages to ordered endpoints is numbered after the earlier
// events of its shipment: should one not be fanned out yet
// (ErrEarlierEvent), most likely because its fan-out waits in a lane
// behind this one or runs in another handler at this moment, it is fanned
// out here first, and so on back, within earlierEventBudget fan-outs;
// past that the error goes to asynq, which retries after a second or
// more.
func (f *fanout) fanOutEvent(ctx context.Context, id string) error {
	budget := earlierEventBudget
	return f.fanOutInOrder(ctx, id, &budget)
}

// fanOutInOrder is fanOutEvent, spending budget.
func (f *fanout) fanOutInOrder(ctx context.Context, id string, budget *int) error {
	for {
		*budget--
		err := f.fanOutOnce(ctx, id)
		var earlier *EarlierEventError
		if !errors.As(err, &earlier) || *budget <= 0 {
			return err
		}
		if err := f.fanOutInOrder(ctx, earlier.EventID, budget); err != nil && !errors.Is(err, ErrEarlierEvent) {
			return err
		}
	}
}

// fanOutOnce creates the messages of event id and schedules them.
func (f *fanout) fanOutOnce(ctx context.Context, id string) error {
	ev, err := f.events.get(ctx, id)
	if errors.Is(err, subscriptions.ErrNotFound) {
		return fmt.Errorf("fan out %s: %w: %w", id, err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("fan out %s: %w", id, err)
	}
	if ev.FannedOutAt != nil {
		// Done before: only make sure its pending messages are queued, in
		// Redis, where those still queued are not queued twice.
		return f.fanOut(ctx, ev, nil, nil, time.Time{})
	}
	ctx, span := f.tracing.startFanout(ctx, ev)
	defer span.End()
	if err := f.catchUp(ctx); err != nil {
		return fmt.Errorf("fan out %s: %w", id, err)
	}
	now := time.Now().UTC()
	deadline := now.Add(laneWait)
	_, deliveries := f.queue.lanes()
	msgs := f.messages(ev, now, deliveries, deadline)
	spanMessages(span, len(msgs))
	if err := f.fanOut(ctx, ev, msgs, deliveries, deadline); err != nil {
		return err
	}
	f.metrics.messagesCreated(msgs)
	ev.FannedOutAt = &now
	f.events.cache.Put(ev)
	return nil
}

// catchUp brings the index up to date with the endpoint changes made so
// far, by any process, so that an endpoint created before an event was
// accepted receives it.
func (f *fanout) catchUp(ctx context.Context) error {
	if f.sync == nil {
		return nil
	}
	if err := f.sync.CatchUp(ctx); err != nil {
		return fmt.Errorf("bring the endpoints up to date: %w", err)
	}
	return nil
}

// applied returns the number of the last endpoint change the index holds
// (0 without a Sync).
func (f *fanout) applied() int64 {
	if f.sync == nil {
		return 0
	}
	return f.sync.Applied()
}

// messages returns the messages of ev, made at now: one to each endpoint
// it matches. Messages whose endpoint's breaker is open are held (see
// waker.go). Those that go to deliveries, this process's, are claimed:
// that saves each a statement and a commit before its request. They are
// claimed once the lane is at most half full, waiting until deadline for
// that: then all that fan out at once fit, rather than claim more than the
// lane takes and unclaim them with a statement each. If the lane does not
// make room by then, they are pending, due now.
func (f *fanout) messages(ev Event, now time.Time, deliveries *inproc.Lane[deliveryTask], deadline time.Time) []Message {
	targets := f.index.Match(subscriptions.Subject{
		Type: ev.Type, Mode: ev.Shipment.Mode, Origin: ev.Shipment.Origin, Destination: ev.Shipment.Destination,
		Carrier: ev.Shipment.Carrier, Parties: ev.Parties,
	})
	msgs := make([]Message, len(targets))
	due := 0
	for i, tg := range targets {
		msgs[i] = Message{
			ID: subscriptions.NewID("msg"), EventID: ev.ID, EndpointID: tg.EndpointID, PartnerID: tg.PartnerID,
			EventType: ev.Type, ShipmentID: ev.Shipment.ID, Status: StatusPending, NextAttemptAt: &now,
			CreatedAt: now, UpdatedAt: now, Ordered: tg.Ordered && !tg.Pull && ev.Shipment.ID != "",
		}
		switch {
		case tg.Pull:
			// Waits in the endpoint's feed: never claimed, held or due.
			msgs[i].NextAttemptAt, msgs[i].Pull = nil, true
		case f.guard.Open(tg.EndpointID):
			msgs[i].Status, msgs[i].NextAttemptAt = StatusHeld, nil
		default:
			due++
		}
	}
	if due > 0 && deliveries.AwaitRoom(max(due, deliveries.Size()/2), deadline) {
		lease := now.Add(f.lease)
		for i := range msgs {
			if msgs[i].Status == StatusPending && !msgs[i].Pull {
				msgs[i].Status, msgs[i].LeaseUntil = StatusDelivering, &lease
			}
		}
	}
	return msgs
}

// fanOut stores msgs of ev and queues every pending message of ev, those
// due now in deliveries first (nil: none), as schedule does, waiting for
// room until deadline.
func (f *fanout) fanOut(ctx context.Context, ev Event, msgs []Message, deliveries *inproc.Lane[deliveryTask], deadline time.Time) error {
	due, err := f.store.FanOut(ctx, ev.ID, msgs)
	if err != nil {
		return fmt.Errorf("fan out %s: %w", ev.ID, err)
	}
	f.schedule(ctx, ev.ID, due, deliveries, deadline)
	return nil
}

// schedule queues the messages of event eventID in due: those it stored
// claimed go to deliveries only, and one that does not fit by deadline is
// unclaimed; the pending ones go to deliveries first if due now (nil:
// none; waiting for room until deadline), else to Redis. Held ones wait
// for the waker. Unread ones wait in their pull endpoint's feed: their
// readers are told (FeedBell).
func (f *fanout) schedule(ctx context.Context, eventID string, due []Message, deliveries *inproc.Lane[deliveryTask], deadline time.Time) {
	pending := due[:0:0]
	var feeds []string
	for _, m := range due {
		if m.Unread() {
			feeds = append(feeds, m.EndpointID)
			continue
		}
		switch m.Status {
		case StatusDelivering:
			// Stored claimed: only this process knows of it.
			if m, queue := offerClaimed(ctx, f.store, m, deliveries, deadline); queue {
				pending = append(pending, m)
			}
		case StatusPending:
			pending = append(pending, m)
		}
	}
	f.queue.feeds.Ring(feeds...)
	if err := f.queue.enqueueMessages(ctx, pending, deliveries, deadline); err != nil {
		logWarn(ctx, "enqueue deliveries; the reconciler will", "event_id", eventID, "err", err)
	}
}
