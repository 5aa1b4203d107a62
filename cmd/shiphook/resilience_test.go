package main

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func with(env map[string]string, kv ...string) map[string]string {
	out := maps.Clone(env)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// startSplit migrates the database of env and starts shiphook as separate
// processes, api and two workers, returning the api.
func startSplit(t *testing.T, env map[string]string) *server {
	t.Helper()
	migrate(t, env)
	api := startServer(t, "api", env)
	startServer(t, "worker", env)
	startServer(t, "worker", env)
	return api
}

// everySecond is a retry schedule of n attempts one second apart.
func everySecond(n int) string {
	return "0s" + strings.Repeat(",1s", n-1)
}

type breakerOut struct {
	State       string     `json:"state"`
	Reason      string     `json:"reason"`
	NextProbeAt *time.Time `json:"next_probe_at"`
}

type endpointFull struct {
	endpointOut
	FailingSince *time.Time  `json:"failing_since"`
	Breaker      *breakerOut `json:"breaker"`
}

func createPartners(t testing.TB, s *server, ids ...string) {
	t.Helper()
	for _, id := range ids {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil))
	}
}

func postEvents(t testing.TB, s *server, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		var acc struct{ ID string }
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(i, ""), &acc))
		ids = append(ids, acc.ID)
	}
	return ids
}

func messagesOf(t testing.TB, s *server, partner, endpointID string) []messageOut {
	t.Helper()
	var ms listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/"+partner+"/messages?limit=250&endpoint_id="+endpointID, adminKey, nil, &ms))
	return ms.Data
}

// failWhile makes rcv answer 503 at path while the returned flag is set,
// as it is at first.
func failWhile(rcv *receiver, path string) *atomic.Bool {
	var down atomic.Bool
	down.Store(true)
	rcv.setAnswer(path, func(int) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	return &down
}

// awaitBreakerOpen waits for the breaker of a partner's endpoint to open
// and returns the endpoint as it was then.
func awaitBreakerOpen(t *testing.T, s *server, partner, endpointID string) endpointFull {
	t.Helper()
	var got endpointFull
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/v1/partners/"+partner+"/endpoints/"+endpointID, adminKey, nil, &got)
		return got.Breaker != nil && got.Breaker.State == "open"
	}, 20*time.Second, 20*time.Millisecond, "the breaker opens")
	return got
}

