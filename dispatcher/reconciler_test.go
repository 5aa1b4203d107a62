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

// TestReconcileResolves checks that the reconciler resolves an event kept
// unresolved once a shipment with its reference is registered, from the
// database alone (a worker started after the event was stored does it),
// and queues its fan-out again in Redis.
func TestReconcileResolves(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, inspector := workerDeps(t)
	q := dispatcher.NewQueue(client, time.Minute)
	in := dispatcher.Ingest{Store: st, Partners: st, Queue: q, Registry: st}
	a, err := in.Post(ctx, []byte(`{"type":"shipment.milestone.arrived","occurred_at":"2026-11-26T14:05:00Z",
		"shipment":{"references":{"containers":["APZU4812090"]}},"data":{"location":{"code":"NLRTM"}}}`), "")
	require.NoError(t, err)
	ev, err := st.Event(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, dispatcher.ReasonNoMatch, ev.Unresolved.Reason)
	_, err = inspector.DeleteAllPendingTasks("fanout")
	require.NoError(t, err)

	first := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: q, ReconcileGrace: time.Hour})
	require.NoError(t, first.Reconcile(ctx))
	ev, err = st.Event(ctx, a.ID)
	require.NoError(t, err)
	require.NotNil(t, ev.Unresolved, "nothing registered yet")

	for _, id := range []string{"acme", "globex"} {
		now := time.Now().UTC()
		require.NoError(t, st.CreatePartner(ctx, subscriptions.Partner{ID: id, Name: id, Access: subscriptions.AccessParty, CreatedAt: now, UpdatedAt: now}))
	}
	_, _, err = st.PutShipment(ctx, dispatcher.RegisteredShipment{Shipment: dispatcher.Shipment{ID: "SHP-9", Mode: "ocean",
		References: subscriptions.References{Containers: []string{"APZU4812090"}}},
		Parties: []dispatcher.Party{{PartnerID: "acme", Role: "shipper"}, {PartnerID: "globex", Role: "consignee"}}})
	require.NoError(t, err)

	restarted := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: q, ReconcileGrace: time.Hour})
	require.NoError(t, restarted.Reconcile(ctx))
	ev, err = st.Event(ctx, a.ID)
	require.NoError(t, err)
	require.Nil(t, ev.Unresolved)
	require.Equal(t, "SHP-9", ev.Shipment.ID)
	require.Equal(t, "ocean", ev.Shipment.Mode)
	require.Equal(t, []dispatcher.Party{{PartnerID: "acme", Role: "shipper"}, {PartnerID: "globex", Role: "consignee"}}, ev.Parties)
	require.Nil(t, ev.FannedOutAt)
	fanouts, err := inspector.ListPendingTasks("fanout")
	require.NoError(t, err)
	require.Len(t, fanouts, 1)
	require.Equal(t, a.ID, string(fanouts[0].Payload))
}
