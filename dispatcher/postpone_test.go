package dispatcher_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// workerDeps returns what a Worker needs, on a SQLite database and a Redis
// database of the test's own, and an inspector of that Redis.
func workerDeps(t *testing.T) (*store.Store, asynq.RedisConnOpt, *asynq.Client, *asynq.Inspector) {
	t.Helper()
	st, err := store.Open(t.Context(), storetest.SQLite(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Migrate(t.Context()))
	redisOpt, err := asynq.ParseRedisURI(storetest.Redis(t))
	require.NoError(t, err)
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	inspector := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { inspector.Close() })
	return st, redisOpt, client, inspector
}

// TestPostponeHold checks that a message held back by an open breaker has
// its next attempt moved well ahead in the database once, not on every
// round, while its task keeps coming round; and that other waits move it
// only as far as the task.
func TestPostponeHold(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, inspector := workerDeps(t)
	w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: dispatcher.NewQueue(client, time.Minute)})

	now := time.Now().UTC()
	ev := dispatcher.Event{ID: subscriptions.NewID("evt"), Type: "shipment.created", OccurredAt: now,
		Shipment: dispatcher.Shipment{ID: "SHP-1"}, Parties: []dispatcher.Party{}, Data: json.RawMessage(`{}`)}
	_, err := st.InsertEvents(ctx, []dispatcher.Event{ev})
	require.NoError(t, err)
	m := dispatcher.Message{ID: subscriptions.NewID("msg"), EventID: ev.ID, EndpointID: "ep_1", PartnerID: "acme",
		EventType: ev.Type, ShipmentID: "SHP-1", NextAttemptAt: &now}
	_, err = st.FanOut(ctx, ev.ID, []dispatcher.Message{m})
	require.NoError(t, err)

	// queued returns the payload of the one task scheduled, and removes it.
	queued := func() string {
		t.Helper()
		tasks, err := inspector.ListScheduledTasks("deliver")
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		require.NoError(t, inspector.DeleteTask("deliver", tasks[0].ID))
		return string(tasks[0].Payload)
	}
	nextAttempt := func() time.Time {
		t.Helper()
		got, err := st.Message(ctx, m.ID)
		require.NoError(t, err)
		return *got.NextAttemptAt
	}

	// First round behind an open breaker: moved two minutes past the task.
	payload := m.ID + ":0:ep_1"
	require.NoError(t, dispatcher.Postpone(ctx, w, payload, 15*time.Second, "breaker_open"))
	held := nextAttempt()
	require.WithinDuration(t, time.Now().Add(15*time.Second+2*time.Minute), held, 3*time.Second)
	payload = queued()
	require.True(t, strings.HasPrefix(payload, m.ID+":0:ep_1:held"), payload)

	// The next rounds leave the database alone while the hold lasts.
	for range 3 {
		require.NoError(t, dispatcher.Postpone(ctx, w, payload, 15*time.Second, "breaker_open"))
		require.Equal(t, held, nextAttempt())
		require.Equal(t, payload, queued())
	}

	// A round that would fall past the hold moves it again.
	require.NoError(t, dispatcher.Postpone(ctx, w, payload, 3*time.Minute, "breaker_open"))
	require.WithinDuration(t, time.Now().Add(5*time.Minute), nextAttempt(), 3*time.Second)
	require.NotEqual(t, payload, queued())

	// Any other long wait moves it as far as the task, and holds nothing.
	require.NoError(t, dispatcher.Postpone(ctx, w, m.ID+":0:ep_1", 20*time.Second, "rate_limit"))
	require.WithinDuration(t, time.Now().Add(20*time.Second), nextAttempt(), 3*time.Second)
	require.Equal(t, m.ID+":0:ep_1", queued())
}

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
