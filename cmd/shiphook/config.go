package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// config is everything a service command can be told.
type config struct {
	addr              string
	databaseURL       string
	redisURL          string
	adminKey          string
	allowPrivate      string
	retrySchedule     string
	attemptTimeout    time.Duration
	lease             time.Duration
	concurrency       int
	eventCacheMB      int
	pollInterval      time.Duration
	reconcileInterval time.Duration
	reconcileGrace    time.Duration
	shutdownTimeout   time.Duration
	// endpointConcurrency, breaker and autoDisableAfter guard endpoints.
	endpointConcurrency int
	breaker             subscriptions.BreakerSettings
	breakerWindow       time.Duration
	breakerOpenFor      time.Duration
	autoDisableAfter    time.Duration
	retention           time.Duration
	logLevel            string
	pprofAddr           string
	metricsAddr         string
	metricsPartners     string
	healthAddr          string
	logFormat           string
	encryptionKey       string

	schedule []time.Duration
	dest     *subscriptions.Destinations
	// keys are those of encryptionKey; nil when it is empty.
	keys *store.Keyring
	// traces is what the OTEL_* variables say of tracing (traces.go).
	traces traceConfig
}

// defaultDatabaseURL is the embedded default: a SQLite file beside the
// working directory.
const defaultDatabaseURL = "sqlite:shiphook-data/shiphook.db"

// parseConfig reads a service command's settings from args and, for each
// flag not given, its environment variable. Returns an error naming the
// setting for a variable that does not parse and for a value out of range,
// and flag.ErrHelp, having printed the command's flags, for -h.
func parseConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	f := &envFlags{FlagSet: flag.NewFlagSet("shiphook "+cmd, flag.ContinueOnError), getenv: getenv}
	f.SetOutput(stderr)
	declareFlags(f, &c, cmd)
	if err := errors.Join(f.errs...); err != nil {
		return c, err
	}
	if err := f.Parse(args); err != nil {
		return c, err
	}
	if f.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", f.Arg(0))
	}
	if cmd == "migrate" {
		return c, nil
	}
	if err := c.parseKeys(); err != nil || cmd == rotateCommand {
		return c, err
	}
	var err error
	if c.traces, err = parseTraceConfig(getenv); err != nil {
		return c, err
	}
	return c, c.check()
}

