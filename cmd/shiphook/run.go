package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/shiphook/shiphook/api"
	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

const usage = `shiphook shares shipment changes with partners as signed webhooks.

Usage: shiphook <command> [flags]

Commands:
  serve     run the API and the delivery workers in one process
  api       run only the API (scale out with separate workers)
  worker    run only the delivery workers and the reconciler
  migrate   apply the database migrations and exit
  gen-key   print a new random API key (for SHIPHOOK_ADMIN_KEY)
  receive   run a small webhook receiver that verifies and prints deliveries
  version   print the version

Run "shiphook <command> -h" for the flags of a command. Every flag can also
be set through the environment variable named in its help.
`

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve", "api", "worker", "migrate":
		cfg, err := parseConfig(cmd, args, getenv, stderr)
		if err != nil {
			return err
		}
		return runService(ctx, cmd, cfg, stdout, stderr)
	case "receive":
		return runReceive(ctx, args, getenv, stdout, stderr)
	case "gen-key":
		fmt.Fprintln(stdout, subscriptions.NewKey())
		return nil
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "shiphook", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

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
	logFormat           string

	schedule []time.Duration
	dest     *subscriptions.Destinations
}

// defaultDatabaseURL is the embedded default: a SQLite file beside the
// working directory.
const defaultDatabaseURL = "sqlite:shiphook-data/shiphook.db"

func parseConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("shiphook "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, env, def, help string) {
		v := getenv(env)
		if v == "" {
			v = def
		}
		fs.StringVar(p, name, v, help+" ($"+env+")")
	}
	// A variable that is set but does not parse is an error at start:
	// envErrs collects them, each naming the variable, its value and the
	// form expected.
	var envErrs []error
	fromEnv := func(env, form string, parse func(string) error) {
		if s := getenv(env); s != "" {
			if err := parse(s); err != nil {
				envErrs = append(envErrs, fmt.Errorf("$%s=%q: not %s", env, s, form))
			}
		}
	}
	dur := func(p *time.Duration, name, env string, def time.Duration, help string) {
		v := def
		fromEnv(env, "a duration such as 90s, 30m or 720h", func(s string) (err error) { v, err = time.ParseDuration(s); return err })
		fs.DurationVar(p, name, v, help+" ($"+env+")")
	}
	integer := func(p *int, name, env string, def int, help string) {
		v := def
		fromEnv(env, "a whole number", func(s string) (err error) { v, err = strconv.Atoi(s); return err })
		fs.IntVar(p, name, v, help+" ($"+env+")")
	}
	decimal := func(p *float64, name, env string, def float64, help string) {
		v := def
		fromEnv(env, "a number such as 0.5", func(s string) (err error) { v, err = strconv.ParseFloat(s, 64); return err })
		fs.Float64Var(p, name, v, help+" ($"+env+")")
	}
	str(&c.addr, "addr", "SHIPHOOK_ADDR", ":8080", "address the API listens on")
	str(&c.databaseURL, "database-url", "DATABASE_URL", "", "postgres://… for PostgreSQL; unset: a SQLite file under ./shiphook-data/")
	str(&c.redisURL, "redis-url", "REDIS_URL", "", "redis://… ; unset: an in-process, in-memory Redis for trying shiphook out")
	str(&c.adminKey, "admin-key", "SHIPHOOK_ADMIN_KEY", "", "an admin API key to accept; unset: one is generated on first start and printed once")
	str(&c.allowPrivate, "allow-private-destinations", "SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS", "", "private addresses endpoints may use: false, loopback, true, or a comma-separated list of CIDRs")
	str(&c.retrySchedule, "retry-schedule", "SHIPHOOK_RETRY_SCHEDULE", dispatcher.FormatSchedule(dispatcher.DefaultSchedule), "delays between delivery attempts, each counted from the one before and spread ±20 %")
	dur(&c.attemptTimeout, "attempt-timeout", "SHIPHOOK_ATTEMPT_TIMEOUT", dispatcher.DefaultTimeout, "time limit of one delivery attempt")
	dur(&c.lease, "delivery-lease", "SHIPHOOK_DELIVERY_LEASE", dispatcher.DefaultLease, "how long a delivery under way holds its message and a slot of its endpoint: should its worker die, another takes the message up after this")
	integer(&c.concurrency, "concurrency", "SHIPHOOK_CONCURRENCY", dispatcher.DefaultConcurrency, "task handlers of a worker process: up to this many deliveries taken from Redis run beside as many handed over in the process and up to 8 times as many that waited for an endpoint at its cap (each endpoint within its own cap); fan-outs a quarter as many")
	integer(&c.eventCacheMB, "event-cache-mb", "SHIPHOOK_EVENT_CACHE_MB", dispatcher.DefaultEventCacheBytes>>20, "MiB of recent events a process keeps in memory for fan-out and delivery; 0: none")
	integer(&c.endpointConcurrency, "endpoint-max-concurrency", "SHIPHOOK_ENDPOINT_MAX_CONCURRENCY", dispatcher.DefaultMaxConcurrency, "deliveries in flight to one endpoint, across all workers, unless the endpoint sets its own")
	decimal(&c.breaker.FailureRatio, "breaker-failure-ratio", "SHIPHOOK_BREAKER_FAILURE_RATIO", dispatcher.DefaultBreaker.FailureRatio, "share of failed attempts in the window that opens an endpoint's circuit breaker")
	integer(&c.breaker.MinRequests, "breaker-min-requests", "SHIPHOOK_BREAKER_MIN_REQUESTS", dispatcher.DefaultBreaker.MinRequests, "attempts in the window before the breaker may open")
	dur(&c.breakerWindow, "breaker-window", "SHIPHOOK_BREAKER_WINDOW", time.Duration(dispatcher.DefaultBreaker.WindowSeconds)*time.Second, "rolling window the breaker counts failures over")
	dur(&c.breakerOpenFor, "breaker-open-for", "SHIPHOOK_BREAKER_OPEN_FOR", time.Duration(dispatcher.DefaultBreaker.OpenSeconds)*time.Second, "how long an open breaker waits before a probe")
	dur(&c.retention, "retention", "SHIPHOOK_RETENTION", dispatcher.DefaultRetention, "how long attempts and event payloads are kept; messages are kept longer")
	dur(&c.autoDisableAfter, "auto-disable-after", "SHIPHOOK_AUTO_DISABLE_AFTER", dispatcher.DefaultAutoDisableAfter, "how long an endpoint may fail without a success before it is disabled")
	dur(&c.pollInterval, "poll-interval", "SHIPHOOK_POLL_INTERVAL", dispatcher.DefaultPollInterval, "how often an idle worker asks Redis for work: the latency floor of an idle system")
	dur(&c.reconcileInterval, "reconcile-interval", "SHIPHOOK_RECONCILE_INTERVAL", dispatcher.DefaultReconcileInterval, "how often the reconciler looks for work Redis lost")
	dur(&c.reconcileGrace, "reconcile-grace", "SHIPHOOK_RECONCILE_GRACE", dispatcher.DefaultReconcileGrace, "how overdue work must be before the reconciler re-enqueues it")
	dur(&c.shutdownTimeout, "shutdown-timeout", "SHIPHOOK_SHUTDOWN_TIMEOUT", dispatcher.DefaultShutdownTimeout, "how long in-flight deliveries may finish on shutdown before they are returned to the queue")
	str(&c.logLevel, "log-level", "SHIPHOOK_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&c.logFormat, "log-format", "SHIPHOOK_LOG_FORMAT", "text", "text or json")
	str(&c.pprofAddr, "pprof-addr", "SHIPHOOK_PPROF_ADDR", "", "an address (such as 127.0.0.1:6060) to serve Go's pprof profiles on; unset: none")
	if err := errors.Join(envErrs...); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.schedule, err = dispatcher.ParseSchedule(c.retrySchedule); err != nil {
		return c, err
	}
	if c.dest, err = subscriptions.ParseDestinations(c.allowPrivate); err != nil {
		return c, err
	}
	if c.attemptTimeout < time.Second || c.attemptTimeout > time.Minute {
		return c, fmt.Errorf("attempt timeout %s: must be from 1s to 60s", c.attemptTimeout)
	}
	if c.lease < 2*c.attemptTimeout {
		return c, fmt.Errorf("delivery lease %s: must be at least twice the attempt timeout (%s)", c.lease, c.attemptTimeout)
	}
	if c.concurrency < 1 {
		return c, fmt.Errorf("concurrency %d: must be at least 1", c.concurrency)
	}
	if c.eventCacheMB < 0 || c.eventCacheMB > 1<<20 {
		return c, fmt.Errorf("event cache %d MiB: must be from 0 to 1048576", c.eventCacheMB)
	}
	if c.pollInterval < time.Millisecond || c.pollInterval > time.Second {
		return c, fmt.Errorf("poll interval %s: must be from 1ms to 1s", c.pollInterval)
	}
	if c.endpointConcurrency < 1 {
		return c, fmt.Errorf("endpoint max concurrency %d: must be at least 1", c.endpointConcurrency)
	}
	if c.breaker.FailureRatio <= 0 || c.breaker.FailureRatio > 1 {
		return c, fmt.Errorf("breaker failure ratio %v: must be above 0 and at most 1", c.breaker.FailureRatio)
	}
	if c.breaker.MinRequests < 1 {
		return c, fmt.Errorf("breaker min requests %d: must be at least 1", c.breaker.MinRequests)
	}
	if c.breakerWindow < time.Second || c.breakerOpenFor < time.Second {
		return c, errors.New("breaker window and open time must be at least 1s")
	}
	c.breaker.WindowSeconds = int(c.breakerWindow / time.Second)
	c.breaker.OpenSeconds = int(c.breakerOpenFor / time.Second)
	if c.retention < time.Hour {
		return c, fmt.Errorf("retention %s: must be at least 1h", c.retention)
	}
	if c.autoDisableAfter < time.Second {
		return c, fmt.Errorf("auto-disable window %s: must be at least 1s", c.autoDisableAfter)
	}
	return c, nil
}

