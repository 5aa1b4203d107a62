package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// startTraced starts the service as startServer does, its spans made by
// tp rather than as the OTEL_* variables say.
func startTraced(t testing.TB, cmd string, env map[string]string, tp trace.TracerProvider) *server {
	t.Helper()
	return startRun(t, cmd, env, func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		c, err := parseConfig(args[0], args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		c.traces.provider = tp
		return runService(ctx, args[0], c, stdout, stderr)
	})
}

// postTraced posts ev to /v1/events with traceparent (none if empty) and
// returns the id of the event accepted.
func postTraced(t *testing.T, s *server, ev map[string]any, traceparent string) string {
	t.Helper()
	raw, err := json.Marshal(ev)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", s.URL+"/v1/events", bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var acc struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&acc))
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	return acc.ID
}

// TestTraces follows one event to two endpoints, one of which fails its
// first attempt, through the real service: the event's trace continues
// the source's traceparent, with its store and fan-out spans, and each of
// the three attempts, made later by the workers, joins it with its
// endpoint's answer. The endpoint that opted in (trace_context) receives
// the attempt's traceparent; the other none. An event posted without a
// traceparent starts a trace of its own.
//
// It runs serve on both databases, where the ingest API fans the event
// out as it stores it, and an api beside a worker on PostgreSQL, where the
// worker, which never saw the event come in, reads its trace from the
// database.
func TestTraces(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, env map[string]string) {
		traceEvents(t, func(tp trace.TracerProvider) *server { return startTraced(t, "serve", env, tp) })
	})
	t.Run("api and worker", func(t *testing.T) {
		env := testEnv(t)
		migrate(t, env)
		traceEvents(t, func(tp trace.TracerProvider) *server {
			startTraced(t, "worker", env, tp)
			return startTraced(t, "api", env, tp)
		})
	})
}

