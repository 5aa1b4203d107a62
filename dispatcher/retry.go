package dispatcher

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultSchedule is when attempts are made, each delay counted from the
// previous attempt: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
// 10 h. After the last attempt fails the message is failed.
var DefaultSchedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// FormatSchedule writes s as ParseSchedule reads it, such as
// "0s,5s,5m,2h".
func FormatSchedule(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		text := d.String()
		if strings.HasSuffix(text, "m0s") {
			text = strings.TrimSuffix(text, "0s")
		}
		if strings.HasSuffix(text, "h0m") {
			text = strings.TrimSuffix(text, "0m")
		}
		parts[i] = text
	}
	return strings.Join(parts, ",")
}

// ParseSchedule reads a comma-separated list of delays such as
// "0s,5s,5m,30m,2h,5h,10h,10h". The first must be 0.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("retry schedule: %q is not a duration such as 5s or 2h", part)
		}
		out = append(out, d)
	}
	if len(out) == 0 || out[0] != 0 {
		return nil, fmt.Errorf("retry schedule: the first attempt must be immediate (0s)")
	}
	if len(out) > 50 {
		return nil, fmt.Errorf("retry schedule: at most 50 attempts")
	}
	return out, nil
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// nextDelay returns the delay before the attempt after attempt number n
// (1-based), and false when the schedule is exhausted. A Retry-After header
// on a 429, 502, 503 or 504 replaces the jittered delay with what it asks,
// clamped to between the scheduled delay and twice it.
func nextDelay(schedule []time.Duration, n int, resp *http.Response, now time.Time) (time.Duration, bool) {
	if n >= len(schedule) {
		return 0, false
	}
	d := jitter(schedule[n])
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok {
				d = min(max(ra, schedule[n]), 2*schedule[n])
			}
		}
	}
	return d, true
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return time.Duration(min(secs, 1<<31)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
