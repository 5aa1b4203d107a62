package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/harness"
)

// TestMetrics runs deliveries through the real server, on PostgreSQL and
// Redis and on the embedded defaults, with metrics on a listener of their
// own, and checks that what /metrics counts is what the message log
// shows: events accepted, duplicate, rejected and unresolved; messages
// created; attempts by partner, outcome and error class, and their
// durations; the latency of every first success; and the backlog, queues,
// breakers and pools sampled. acme is labelled by its id; globex, whose
// endpoint fails each message's first attempt, is "other". /metrics needs
// no key, and the API's port does not serve it.
func TestMetrics(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, env map[string]string) {
		env["SHIPHOOK_METRICS_ADDR"] = "127.0.0.1:0"
		env["SHIPHOOK_METRICS_PARTNERS"] = "acme"
		env["SHIPHOOK_BREAKER_MIN_REQUESTS"] = "100" // globex's failures open no breaker
		s := startServer(t, "serve", env)
		metricsURL := metricsURLOf(t, s)
		want := runMetricsFlow(t, s)

		var fams map[string]*dto.MetricFamily
		require.Eventually(t, func() bool {
			fams = scrape(t, metricsURL)
			return sum(fams, "shiphook_attempts_total", nil) == float64(len(want.attempts))
		}, 10*time.Second, 50*time.Millisecond, "the attempts counted reach those logged")

		ingested := func(outcome string) float64 { // of known types: every family but "unknown"
			return sum(fams, "shiphook_events_ingested_total", map[string]string{"outcome": outcome}) -
				sum(fams, "shiphook_events_ingested_total", map[string]string{"family": "unknown", "outcome": outcome})
		}
		require.Equal(t, float64(want.resolved), ingested("accepted"), "accepted: the log's resolved events")
		require.Equal(t, float64(want.unresolved), ingested("unresolved"), "unresolved: the log's unresolved events")
		require.Equal(t, float64(want.duplicates), ingested("duplicate"), "duplicate: the answers that said so")
		require.Equal(t, float64(want.rejectedTyped), ingested("rejected"), "rejected, of a known type")
		require.Equal(t, float64(want.rejectedUntyped), sum(fams, "shiphook_events_ingested_total", map[string]string{"family": "unknown", "outcome": "rejected"}))

		byPartner := map[string]int{}
		for _, m := range want.messages {
			byPartner[partnerLabel(m.PartnerID)]++
		}
		for p, n := range byPartner {
			require.Equal(t, float64(n), sum(fams, "shiphook_messages_created_total", map[string]string{"partner": p}), p)
		}
		require.Equal(t, float64(len(want.messages)), sum(fams, "shiphook_messages_created_total", nil))

		byLabels := map[[3]string]int{}
		for _, a := range want.attempts {
			byLabels[attemptLabels(a)]++
		}
		require.Contains(t, byLabels, [3]string{"other", "failed", "http_status"}, "globex's first attempts failed")
		for l, n := range byLabels {
			require.Equal(t, float64(n), sum(fams, "shiphook_attempts_total", map[string]string{"partner": l[0], "outcome": l[1], "error_class": l[2]}), "%v", l)
		}
		require.Equal(t, float64(len(want.attempts)), histogramCount(fams, "shiphook_attempt_duration_seconds"))
		require.Equal(t, float64(len(want.messages)), histogramCount(fams, "shiphook_delivery_latency_seconds"), "one first success per message")

		for _, status := range []string{"pending", "held", "delivering", "failed"} {
			require.Zero(t, sum(fams, "shiphook_messages", map[string]string{"status": status}), status)
		}
		require.Contains(t, fams, "shiphook_oldest_pending_message_age_seconds")
		require.Zero(t, sum(fams, "shiphook_oldest_pending_message_age_seconds", nil))
		require.Zero(t, sum(fams, "shiphook_breakers_open", nil))
		require.Zero(t, sum(fams, "shiphook_endpoints_disabled", nil))
		require.Contains(t, fams, "shiphook_queue_tasks")
		require.Zero(t, sum(fams, "shiphook_queue_tasks", map[string]string{"state": "pending"}))
		require.Positive(t, sum(fams, "shiphook_db_max_open_connections", nil))
		require.Positive(t, sum(fams, "shiphook_redis_pool_hits_total", nil)+sum(fams, "shiphook_redis_pool_misses_total", nil))
		require.Contains(t, fams, "go_goroutines")
		require.Contains(t, fams, "process_resident_memory_bytes")

		// The API's port serves no metrics, with a key or without.
		for _, key := range []string{"", adminKey} {
			req, err := http.NewRequest("GET", s.URL+"/metrics", nil)
			require.NoError(t, err)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			require.NotContains(t, string(body), "shiphook_attempts_total")
		}
	})
}

