package subscriptions

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// BreakerStates tells an endpoint's circuit breaker state; the dispatcher's
// Guard is one.
type BreakerStates interface {
	BreakerState(ctx context.Context, endpointID string) (BreakerState, error)
	// OpenBreakers returns the states of the breakers that are open or
	// half-open, by endpoint id.
	OpenBreakers(ctx context.Context) (map[string]BreakerState, error)
}

// Resumer puts an endpoint's kept messages back on the schedule when it is
// enabled again; the dispatcher provides it.
type Resumer interface {
	Resume(ctx context.Context, e Endpoint) error
}

// optionsInput is the part of an endpoint request that sets Options; a
// field left out stays as it is.
type optionsInput struct {
	TimeoutSeconds  *int               `json:"timeout_seconds"`
	RateLimit       *int               `json:"rate_limit"`
	MaxConcurrency  *int               `json:"max_concurrency"`
	Headers         *map[string]string `json:"headers"`
	BreakerSettings *BreakerSettings   `json:"breaker_settings"`
	Format          *string            `json:"format"`
	Ordering        *string            `json:"ordering"`
	OnFailure       *string            `json:"on_failure"`
	TraceContext    *bool              `json:"trace_context"`
}

var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")

// reservedHeaders are set by shiphook or by HTTP itself and may not be
// overridden per endpoint (lower case; any webhook-* is reserved too).
var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "te": true, "trailer": true, "upgrade": true, "expect": true, "user-agent": true,
	"proxy-authorization": true, "proxy-connection": true, "cookie": true,
}

func (in optionsInput) apply(o *Options) error {
	bounded := func(field string, p *int, lo, hi int) (int, error) {
		if *p != 0 && (*p < lo || *p > hi) {
			return 0, Fieldf(field, "must be from %d to %d, or 0 for the server's default", lo, hi)
		}
		return *p, nil
	}
	var err error
	if in.TimeoutSeconds != nil {
		if o.TimeoutSeconds, err = bounded("timeout_seconds", in.TimeoutSeconds, 1, 60); err != nil {
			return err
		}
	}
	if in.RateLimit != nil {
		if o.RateLimit, err = bounded("rate_limit", in.RateLimit, 1, 100000); err != nil {
			return err
		}
	}
	if in.MaxConcurrency != nil {
		if o.MaxConcurrency, err = bounded("max_concurrency", in.MaxConcurrency, 1, 1000); err != nil {
			return err
		}
	}
	if in.Headers != nil {
		h := keptHeaders(*in.Headers, o.Headers)
		if err := checkHeaders(h); err != nil {
			return err
		}
		o.Headers = h
		if len(o.Headers) == 0 {
			o.Headers = nil
		}
	}
	if err := in.applyOrdering(o); err != nil {
		return err
	}
	if b := in.BreakerSettings; b != nil {
		switch {
		case b.FailureRatio < 0 || b.FailureRatio > 1:
			return Fieldf("breaker_settings.failure_ratio", "must be above 0 and at most 1, or 0 for the server's default")
		case b.MinRequests < 0 || b.MinRequests > 100000:
			return Fieldf("breaker_settings.min_requests", "must be from 1 to 100000, or 0 for the server's default")
		case b.WindowSeconds < 0 || b.WindowSeconds > 86400:
			return Fieldf("breaker_settings.window_seconds", "must be from 1 to 86400, or 0 for the server's default")
		case b.OpenSeconds < 0 || b.OpenSeconds > 86400:
			return Fieldf("breaker_settings.open_seconds", "must be from 1 to 86400, or 0 for the server's default")
		}
		o.BreakerSettings = b
		if *b == (BreakerSettings{}) {
			o.BreakerSettings = nil
		}
	}
	if in.Format != nil {
		if o.Format, err = checkFormat(*in.Format); err != nil {
			return err
		}
	}
	if in.TraceContext != nil {
		o.TraceContext = *in.TraceContext
	}
	return nil
}

// applyOrdering sets Ordering and OnFailure; "" takes the default, which
// is stored as "" too.
func (in optionsInput) applyOrdering(o *Options) error {
	if in.Ordering != nil {
		switch *in.Ordering {
		case "", OrderingNone:
			o.Ordering = ""
		case OrderingShipment:
			o.Ordering = OrderingShipment
		default:
			return Fieldf("ordering", "must be %q (the default) or %q", OrderingNone, OrderingShipment)
		}
	}
	if in.OnFailure != nil {
		switch *in.OnFailure {
		case "", OnFailureSkip:
			o.OnFailure = ""
		case OnFailureBlock:
			o.OnFailure = OnFailureBlock
		default:
			return Fieldf("on_failure", "must be %q (the default) or %q", OnFailureSkip, OnFailureBlock)
		}
	}
	return nil
}

// Headers are an endpoint's custom headers, by name. Their JSON shows
// each value masked (MaskHeader): an endpoint's answers show the values in
// full only once, when it is created.
type Headers map[string]string

// MarshalJSON writes h with every value masked.
func (h Headers) MarshalJSON() ([]byte, error) {
	masked := make(map[string]string, len(h))
	for k, v := range h {
		masked[k] = MaskHeader(v)
	}
	return json.Marshal(masked)
}

// headerMask stands for the hidden characters of a header value.
const headerMask = "••••••"

// maskedTail is how many last characters of a value of at least
// maskedTailFrom characters its mask shows.
const (
	maskedTail     = 4
	maskedTailFrom = 16
)

// MaskHeader returns a custom header value as an endpoint's answers show
// it: "••••••", followed by its last 4 characters when it has 16 or
// more. An empty value stays empty.
func MaskHeader(v string) string {
	if v == "" {
		return ""
	}
	n := utf8.RuneCountInString(v)
	if n < maskedTailFrom {
		return headerMask
	}
	r := []rune(v)
	return headerMask + string(r[n-maskedTail:])
}

// keptHeaders returns the headers a request gives, each value given as
// the mask of the value old has under the same name replaced by that
// value: sending back an endpoint's headers as shown keeps them.
func keptHeaders(given map[string]string, old Headers) Headers {
	h := make(Headers, len(given))
	for k, v := range given {
		if was, ok := old[k]; ok && v == MaskHeader(was) {
			v = was
		}
		h[k] = v
	}
	return h
}

func checkHeaders(h Headers) error {
	if len(h) > 20 {
		return Fieldf("headers", "at most 20 headers")
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		field := "headers." + k
		lower := strings.ToLower(k)
		switch {
		case !headerName.MatchString(k):
			return Fieldf(field, "is not a valid header name")
		case reservedHeaders[lower] || strings.HasPrefix(lower, "webhook-"):
			return Fieldf(field, "is set by shiphook or by HTTP itself and cannot be overridden")
		case len(h[k]) > 4096:
			return Fieldf(field, "must be at most 4096 characters")
		case strings.ContainsAny(h[k], "\r\n\x00"):
			return Fieldf(field, "must not contain line breaks or NUL")
		}
	}
	return nil
}
