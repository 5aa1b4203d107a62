package dispatcher_test

import (
	"encoding/json"
	"strconv"
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

// storedEvent stores an event and its messages to these endpoints, made
// with status (pending when empty), and returns the messages FanOut
// returned.
func storedEvent(t *testing.T, st *store.Store, status dispatcher.Status, endpoints ...string) ([]dispatcher.Message, []dispatcher.Message) {
	t.Helper()
	now := time.Now().UTC()
	ev := dispatcher.Event{ID: subscriptions.NewID("evt"), Type: "shipment.created", OccurredAt: now,
		Shipment: dispatcher.Shipment{ID: "SHP-1"}, Parties: []dispatcher.Party{}, Data: json.RawMessage(`{}`)}
	_, err := st.InsertEvents(t.Context(), []dispatcher.Event{ev})
	require.NoError(t, err)
	if status == "" {
		status = dispatcher.StatusPending
	}
	var ms []dispatcher.Message
	for _, ep := range endpoints {
		m := dispatcher.Message{ID: subscriptions.NewID("msg"), EventID: ev.ID, EndpointID: ep, PartnerID: "acme",
			EventType: ev.Type, ShipmentID: "SHP-1", Status: status}
		if status == dispatcher.StatusPending {
			m.NextAttemptAt = &now
		}
		ms = append(ms, m)
	}
	due, err := st.FanOut(t.Context(), ev.ID, ms)
	require.NoError(t, err)
	return ms, due
}

// TestRescheduleHolds checks that a message held back by an open breaker is
// held in the database, with no task in Redis, and that other long waits
// move its next attempt as far as its task.
func TestRescheduleHolds(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, inspector := workerDeps(t)
	w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: dispatcher.NewQueue(client, time.Minute)})
	ms, _ := storedEvent(t, st, "", "ep_1")
	m := ms[0]
	status := func() dispatcher.Message {
		t.Helper()
		got, err := st.Message(ctx, m.ID)
		require.NoError(t, err)
		return got
	}
	tasks := func() int {
		t.Helper()
		scheduled, err := inspector.ListScheduledTasks("deliver")
		require.NoError(t, err)
		pending, err := inspector.ListPendingTasks("deliver")
		if err != nil {
			require.ErrorIs(t, err, asynq.ErrQueueNotFound)
		}
		for _, task := range scheduled {
			require.NoError(t, inspector.DeleteTask("deliver", task.ID))
		}
		return len(scheduled) + len(pending)
	}

	// Any long wait but the breaker's moves it as far as the task.
	require.NoError(t, dispatcher.Reschedule(ctx, w, m.ID+":0:ep_1", 20*time.Second, "rate_limit"))
	require.Equal(t, dispatcher.StatusPending, status().Status)
	require.WithinDuration(t, time.Now().Add(20*time.Second), *status().NextAttemptAt, 3*time.Second)
	require.Equal(t, 1, tasks())

	// A stale task holds nothing.
	require.NoError(t, dispatcher.Reschedule(ctx, w, m.ID+":3:ep_1", 15*time.Second, "breaker_open"))
	require.Equal(t, dispatcher.StatusPending, status().Status)

	// Behind an open breaker: held, with no next attempt and no task.
	require.NoError(t, dispatcher.Reschedule(ctx, w, m.ID+":0:ep_1", 15*time.Second, "breaker_open"))
	got := status()
	require.Equal(t, dispatcher.StatusHeld, got.Status)
	require.Nil(t, got.NextAttemptAt)
	require.Zero(t, got.Attempts)
	require.Zero(t, tasks())
}

// TestWakeHeld checks the rounds of waking held messages: an endpoint
// whose breaker is closed has its held messages woken, claimed, into the
// lane, in pages that share its free half; one whose breaker is open has
// none woken until its probe time, and then one, a different one each
// time.
func TestWakeHeld(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, _ := workerDeps(t)
	guard := dispatcher.NewGuard(nil, dispatcher.GuardConfig{})
	w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: dispatcher.NewQueue(client, time.Minute), Guard: guard})
	var open, closed []string
	for range 3 {
		ms, due := storedEvent(t, st, dispatcher.StatusHeld, "ep_a", "ep_b")
		require.Empty(t, due, "held messages are not due")
		open, closed = append(open, ms[0].ID), append(closed, ms[1].ID)
	}
	status := func(id string) dispatcher.Status {
		t.Helper()
		m, err := st.Message(ctx, id)
		require.NoError(t, err)
		return m.Status
	}
	round := func(k dispatcher.Waker, look bool) ([]string, bool) {
		t.Helper()
		next := k.Round
		if look {
			next = k.Look
		}
		woken, more, err := next(ctx)
		require.NoError(t, err)
		for _, id := range woken {
			require.Equal(t, dispatcher.StatusDelivering, status(id), "woken claimed")
		}
		return woken, more
	}

	// ep_a's breaker is open, its probe a minute away; ep_b's is closed.
	// A lane of 4 has room for 2 per round.
	k := dispatcher.NewWaker(w, 4)
	dispatcher.SetBreaker(guard, "ep_a", time.Now().Add(time.Minute))
	woken, more := round(k, true)
	require.Equal(t, closed[:2], woken)
	require.True(t, more)
	woken, more = round(k, false)
	require.Equal(t, closed[2:], woken)
	require.False(t, more)
	woken, _ = round(k, true)
	require.Empty(t, woken)
	for _, id := range open {
		require.Equal(t, dispatcher.StatusHeld, status(id))
	}

	// Its probe time comes: one message per look, each probe failing (held
	// again), in turn.
	dispatcher.SetBreaker(guard, "ep_a", time.Now().Add(-time.Second))
	for _, want := range []string{open[0], open[1], open[2], open[0]} {
		woken, more = round(k, true)
		require.Equal(t, []string{want}, woken)
		require.False(t, more)
		require.NoError(t, st.SetMessageStatus(ctx, want, dispatcher.Outcome{Status: dispatcher.StatusHeld}))
	}

	// Closed: the rest go.
	dispatcher.SetBreaker(guard, "ep_a", time.Time{})
	woken, _ = round(dispatcher.NewWaker(w, 10), true)
	require.Equal(t, open, woken)
	ids, err := st.HeldEndpoints(ctx)
	require.NoError(t, err)
	require.Empty(t, ids)
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
