package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// traceConfig is what the standard OTEL_* variables say of traces. Tracing
// is on when OTEL_TRACES_EXPORTER is otlp, or when it is unset and an
// OTLP endpoint is given; it is off when OTEL_TRACES_EXPORTER is none or
// OTEL_SDK_DISABLED is true. The exporter reads the rest of its settings
// (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, certificates…) and
// the resource its attributes (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES) from the process environment, as the
// OpenTelemetry SDK does.
type traceConfig struct {
	on bool
	// grpc is OTLP over gRPC (protocol grpc) rather than HTTP
	// (http/protobuf, the default).
	grpc bool
	// endpoint is the OTLP endpoint URL, "" for the exporter's default.
	endpoint string
	sampler  sdktrace.Sampler
	// provider, when not nil, is used as it is, and nothing is read of
	// the variables: tests give theirs.
	provider trace.TracerProvider
}

// parseTraceConfig reads the OTEL_* variables through getenv. Returns an
// error naming the variable whose value shiphook does not support.
func parseTraceConfig(getenv func(string) string) (traceConfig, error) {
	var tc traceConfig
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return tc, nil
	}
	tracesEndpoint, endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	switch exporter := getenv("OTEL_TRACES_EXPORTER"); exporter {
	case "":
		tc.on = tracesEndpoint != "" || endpoint != ""
	case "otlp":
		tc.on = true
	case "none":
		return tc, nil
	default:
		return tc, fmt.Errorf("OTEL_TRACES_EXPORTER %q: shiphook exports traces by OTLP; use otlp or none", exporter)
	}
	if !tc.on {
		return tc, nil
	}
	variable := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	protocol := getenv(variable)
	if protocol == "" {
		variable = "OTEL_EXPORTER_OTLP_PROTOCOL"
		protocol = getenv(variable)
	}
	switch protocol {
	case "", "http/protobuf":
	case "grpc":
		tc.grpc = true
	default:
		return tc, fmt.Errorf("%s %q: use http/protobuf or grpc", variable, protocol)
	}
	switch {
	case tracesEndpoint != "":
		tc.endpoint = tracesEndpoint
	case endpoint != "" && !tc.grpc:
		// The base URL of every signal: traces go to its /v1/traces.
		tc.endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/traces"
	default:
		tc.endpoint = endpoint
	}
	var err error
	tc.sampler, err = parseSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"))
	return tc, err
}

// parseSampler returns the sampler OTEL_TRACES_SAMPLER names, with its
// argument for the ratio samplers (default 1); parentbased_always_on
// when name is empty.
func parseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: give a ratio from 0 to 1", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER %q: use always_on, always_off, traceidratio, "+
		"parentbased_always_on (the default), parentbased_always_off or parentbased_traceidratio", name)
}

// instruments returns the logger c says, made the default, and the
// tracer provider, with a func that flushes its spans and stops it, to
// call on exit (startTracing).
func instruments(ctx context.Context, c config, stderr io.Writer) (*slog.Logger, trace.TracerProvider, func(), error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	slog.SetDefault(log)
	tracer, stop, err := startTracing(ctx, c.traces)
	if err != nil {
		return nil, nil, nil, err
	}
	return log, tracer, stop, nil
}

// startTracing returns the tracer provider tc says, and a func that
// flushes its spans and stops it, to call on exit. With tracing off, the
// provider is a no-op one, which makes no spans.
func startTracing(ctx context.Context, tc traceConfig) (trace.TracerProvider, func(), error) {
	if tc.provider != nil {
		return tc.provider, func() {}, nil
	}
	if !tc.on {
		return noop.NewTracerProvider(), func() {}, nil
	}
	var (
		exporter sdktrace.SpanExporter
		err      error
	)
	if tc.grpc {
		var opts []otlptracegrpc.Option
		if tc.endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(tc.endpoint))
		}
		exporter, err = otlptracegrpc.New(ctx, opts...)
	} else {
		var opts []otlptracehttp.Option
		if tc.endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(tc.endpoint))
		}
		exporter, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName("shiphook"), semconv.ServiceVersion(version)), resource.WithFromEnv())
	if err != nil {
		return nil, nil, fmt.Errorf("describe the traces' resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res), sdktrace.WithSampler(tc.sampler))
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
	}
	return tp, stop, nil
}
