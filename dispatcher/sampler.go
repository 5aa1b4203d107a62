package dispatcher

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/shiphook/shiphook/subscriptions"
)

// Backlog is what the database holds of the delivery work at one moment.
type Backlog struct {
	// Pending, Held, Delivering and Failed count the messages of each of
	// these statuses, each up to BacklogCap.
	Pending, Held, Delivering, Failed int
	// OldestDue is the earliest next attempt of a pending message; nil
	// when none has one.
	OldestDue *time.Time
	// DisabledEndpoints counts the endpoints disabled.
	DisabledEndpoints int
}

// BacklogCap bounds each count of a Backlog, and so the cost of reading
// it: a count of BacklogCap means at least that many.
const BacklogCap = 100_000

// BacklogReader reads the Backlog; Store is one.
type BacklogReader interface {
	Backlog(ctx context.Context) (Backlog, error)
}

// DefaultSampleEvery is how long a Sampler keeps what it read.
const DefaultSampleEvery = 15 * time.Second

// sampleTimeout bounds one reading of the database and Redis.
const sampleTimeout = 5 * time.Second

// Sampler is a prometheus.Collector of gauges read from the database and
// Redis when scraped: the messages pending, held, delivering and failed,
// how long the most overdue pending message has been due, the disabled
// endpoints, the open breakers, and the tasks in the asynq queues. It
// reads them at most once every Every, whatever the number of scrapes,
// and answers with what it read last meanwhile: one statement
// (Store.Backlog) and a few Redis commands per period. A part it could
// not read is left out of the scrape, with a warning in the log, until
// the next period.
type Sampler struct {
	store     BacklogReader
	guard     *Guard
	inspector *asynq.Inspector
	every     time.Duration
	log       *slog.Logger

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

// NewSampler returns a Sampler of st, the breakers of g and the asynq
// queues in rdb, reading them at most once every every (DefaultSampleEvery
// if zero), and logging to log what it could not read.
func NewSampler(st BacklogReader, g *Guard, rdb redis.UniversalClient, every time.Duration, log *slog.Logger) *Sampler {
	if every <= 0 {
		every = DefaultSampleEvery
	}
	return &Sampler{store: st, guard: g, inspector: asynq.NewInspectorFromRedisClient(rdb), every: every, log: log}
}

var (
	messagesDesc = prometheus.NewDesc("shiphook_messages",
		"Messages by status (pending, held, delivering, failed), each counted up to 100000, as last sampled from the database.", []string{"status"}, nil)
	oldestPendingDesc = prometheus.NewDesc("shiphook_oldest_pending_message_age_seconds",
		"How long the most overdue pending message has been due (since its creation, or since its retry fell due); 0 when none is overdue.", nil, nil)
	disabledDesc = prometheus.NewDesc("shiphook_endpoints_disabled",
		"Endpoints disabled, by a person or by shiphook.", nil, nil)
	breakersOpenDesc = prometheus.NewDesc("shiphook_breakers_open",
		"Endpoints whose circuit breaker is open or half open, across all processes.", nil, nil)
	breakerLongestDesc = prometheus.NewDesc("shiphook_breaker_longest_open_seconds",
		"How long the breaker open longest has been open; 0 when none is.", nil, nil)
	queueTasksDesc = prometheus.NewDesc("shiphook_queue_tasks",
		"Tasks in the asynq queues, by queue (fanout, deliver) and state (pending, active, scheduled, retry, archived).", []string{"queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc("shiphook_queue_latency_seconds",
		"How long the oldest pending task of each asynq queue has waited.", []string{"queue"}, nil)
)

// Describe sends the descriptors of every metric the Sampler gives.
func (s *Sampler) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{messagesDesc, oldestPendingDesc, disabledDesc, breakersOpenDesc, breakerLongestDesc, queueTasksDesc, queueLatencyDesc} {
		ch <- d
	}
}

// Collect sends the metrics last read, reading them first if they are
// older than the Sampler's period.
func (s *Sampler) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := time.Now(); now.Sub(s.at) >= s.every {
		ctx, cancel := context.WithTimeout(context.Background(), sampleTimeout)
		s.last = s.read(ctx, now)
		cancel()
		s.at = now
	}
	for _, m := range s.last {
		ch <- m
	}
}

// read reads every part, as of now.
func (s *Sampler) read(ctx context.Context, now time.Time) []prometheus.Metric {
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	if b, err := s.store.Backlog(ctx); err != nil {
		s.log.Warn("metrics: read the backlog from the database", "err", err)
	} else {
		gauge(messagesDesc, float64(b.Pending), string(StatusPending))
		gauge(messagesDesc, float64(b.Held), string(StatusHeld))
		gauge(messagesDesc, float64(b.Delivering), string(StatusDelivering))
		gauge(messagesDesc, float64(b.Failed), string(StatusFailed))
		overdue := 0.0
		if b.OldestDue != nil && b.OldestDue.Before(now) {
			overdue = now.Sub(*b.OldestDue).Seconds()
		}
		gauge(oldestPendingDesc, overdue)
		gauge(disabledDesc, float64(b.DisabledEndpoints))
	}
	if open, err := s.guard.OpenBreakers(ctx); err != nil {
		s.log.Warn("metrics: read the open breakers from Redis", "err", err)
	} else {
		gauge(breakersOpenDesc, float64(len(open)))
		gauge(breakerLongestDesc, longestOpen(open, now).Seconds())
	}
	queues, err := s.inspector.Queues()
	if err != nil {
		s.log.Warn("metrics: read the asynq queues from Redis", "err", err)
		return out
	}
	for _, q := range []string{queueFanout, queueDeliver} {
		var info asynq.QueueInfo
		if slices.Contains(queues, q) {
			i, err := s.inspector.GetQueueInfo(q)
			if err != nil {
				s.log.Warn("metrics: read an asynq queue from Redis", "queue", q, "err", err)
				continue
			}
			info = *i
		}
		gauge(queueTasksDesc, float64(info.Pending), q, "pending")
		gauge(queueTasksDesc, float64(info.Active), q, "active")
		gauge(queueTasksDesc, float64(info.Scheduled), q, "scheduled")
		gauge(queueTasksDesc, float64(info.Retry), q, "retry")
		gauge(queueTasksDesc, float64(info.Archived), q, "archived")
		gauge(queueLatencyDesc, info.Latency.Seconds(), q)
	}
	return out
}

// longestOpen returns how long the breaker of open that opened first has
// been open as of now; 0 if none is.
func longestOpen(open map[string]subscriptions.BreakerState, now time.Time) time.Duration {
	var longest time.Duration
	for _, st := range open {
		if st.OpenedAt != nil {
			longest = max(longest, now.Sub(*st.OpenedAt))
		}
	}
	return longest
}
