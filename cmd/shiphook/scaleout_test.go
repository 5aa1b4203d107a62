package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSplitAPIAndWorkers runs "api" and two "worker" processes on one
// PostgreSQL and Redis: an endpoint created on the API instance reaches the
// workers, and each delivery is made once.
func TestSplitAPIAndWorkers(t *testing.T) {
	env := testEnv(t)
	migrate(t, env)
	api := startServer(t, "api", env)
	startServer(t, "worker", env)
	startServer(t, "worker", env)
	rcv := newReceiver(t)

	for _, id := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", api.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil))
	}
	createEndpoint(t, api, rcv, adminKey, "acme", "/a", map[string]any{})
	ids := map[string]bool{}
	for i := 0; i < 50; i++ {
		var acc struct{ ID string }
		require.Equal(t, http.StatusAccepted, call(t, "POST", api.URL+"/v1/events", adminKey, event(i, ""), &acc))
		ids[acc.ID] = true
	}
	require.Eventually(t, func() bool { return len(rcv.byPath("/a")) >= 50 }, 30*time.Second, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	got := map[string]int{}
	for _, d := range rcv.byPath("/a") {
		got[d.Data["event_id"].(string)]++
	}
	require.Len(t, got, 50)
	for id, n := range got {
		require.True(t, ids[id])
		require.Equal(t, 1, n, "event %s delivered %d times", id, n)
	}
}

// TestSplitDeliversAfterIdle checks that workers left idle, their asynq
// servers asleep between polls, take up work the API queues in Redis, and
// a retry once it is due: an event posted after a quiet spell reaches its
// endpoint, whose first answer is a 500, on its second attempt.
func TestSplitDeliversAfterIdle(t *testing.T) {
	env := testEnv(t)
	migrate(t, env)
	api := startServer(t, "api", env)
	startServer(t, "worker", env)
	rcv := newReceiver(t)
	for _, id := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", api.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil))
	}
	createEndpoint(t, api, rcv, adminKey, "acme", "/quiet", map[string]any{})
	rcv.setAnswer("/quiet", func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})

	time.Sleep(3 * time.Second) // longer than the idle servers' wait between polls
	require.Equal(t, http.StatusAccepted, call(t, "POST", api.URL+"/v1/events", adminKey, event(1, ""), nil))
	require.Eventually(t, func() bool { return len(rcv.byPath("/quiet")) == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, 2, rcv.total(), "delivered on its second attempt")
}

// TestGracefulShutdown checks both ways an in-flight delivery ends when the
// process is told to stop: it finishes within the shutdown timeout, or it
// is returned to the queue and made after the restart.
func TestGracefulShutdown(t *testing.T) {
	env := testEnv(t)
	migrate(t, env)

	t.Run("an in-flight delivery finishes", func(t *testing.T) { checkInFlightFinishes(t, env) })
	t.Run("a delivery past the shutdown timeout is returned and made after restart", func(t *testing.T) {
		checkPastTimeoutReturned(t, env)
	})
	// Work waits in the process in its lane, behind two deliveries at a
	// time, or in its gate, behind the one delivery its endpoint's cap
	// allows.
	for name, c := range map[string]struct {
		concurrency string
		spec        map[string]any
	}{
		"in the lane": {"2", map[string]any{}},
		"at the cap":  {"200", map[string]any{"max_concurrency": 1}},
	} {
		t.Run("work waiting in the process at shutdown goes to Redis for other workers: "+name, func(t *testing.T) {
			checkWaitingWorkHandedOn(t, env, c.concurrency, c.spec)
		})
	}
}