// declareFlags declares the settings that cmd uses as flags with their
// variables: migrate only opens the database, rotate-encryption-key also
// reads the encryption keys; worker opens no API port, only one for its
// probes.
func declareFlags(f *envFlags, c *config, cmd string) {
	f.str(&c.databaseURL, "database-url", "DATABASE_URL", "", "postgres://… for PostgreSQL; unset: a SQLite file under ./shiphook-data/")
	f.str(&c.logLevel, "log-level", "SHIPHOOK_LOG_LEVEL", "info", "debug, info, warn or error")
	f.str(&c.logFormat, "log-format", "SHIPHOOK_LOG_FORMAT", "text", "text or json")
	if cmd == "migrate" {
		return
	}
	f.str(&c.encryptionKey, "encryption-key", "SHIPHOOK_ENCRYPTION_KEY", "", "comma-separated keys, each the base64 of 32 bytes, that encrypt the endpoints' signing secrets and header values: the first encrypts, all decrypt; required on PostgreSQL; unset on SQLite: a key kept in encryption.key beside the database, made on first start")
	if cmd == rotateCommand {
		return
	}
	if cmd == "worker" {
		f.str(&c.healthAddr, "health-addr", "SHIPHOOK_HEALTH_ADDR", ":8081", "address the worker answers its probes on: GET /healthz (its loops are turning) and GET /readyz (database and Redis reachable)")
	} else {
		f.str(&c.addr, "addr", "SHIPHOOK_ADDR", ":8080", "address the API and the console listen on")
		f.str(&c.adminKey, "admin-key", "SHIPHOOK_ADMIN_KEY", "", "an admin API key to accept; unset: one is generated on first start and printed once")
	}
	f.str(&c.redisURL, "redis-url", "REDIS_URL", "", "redis://…, or redis-sentinel://host:26379,…/db?master=name&password=… for Sentinel; unset: an in-process, in-memory Redis for trying shiphook out")
	f.str(&c.allowPrivate, "allow-private-destinations", "SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS", "", "private addresses endpoints may use: false, loopback, true, or a comma-separated list of CIDRs")
	f.str(&c.retrySchedule, "retry-schedule", "SHIPHOOK_RETRY_SCHEDULE", dispatcher.FormatSchedule(dispatcher.DefaultSchedule), "delays between delivery attempts, each counted from the one before and spread ±20 %")
	f.duration(&c.attemptTimeout, "attempt-timeout", "SHIPHOOK_ATTEMPT_TIMEOUT", dispatcher.DefaultTimeout, "time limit of one delivery attempt (1s to 60s), unless the endpoint sets its own timeout_seconds; no attempt runs longer than half the delivery lease")
	f.duration(&c.lease, "delivery-lease", "SHIPHOOK_DELIVERY_LEASE", dispatcher.DefaultLease, "how long a delivery under way holds its message and a slot of its endpoint: should its worker die, another takes the message up after this")
	f.integer(&c.concurrency, "concurrency", "SHIPHOOK_CONCURRENCY", dispatcher.DefaultConcurrency, "task handlers of a worker process: up to this many deliveries taken from Redis run beside as many handed over in the process and up to 8 times as many that waited for an endpoint at its cap (each endpoint within its own cap); fan-outs a quarter as many")
	f.integer(&c.eventCacheMB, "event-cache-mb", "SHIPHOOK_EVENT_CACHE_MB", dispatcher.DefaultEventCacheBytes>>20, "MiB of recent events a process keeps in memory for fan-out and delivery; 0: none")
	f.integer(&c.endpointConcurrency, "endpoint-max-concurrency", "SHIPHOOK_ENDPOINT_MAX_CONCURRENCY", dispatcher.DefaultMaxConcurrency, "deliveries in flight to one endpoint at once, across all worker processes, unless the endpoint sets its own max_concurrency")
	f.decimal(&c.breaker.FailureRatio, "breaker-failure-ratio", "SHIPHOOK_BREAKER_FAILURE_RATIO", dispatcher.DefaultBreaker.FailureRatio, "share of failed attempts in the window that opens an endpoint's circuit breaker")
	f.integer(&c.breaker.MinRequests, "breaker-min-requests", "SHIPHOOK_BREAKER_MIN_REQUESTS", dispatcher.DefaultBreaker.MinRequests, "attempts in the window before the breaker may open")
	f.duration(&c.breakerWindow, "breaker-window", "SHIPHOOK_BREAKER_WINDOW", time.Duration(dispatcher.DefaultBreaker.WindowSeconds)*time.Second, "rolling window the breaker counts failures over")
	f.duration(&c.breakerOpenFor, "breaker-open-for", "SHIPHOOK_BREAKER_OPEN_FOR", time.Duration(dispatcher.DefaultBreaker.OpenSeconds)*time.Second, "how long an open breaker holds an endpoint's deliveries before one probe is let through")
	f.duration(&c.retention, "retention", "SHIPHOOK_RETENTION", dispatcher.DefaultRetention, "how long attempts and event payloads are kept (at least 1h; purged every 10 minutes); message summaries are kept")
	f.duration(&c.autoDisableAfter, "auto-disable-after", "SHIPHOOK_AUTO_DISABLE_AFTER", dispatcher.DefaultAutoDisableAfter, "how long an endpoint may fail, counted from its first failure after its last success, before it is disabled")
	f.duration(&c.pollInterval, "poll-interval", "SHIPHOOK_POLL_INTERVAL", dispatcher.DefaultPollInterval, "how long each of a worker's asynq servers waits at least after asking Redis for work and finding none (1ms to 1s): the latency floor of work that comes through Redis; idle, a server asks again only once new work is announced, or after a second")
	f.duration(&c.reconcileInterval, "reconcile-interval", "SHIPHOOK_RECONCILE_INTERVAL", dispatcher.DefaultReconcileInterval, "how often the reconciler looks for work Redis lost")
	f.duration(&c.reconcileGrace, "reconcile-grace", "SHIPHOOK_RECONCILE_GRACE", dispatcher.DefaultReconcileGrace, "how overdue work must be before the reconciler re-enqueues it")
	f.duration(&c.shutdownTimeout, "shutdown-timeout", "SHIPHOOK_SHUTDOWN_TIMEOUT", dispatcher.DefaultShutdownTimeout, "how long in-flight deliveries may finish on shutdown before they are returned to the queue")
	f.str(&c.pprofAddr, "pprof-addr", "SHIPHOOK_PPROF_ADDR", "", "an address (such as 127.0.0.1:6060) to serve Go's pprof profiles on; unset: none")
	f.str(&c.metricsAddr, "metrics-addr", "SHIPHOOK_METRICS_ADDR", "", "an address (such as :9464) to serve Prometheus metrics on, at /metrics, without API keys; a listener of its own, never the API's; unset: none")
	f.str(&c.metricsPartners, "metrics-partners", "SHIPHOOK_METRICS_PARTNERS", "", "comma-separated partner ids that the metrics label by their own id; every other partner is labelled other")
}