func newLogger(c config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", c.logFormat)
}

// runService runs serve, api, worker or migrate until ctx ends.
func runService(ctx context.Context, cmd string, c config, stdout, stderr io.Writer) error {
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(log)

	dbURL, embedded := c.databaseURL, c.databaseURL == ""
	if embedded {
		dbURL = defaultDatabaseURL
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	if cmd == "migrate" || st.Dialect() == "sqlite" {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate database: %w", err)
		}
		if cmd == "migrate" {
			fmt.Fprintf(stdout, "database migrated (%s)\n", st.Dialect())
			return nil
		}
	} else if err := st.CheckMigrated(ctx); err != nil {
		return err
	}
	if embedded {
		log.Info("using the embedded SQLite database; set DATABASE_URL=postgres://… for production", "path", strings.TrimPrefix(dbURL, "sqlite:"))
	}
	if off, err := st.AutovacuumOff(ctx); err != nil {
		log.Warn("could not check PostgreSQL's autovacuum", "err", err)
	} else if off {
		log.Warn("PostgreSQL runs with autovacuum off: turn it on, or run ANALYZE on shiphook's database as its tables grow; " +
			"with statistics taken while a table was small, looking up one message or event can read the whole table")
	}

	redisOpt, rdb, stopRedis, err := connectRedis(ctx, c.redisURL, log)
	if err != nil {
		return err
	}
	defer stopRedis()

	if cmd != "worker" {
		key, err := subscriptions.EnsureAdminKey(ctx, st, c.adminKey)
		if err != nil {
			return err
		}
		if key != "" {
			fmt.Fprintf(stdout, "Admin API key (shown once, keep it): %s\n", key)
		}
	}

	var index *subscriptions.Index
	if cmd != "api" {
		index = subscriptions.NewIndex()
	}
	syncer := subscriptions.NewSync(st, index, rdb)
	// The worker's caches; the ingest API hands stored events to the same
	// one when both run here.
	var (
		events    *dispatcher.EventCache
		endpoints *subscriptions.EndpointCache
		partners  = subscriptions.NewKnownPartners(st, subscriptions.DefaultKnownPartnersTTL)
	)
	syncer.Caches = append(syncer.Caches, partners)
	if index != nil {
		endpoints = subscriptions.NewEndpointCache(st, subscriptions.DefaultEndpointCacheTTL)
		syncer.Caches = append(syncer.Caches, endpoints)
		events = dispatcher.NewEventCache(c.eventCacheMB << 20)
	}
	aclient := asynq.NewClientFromRedisClient(rdb)
	queue := dispatcher.NewQueue(aclient, 2*time.Minute)
	guard := dispatcher.NewGuard(rdb, dispatcher.GuardConfig{Breaker: c.breaker, MaxConcurrency: c.endpointConcurrency, Lease: c.lease})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	// fanout is the delivery workers of this process, for the ingest API
	// to fan events out as it stores them; nil when they run elsewhere.
	var fanout dispatcher.LocalFanout
	if index != nil {
		if err := syncer.Start(ctx); err != nil {
			return err
		}
		wg.Go(func() {
			if err := syncer.Run(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("endpoint sync: %w", err)
			}
		})
		w := dispatcher.NewWorker(dispatcher.Config{
			Store: st, Endpoints: endpoints, Events: events, Index: index, Sync: syncer, Notifier: syncer, Queue: queue, Redis: redisOpt,
			Destinations: c.dest, Guard: guard, AutoDisableAfter: c.autoDisableAfter, UserAgent: "shiphook/" + version, Schedule: c.schedule, Timeout: c.attemptTimeout, Lease: c.lease,
			Concurrency: c.concurrency, PollInterval: c.pollInterval, ReconcileInterval: c.reconcileInterval, ReconcileGrace: c.reconcileGrace,
			ShutdownTimeout: c.shutdownTimeout, Retention: c.retention, Logger: log,
		})
		fanout = w
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				errs <- err
			}
		})
		log.Info("delivery workers started", "concurrency", c.concurrency, "endpoints", index.Len())
		if cmd == "worker" {
			fmt.Fprintf(stdout, "shiphook %s worker started\n", version)
		}
	}
	if cmd != "worker" {
		ln, err := net.Listen("tcp", c.addr)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("listen on %s: %w", c.addr, err)
		}
		srv := &http.Server{
			Handler: api.New(api.Deps{
				Store: st, Auth: subscriptions.NewAuth(st), Notifier: syncer, Destinations: c.dest, Breakers: guard,
				Resumer:   &dispatcher.Resumer{Store: st, Endpoints: st, Queue: queue, Guard: guard},
				Ingest:    dispatcher.Ingest{Store: st, Partners: partners, Queue: queue, Fanout: fanout, Events: events},
				Replay:    dispatcher.Replay{Store: st, Partners: st, Queue: queue},
				UserAgent: "shiphook/" + version,
				Ready: func(ctx context.Context) error {
					if err := st.Ping(ctx); err != nil {
						return fmt.Errorf("database: %w", err)
					}
					if err := rdb.Ping(ctx).Err(); err != nil {
						return fmt.Errorf("redis: %w", err)
					}
					return nil
				},
			}),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			IdleTimeout:       2 * time.Minute,
		}
		fmt.Fprintf(stdout, "shiphook %s listening on http://%s\n", version, ln.Addr())
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("serve http: %w", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		})
	}

	if c.pprofAddr != "" {
		ln, err := net.Listen("tcp", c.pprofAddr)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("listen on %s for pprof: %w", c.pprofAddr, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		psrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		log.Info("serving pprof profiles", "addr", ln.Addr().String())
		wg.Go(func() { _ = psrv.Serve(ln) })
		wg.Go(func() { <-ctx.Done(); _ = psrv.Close() })
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	log.Info("shutting down: finishing in-flight deliveries")
	cancel()
	wg.Wait()
	_ = aclient.Close()
	log.Info("stopped")
	return runErr
}

// miniredisTick is how often the in-process Redis's TTLs advance.
const miniredisTick = 100 * time.Millisecond

// runMiniredisClock makes m's TTLs run with the clock, advancing them every
// miniredisTick, until the returned function is called. (miniredis's own
// ClockTTL advances them on every command instead, walking and sorting
// every key each time: each command would cost more the more tasks are
// queued.)
func runMiniredisClock(m *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(miniredisTick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// connectRedis connects to url, or starts an in-process miniredis when url
// is empty. The returned function closes what was opened.
func connectRedis(ctx context.Context, url string, log *slog.Logger) (asynq.RedisConnOpt, redis.UniversalClient, func(), error) {
	if url == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, nil, fmt.Errorf("start in-process redis: %w", err)
		}
		stopClock := runMiniredisClock(m)
		log.Warn("using an in-process, in-memory Redis: for trying shiphook out only; set REDIS_URL=redis://… for production")
		opt := asynq.RedisClientOpt{Addr: m.Addr()}
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		return opt, rdb, func() { _ = rdb.Close(); stopClock(); m.Close() }, nil
	}
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, nil, errors.New("REDIS_URL: unsupported redis client")
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, nil, nil, fmt.Errorf("connect to redis: %w", err)
	}
	return opt, rdb, func() { _ = rdb.Close() }, nil
}