// TestBreakerAcrossWorkers opens an endpoint's breaker in one of two worker
// processes and checks that neither sends while it is open, that no attempt
// is spent meanwhile, and that a successful probe closes it.
func TestBreakerAcrossWorkers(t *testing.T) {
	env := with(testEnv(t),
		"SHIPHOOK_RETRY_SCHEDULE", everySecond(30),
		"SHIPHOOK_BREAKER_MIN_REQUESTS", "4",
		"SHIPHOOK_BREAKER_FAILURE_RATIO", "0.5",
		"SHIPHOOK_BREAKER_WINDOW", "30s",
		"SHIPHOOK_BREAKER_OPEN_FOR", "3s")
	api := startSplit(t, env)
	rcv := newReceiver(t)
	down := failWhile(rcv, "/down")
	createPartners(t, api, "acme", "globex")
	ep := createEndpoint(t, api, rcv, adminKey, "acme", "/down", map[string]any{})
	postEvents(t, api, 20)

	got := awaitBreakerOpen(t, api, "acme", ep.ID)
	require.Contains(t, got.Breaker.Reason, "attempts failed")
	require.Contains(t, got.Breaker.Reason, "503")
	require.NotNil(t, got.Breaker.NextProbeAt)

	// Attempts under way when it opened may still land; then nothing until
	// the probe, from either worker.
	time.Sleep(500 * time.Millisecond)
	before := rcv.total()
	time.Sleep(time.Until(got.Breaker.NextProbeAt.Add(-300 * time.Millisecond)))
	require.Equal(t, before, rcv.total(), "no request while the breaker is open")

	// The probe fails and opens it again; then the endpoint recovers.
	require.Eventually(t, func() bool { return rcv.total() > before }, 10*time.Second, 20*time.Millisecond, "a probe after the open time")
	down.Store(false)
	require.Eventually(t, func() bool { return len(rcv.byPath("/down")) == 20 }, 60*time.Second, 50*time.Millisecond)
	call(t, "GET", api.URL+"/v1/partners/acme/endpoints/"+ep.ID, adminKey, nil, &got)
	require.Equal(t, "closed", got.Breaker.State)

	// Every recorded attempt is a request the receiver saw: waiting on the
	// breaker spent none. The last successes are recorded just after the
	// receiver answers them.
	var ms []messageOut
	require.Eventually(t, func() bool {
		ms = messagesOf(t, api, "acme", ep.ID)
		return !slices.ContainsFunc(ms, func(m messageOut) bool { return m.Status != "succeeded" })
	}, 10*time.Second, 20*time.Millisecond, "every message recorded as succeeded")
	attempts := 0
	for _, m := range ms {
		require.Equal(t, "succeeded", m.Status)
		attempts += m.Attempts
	}
	require.Equal(t, rcv.total(), attempts)

	var health struct {
		Breaker             breakerOut `json:"breaker"`
		ConsecutiveFailures int        `json:"consecutive_failures"`
		SuccessRateHour     *float64   `json:"success_rate_last_hour"`
		AttemptsHour        int        `json:"attempts_last_hour"`
		LastSuccessAt       *time.Time `json:"last_success_at"`
		LastFailure         *struct {
			StatusCode int    `json:"status_code"`
			ErrorClass string `json:"error_class"`
		} `json:"last_failure"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", api.URL+"/v1/partners/acme/endpoints/"+ep.ID+"/health", adminKey, nil, &health))
	require.Equal(t, "closed", health.Breaker.State)
	require.Zero(t, health.ConsecutiveFailures)
	require.Equal(t, attempts, health.AttemptsHour)
	require.NotNil(t, health.SuccessRateHour)
	require.InDelta(t, 20.0/float64(attempts), *health.SuccessRateHour, 0.001)
	require.NotNil(t, health.LastSuccessAt)
	require.Equal(t, 503, health.LastFailure.StatusCode)
	require.Equal(t, "http_status", health.LastFailure.ErrorClass)
}

// TestHeldBacklog checks that the messages waiting behind an open breaker
// are held (listed as such, with no next attempt), that a failed probe's
// message waits for its next attempt by its retry schedule rather than
// with the held ones, and that the whole backlog arrives within seconds of
// the endpoint recovering, on a schedule that puts a third attempt five
// minutes out.
func TestHeldBacklog(t *testing.T) {
	env := with(testEnv(t),
		"SHIPHOOK_RETRY_SCHEDULE", "0s,1s,5m,30m",
		"SHIPHOOK_BREAKER_MIN_REQUESTS", "10",
		"SHIPHOOK_BREAKER_FAILURE_RATIO", "0.5",
		"SHIPHOOK_BREAKER_WINDOW", "60s",
		"SHIPHOOK_BREAKER_OPEN_FOR", "2s")
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	down := failWhile(rcv, "/down")
	createPartners(t, s, "acme", "globex")
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/down", map[string]any{})

	// Ten first attempts fail and open the breaker; their retries, a
	// second later, find it open, before its first probe.
	postEvents(t, s, 10)
	got := awaitBreakerOpen(t, s, "acme", ep.ID)
	// Events posted while it is open are held as they are fanned out.
	postEvents(t, s, 10)

	// A probe fails: its message has spent a second attempt, and waits
	// for its third, five minutes (less 20 %) after it.
	type listed struct {
		ID            string     `json:"id"`
		Status        string     `json:"status"`
		Attempts      int        `json:"attempts"`
		NextAttemptAt *time.Time `json:"next_attempt_at"`
	}
	var probed listed
	require.Eventually(t, func() bool {
		for _, m := range list[listed](t, s, adminKey, "/v1/messages", url.Values{"endpoint_id": {ep.ID}}) {
			if m.Attempts == 2 {
				probed = m
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "a probe fails")
	require.Equal(t, "pending", probed.Status, "a failed probe's message")
	require.NotNil(t, probed.NextAttemptAt)
	probedAt := attemptTimes(t, s, probed.ID)[1]
	require.GreaterOrEqual(t, probed.NextAttemptAt.Sub(probedAt), 4*time.Minute, "a failed probe's next attempt, by the schedule")
	held := list[listed](t, s, adminKey, "/v1/messages", url.Values{"status": {"held"}, "endpoint_id": {ep.ID}})
	require.NotEmpty(t, held)
	for _, m := range held {
		require.Nil(t, m.NextAttemptAt, "held message %s has a next attempt", m.ID)
	}

	// The endpoint recovers: the next probe closes the breaker, and every
	// held message arrives within seconds; the failed probe's waits.
	down.Store(false)
	require.Eventually(t, func() bool { return len(rcv.byPath("/down")) == 19 }, 15*time.Second, 50*time.Millisecond)
	require.Equal(t, 2, rcv.arrivalsOf(probed.ID), "the failed probe's message: two failures, its third attempt to come")
	// Each attempt is recorded once its answer is in.
	attempts := 0
	require.Eventually(t, func() bool {
		attempts = 0
		for _, m := range messagesOf(t, s, "acme", ep.ID) {
			if m.Status != "succeeded" && m.ID != probed.ID {
				return false
			}
			attempts += m.Attempts
		}
		return true
	}, 5*time.Second, 20*time.Millisecond, "every message but the failed probe's succeeded")
	require.Equal(t, rcv.total(), attempts, "holding spent no attempt")
	call(t, "GET", s.URL+"/v1/partners/acme/endpoints/"+ep.ID, adminKey, nil, &got)
	require.Equal(t, "closed", got.Breaker.State)
}

// TestAutoDisable checks that an endpoint failing for the whole window is
// disabled, that the partner's operational endpoint hears of it (signed),
// that its messages are kept, and that enabling it again resumes them.
func TestAutoDisable(t *testing.T) {
	env := with(testEnv(t),
		"SHIPHOOK_RETRY_SCHEDULE", everySecond(8),
		"SHIPHOOK_AUTO_DISABLE_AFTER", "2s",
		"SHIPHOOK_BREAKER_MIN_REQUESTS", "1000")
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	var failing atomic.Bool
	failing.Store(true)
	rcv.setAnswer("/failing", func(int) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	createPartners(t, s, "acme", "globex")
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "erp", "access": "all"}, nil))
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/failing", map[string]any{"event_types": []string{"shipment.milestone.*"}})
	createEndpoint(t, s, rcv, adminKey, "acme", "/acme-ops", map[string]any{"event_types": []string{"shiphook.*"}})
	createEndpoint(t, s, rcv, adminKey, "globex", "/globex-ops", map[string]any{"event_types": []string{"shiphook.*"}})
	createEndpoint(t, s, rcv, adminKey, "erp", "/erp-all", map[string]any{})
	postEvents(t, s, 3) // event(i) for i < 4 are milestones

	got := awaitDisabled(t, s, adminKey, "acme", ep.ID)
	require.Equal(t, "failing", got.DisabledReason)
	require.NotNil(t, got.FailingSince)
	checkDisabledEventHeard(t, s, rcv, ep)
	checkMessagesKeptDisabled(t, s, ep)
	failing.Store(false)
	checkEnablingResumes(t, s, rcv, ep, got)
	checkOthersHearNothing(t, rcv)
}

// awaitDisabled waits up to 20 s until partner's endpoint epID, read with
// key, is disabled, and returns it as then read.
func awaitDisabled(t *testing.T, s *server, key, partner, epID string) endpointFull {
	t.Helper()
	var got endpointFull
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/v1/partners/"+partner+"/endpoints/"+epID, key, nil, &got)
		return got.Disabled
	}, 20*time.Second, 50*time.Millisecond)
	return got
}

// checkDisabledEventHeard checks that acme's operational endpoint at
// /acme-ops got the signed shiphook.endpoint.disabled event for ep, and
// that admins see it in the event log.
func checkDisabledEventHeard(t *testing.T, s *server, rcv *receiver, ep endpointOut) {
	t.Helper()
	disabledEvent := func() (delivery, bool) {
		for _, d := range rcv.byPath("/acme-ops") {
			if d.Type == "shiphook.endpoint.disabled" {
				return d, true
			}
		}
		return delivery{}, false
	}
	require.Eventually(t, func() bool { _, ok := disabledEvent(); return ok }, 10*time.Second, 20*time.Millisecond)
	op, _ := disabledEvent()
	require.Equal(t, ep.ID, op.Data["endpoint_id"])
	require.Contains(t, op.Data["reason"], "500")
	require.NotContains(t, op.Data, "shipment", "an operational event is about no shipment")
	require.Empty(t, rcv.invalidSignatures(), "the operational event is signed like any other")

	var evs listOut[struct {
		Type string `json:"type"`
	}]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events?type=shiphook.endpoint.disabled", adminKey, nil, &evs))
	require.Len(t, evs.Data, 1, "admins see it in the event log")
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events?type=shiphook.*", adminKey, nil, &evs))
	require.Len(t, evs.Data, len(rcv.byPath("/acme-ops")), "every operational event reached the partner's endpoint")
}

// checkMessagesKeptDisabled checks that the three messages to ep are kept,
// not dropped: each waits, disabled, for the endpoint.
func checkMessagesKeptDisabled(t *testing.T, s *server, ep endpointOut) {
	t.Helper()
	require.Eventually(t, func() bool {
		ms := messagesOf(t, s, "acme", ep.ID)
		for _, m := range ms {
			if m.Status != "disabled" {
				return false
			}
		}
		return len(ms) == 3
	}, 20*time.Second, 50*time.Millisecond, "%+v", messagesOf(t, s, "acme", ep.ID))
}

// checkEnablingResumes enables ep again, reading the answer into got, and
// checks that the kept messages are delivered.
func checkEnablingResumes(t *testing.T, s *server, rcv *receiver, ep endpointOut, got endpointFull) {
	t.Helper()
	require.Equal(t, http.StatusOK, call(t, "PATCH", s.URL+"/v1/partners/acme/endpoints/"+ep.ID, adminKey, map[string]any{"disabled": false}, &got))
	require.False(t, got.Disabled)
	require.Nil(t, got.FailingSince)
	require.Eventually(t, func() bool { return len(rcv.byPath("/failing")) == 3 }, 20*time.Second, 50*time.Millisecond, "re-enabling resumes the kept messages")
	// The receiver counts a delivery as it answers, before the attempt is
	// recorded: the log catches up a moment later.
	require.Eventually(t, func() bool {
		for _, m := range messagesOf(t, s, "acme", ep.ID) {
			if m.Status != "succeeded" {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond, "%+v", messagesOf(t, s, "acme", ep.ID))
}

// checkOthersHearNothing checks, half a second on, that no other partner
// heard of acme's endpoint being disabled, not even one with access to all.
func checkOthersHearNothing(t *testing.T, rcv *receiver) {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	require.Empty(t, rcv.byPath("/globex-ops"), "another partner hears nothing of it")
	for _, d := range rcv.byPath("/erp-all") {
		require.False(t, strings.HasPrefix(d.Type, "shiphook."), "access all does not extend to other partners' operational events")
	}
}

// TestMessageFailedEvent checks the operational event for a message whose
// schedule is exhausted.
func TestMessageFailedEvent(t *testing.T) {
	t.Chdir(t.TempDir())
	env := with(embeddedEnv(), "SHIPHOOK_ADMIN_KEY", adminKey, "SHIPHOOK_RETRY_SCHEDULE", "0s,1s")
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	rcv.setAnswer("/rejects", func(int) int { return http.StatusBadRequest })
	createPartners(t, s, "acme", "globex")
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/rejects", map[string]any{"event_types": []string{"shipment.milestone.*"}})
	createEndpoint(t, s, rcv, adminKey, "acme", "/ops", map[string]any{"event_types": []string{"shiphook.message.failed"}})
	postEvents(t, s, 1)
	require.Eventually(t, func() bool { return len(rcv.byPath("/ops")) == 1 }, 15*time.Second, 20*time.Millisecond)
	op := rcv.byPath("/ops")[0]
	require.Equal(t, "shiphook.message.failed", op.Type)
	ms := messagesOf(t, s, "acme", ep.ID)
	require.Len(t, ms, 1)
	require.Equal(t, "failed", ms[0].Status)
	require.Equal(t, ms[0].ID, op.Data["message_id"])
	require.Equal(t, ep.ID, op.Data["endpoint_id"])
	require.EqualValues(t, 2, op.Data["attempts"])
	require.EqualValues(t, 400, op.Data["last_status"])
	require.Equal(t, "SHP-0000", op.Data["shipment"].(map[string]any)["id"], "it names the shipment of the failed message")
}

// TestLimitsAcrossWorkers checks an endpoint's concurrency cap and rate
// limit with two worker processes delivering.
func TestLimitsAcrossWorkers(t *testing.T) {
	env := testEnv(t)
	api := startSplit(t, env)
	rcv := newReceiver(t)
	rcv.setAnswer("/capped", func(int) int { time.Sleep(300 * time.Millisecond); return http.StatusOK })
	createPartners(t, api, "acme", "globex")
	createEndpoint(t, api, rcv, adminKey, "acme", "/capped", map[string]any{"max_concurrency": 2})
	createEndpoint(t, api, rcv, adminKey, "globex", "/rated", map[string]any{"rate_limit": 4})
	postEvents(t, api, 16)

	delivered := func() bool { return len(rcv.byPath("/capped")) == 16 && len(rcv.byPath("/rated")) == 16 }
	if !assert.Eventually(t, delivered, 60*time.Second, 50*time.Millisecond) {
		t.Fatalf("capped got %d of 16, rated %d of 16; acme's messages: %+v; globex's: %+v", len(rcv.byPath("/capped")),
			len(rcv.byPath("/rated")), messagesOf(t, api, "acme", ""), messagesOf(t, api, "globex", ""))
	}
	require.Equal(t, 2, rcv.peakOf("/capped"), "never more than 2 in flight, and the cap is reached")

	times := rcv.timesOf("/rated")
	perSecond := map[int64]int{}
	for _, at := range times {
		perSecond[at.Unix()]++
	}
	for sec, n := range perSecond {
		// The limit counts the deliveries started in each of the server's
		// clock seconds; on their way some cross into the next second, so
		// a second at the receiver may see up to twice the limit.
		require.LessOrEqual(t, n, 8, "second %d had %d deliveries", sec, n)
	}
	span := times[len(times)-1].Sub(times[0])
	require.GreaterOrEqual(t, span, 2500*time.Millisecond, "16 deliveries at 4/s take at least 3 s after the first")
}

// TestEndpointTransportOptions checks an endpoint's own timeout and static
// headers, and that reserved headers are refused.
func TestEndpointTransportOptions(t *testing.T) {
	t.Chdir(t.TempDir())
	env := with(embeddedEnv(), "SHIPHOOK_ADMIN_KEY", adminKey, "SHIPHOOK_RETRY_SCHEDULE", "0s")
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	rcv.setAnswer("/slow", func(int) int { time.Sleep(3 * time.Second); return http.StatusOK })
	createPartners(t, s, "acme", "globex")
	slow := createEndpoint(t, s, rcv, adminKey, "acme", "/slow", map[string]any{"timeout_seconds": 1})
	createEndpoint(t, s, rcv, adminKey, "globex", "/headers", map[string]any{"headers": map[string]string{"X-Partner-Token": "tok-123"}})

	var e struct {
		Error struct{ Field string } `json:"error"`
	}
	for name, field := range map[string]string{"Host": "headers.Host", "webhook-id": "headers.webhook-id", "Content-Length": "headers.Content-Length", "bad name": "headers.bad name"} {
		require.Equal(t, 422, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey,
			map[string]any{"url": rcv.URL + "/x", "headers": map[string]string{name: "v"}}, &e), name)
		require.Equal(t, field, e.Error.Field)
	}
	require.Equal(t, 422, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey, map[string]any{"url": rcv.URL + "/x", "timeout_seconds": 61}, &e))
	require.Equal(t, "timeout_seconds", e.Error.Field)

	postEvents(t, s, 1)
	require.Eventually(t, func() bool { return len(rcv.byPath("/headers")) == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "tok-123", rcv.headersOf("/headers").Get("X-Partner-Token"))
	var ms []messageOut
	require.Eventually(t, func() bool {
		ms = messagesOf(t, s, "acme", slow.ID)
		return len(ms) == 1 && ms[0].Status == "failed"
	}, 10*time.Second, 50*time.Millisecond)
	var as listOut[attemptOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages/"+ms[0].ID+"/attempts", adminKey, nil, &as))
	require.Equal(t, "timeout", as.Data[0].ErrorClass)
	require.InDelta(t, 1000, as.Data[0].DurationMS, 400, "the endpoint's 1 s, not the server's 15 s")
}

// TestCappedEndpointKeepsPace checks that deliveries to an endpoint at its
// cap of deliveries in flight wait in the process for one to end, rather
// than go back to the queue for a second: the endpoint is kept at its cap
// and never over it, every event arrives once, and no delivery passes
// through Redis.
func TestCappedEndpointKeepsPace(t *testing.T) {
	env := with(testEnv(t), "SHIPHOOK_RECONCILE_GRACE", "10s")
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	rcv.setAnswer("/capped", func(int) int { time.Sleep(40 * time.Millisecond); return http.StatusOK })
	createPartners(t, s, "acme", "globex")
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/capped", map[string]any{"max_concurrency": 2})
	const n = 40
	postEvents(t, s, n)

	require.Eventually(t, func() bool { return len(rcv.byPath("/capped")) >= n }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, 2, rcv.peakOf("/capped"), "never more than 2 in flight, and the cap is reached")
	ids := map[string]bool{}
	for _, d := range rcv.byPath("/capped") {
		ids[d.MessageID] = true
	}
	require.Len(t, ids, n, "each event arrives once")
	// The last attempts are recorded just after their receiver answered.
	var ms []messageOut
	require.Eventually(t, func() bool {
		ms = messagesOf(t, s, "acme", ep.ID)
		return len(ms) == n && !slices.ContainsFunc(ms, func(m messageOut) bool { return m.Status == "delivering" })
	}, 10*time.Second, 20*time.Millisecond)
	for _, m := range ms {
		require.Equal(t, "succeeded", m.Status)
		require.Equal(t, 1, m.Attempts)
	}

	opt, err := asynq.ParseRedisURI(env["REDIS_URL"])
	require.NoError(t, err)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	queues, err := insp.Queues()
	require.NoError(t, err)
	if slices.Contains(queues, "deliver") {
		info, err := insp.GetQueueInfo("deliver")
		require.NoError(t, err)
		require.Zero(t, info.Size+info.ProcessedTotal, "no delivery went back to Redis to wait: %+v", info)
	}

	// The goroutines that sent those deliveries on wait a while for more
	// (runnerIdle, 5 s); shutting down does not wait for them.
	start := time.Now()
	s.stop()
	t.Logf("stopped in %v", time.Since(start))
	require.Less(t, time.Since(start), 3*time.Second, "shutdown waited for idle goroutines")
}

// TestCappedBacklogDrains checks that a backlog of deliveries to a capped
// endpoint, far more than its cap sends within the reconciler's grace,
// drains through two worker processes. Deliveries that waited in the gate too long go
// back to Redis; once rescheduling them one by one held up the admission
// that the next in line waited for, every one waited too long in turn, and
// the backlog stopped draining while delivery tasks went round.
func TestCappedBacklogDrains(t *testing.T) {
	env := with(testEnv(t), "SHIPHOOK_RECONCILE_GRACE", "2s")
	api := startSplit(t, env)
	rcv := newReceiver(t)
	rcv.setAnswer("/capped", func(int) int { time.Sleep(20 * time.Millisecond); return http.StatusOK })
	createPartners(t, api, "acme", "globex")
	createEndpoint(t, api, rcv, adminKey, "acme", "/capped", map[string]any{"max_concurrency": 2})
	const n, batch = 1500, 250
	for b := range n / batch {
		evs := make([]map[string]any, batch)
		for i := range evs {
			evs[i] = event(b*batch+i, "")
		}
		require.Equal(t, http.StatusOK, call(t, "POST", api.URL+"/v1/events/batch", adminKey, map[string]any{"events": evs}, nil))
	}

	opt, err := asynq.ParseRedisURI(env["REDIS_URL"])
	require.NoError(t, err)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	processed := func() int {
		info, err := insp.GetQueueInfo("deliver")
		if err != nil {
			return 0 // no delivery task yet
		}
		return info.ProcessedTotal
	}
	// Delivery is at least once: a message whose lease ran out while it
	// waited (the grace here is 2 s) may arrive twice, so arrivals are
	// counted by message id.
	ids := func() map[string]bool {
		seen := map[string]bool{}
		for _, d := range rcv.byPath("/capped") {
			seen[d.MessageID] = true
		}
		return seen
	}
	// At its cap the endpoint takes the backlog in about 15 s; stopped,
	// it took about 100 of it in 90 s.
	if !assert.Eventually(t, func() bool { return len(ids()) >= n }, 120*time.Second, 100*time.Millisecond) {
		t.Fatalf("%d of %d delivered; %d delivery tasks processed in Redis", len(ids()), n, processed())
	}
	require.LessOrEqual(t, rcv.peakOf("/capped"), 2, "never more than 2 in flight")
	require.Len(t, ids(), n, "each event arrives")
	t.Logf("%d delivery tasks processed in Redis for %d messages; %d deliveries for %d messages", processed(), n, rcv.countAt("/capped"), n)
}
