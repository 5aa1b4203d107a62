package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shiphook/shiphook/store"
)

// TestDeliveryLogLines checks that, in JSON, the log line of a failed
// delivery attempt names the event, message, endpoint and partner, and,
// while tracing is on, the trace of the event and the attempt's span.
func TestDeliveryLogLines(t *testing.T) {
	for _, traced := range []bool{false, true} {
		name := "untraced"
		if traced {
			name = "traced"
		}
		t.Run(name, func(t *testing.T) {
			env := with(testEnv(t), "SHIPHOOK_LOG_FORMAT", "json")
			migrate(t, env)
			exporter := tracetest.NewInMemoryExporter()
			var tp trace.TracerProvider // nil: as the OTEL_* variables say, which are unset
			if traced {
				tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
			}
			s := startTraced(t, "serve", env, tp)
			rcv := newReceiver(t)
			rcv.setAnswer("/down", func(int) int { return http.StatusServiceUnavailable })
			createPartners(t, s, "acme", "globex")
			ep := createEndpoint(t, s, rcv, adminKey, "acme", "/down", map[string]any{})
			eventID := postTraced(t, s, event(0, ""), "")

			var line map[string]any
			require.Eventually(t, func() bool {
				line = logLine(t, s.log.String(), "delivery attempt failed; retrying")
				return line != nil
			}, 10*time.Second, 20*time.Millisecond)
			require.Equal(t, "WARN", line["level"])
			require.Equal(t, eventID, line["event_id"])
			require.Equal(t, ep.ID, line["endpoint_id"])
			require.Equal(t, "acme", line["partner_id"])
			require.True(t, strings.HasPrefix(line["message_id"].(string), "msg_"), "message_id: %v", line["message_id"])
			require.EqualValues(t, 503, line["status_code"])
			require.Equal(t, "http_status", line["error_class"])
			if !traced {
				require.NotContains(t, line, "trace_id")
				return
			}
			var attempt tracetest.SpanStub
			for _, sp := range exporter.GetSpans() {
				if sp.Name == "delivery attempt" {
					attempt = sp
				}
			}
			require.Equal(t, attempt.SpanContext.TraceID().String(), line["trace_id"])
			require.Equal(t, attempt.SpanContext.SpanID().String(), line["span_id"])
		})
	}
}

// logLine returns the first JSON line of log whose msg is msg, nil if
// there is none.
func logLine(t *testing.T, log, msg string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, msg) {
			continue
		}
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &line), "a JSON log line: %s", l)
		if line["msg"] == msg {
			return line
		}
	}
	return nil
}

// TestLogAndTraceSettings checks that settings of the log and of tracing
// that shiphook does not support stop it with an error naming the
// variable and what it takes.
func TestLogAndTraceSettings(t *testing.T) {
	for _, tc := range []struct{ variable, value, want string }{
		{"SHIPHOOK_LOG_FORMAT", "xml", `log format "xml": use text or json`},
		{"SHIPHOOK_LOG_LEVEL", "loud", `log level "loud": use debug, info, warn or error`},
		{"OTEL_TRACES_EXPORTER", "zipkin", `OTEL_TRACES_EXPORTER "zipkin": shiphook exports traces by OTLP; use otlp or none`},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", `OTEL_EXPORTER_OTLP_PROTOCOL "http/json": use http/protobuf or grpc`},
		{"OTEL_TRACES_SAMPLER", "sometimes", `OTEL_TRACES_SAMPLER "sometimes": use always_on, always_off, traceidratio`},
		{"OTEL_TRACES_SAMPLER_ARG", "2", `OTEL_TRACES_SAMPLER_ARG "2": give a ratio from 0 to 1`},
	} {
		t.Run(tc.variable, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "traceidratio",
				"SHIPHOOK_ENCRYPTION_KEY": store.NewEncryptionKey()}
			env[tc.variable] = tc.value
			var out lockedBuffer
			err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &out)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
