package dispatcher

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store/storetest"
)

// backlogReader is a BacklogReader that counts its reads.
type backlogReader struct {
	b     Backlog
	err   error
	reads atomic.Int32
}

func (r *backlogReader) Backlog(context.Context) (Backlog, error) {
	r.reads.Add(1)
	return r.b, r.err
}

// TestSampler checks what a Sampler reads, on a real Redis: the backlog,
// an open breaker and a scheduled delivery task; that scrapes within its
// period share one read; and that a part it cannot read is left out while
// the others are served.
func TestSampler(t *testing.T) {
	ctx := context.Background()
	opt, err := redis.ParseURL(storetest.Redis(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	g := NewGuard(rdb, GuardConfig{})
	g.open(ctx, "ep_open", DefaultBreaker, "test")
	require.NoError(t, NewQueue(rdb, time.Minute).EnqueueDelivery(ctx, "msg_later", "ep_open", 1, time.Now().Add(time.Hour)))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	due := time.Now().Add(-30 * time.Second)
	st := &backlogReader{b: Backlog{Pending: 3, Held: 2, Failed: 1, OldestDue: &due, DisabledEndpoints: 4}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewSampler(st, g, rdb, time.Hour, log))
	got := gather(t, reg)
	require.Equal(t, got, gather(t, reg), "a second scrape within the period answers the same")
	require.EqualValues(t, 1, st.reads.Load(), "one read for both scrapes")
	require.Equal(t, 3.0, got[`shiphook_messages{status="pending"}`])
	require.Equal(t, 2.0, got[`shiphook_messages{status="held"}`])
	require.Equal(t, 0.0, got[`shiphook_messages{status="delivering"}`])
	require.Equal(t, 1.0, got[`shiphook_messages{status="failed"}`])
	require.GreaterOrEqual(t, got["shiphook_oldest_pending_message_age_seconds"], 30.0)
	require.Equal(t, 4.0, got["shiphook_endpoints_disabled"])
	require.Equal(t, 1.0, got["shiphook_breakers_open"])
	require.Contains(t, got, "shiphook_breaker_longest_open_seconds")
	require.Equal(t, 1.0, got[`shiphook_queue_tasks{queue="deliver",state="scheduled"}`])
	require.Equal(t, 0.0, got[`shiphook_queue_tasks{queue="fanout",state="pending"}`], "a queue never used counts nothing")

	broken := &backlogReader{err: errors.New("database down")}
	reg = prometheus.NewRegistry()
	reg.MustRegister(NewSampler(broken, g, rdb, time.Hour, log))
	got = gather(t, reg)
	require.NotContains(t, got, `shiphook_messages{status="pending"}`)
	require.NotContains(t, got, "shiphook_oldest_pending_message_age_seconds")
	require.Equal(t, 1.0, got["shiphook_breakers_open"], "what Redis gives is still served")
}

// gather returns the gauges of reg by name and labels, as written in the
// text format.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.Metric {
			out[f.GetName()+labelsOf(m)] = m.GetGauge().GetValue()
		}
	}
	return out
}

func labelsOf(m *dto.Metric) string {
	if len(m.Label) == 0 {
		return ""
	}
	s := "{"
	for i, l := range m.Label {
		if i > 0 {
			s += ","
		}
		s += l.GetName() + `="` + l.GetValue() + `"`
	}
	return s + "}"
}
