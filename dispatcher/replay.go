package dispatcher

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// Replay sends messages again on request: a manual retry, a resend of an
// event to one endpoint, a test event, a recovery of failed messages.
type Replay struct {
	Store    Store
	Partners interface {
		Partner(ctx context.Context, id string) (subscriptions.Partner, error)
	}
	Queue *Queue
	// Metrics counts the messages a resend or test creates; nil counts
	// nothing.
	Metrics *Metrics
}

// Retry makes message id due now and queues a manual attempt for it, one
// attempt whatever the message's status; if it fails, the rest of the
// retry schedule, if any, follows. Returns an *subscriptions.Error of kind
// Conflict, code delivery_in_progress while an attempt is under way, or
// message_waiting for a message waiting behind an earlier one of its
// shipment to an ordered endpoint.
func (r Replay) Retry(ctx context.Context, id string) (Message, error) {
	m, err := r.Store.RetryMessage(ctx, id, time.Now().UTC())
	if errors.Is(err, subscriptions.ErrConflict) {
		if was, err := r.Store.Message(ctx, id); err == nil && was.Status == StatusWaiting {
			return Message{}, waitingError(was)
		}
		return Message{}, subscriptions.Errorf(subscriptions.Conflict, "delivery_in_progress", "message %s is being delivered right now; look again in a moment", id)
	}
	if err != nil {
		return Message{}, err
	}
	if err := r.Queue.enqueueDelivery(ctx, deliveryTask{ID: m.ID, Attempts: m.Attempts, EndpointID: m.EndpointID, Manual: true}, *m.NextAttemptAt); err != nil {
		// The message is pending in the database: the reconciler will.
		logWarn(ctx, "enqueue manual retry; the reconciler will", "message_id", m.ID, "err", err)
	}
	return m, nil
}

// waitingError is the conflict of acting on m, waiting in its queue.
func waitingError(m Message) error {
	return subscriptions.Errorf(subscriptions.Conflict, "message_waiting",
		"message %s waits for an earlier message of shipment %s to this endpoint; retry or discard that one first", m.ID, m.ShipmentID)
}

// Discard ends message id without delivering it: it is discarded, and, if
// it is the head of its shipment's queue at an ordered endpoint (a failed
// message that blocks it, say), the next message of the queue is queued.
// Only a failed, pending, held or disabled message may be discarded;
// others give an *subscriptions.Error of kind Conflict (code
// message_waiting for a waiting one, not_discardable otherwise).
func (r Replay) Discard(ctx context.Context, id string) (Message, error) {
	m, next, err := r.Store.DiscardMessage(ctx, id)
	if errors.Is(err, subscriptions.ErrConflict) {
		was, err := r.Store.Message(ctx, id)
		switch {
		case err != nil:
			return Message{}, err
		case was.Status == StatusWaiting:
			return Message{}, waitingError(was)
		}
		return Message{}, subscriptions.Errorf(subscriptions.Conflict, "not_discardable",
			"message %s is %s; only a failed, pending, held or disabled message can be discarded", id, was.Status)
	}
	if err != nil {
		return Message{}, err
	}
	if next != nil {
		dt := deliveryTask{ID: next.ID, Attempts: next.Attempts, EndpointID: next.EndpointID}
		if err := r.Queue.enqueueDelivery(ctx, dt, *next.NextAttemptAt); err != nil {
			logWarn(ctx, "queue the next message of a shipment; the reconciler will", "message_id", next.ID, "err", err)
		}
	}
	return m, nil
}

// visibleEvent returns event id if partner p may see it: it is a party, or
// it sees every shipment. Otherwise a not_found *subscriptions.Error naming
// field.
func visibleEvent(ctx context.Context, st Store, p subscriptions.Partner, field, id string) (Event, error) {
	ev, err := st.Event(ctx, id)
	if err == nil && (p.Access == subscriptions.AccessAll || IsPartyTo(ev, p.ID)) {
		return ev, nil
	}
	if err != nil && !errors.Is(err, subscriptions.ErrNotFound) {
		return Event{}, err
	}
	e := subscriptions.NotFoundf("event %s not found", id)
	e.Field = field
	return Event{}, e
}

// IsPartyTo reports whether partnerID is named among ev's parties.
func IsPartyTo(ev Event, partnerID string) bool {
	return slices.ContainsFunc(ev.Parties, func(p Party) bool { return p.PartnerID == partnerID })
}

