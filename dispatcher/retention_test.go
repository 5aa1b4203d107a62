package dispatcher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestPurge checks retention on both databases: old attempts go, old
// payloads are emptied, messages stay, and recent rows are untouched.
func TestPurge(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			url := storetest.SQLite(t)
			if backend == "postgres" {
				url = storetest.Postgres(t)
			}
			st, err := store.Open(ctx, url)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			require.NoError(t, st.Migrate(ctx))
			redisOpt, err := asynq.ParseRedisURI(storetest.Redis(t))
			require.NoError(t, err)
			w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt})

			now := time.Now().UTC()
			old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
			mk := func(at time.Time, n int) []string {
				var msgs []string
				for i := 0; i < n; i++ {
					ev := dispatcher.Event{ID: subscriptions.NewID("evt"), Type: "shipment.created", OccurredAt: at, CreatedAt: at,
						Shipment: dispatcher.Shipment{ID: "SHP-1"}, Parties: []dispatcher.Party{}, Data: json.RawMessage(`{"note":"x"}`)}
					_, err := st.InsertEvents(ctx, []dispatcher.Event{ev})
					require.NoError(t, err)
					m := dispatcher.Message{ID: subscriptions.NewID("msg"), EventID: ev.ID, EndpointID: "ep_1", PartnerID: "acme",
						EventType: ev.Type, ShipmentID: "SHP-1", Status: dispatcher.StatusPending, NextAttemptAt: &at, CreatedAt: at, UpdatedAt: at}
					_, err = st.FanOut(ctx, ev.ID, []dispatcher.Message{m})
					require.NoError(t, err)
					_, ok, err := st.ClaimMessage(ctx, m.ID, 0, now.Add(time.Minute))
					require.NoError(t, err)
					require.True(t, ok)
					require.NoError(t, st.RecordAttempt(ctx, dispatcher.Attempt{ID: subscriptions.NewID("att"), MessageID: m.ID, EndpointID: "ep_1",
						PartnerID: "acme", Number: 1, Trigger: "scheduled", URL: "https://93.184.216.34/x", StartedAt: at, StatusCode: 200},
						dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
					msgs = append(msgs, m.ID)
				}
				return msgs
			}
			oldMsgs, recentMsgs := mk(old, 7), mk(recent, 3)

			n, err := w.Purge(ctx, now.Add(-30*24*time.Hour))
			require.NoError(t, err)
			require.Equal(t, 14, n, "7 attempts deleted and 7 payloads emptied")
			for _, id := range oldMsgs {
				m, err := st.Message(ctx, id)
				require.NoError(t, err, "the message summary is kept")
				as, err := st.ListAttempts(ctx, id, subscriptions.Page{Limit: 10})
				require.NoError(t, err)
				require.Empty(t, as)
				ev, err := st.Event(ctx, m.EventID)
				require.NoError(t, err)
				require.NotNil(t, ev.PurgedAt)
				require.JSONEq(t, `{}`, string(ev.Data))
			}
			for _, id := range recentMsgs {
				m, err := st.Message(ctx, id)
				require.NoError(t, err)
				as, err := st.ListAttempts(ctx, id, subscriptions.Page{Limit: 10})
				require.NoError(t, err)
				require.Len(t, as, 1)
				ev, err := st.Event(ctx, m.EventID)
				require.NoError(t, err)
				require.Nil(t, ev.PurgedAt)
				require.JSONEq(t, `{"note":"x"}`, string(ev.Data))
			}
			n, err = w.Purge(ctx, now.Add(-30*24*time.Hour))
			require.NoError(t, err)
			require.Zero(t, n, "a second pass finds nothing")
		})
	}
}
