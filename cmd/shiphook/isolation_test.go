package main

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// isolationRun is one run of the isolation scenario: events fanned out to
// 20 healthy endpoints, and optionally to one bad endpoint, at a fixed rate.
type isolationRun struct {
	bad       string // "", "hang" (until the attempt timeout) or "500"
	events    int
	perSecond int
}

// latencies of the healthy deliveries, publish to receipt.
func (r isolationRun) latencies(t testing.TB) []time.Duration {
	t.Helper()
	env := with(testEnv(t), "SHIPHOOK_RETRY_SCHEDULE", everySecond(10))
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	createPartners(t, s, "acme", "globex")
	const healthy = 20
	for i := range healthy {
		createEndpoint(t, s, rcv, adminKey, "acme", fmt.Sprintf("/ok%d", i), map[string]any{})
	}
	switch r.bad {
	case "hang":
		rcv.setAnswer("/bad", func(int) int { time.Sleep(10 * time.Second); return http.StatusOK })
		createEndpoint(t, s, rcv, adminKey, "acme", "/bad", map[string]any{"timeout_seconds": 2})
	case "500":
		rcv.setAnswer("/bad", func(int) int { return http.StatusInternalServerError })
		createEndpoint(t, s, rcv, adminKey, "acme", "/bad", map[string]any{})
	}

	tick := time.NewTicker(time.Second / time.Duration(r.perSecond))
	defer tick.Stop()
	for i := 0; i < r.events; i++ {
		<-tick.C
		ev := event(i*5, "") // a milestone
		ev["data"].(map[string]any)["sent_at_ns"] = strconv.FormatInt(time.Now().UnixNano(), 10)
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, ev, nil))
	}
	want := r.events * healthy
	healthyCount := func() int {
		n := 0
		for i := range healthy {
			n += len(rcv.byPath(fmt.Sprintf("/ok%d", i)))
		}
		return n
	}
	require.Eventually(t, func() bool { return healthyCount() >= want }, 60*time.Second, 20*time.Millisecond,
		"healthy endpoints got %d of %d deliveries", healthyCount(), want)

	var out []time.Duration
	for i := range healthy {
		for _, d := range rcv.byPath(fmt.Sprintf("/ok%d", i)) {
			out = append(out, d.Latency)
		}
	}
	if r.bad == "hang" {
		require.Greater(t, rcv.countAt("/bad"), 0, "the hanging endpoint was tried")
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestIsolation checks that one endpoint that hangs until the attempt
// timeout does not delay deliveries to 20 healthy endpoints: their p99
// latency stays near that of the same run without it. The bound here is
// generous for a shared test machine; BenchmarkIsolation prints the figures.
func TestIsolation(t *testing.T) {
	base := isolationRun{events: 60, perSecond: 20}
	without := base.latencies(t)
	base.bad = "hang"
	with := base.latencies(t)
	p99Without, p99With := percentile(without, 0.99), percentile(with, 0.99)
	t.Logf("healthy p99: %s without the hanging endpoint, %s with it", p99Without, p99With)
	require.LessOrEqual(t, p99With, 3*p99Without+250*time.Millisecond)
}

// BenchmarkIsolation prints the healthy endpoints' p50 and p99 delivery
// latency without a bad endpoint, with one that hangs until the timeout,
// and with one that answers 500 to everything:
//
//	go test -run '^$' -bench Isolation -benchtime 1x ./cmd/shiphook
func BenchmarkIsolation(b *testing.B) {
	for _, bad := range []string{"", "hang", "500"} {
		name := bad
		if name == "" {
			name = "none"
		}
		b.Run("bad="+name, func(b *testing.B) {
			var all []time.Duration
			for b.Loop() {
				all = append(all, isolationRun{bad: bad, events: 200, perSecond: 20}.latencies(b)...)
			}
			b.ReportMetric(float64(percentile(all, 0.50).Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(percentile(all, 0.99).Microseconds())/1000, "p99_ms")
		})
	}
}