// Resend sends event eventID to ep once more (or for the first time, even
// if ep does not subscribe to it), as a manual attempt. The event must be
// one ep's partner may see. Returns a *subscriptions.FieldError if eventID
// is empty, a not_found *subscriptions.Error (field event_id) if the event
// is not to be seen, and the errors of Retry.
func (r Replay) Resend(ctx context.Context, ep subscriptions.Endpoint, eventID string) (Message, error) {
	if eventID == "" {
		return Message{}, subscriptions.Fieldf("event_id", "is required")
	}
	p, err := r.Partners.Partner(ctx, ep.PartnerID)
	if err != nil {
		return Message{}, err
	}
	ev, err := visibleEvent(ctx, r.Store, p, "event_id", eventID)
	if err != nil {
		return Message{}, err
	}
	m, err := r.Store.MessageOf(ctx, ev.ID, ep.ID)
	if errors.Is(err, subscriptions.ErrNotFound) {
		m, err = r.newMessage(ctx, ev, ep)
	}
	if err != nil {
		return Message{}, err
	}
	return r.Retry(ctx, m.ID)
}

// newMessage stores a message of ev to ep outside fan-out.
func (r Replay) newMessage(ctx context.Context, ev Event, ep subscriptions.Endpoint) (Message, error) {
	now := time.Now().UTC()
	m := Message{ID: subscriptions.NewID("msg"), EventID: ev.ID, EndpointID: ep.ID, PartnerID: ep.PartnerID, EventType: ev.Type,
		ShipmentID: ev.Shipment.ID, Status: StatusPending, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now}
	if _, err := r.Store.FanOut(ctx, ev.ID, []Message{m}); err != nil {
		return Message{}, err
	}
	r.Metrics.messagesCreated([]Message{m})
	return r.Store.MessageOf(ctx, ev.ID, ep.ID)
}

// SentTest is the answer to sending a test event.
type SentTest struct {
	EventID   string `json:"event_id"`
	MessageID string `json:"message_id"`
}

// SendTest sends the catalog's example of event type typ, for a made-up
// shipment, to ep only. Returns a *subscriptions.FieldError for an unknown
// type.
func (r Replay) SendTest(ctx context.Context, ep subscriptions.Endpoint, typ string) (SentTest, error) {
	example, ok := subscriptions.ExampleData(typ)
	if !ok {
		return SentTest{}, subscriptions.Fieldf("type", "unknown event type %q; see GET /v1/event-types", typ)
	}
	now := time.Now().UTC()
	ev := Event{
		ID: subscriptions.NewID("evt"), Type: typ, OccurredAt: now, CreatedAt: now,
		Shipment: Shipment{ID: "TEST-" + strconv.FormatInt(now.UnixMilli(), 36), Mode: "ocean", Origin: "CNSHA", Destination: "NLRTM", References: subscriptions.References{CustomerReferences: []string{"test"}}},
		Parties:  []Party{{PartnerID: ep.PartnerID, Role: "test"}},
		Data:     example,
	}
	if _, err := r.Store.InsertEvents(ctx, []Event{ev}); err != nil {
		return SentTest{}, err
	}
	m, err := r.newMessage(ctx, ev, ep)
	if err == nil {
		m, err = r.Retry(ctx, m.ID)
	}
	if err != nil {
		return SentTest{}, err
	}
	return SentTest{EventID: ev.ID, MessageID: m.ID}, nil
}

// RecoverInput asks to recover an endpoint's failed messages created from
// Since until Until (RFC 3339; Until optional).
type RecoverInput struct {
	Since string `json:"since"`
	Until string `json:"until"`
}

// StartRecover starts a background job that puts every failed message of
// ep created in the range back on the schedule. Calling it again while the
// job runs returns the same job; calling it after finds only what is still
// failed. Returns a *subscriptions.FieldError for a bad range.
func (r Replay) StartRecover(ctx context.Context, ep subscriptions.Endpoint, in RecoverInput) (RecoverJob, error) {
	since, err := time.Parse(time.RFC3339Nano, in.Since)
	if err != nil {
		return RecoverJob{}, subscriptions.Fieldf("since", "is required, as an RFC 3339 timestamp such as 2026-11-26T14:05:00Z")
	}
	var until *time.Time
	if in.Until != "" {
		u, err := time.Parse(time.RFC3339Nano, in.Until)
		if err != nil || !u.After(since) {
			return RecoverJob{}, subscriptions.Fieldf("until", "must be an RFC 3339 timestamp after since")
		}
		u = u.UTC()
		until = &u
	}
	since = since.UTC()
	total, err := r.Store.CountFailed(ctx, ep.ID, since, until)
	if err != nil {
		return RecoverJob{}, err
	}
	now := time.Now().UTC()
	job, created, err := r.Store.CreateRecoverJob(ctx, RecoverJob{
		ID: subscriptions.NewID("rec"), EndpointID: ep.ID, PartnerID: ep.PartnerID, Since: since, Until: until,
		Status: "running", Total: total, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return RecoverJob{}, err
	}
	if created || job.Status == "running" {
		if err := r.Queue.EnqueueRecover(ctx, job.ID); err != nil {
			return RecoverJob{}, err
		}
	}
	return job, nil
}
