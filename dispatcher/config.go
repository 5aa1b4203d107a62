package dispatcher

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/shiphook/shiphook/subscriptions"
)

// The defaults of Config, each written once: the command line's flags
// show and use the same values.
const (
	// DefaultTimeout bounds one delivery attempt.
	DefaultTimeout = 15 * time.Second
	// DefaultLease is how long a delivery under way holds its message and
	// a slot of its endpoint.
	DefaultLease = 2 * time.Minute
	// DefaultConcurrency sizes a worker process's task handlers.
	DefaultConcurrency = 200
	// DefaultPollInterval is how long an asynq server waits at least,
	// after a poll of Redis that found no work, before the next: a task
	// queued meanwhile waits up to that for it.
	DefaultPollInterval = 5 * time.Millisecond
	// DefaultIdlePoll is how long an asynq server whose queue is empty
	// waits for the doorbell before it asks Redis again all the same.
	DefaultIdlePoll = time.Second
	// DefaultShutdownTimeout is how long in-flight deliveries may finish on
	// shutdown.
	DefaultShutdownTimeout = 20 * time.Second
	// DefaultReconcileInterval is how often the reconciler runs.
	DefaultReconcileInterval = 5 * time.Second
	// DefaultReconcileGrace is how overdue work must be before the
	// reconciler counts it as lost.
	DefaultReconcileGrace = 10 * time.Second
	// DefaultAutoDisableAfter is how long an endpoint may fail without a
	// success before it is disabled.
	DefaultAutoDisableAfter = 5 * 24 * time.Hour
	// DefaultRetention is how long attempts and event payloads are kept.
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultRetentionInterval is how often retention purges.
	DefaultRetentionInterval = 10 * time.Minute
)

// Config is what a Worker needs. Zero values take the documented defaults.
type Config struct {
	Store     Store
	Endpoints Endpoints
	// Index matches events to endpoints; kept fresh by a subscriptions.Sync.
	Index *subscriptions.Index
	// Sync, when set, brings Index up to date with the endpoint changes
	// made anywhere before an event is matched.
	Sync     IndexSync
	Notifier subscriptions.Notifier
	Queue    *Queue
	// Redis is where asynq keeps its queues.
	Redis asynq.RedisConnOpt
	// Destinations says which addresses may be delivered to.
	Destinations *subscriptions.Destinations
	// Guard holds the endpoints' breakers and limits.
	Guard *Guard
	// AutoDisableAfter is how long an endpoint may fail without a success
	// before it is disabled (default DefaultAutoDisableAfter).
	AutoDisableAfter time.Duration
	// UserAgent is sent with every delivery ("shiphook/<version>").
	UserAgent string
	// Schedule is the retry schedule (default DefaultSchedule).
	Schedule []time.Duration
	// Timeout bounds one attempt (default DefaultTimeout). No attempt, whatever its
	// endpoint says, runs longer than a minute or half the Lease.
	Timeout time.Duration
	// Lease is how long a delivery under way holds its message (default
	// DefaultLease): should its worker die, the reconciler hands the
	// message to another after this. Give the Guard the same.
	Lease time.Duration
	// Concurrency sizes a worker process's task handlers (default
	// DefaultConcurrency). It is not the most deliveries under way at
	// once: up to Concurrency deliveries taken from Redis run beside as
	// many handed over within the process, and beside up to gateDepth
	// times as many that waited for an endpoint at its cap; fan-outs run a
	// quarter as many each way. Each endpoint stays within its own cap.
	Concurrency int
	// PollInterval is how long an asynq server waits at least, after a
	// poll that found no work, before the next (default
	// DefaultPollInterval); it bounds the latency of work queued in Redis
	// while the server waits. The next poll waits further, until the
	// doorbell rings or IdlePoll passes (default DefaultIdlePoll).
	PollInterval time.Duration
	IdlePoll     time.Duration
	// ShutdownTimeout is how long in-flight deliveries may finish on
	// shutdown before they are returned to the queue (default
	// DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// ReconcileInterval is how often the reconciler looks for work that
	// Redis lost (default DefaultReconcileInterval); ReconcileGrace is how
	// overdue work must be before it counts as lost (default
	// DefaultReconcileGrace).
	ReconcileInterval time.Duration
	ReconcileGrace    time.Duration
	// Retention is how long attempts and event payloads are kept (default
	// DefaultRetention); RetentionInterval how often the purge runs
	// (default DefaultRetentionInterval).
	Retention         time.Duration
	RetentionInterval time.Duration
	// Logger receives asynq's own log lines (default slog.Default()).
	Logger *slog.Logger
	// Events caches events for fan-out and delivery (default: a cache of
	// its own); give the ingest API the same one when both run in one
	// process.
	Events *EventCache
	// Tracer makes the spans of fan-outs and delivery attempts, in the
	// traces of their events (trace.go); nil, or a no-op provider, makes
	// none.
	Tracer trace.TracerProvider
	// Metrics counts messages created, attempts and the reconciler's
	// work; nil counts nothing.
	Metrics *Metrics
}

// IndexSync brings an Index up to date; *subscriptions.Sync is one.
type IndexSync interface {
	CatchUp(ctx context.Context) error
	// Applied is the number of the last change the Index holds.
	Applied() int64
}

// withDefaults returns c with every zero or negative setting replaced by
// its default.
func (c Config) withDefaults() Config {
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	orDefault(&c.Timeout, DefaultTimeout)
	orDefault(&c.Lease, DefaultLease)
	orDefault(&c.Concurrency, DefaultConcurrency)
	orDefault(&c.PollInterval, DefaultPollInterval)
	orDefault(&c.IdlePoll, DefaultIdlePoll)
	orDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	orDefault(&c.ReconcileInterval, DefaultReconcileInterval)
	orDefault(&c.ReconcileGrace, DefaultReconcileGrace)
	orDefault(&c.AutoDisableAfter, DefaultAutoDisableAfter)
	orDefault(&c.Retention, DefaultRetention)
	orDefault(&c.RetentionInterval, DefaultRetentionInterval)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Events == nil {
		c.Events = NewEventCache(DefaultEventCacheBytes)
	}
	return c
}

// orDefault sets *v to def if *v is zero or negative.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
