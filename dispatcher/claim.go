package dispatcher

import (
	"context"
	"time"

	"github.com/shiphook/shiphook/dispatcher/internal/inproc"
)

// A claimed message is delivering, leased until its LeaseUntil: one
// process makes its attempt, and the reconciler takes it up should the
// lease end first. A delivery task from Redis claims its message itself
// (Store.ClaimMessage); the fan-out and the waker claim the messages they
// give the scheduler as they store or wake them, which saves each a
// statement, and the task carries it (deliveryTask.claimed).

// statusSetter sets a message's status; the Store is one.
type statusSetter interface {
	SetMessageStatus(ctx context.Context, id string, o Outcome) error
}

// offerClaimed gives m, claimed by this process, to deliveries, waiting
// for room until deadline. A message they do not take is unclaimed and
// returned with queue set, for the caller to queue in Redis; should that
// fail, the reconciler takes it up once its lease ends.
func offerClaimed(ctx context.Context, st statusSetter, m Message, deliveries *inproc.Lane[deliveryTask], deadline time.Time) (_ Message, queue bool) {
	dt := deliveryTask{ID: m.ID, Attempts: m.Attempts, EndpointID: m.EndpointID, claimed: &m}
	if deliveries.OfferBy(dt, deadline) {
		return m, false
	}
	m, err := unclaimMessage(ctx, st, m)
	return m, err == nil
}

// unclaimMessage makes m, claimed and not attempted after all, pending and
// due now, and returns it so. Should that fail, the reconciler takes it up
// once its lease ends.
func unclaimMessage(ctx context.Context, st statusSetter, m Message) (Message, error) {
	now := time.Now().UTC()
	if err := st.SetMessageStatus(context.WithoutCancel(ctx), m.ID, Outcome{Status: StatusPending, NextAttemptAt: &now}); err != nil {
		logWarn(ctx, "put a claimed message back; the reconciler will take it up when its lease ends", "message_id", m.ID, "err", err)
		return m, err
	}
	m.Status, m.NextAttemptAt, m.LeaseUntil = StatusPending, &now, nil
	return m, nil
}
