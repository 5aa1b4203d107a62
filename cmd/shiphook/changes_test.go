package main

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestEndpointChangedElsewhere creates an endpoint as another process does
// whose announcement has not arrived yet: stored and numbered, not
// announced. An event accepted after it still reaches it, whether serve
// fanned it out as it accepted it or a worker took up its fan-out.
func TestEndpointChangedElsewhere(t *testing.T) {
	for _, split := range []bool{false, true} {
		name := "serve"
		if split {
			name = "api and worker"
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			env := testEnv(t)
			migrate(t, env)
			keys, err := store.ParseKeyring(env["SHIPHOOK_ENCRYPTION_KEY"])
			require.NoError(t, err)
			st, err := store.Open(ctx, env["DATABASE_URL"], store.WithKeyring(keys))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			opts, err := redis.ParseURL(env["REDIS_URL"])
			require.NoError(t, err)
			rdb := redis.NewClient(opts)
			t.Cleanup(func() { rdb.Close() })

			var api *server
			if split {
				api = startServer(t, "api", env)
				startServer(t, "worker", env)
			} else {
				api = startServer(t, "serve", env)
			}
			createPartners(t, api, "acme", "globex")
			rcv := newReceiver(t)
			now := time.Now().UTC()
			ep := subscriptions.Endpoint{ID: subscriptions.NewID("ep"), PartnerID: "acme", URL: rcv.URL + "/elsewhere",
				EventTypes: []string{}, Filter: subscriptions.Filter{}, Secret: signing.NewSecret(), CreatedAt: now, UpdatedAt: now}
			require.NoError(t, st.CreateEndpoint(ctx, ep))
			rcv.setSecret("/elsewhere", ep.Secret)
			require.NoError(t, subscriptions.NumberChange(ctx, rdb, "acme"))

			ids := postEvents(t, api, 3)
			require.Eventually(t, func() bool { return len(rcv.byPath("/elsewhere")) >= len(ids) }, 15*time.Second, 20*time.Millisecond,
				"the events accepted after the endpoint was created did not reach it")
			got := map[string]bool{}
			for _, d := range rcv.byPath("/elsewhere") {
				got[d.Data["event_id"].(string)] = true
			}
			for _, id := range ids {
				require.True(t, got[id], "event %s did not reach the endpoint", id)
			}
		})
	}
}
