package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHangingEndpointOpensBreakerAcrossWorkers checks that the breaker of an
// endpoint that never answers opens when api and workers run as separate
// processes, as it does in serve: the deliveries that find the endpoint at
// its cap of deliveries in flight are not attempts, and do not dilute the
// timeouts that are.
func TestHangingEndpointOpensBreakerAcrossWorkers(t *testing.T) {
	env := with(testEnv(t),
		"SHIPHOOK_ATTEMPT_TIMEOUT", "1s",
		"SHIPHOOK_DELIVERY_LEASE", "4s",
		"SHIPHOOK_RETRY_SCHEDULE", everySecond(30))
	api := startSplit(t, env)
	rcv := newReceiver(t)
	rcv.setAnswer("/hangs", func(int) int { time.Sleep(3 * time.Second); return http.StatusOK })
	createPartners(t, api, "acme", "globex")
	ep := createEndpoint(t, api, rcv, adminKey, "acme", "/hangs", map[string]any{})
	postEvents(t, api, 300)

	// The default breaker: half of at least 10 attempts within 60 s. Ten
	// timeouts of 1 s at a time, the cap, are enough.
	var got endpointFull
	opened := func() bool {
		call(t, "GET", api.URL+"/v1/partners/acme/endpoints/"+ep.ID, adminKey, nil, &got)
		return got.Breaker != nil && got.Breaker.State == "open"
	}
	if !assert.Eventually(t, opened, 15*time.Second, 50*time.Millisecond) {
		t.Fatalf("the breaker did not open within 15 s: %+v, after %d requests", got.Breaker, rcv.countAt("/hangs"))
	}
	require.Contains(t, got.Breaker.Reason, "timeout")
}
