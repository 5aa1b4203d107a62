package dispatcher_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestReconcileUsesRedis checks that the reconciler queues lost work in
// Redis, where what is merely late (still queued) is not queued twice,
// and never in the process's lanes, even when they have room.
func TestReconcileUsesRedis(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, inspector := workerDeps(t)
	q := dispatcher.NewQueue(client, time.Minute)
	w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: q, ReconcileGrace: time.Second})
	inLane, fanoutsInLane := dispatcher.AttachLanes(q)

	// An event never fanned out, and one whose message is long overdue.
	old := time.Now().UTC().Add(-time.Minute)
	var evs []dispatcher.Event
	for i := range 2 {
		evs = append(evs, dispatcher.Event{ID: subscriptions.NewID("evt"), Type: "shipment.created", OccurredAt: old, CreatedAt: old,
			Shipment: dispatcher.Shipment{ID: "SHP-" + strconv.Itoa(i)}, Parties: []dispatcher.Party{}, Data: json.RawMessage(`{}`)})
	}
	_, err := st.InsertEvents(ctx, evs)
	require.NoError(t, err)
	m := dispatcher.Message{ID: subscriptions.NewID("msg"), EventID: evs[1].ID, EndpointID: "ep_1", PartnerID: "acme",
		EventType: "shipment.created", ShipmentID: "SHP-1", NextAttemptAt: &old}
	_, err = st.FanOut(ctx, evs[1].ID, []dispatcher.Message{m})
	require.NoError(t, err)

	require.NoError(t, w.Reconcile(ctx))
	require.Zero(t, inLane(), "the overdue message went to the lane")
	require.Zero(t, fanoutsInLane(), "the event went to the lane")
	deliveries, err := inspector.ListPendingTasks("deliver")
	require.NoError(t, err)
	require.Len(t, deliveries, 1)
	require.Equal(t, m.ID+":0:ep_1", string(deliveries[0].Payload))
	fanouts, err := inspector.ListPendingTasks("fanout")
	require.NoError(t, err)
	require.Len(t, fanouts, 1)
	require.Equal(t, evs[0].ID, string(fanouts[0].Payload))

	// Work due now from anywhere else goes to the lanes first.
	require.NoError(t, q.EnqueueMessages(ctx, []dispatcher.Message{m}))
	require.Equal(t, 1, inLane())
}
