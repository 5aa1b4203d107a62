package main

import (
	"net/http"
	"slices"
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

// attemptTimes returns when each attempt of message id started, in order.
func attemptTimes(t *testing.T, s *server, id string) []time.Time {
	t.Helper()
	type started struct {
		Number    int       `json:"number"`
		StartedAt time.Time `json:"started_at"`
	}
	var as listOut[started]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages/"+id+"/attempts?limit=250", adminKey, nil, &as))
	slices.SortFunc(as.Data, func(a, b started) int { return a.Number - b.Number })
	out := make([]time.Time, len(as.Data))
	for i, a := range as.Data {
		require.Equal(t, i+1, a.Number, "attempts of %s are numbered from 1", id)
		out[i] = a.StartedAt
	}
	return out
}

// TestScheduleKeptBehindBreaker checks that the retry schedule sets the
// pace of a message's attempts whatever its endpoint's breaker does: to an
// endpoint that refuses every connection, the breaker opens, probes fail
// and open it again, and yet no message's attempt comes sooner after the
// one before than the schedule says, less its jitter.
func TestScheduleKeptBehindBreaker(t *testing.T) {
	schedule := []time.Duration{0, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	env := with(testEnv(t),
		"SHIPHOOK_RETRY_SCHEDULE", "0s,2s,4s,8s",
		"SHIPHOOK_BREAKER_MIN_REQUESTS", "3",
		"SHIPHOOK_BREAKER_FAILURE_RATIO", "0.5",
		"SHIPHOOK_BREAKER_WINDOW", "60s",
		"SHIPHOOK_BREAKER_OPEN_FOR", "1s")
	migrate(t, env)
	s := startServer(t, "serve", env)
	createPartners(t, s, "acme", "globex")
	var ep endpointOut
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey, map[string]any{"url": closedPortURL(t)}, &ep))
	postEvents(t, s, 3)

	// The schedule takes at least 11.2 s (14 s less 20 %); breaker waits
	// add to it.
	var ms []messageOut
	failed := func() bool {
		ms = messagesOf(t, s, "acme", ep.ID)
		return len(ms) == 3 && !slices.ContainsFunc(ms, func(m messageOut) bool { return m.Status != "failed" })
	}
	if !assert.Eventually(t, failed, 45*time.Second, 100*time.Millisecond) {
		t.Fatalf("the messages did not fail within 45 s: %+v", ms)
	}
	var breaker struct {
		Breaker breakerOut `json:"breaker"`
	}
	call(t, "GET", s.URL+"/v1/partners/acme/endpoints/"+ep.ID, adminKey, nil, &breaker)
	require.Contains(t, breaker.Breaker.Reason, "the probe failed", "the breaker opened and a probe failed")
	for _, m := range ms {
		times := attemptTimes(t, s, m.ID)
		require.Len(t, times, len(schedule), "message %s spends the whole schedule", m.ID)
		for n := 1; n < len(times); n++ {
			gap, least := times[n].Sub(times[n-1]), schedule[n]*8/10
			require.GreaterOrEqual(t, gap, least, "message %s: attempt %d came %v after attempt %d; the schedule says %v", m.ID, n+1, gap, n, schedule[n])
		}
	}
}