// TestMetricsAPIAndWorker runs "api" and "worker" apart, each with its
// metrics: the API counts the events it takes in, the worker the messages
// it creates and the attempts it makes, and both serve the sampled
// backlog.
func TestMetricsAPIAndWorker(t *testing.T) {
	env := testEnv(t)
	migrate(t, env)
	env["SHIPHOOK_METRICS_ADDR"] = "127.0.0.1:0"
	api := startServer(t, "api", env)
	worker := startServer(t, "worker", env)
	apiMetrics, workerMetrics := metricsURLOf(t, api), metricsURLOf(t, worker)
	rcv := newReceiver(t)
	for _, id := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", api.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil))
	}
	createEndpoint(t, api, rcv, adminKey, "acme", "/a", map[string]any{})
	const events = 3
	for i := range events {
		require.Equal(t, http.StatusAccepted, call(t, "POST", api.URL+"/v1/events", adminKey, event(i, ""), nil))
	}
	require.Eventually(t, func() bool {
		return sum(scrape(t, workerMetrics), "shiphook_attempts_total", map[string]string{"outcome": "succeeded"}) == events
	}, 20*time.Second, 50*time.Millisecond)

	fromAPI, fromWorker := scrape(t, apiMetrics), scrape(t, workerMetrics)
	require.Equal(t, float64(events), sum(fromAPI, "shiphook_events_ingested_total", map[string]string{"outcome": "accepted"}))
	require.Zero(t, sum(fromWorker, "shiphook_events_ingested_total", nil))
	require.Equal(t, float64(events), sum(fromWorker, "shiphook_messages_created_total", nil))
	require.Zero(t, sum(fromAPI, "shiphook_attempts_total", nil))
	require.Equal(t, float64(events), histogramCount(fromWorker, "shiphook_delivery_latency_seconds"))
	for _, fams := range []map[string]*dto.MetricFamily{fromAPI, fromWorker} {
		require.Contains(t, fams, "shiphook_messages")
		require.Contains(t, fams, "shiphook_queue_tasks")
		require.Contains(t, fams, "shiphook_db_connections")
	}
}

// metricsFlow is what the message log and the API's answers show of a
// run of runMetricsFlow.
type metricsFlow struct {
	resolved, unresolved, duplicates, rejectedTyped, rejectedUntyped int
	messages                                                         []messageOut
	attempts                                                         []metricsAttempt
}

type metricsAttempt struct {
	PartnerID  string `json:"partner_id"`
	ErrorClass string `json:"error_class"`
}

