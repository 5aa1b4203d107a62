package dispatcher

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiphook/shiphook/subscriptions"
)

// Metrics counts, for Prometheus, what the dispatcher does as it does it:
// the events taken in, the messages created, the attempts made and how
// long they took, how long events took to reach their endpoints, and what
// the reconciler queued again. Each place that counts makes one call of
// an unexported method; a nil *Metrics counts nothing.
//
// Label values are bounded: event type families from the catalog, the
// ErrorClass values, and the partners named to NewMetrics, every other
// partner being OtherPartner. Endpoint ids are never a label. The labelled
// children are made by NewMetrics, so that counting on the delivery path
// is a map look-up and an atomic add, without allocating.
type Metrics struct {
	// partner maps a partner named to NewMetrics to its index in the
	// per-partner slices; index 0 is OtherPartner.
	partner map[string]int
	// labels are the partner labels, by index.
	labels   []string
	ingested map[string]*[len(ingestOutcomes)]prometheus.Counter
	created  []prometheus.Counter
	attempts []map[ErrorClass]prometheus.Counter
	// attemptsVec gives the child of an ErrorClass not known in advance.
	attemptsVec *prometheus.CounterVec
	duration    []prometheus.Observer
	latency     []prometheus.Observer
	requeued    [len(requeueKinds)]prometheus.Counter
}

// OtherPartner is the partner label of every partner not named to
// NewMetrics.
const OtherPartner = "other"

// unknownFamily is the family label of an event rejected before its type
// was known to be one of the catalog's.
const unknownFamily = "unknown"

// What became of an event posted (shiphook_events_ingested_total's
// outcome): stored and resolved, a repeat of one stored before, refused,
// or stored waiting for its shipment to be registered.
const (
	ingestAccepted = iota
	ingestDuplicate
	ingestRejected
	ingestUnresolved
)

var ingestOutcomes = [...]string{"accepted", "duplicate", "rejected", "unresolved"}

// What the reconciler queued again (shiphook_reconciler_requeued_total's
// kind).
const (
	requeuedEvent = iota
	requeuedMessage
	requeuedRecoveryJob
)

var requeueKinds = [...]string{"event", "message", "recovery_job"}

// errorClasses are the classes of failed attempts, labelled as they are
// named; a successful attempt's class is labelled "none".
var errorClasses = []ErrorClass{ErrorNone, ErrorDNS, ErrorConnect, ErrorTLS, ErrorTimeout, ErrorHTTPStatus, ErrorRedirect,
	ErrorBlocked, ErrorPurged, ErrorNoDCSAForm}

// Histogram buckets, in seconds: an attempt lasts at most a minute; an
// event may take hours to arrive through the retry schedule.
var (
	attemptBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 60}
	latencyBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 86400}
)

// NewMetrics registers the dispatcher's metrics with reg and returns them.
// partners are the partner ids to be labelled by their own id (blanks
// and repeats ignored); all others are labelled OtherPartner. It fails if a metric is registered already.
func NewMetrics(reg prometheus.Registerer, partners []string) (*Metrics, error) {
	ingested := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shiphook_events_ingested_total",
		Help: "Events posted, by the family of their type (its first two parts, such as shipment.milestone) and outcome: accepted, duplicate, rejected or unresolved.",
	}, []string{"family", "outcome"})
	created := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shiphook_messages_created_total",
		Help: "Messages created (one per event and endpoint), by partner.",
	}, []string{"partner"})
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shiphook_attempts_total",
		Help: "Delivery attempts recorded, by partner, outcome (succeeded or failed) and error class (none for a success).",
	}, []string{"partner", "outcome", "error_class"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shiphook_attempt_duration_seconds",
		Help:    "How long the delivery requests took, from sending to the end of the answer, by partner.",
		Buckets: attemptBuckets,
	}, []string{"partner"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shiphook_delivery_latency_seconds",
		Help:    "Time from an event's acceptance to the first successful attempt of each of its messages, by partner (scheduled attempts only).",
		Buckets: latencyBuckets,
	}, []string{"partner"})
	requeued := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shiphook_reconciler_requeued_total",
		Help: "Work the reconciler found overdue or lost and queued again, by kind: event, message or recovery_job.",
	}, []string{"kind"})
	for _, c := range []prometheus.Collector{ingested, created, attempts, duration, latency, requeued} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}

	m := &Metrics{partner: map[string]int{}, ingested: map[string]*[len(ingestOutcomes)]prometheus.Counter{}, attemptsVec: attempts}
	labels := []string{OtherPartner}
	for _, p := range partners {
		p = strings.TrimSpace(p)
		if _, ok := m.partner[p]; !ok && p != "" && p != OtherPartner {
			m.partner[p] = len(labels)
			labels = append(labels, p)
		}
	}
	m.labels = labels
	for _, p := range labels {
		m.created = append(m.created, created.WithLabelValues(p))
		m.duration = append(m.duration, duration.WithLabelValues(p))
		m.latency = append(m.latency, latency.WithLabelValues(p))
		byClass := make(map[ErrorClass]prometheus.Counter, len(errorClasses))
		for _, c := range errorClasses {
			byClass[c] = attempts.WithLabelValues(p, attemptOutcome(c), classLabel(c))
		}
		m.attempts = append(m.attempts, byClass)
	}
	for _, f := range append(typeFamilies(), unknownFamily) {
		var cs [len(ingestOutcomes)]prometheus.Counter
		for i, o := range ingestOutcomes {
			cs[i] = ingested.WithLabelValues(f, o)
		}
		m.ingested[f] = &cs
	}
	for i, k := range requeueKinds {
		m.requeued[i] = requeued.WithLabelValues(k)
	}
	return m, nil
}