// checkInFlightFinishes stops a server while a delivery is in flight that
// the receiver answers a second later.
func checkInFlightFinishes(t *testing.T, env map[string]string) {
	t.Helper()
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	release := make(chan struct{})
	rcv.setAnswer("/slow", func(int) int { <-release; return http.StatusOK })
	for _, id := range []string{"acme", "globex"} {
		call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil)
	}
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/slow", map[string]any{})
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(0, ""), nil))
	require.Eventually(t, func() bool { return rcv.total() == 1 }, 10*time.Second, 10*time.Millisecond)

	go func() { time.Sleep(time.Second); close(release) }()
	s.stop() // returns once the process has shut down

	s2 := startServer(t, "serve", env)
	var ms listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s2.URL+"/v1/partners/acme/messages?endpoint_id="+ep.ID, adminKey, nil, &ms))
	require.Len(t, ms.Data, 1)
	require.Equal(t, "succeeded", ms.Data[0].Status, "the delivery finished before the process stopped")
	require.Equal(t, 1, ms.Data[0].Attempts)
	s2.stop()
	require.Equal(t, 1, rcv.total())
}

// checkPastTimeoutReturned stops a server with a shutdown timeout of 1 s
// while a delivery is in flight that the receiver answers 5 s later, and
// starts another.
func checkPastTimeoutReturned(t *testing.T, env map[string]string) {
	t.Helper()
	short := map[string]string{"SHIPHOOK_SHUTDOWN_TIMEOUT": "1s"}
	for k, v := range env {
		short[k] = v
	}
	s := startServer(t, "serve", short)
	rcv := newReceiver(t)
	rcv.setAnswer("/stuck", func(n int) int {
		if n == 1 {
			time.Sleep(5 * time.Second)
		}
		return http.StatusOK
	})
	ep := createEndpoint(t, s, rcv, adminKey, "globex", "/stuck", map[string]any{})
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(0, ""), nil))
	require.Eventually(t, func() bool { return rcv.total() == 1 }, 10*time.Second, 10*time.Millisecond)
	s.stop()

	s2 := startServer(t, "serve", env)
	var ms listOut[messageOut]
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, call(t, "GET", s2.URL+"/v1/partners/globex/messages?endpoint_id="+ep.ID, adminKey, nil, &ms))
		return len(ms.Data) == 1 && ms.Data[0].Status == "succeeded"
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, 1, ms.Data[0].Attempts, "the interrupted request is not counted as an attempt")
	require.Len(t, rcv.byPath("/stuck"), 1)
}

// checkWaitingWorkHandedOn stops a server with SHIPHOOK_CONCURRENCY set to
// concurrency while 40 events wait for an endpoint made with spec, and
// starts a worker that must deliver them all.
func checkWaitingWorkHandedOn(t *testing.T, env map[string]string, concurrency string, spec map[string]any) {
	t.Helper()
	slow := map[string]string{"SHIPHOOK_SHUTDOWN_TIMEOUT": "1s", "SHIPHOOK_CONCURRENCY": concurrency, "SHIPHOOK_RECONCILE_INTERVAL": "1h"}
	for k, v := range env {
		if _, ok := slow[k]; !ok {
			slow[k] = v
		}
	}
	s := startServer(t, "serve", slow)
	rcv := newReceiver(t)
	release := make(chan struct{})
	rcv.setAnswer("/waiting", func(int) int { <-release; return http.StatusOK })
	for _, id := range []string{"acme", "globex"} {
		call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil) // 409 once made
	}
	createEndpoint(t, s, rcv, adminKey, "acme", "/waiting", spec)
	const n = 40
	ids := postEvents(t, s, n)
	// The first deliveries are held by the receiver: the rest wait
	// in the process, or in Redis.
	require.Eventually(t, func() bool { return rcv.total() >= 1 }, 10*time.Second, 10*time.Millisecond)
	s.stop()
	close(release)

	// With the reconciler an hour away, only Redis can tell a
	// worker of the work the first process held.
	startServer(t, "worker", slow)
	delivered := func() map[string]bool {
		got := map[string]bool{}
		for _, d := range rcv.byPath("/waiting") {
			got[d.Data["event_id"].(string)] = true
		}
		return got
	}
	assert.Eventually(t, func() bool { return len(delivered()) == n }, 30*time.Second, 50*time.Millisecond, "not every event was delivered")
	got := delivered()
	for _, id := range ids {
		require.True(t, got[id], "event %s was not delivered", id)
	}
	if spec["max_concurrency"] != nil {
		require.Equal(t, 1, rcv.peakOf("/waiting"), "the cap held across the two processes")
	}
}