// traceEvents checks the traces of events delivered by the service
// start starts with tp.
func traceEvents(t *testing.T, start func(tp trace.TracerProvider) *server) {
	exporter := tracetest.NewInMemoryExporter()
	s := start(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter)))
	rcv := newReceiver(t)
	rcv.setAnswer("/flaky", func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	createPartners(t, s, "acme", "globex")
	opted := createEndpoint(t, s, rcv, adminKey, "acme", "/traced", map[string]any{"trace_context": true})
	flaky := createEndpoint(t, s, rcv, adminKey, "acme", "/flaky", map[string]any{})
	var shown struct {
		TraceContext bool `json:"trace_context"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/endpoints/"+opted.ID, adminKey, nil, &shown))
	require.True(t, shown.TraceContext)

	source := trace.SpanContextConfig{TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID: trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled}
	eventID := postTraced(t, s, event(1, ""), fmt.Sprintf("00-%s-%s-01", source.TraceID, source.SpanID))
	require.Eventually(t, func() bool { return len(attemptsOf(exporter.GetSpans(), source.TraceID)) == 3 }, 20*time.Second, 20*time.Millisecond)
	spans := inTrace(exporter.GetSpans(), source.TraceID)
	t.Logf("trace of event %s:\n%s", eventID, traceTree(spans))

	ingest := only(t, spans, "ingest")
	require.Equal(t, source.SpanID, ingest.Parent.SpanID(), "the ingest span continues the source's traceparent")
	require.True(t, ingest.Parent.IsRemote())
	require.Equal(t, eventID, attr(ingest, "shiphook.event.id"))
	require.Equal(t, ingest.SpanContext.SpanID(), only(t, spans, "store").Parent.SpanID(), "store is a child of ingest")
	// Fanned out at ingest, or queued there and fanned out by a worker.
	var messages []string
	for _, f := range named(spans, "fanout") {
		require.Equal(t, ingest.SpanContext.SpanID(), f.Parent.SpanID(), "fanout is a child of ingest")
		messages = append(messages, attr(f, "shiphook.messages"))
	}
	require.Contains(t, messages, "2")
	checkAttempts(t, spans, ingest, map[string]string{opted.ID: "1 200 \"\"", flaky.ID: "1 500 \"http_status\", 2 200 \"\""})

	// The opted-in endpoint got its attempt's traceparent; the other none.
	for _, a := range attemptsOf(spans, source.TraceID) {
		if attr(a, "shiphook.endpoint.id") == opted.ID {
			require.Equal(t, fmt.Sprintf("00-%s-%s-01", source.TraceID, a.SpanContext.SpanID()), rcv.headersOf("/traced").Get("traceparent"))
		}
	}
	require.Empty(t, rcv.headersOf("/flaky").Get("traceparent"))
	checkRootTrace(t, s, exporter, source.TraceID)
}

// checkAttempts checks the attempt spans of spans: each a child of ingest,
// of its event, and, by endpoint id, with want's attempt numbers, status
// codes and error classes.
func checkAttempts(t *testing.T, spans tracetest.SpanStubs, ingest tracetest.SpanStub, want map[string]string) {
	t.Helper()
	got := map[string][]string{}
	for _, a := range named(spans, "delivery attempt") {
		require.Equal(t, ingest.SpanContext.SpanID(), a.Parent.SpanID(), "each attempt is a child of the event's ingest span")
		require.Equal(t, attr(ingest, "shiphook.event.id"), attr(a, "shiphook.event.id"))
		require.NotEmpty(t, attr(a, "shiphook.message.id"))
		ep := attr(a, "shiphook.endpoint.id")
		got[ep] = append(got[ep], fmt.Sprintf("%s %s %q", attr(a, "shiphook.attempt"), attr(a, "http.response.status_code"), attr(a, "shiphook.error_class")))
	}
	joined := map[string]string{}
	for ep, list := range got {
		sort.Strings(list)
		joined[ep] = strings.Join(list, ", ")
	}
	require.Equal(t, want, joined)
}

// checkRootTrace checks that an event posted to s without a traceparent
// has an ingest span that is the root of a trace of its own, other than
// other, which its attempts join.
func checkRootTrace(t *testing.T, s *server, exporter *tracetest.InMemoryExporter, other trace.TraceID) {
	t.Helper()
	id := postTraced(t, s, event(2, ""), "")
	var root *tracetest.SpanStub
	require.Eventually(t, func() bool {
		for _, sp := range exporter.GetSpans() {
			if sp.Name == "ingest" && attr(sp, "shiphook.event.id") == id {
				root = &sp
			}
		}
		return root != nil && len(attemptsOf(exporter.GetSpans(), root.SpanContext.TraceID())) == 3
	}, 20*time.Second, 20*time.Millisecond)
	require.False(t, root.Parent.IsValid())
	require.NotEqual(t, other, root.SpanContext.TraceID())
}

// inTrace returns the spans of trace id.
func inTrace(spans tracetest.SpanStubs, id trace.TraceID) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.SpanContext.TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// attemptsOf returns the delivery attempt spans of trace id.
func attemptsOf(spans tracetest.SpanStubs, id trace.TraceID) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range inTrace(spans, id) {
		if s.Name == "delivery attempt" {
			out = append(out, s)
		}
	}
	return out
}

// named returns the spans named name.
func named(spans tracetest.SpanStubs, name string) tracetest.SpanStubs {
	var found tracetest.SpanStubs
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	return found
}

// only returns the one span named name.
func only(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	found := named(spans, name)
	require.Len(t, found, 1, "spans named %s", name)
	return found[0]
}

// attr returns the value of s's attribute key, "" if it has none.
func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// traceTree draws spans as a tree: each with its attributes, under its
// parent, in the order they started.
func traceTree(spans tracetest.SpanStubs) string {
	sort.Slice(spans, func(i, j int) bool { return spans[i].StartTime.Before(spans[j].StartTime) })
	children := map[trace.SpanID][]tracetest.SpanStub{}
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID()] = true
	}
	var roots []tracetest.SpanStub
	for _, s := range spans {
		if ids[s.Parent.SpanID()] {
			children[s.Parent.SpanID()] = append(children[s.Parent.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	var sb strings.Builder
	var draw func(s tracetest.SpanStub, depth int)
	draw = func(s tracetest.SpanStub, depth int) {
		var kv []string
		for _, a := range s.Attributes {
			kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.Emit()))
		}
		fmt.Fprintf(&sb, "%s%s span=%s parent=%s status=%s %s\n", strings.Repeat("  ", depth), s.Name,
			s.SpanContext.SpanID(), s.Parent.SpanID(), s.Status.Code, strings.Join(kv, " "))
		for _, c := range children[s.SpanContext.SpanID()] {
			draw(c, depth+1)
		}
	}
	for _, r := range roots {
		draw(r, 0)
	}
	return sb.String()
}

// TestTracesExported checks that OTEL_EXPORTER_OTLP_ENDPOINT alone turns
// tracing on: the spans of an event reach the OTLP collector there, over
// HTTP, at the latest when the service stops.
func TestTracesExported(t *testing.T) {
	var (
		mu       sync.Mutex
		requests []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests = append(requests, fmt.Sprintf("%s %s %s %t", r.Method, r.URL.Path, r.Header.Get("Content-Type"), bytes.Contains(body, []byte("delivery attempt"))))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	env := with(testEnv(t), "OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	createPartners(t, s, "acme", "globex")
	createEndpoint(t, s, rcv, adminKey, "acme", "/ok", map[string]any{})
	postTraced(t, s, event(0, ""), "")
	require.Eventually(t, func() bool { return rcv.countAt("/ok") == 1 }, 10*time.Second, 20*time.Millisecond)
	s.stop()
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, requests, "POST /v1/traces application/x-protobuf true")
}
