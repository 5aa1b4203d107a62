package dispatcher

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestMetricsLabels checks the labels the counters take: the partners
// named get their own, every other is "other"; an event's family is the
// first two parts of its type, or "unknown"; a success's class
// is "none".
func TestMetricsLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, []string{"acme", " ", "acme"})
	require.NoError(t, err)

	m.eventsStored([]Event{{Type: "shipment.milestone.departed"}, {Type: "shipment.created", Unresolved: &Unresolved{}}, {Type: "shipment.updated"}},
		[]Insert{{Created: true}, {Created: true}, {Created: false}})
	m.eventRejected("")
	m.eventRejected("shipment.milestone.arrived")
	m.messagesCreated([]Message{{PartnerID: "acme"}, {PartnerID: "globex"}, {PartnerID: "initech"}})
	ok := plannedAttempt{m: Message{PartnerID: "acme"}, trigger: triggerScheduled}
	m.attemptRecorded(ok, Attempt{DurationMS: 20}, Outcome{Status: StatusSucceeded}, time.Now().Add(-time.Second))
	m.attemptRecorded(plannedAttempt{m: Message{PartnerID: "globex"}, trigger: triggerScheduled},
		Attempt{ErrorClass: ErrorTimeout, DurationMS: 15000}, Outcome{Status: StatusPending}, time.Now())
	m.attemptRecorded(plannedAttempt{m: Message{PartnerID: "globex"}, trigger: triggerManual},
		Attempt{}, Outcome{Status: StatusSucceeded}, time.Now().Add(-time.Hour))
	m.reconciled(2, 3, 0)

	vec := func(name string, labels ...string) float64 {
		fams, err := reg.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
			for _, s := range f.Metric {
				got := map[string]string{}
				for _, l := range s.Label {
					got[l.GetName()] = l.GetValue()
				}
				match := true
				for i := 0; i < len(labels); i += 2 {
					match = match && got[labels[i]] == labels[i+1]
				}
				if match {
					if s.Histogram != nil {
						return float64(s.Histogram.GetSampleCount())
					}
					return s.Counter.GetValue()
				}
			}
		}
		return -1
	}
	ingested := func(family, outcome string) float64 {
		return vec("shiphook_events_ingested_total", "family", family, "outcome", outcome)
	}
	require.Equal(t, 1.0, ingested("shipment.milestone", "accepted"))
	require.Equal(t, 1.0, ingested("shipment.created", "unresolved"))
	require.Equal(t, 1.0, ingested("shipment.updated", "duplicate"))
	require.Equal(t, 1.0, ingested("shipment.milestone", "rejected"))
	require.Equal(t, 0.0, ingested("shipment.milestone", "duplicate"), "each family has every outcome, from 0")
	require.Equal(t, -1.0, ingested("shipment", "accepted"), "a family is two parts of the type")
	require.Equal(t, 1.0, ingested("unknown", "rejected"))
	require.Equal(t, -1.0, ingested("shiphook.message", "accepted"), "shiphook's own types are never posted")
	require.Equal(t, 1.0, vec("shiphook_messages_created_total", "partner", "acme"))
	require.Equal(t, 2.0, vec("shiphook_messages_created_total", "partner", "other"))
	require.Equal(t, 1.0, vec("shiphook_attempts_total", "partner", "acme", "outcome", "succeeded", "error_class", "none"))
	require.Equal(t, 1.0, vec("shiphook_attempts_total", "partner", "other", "outcome", "failed", "error_class", "timeout"))
	require.Equal(t, 1.0, vec("shiphook_attempts_total", "partner", "other", "outcome", "succeeded", "error_class", "none"))
	require.Equal(t, 1.0, vec("shiphook_delivery_latency_seconds", "partner", "acme"))
	require.Equal(t, 0.0, vec("shiphook_delivery_latency_seconds", "partner", "other"), "a manual resend is no first delivery")
	require.Equal(t, 2.0, vec("shiphook_reconciler_requeued_total", "kind", "event"))
	require.Equal(t, 3.0, vec("shiphook_reconciler_requeued_total", "kind", "message"))
	require.Equal(t, -1.0, vec("shiphook_attempts_total", "partner", " "), "a blank partner gets no label")

	_, err = NewMetrics(reg, nil)
	require.Error(t, err, "registered twice")
}

// TestMetricsCostNothingExtra checks that counting an attempt, its
// messages and an event allocates nothing, and that nil Metrics count
// nothing without failing.
func TestMetricsCostNothingExtra(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry(), []string{"acme"})
	require.NoError(t, err)
	p := plannedAttempt{m: Message{PartnerID: "acme"}, trigger: triggerScheduled}
	a, o := Attempt{ErrorClass: ErrorHTTPStatus, DurationMS: 120}, Outcome{Status: StatusPending}
	msgs := []Message{{PartnerID: "acme"}, {PartnerID: "globex"}}
	evs, res := []Event{{Type: "shipment.milestone.departed"}}, []Insert{{Created: true}}
	accepted := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		m.attemptRecorded(p, a, o, accepted)
		m.messagesCreated(msgs)
		m.eventsStored(evs, res)
	})
	require.Zero(t, allocs)

	var none *Metrics
	none.attemptRecorded(p, a, o, accepted)
	none.messagesCreated(msgs)
	none.eventsStored(evs, res)
	none.eventRejected("")
	none.itemsRejected([]SourceItem{{Status: ItemRejected}})
	none.reconciled(1, 1, 1)
}
