package dispatcher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// workerDeps returns what a Worker needs, on a SQLite database and a Redis
// database of the test's own, and an inspector of that Redis.
func workerDeps(t *testing.T) (*store.Store, asynq.RedisConnOpt, redis.UniversalClient, *asynq.Inspector) {
	t.Helper()
	st, err := store.Open(t.Context(), storetest.SQLite(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Migrate(t.Context()))
	redisOpt, err := asynq.ParseRedisURI(storetest.Redis(t))
	require.NoError(t, err)
	client := redisOpt.MakeRedisClient().(redis.UniversalClient)
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