// typeFamilies returns the families of the catalog's event types that
// may be posted (not shiphook's own), once each.
func typeFamilies() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range subscriptions.Catalog() {
		if f := family(t.Name); !seen[f] && !isOperational(t.Name) {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// family returns the first two parts of event type typ
// ("shipment.milestone" of "shipment.milestone.departed", "shipment.created"
// of itself): what the catalog's types group into, a few dozen at most.
func family(typ string) string {
	if i := strings.IndexByte(typ, '.'); i >= 0 {
		if j := strings.IndexByte(typ[i+1:], '.'); j >= 0 {
			return typ[:i+1+j]
		}
	}
	return typ
}

func attemptOutcome(c ErrorClass) string {
	if c == ErrorNone {
		return "succeeded"
	}
	return "failed"
}

func classLabel(c ErrorClass) string {
	if c == ErrorNone {
		return "none"
	}
	return string(c)
}

// partnerIndex returns the index of partnerID's label.
func (m *Metrics) partnerIndex(partnerID string) int { return m.partner[partnerID] }

// ingestedOf returns the counters of the family of event type typ; those
// of unknownFamily for a type not in the catalog.
func (m *Metrics) ingestedOf(typ string) *[len(ingestOutcomes)]prometheus.Counter {
	if cs, ok := m.ingested[family(typ)]; ok {
		return cs
	}
	return m.ingested[unknownFamily]
}

// eventRejected counts an event refused; typ is its type if it was read,
// else "".
func (m *Metrics) eventRejected(typ string) {
	if m != nil {
		m.ingestedOf(typ)[ingestRejected].Inc()
	}
}

// eventsStored counts evs as storing them answered res: each a new event,
// resolved or not, or a duplicate.
func (m *Metrics) eventsStored(evs []Event, res []Insert) {
	if m == nil {
		return
	}
	for i, r := range res {
		outcome := ingestAccepted
		switch {
		case !r.Created:
			outcome = ingestDuplicate
		case evs[i].Unresolved != nil:
			outcome = ingestUnresolved
		}
		m.ingestedOf(evs[i].Type)[outcome].Inc()
	}
}

// itemsRejected counts, of a source's items as stored, each one rejected
// as one event refused: the event at fault.
func (m *Metrics) itemsRejected(rows []SourceItem) {
	if m == nil {
		return
	}
	for _, r := range rows {
		if r.Status == ItemRejected {
			m.eventRejected("")
		}
	}
}

// messagesCreated counts msgs, stored.
func (m *Metrics) messagesCreated(msgs []Message) {
	if m == nil {
		return
	}
	for i := range msgs {
		m.created[m.partnerIndex(msgs[i].PartnerID)].Inc()
	}
}

// attemptRecorded counts attempt a of p, recorded with outcome o, of an
// event accepted at accepted: its class, its duration if a request was
// made, and, when it is the first success of a scheduled delivery, the
// time from the event's acceptance to now.
func (m *Metrics) attemptRecorded(p plannedAttempt, a Attempt, o Outcome, accepted time.Time) {
	if m == nil {
		return
	}
	i := m.partnerIndex(p.m.PartnerID)
	c, ok := m.attempts[i][a.ErrorClass]
	if !ok {
		c = m.attemptsVec.WithLabelValues(m.labels[i], attemptOutcome(a.ErrorClass), classLabel(a.ErrorClass))
	}
	c.Inc()
	if a.ErrorClass != ErrorPurged && a.ErrorClass != ErrorNoDCSAForm {
		m.duration[i].Observe(float64(a.DurationMS) / 1000)
	}
	if o.Status == StatusSucceeded && p.trigger == triggerScheduled {
		m.latency[i].Observe(time.Since(accepted).Seconds())
	}
}

// reconciled counts what one pass of the reconciler queued again.
func (m *Metrics) reconciled(events, messages, jobs int) {
	if m == nil {
		return
	}
	m.requeued[requeuedEvent].Add(float64(events))
	m.requeued[requeuedMessage].Add(float64(messages))
	m.requeued[requeuedRecoveryJob].Add(float64(jobs))
}