// check validates c and completes the settings parsed from others.
func (c *config) check() error {
	var err error
	if c.schedule, err = dispatcher.ParseSchedule(c.retrySchedule); err != nil {
		return err
	}
	if c.dest, err = subscriptions.ParseDestinations(c.allowPrivate); err != nil {
		return err
	}
	if c.attemptTimeout < time.Second || c.attemptTimeout > time.Minute {
		return fmt.Errorf("attempt timeout %s: must be from 1s to 60s", c.attemptTimeout)
	}
	if c.lease < 2*c.attemptTimeout {
		return fmt.Errorf("delivery lease %s: must be at least twice the attempt timeout (%s)", c.lease, c.attemptTimeout)
	}
	if c.concurrency < 1 {
		return fmt.Errorf("concurrency %d: must be at least 1", c.concurrency)
	}
	if c.eventCacheMB < 0 || c.eventCacheMB > 1<<20 {
		return fmt.Errorf("event cache %d MiB: must be from 0 to 1048576", c.eventCacheMB)
	}
	if c.pollInterval < time.Millisecond || c.pollInterval > time.Second {
		return fmt.Errorf("poll interval %s: must be from 1ms to 1s", c.pollInterval)
	}
	if c.endpointConcurrency < 1 {
		return fmt.Errorf("endpoint max concurrency %d: must be at least 1", c.endpointConcurrency)
	}
	if c.breaker.FailureRatio <= 0 || c.breaker.FailureRatio > 1 {
		return fmt.Errorf("breaker failure ratio %v: must be above 0 and at most 1", c.breaker.FailureRatio)
	}
	if c.breaker.MinRequests < 1 {
		return fmt.Errorf("breaker min requests %d: must be at least 1", c.breaker.MinRequests)
	}
	if c.breakerWindow < time.Second || c.breakerOpenFor < time.Second {
		return errors.New("breaker window and open time must be at least 1s")
	}
	c.breaker.WindowSeconds = int(c.breakerWindow / time.Second)
	c.breaker.OpenSeconds = int(c.breakerOpenFor / time.Second)
	if c.retention < time.Hour {
		return fmt.Errorf("retention %s: must be at least 1h", c.retention)
	}
	if c.autoDisableAfter < time.Second {
		return fmt.Errorf("auto-disable window %s: must be at least 1s", c.autoDisableAfter)
	}
	if c.metricsAddr != "" && !strings.HasSuffix(c.metricsAddr, ":0") && (c.metricsAddr == c.addr || c.metricsAddr == c.healthAddr) {
		return fmt.Errorf("metrics address %s: must be a listener of its own, not the API's or the probes'", c.metricsAddr)
	}
	return nil
}

// envFlags declares flags whose defaults come from environment variables.
// A variable that is set but does not parse is an error at start: errs
// collects them, each naming the variable, its value and the form
// expected.
type envFlags struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
}

// fromEnv calls parse with the value of env, if set, and records its error.
func (f *envFlags) fromEnv(env, form string, parse func(string) error) {
	if s := f.getenv(env); s != "" {
		if err := parse(s); err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s=%q: not %s", env, s, form))
		}
	}
}

func (f *envFlags) str(p *string, name, env, def, help string) {
	v := def
	if s := f.getenv(env); s != "" {
		v = s
	}
	f.StringVar(p, name, v, help+" ($"+env+")")
}

func (f *envFlags) duration(p *time.Duration, name, env string, def time.Duration, help string) {
	v := def
	f.fromEnv(env, "a duration such as 90s, 30m or 720h", func(s string) (err error) { v, err = time.ParseDuration(s); return err })
	f.DurationVar(p, name, v, help+" ($"+env+")")
}

func (f *envFlags) integer(p *int, name, env string, def int, help string) {
	v := def
	f.fromEnv(env, "a whole number", func(s string) (err error) { v, err = strconv.Atoi(s); return err })
	f.IntVar(p, name, v, help+" ($"+env+")")
}

func (f *envFlags) decimal(p *float64, name, env string, def float64, help string) {
	v := def
	f.fromEnv(env, "a number such as 0.5", func(s string) (err error) { v, err = strconv.ParseFloat(s, 64); return err })
	f.Float64Var(p, name, v, help+" ($"+env+")")
}