// runMetricsFlow creates the partners acme and globex, an endpoint of each
// at a receiver (globex's answers 500 to each message's first attempt),
// posts events to both, one by one and in a batch, with a duplicate,
// events refused and one whose shipment is not registered, waits for every
// message to succeed, and returns what the log shows.
func runMetricsFlow(t *testing.T, s *server) metricsFlow {
	t.Helper()
	tally := metricsEndpoints(t, s)
	var flow metricsFlow
	post := func(ev map[string]any) int {
		var acc struct {
			Duplicate bool `json:"duplicate"`
		}
		code := call(t, "POST", s.URL+"/v1/events", adminKey, ev, &acc)
		if acc.Duplicate {
			flow.duplicates++
		}
		return code
	}
	const events = 5
	for i := range events - 1 {
		require.Equal(t, http.StatusAccepted, post(event(i, fmt.Sprintf("metrics-%d", i))))
	}
	require.Equal(t, http.StatusAccepted, post(event(0, "metrics-0")), "a duplicate")
	unknownType := event(10, "")
	unknownType["type"] = "shipment.no_such_type"
	require.Equal(t, http.StatusUnprocessableEntity, post(unknownType))
	flow.rejectedUntyped++
	nobody := event(11, "")
	nobody["parties"] = []map[string]any{{"partner_id": "nobody", "role": "shipper"}}
	require.Equal(t, http.StatusUnprocessableEntity, post(nobody))
	flow.rejectedTyped++
	byReference := event(12, "")
	byReference["shipment"] = map[string]any{"references": map[string]any{"booking": "BK-NOT-REGISTERED"}}
	byReference["parties"] = []any{} // so it matches no endpoint until it is resolved
	require.Equal(t, http.StatusAccepted, post(byReference))

	var batch struct {
		Results []struct {
			Duplicate bool `json:"duplicate"`
		} `json:"results"`
	}
	require.Equal(t, http.StatusOK, call(t, "POST", s.URL+"/v1/events/batch", adminKey,
		map[string]any{"events": []any{event(events-1, ""), map[string]any{"type": "shipment.created"}}}, &batch))
	flow.rejectedUntyped++

	// Four events posted alone and one in the batch, each to both
	// endpoints; fewer than a page of the log.
	<-tally.Expect(2 * events)
	hundred := url.Values{"limit": {"100"}}
	require.Eventually(t, func() bool {
		flow.messages = list[messageOut](t, s, adminKey, "/v1/messages", hundred)
		for _, m := range flow.messages {
			if m.Status != "succeeded" {
				return false
			}
		}
		return len(flow.messages) == 2*events
	}, 20*time.Second, 50*time.Millisecond, "every message succeeded: %+v", &flow.messages)
	flow.attempts = list[metricsAttempt](t, s, adminKey, "/v1/attempts", hundred)
	for _, ev := range list[struct{ Status string }](t, s, adminKey, "/v1/events", hundred) {
		switch ev.Status {
		case "resolved":
			flow.resolved++
		case "unresolved":
			flow.unresolved++
		}
	}
	require.Equal(t, events, flow.resolved)
	require.Equal(t, 1, flow.unresolved)
	require.Equal(t, 1, flow.duplicates)
	return flow
}

// metricsEndpoints creates the partners acme and globex and an endpoint
// of each at a receiver, whose globex endpoint answers 500 to each
// message's first attempt, and returns the tally of what the receiver
// takes.
func metricsEndpoints(t *testing.T, s *server) *harness.Tally {
	t.Helper()
	rcv, err := harness.StartReceiver()
	require.NoError(t, err)
	t.Cleanup(rcv.Close)
	tally := harness.NewTally()
	for _, p := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": p, "name": p}, nil))
		var ep endpointOut
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/"+p+"/endpoints", adminKey, map[string]any{"url": rcv.URL("/" + p)}, &ep))
		failFirst := 0
		if p == "globex" {
			failFirst = 1
		}
		require.NoError(t, rcv.AddFailing("/"+p, ep.Secret, tally, failFirst))
	}
	return tally
}

// partnerLabel is the partner label of partnerID when only acme is named.
func partnerLabel(partnerID string) string {
	if partnerID == "acme" {
		return "acme"
	}
	return "other"
}

// attemptLabels returns the partner, outcome and error_class labels of a.
func attemptLabels(a metricsAttempt) [3]string {
	if a.ErrorClass == "" {
		return [3]string{partnerLabel(a.PartnerID), "succeeded", "none"}
	}
	return [3]string{partnerLabel(a.PartnerID), "failed", a.ErrorClass}
}

var metricsLine = regexp.MustCompile(`serving metrics on (http://\S+/metrics)`)

// metricsURLOf returns where s said it serves its metrics.
func metricsURLOf(t testing.TB, s *server) string {
	t.Helper()
	m := metricsLine.FindStringSubmatch(s.stdout.String())
	require.NotNil(t, m, "no metrics address in:\n%s", s.stdout.String())
	require.NotEqual(t, strings.TrimSuffix(m[1], "/metrics"), s.URL, "metrics share the API's listener")
	return m[1]
}

// scrape reads url without a key, as Prometheus does, and parses it.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// sum adds the values of the counters or gauges of family name whose
// labels include want.
func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var total float64
	for _, m := range matching(fams, name, want) {
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		}
	}
	return total
}

// histogramCount adds the observations of the histograms of family name.
func histogramCount(fams map[string]*dto.MetricFamily, name string) float64 {
	var total float64
	for _, m := range matching(fams, name, nil) {
		total += float64(m.GetHistogram().GetSampleCount())
	}
	return total
}

func matching(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	f, ok := fams[name]
	if !ok {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			ok = ok && labels[k] == v
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}
