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
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

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
  gen-encryption-key
            print a new random encryption key (for SHIPHOOK_ENCRYPTION_KEY)
  rotate-encryption-key
            encrypt every endpoint secret and header value with the first
            encryption key, so that the others can be dropped
  receive   run a small webhook receiver that verifies and prints deliveries
  feed      read a pull endpoint's feed with a partner key, one JSON
            message a line (acknowledging what it printed)
  health    check a running shiphook's probe, for a container health check
  version   print the version

Admin commands, for people and scripts, call a running shiphook's API at
$SHIPHOOK_URL (default http://127.0.0.1:8080) with the key $SHIPHOOK_KEY
(or --url and --key); -o json prints the API's JSON as it answered:
  partners  create, list, show, change and delete partners
  api-keys  create, list and delete API keys
  endpoints create, list, show, disable, enable and delete a partner's
            endpoints; show and rotate their signing secrets
  events    post events from a file or stdin, one or a batch; list, show
  messages  list deliveries with the log's filters, or follow new ones
  attempts  list a message's delivery attempts, search them, show one
  retry     attempt a message's delivery again now
  recover   put an endpoint's failed messages back on the schedule, and
            show or wait for the job's progress
  verify    check a captured delivery's signature with the endpoint's
            secret, offline, saying which header fails and why

Run "shiphook <command> -h" for the flags of a command. Every flag of the
service commands (serve to health) can also be set through the environment
variable named in its help.

Exit status: 0 done; 1 a usage error, or another failure (such as serve's);
2 the API refused the request (4xx); 3 the API failed (5xx) or could not
be reached; 4 verify found the signature wrong.
`

// run is the whole program: main only adds the process around it, and
// exits with exitCode of what run returns.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := newCommands(getenv, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// runCommand runs one of the service commands (serviceCommands), each of
// which reads its own flags from args, with their environment defaults.
// A command's -h prints its flags and is no failure.
func runCommand(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch cmd {
	case "serve", "api", "worker", "migrate", rotateCommand:
		cfg, err := parseConfig(cmd, args, getenv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil // the help asked for is printed
		}
		if err != nil {
			return err
		}
		return runService(ctx, cmd, cfg, stdout, stderr)
	case "receive":
		err := runReceive(ctx, args, getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	case "feed":
		err := runFeed(ctx, args, getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	case "health":
		err := runHealth(ctx, args, getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// newLogger returns the logger c's log level and format say, writing to
// w. Each line about a delivery names it (dispatcher.LogHandler).
func newLogger(c config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "json":
		return slog.New(dispatcher.LogHandler(slog.NewJSONHandler(w, opts))), nil
	case "text", "":
		return slog.New(dispatcher.LogHandler(slog.NewTextHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", c.logFormat)
}

// runService runs serve, api, worker, migrate or rotate-encryption-key
// until ctx ends. It opens the store with its encryption keys (and
// migrates it), checks that the keys open every endpoint's secrets,
// connects Redis, ensures an admin key,
// builds the caches, starts the metrics (if asked), the delivery workers
// (serve, worker), the HTTP server (serve, api) or the worker's probes
// (worker) and pprof (if asked), and waits. The end of ctx, or the first
// of those to fail, shuts them all down; the failure is returned.
func runService(ctx context.Context, cmd string, c config, stdout, stderr io.Writer) error {
	log, tracer, stopTracing, err := instruments(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer stopTracing()

	switch cmd {
	case "migrate":
		return migrateStore(ctx, c.databaseURL, stdout)
	case rotateCommand:
		return rotateKeys(ctx, c, stdout, log)
	}
	keys, err := keyring(c.keys, c.databaseURL, log)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, c.databaseURL, keys, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkKeys(ctx, st, keys, log); err != nil {
		return err
	}
	redisOpt, rdb, stopRedis, err := connectRedis(ctx, c.redisURL, log)
	if err != nil {
		return err
	}
	defer stopRedis()
	if cmd != "worker" {
		if err := ensureAdminKey(ctx, st, c.adminKey, stdout); err != nil {
			return err
		}
	}

	// index is the matcher's, when the delivery workers run here.
	var index *subscriptions.Index
	if cmd != "api" {
		index = subscriptions.NewIndex()
	}
	p := newParts(st, redisOpt, rdb, newCaches(st, rdb, index, c.eventCacheMB), c)
	p.tracer = tracer

	g := newGroup(ctx)
	defer g.stop()
	if p.metrics, err = startMetrics(g, p, c, log, stdout); err != nil {
		return err
	}
	// fanout is the delivery workers of this process, for the ingest API
	// to fan events out as it stores them; nil when they run elsewhere.
	var fanout dispatcher.LocalFanout
	if index != nil {
		w, err := startWorkers(g, p, c, log)
		if err != nil {
			return err
		}
		fanout = w
		if cmd == "worker" {
			fmt.Fprintf(stdout, "shiphook %s worker started\n", version)
			if err := startHTTP(g, c.healthAddr, api.Probes(w.Alive, readiness(p)), stdout); err != nil {
				return err
			}
		}
	}
	if cmd != "worker" {
		listenFeeds(g, p.queue.Feeds())
		if err := startHTTP(g, c.addr, newAPI(p, c, fanout, g.ctx.Done()), stdout); err != nil {
			return err
		}
	}
	if c.pprofAddr != "" {
		if err := startPprof(g, c.pprofAddr, log); err != nil {
			return err
		}
	}
	err = g.wait(log)
	log.Info("stopped")
	return err
}

// databaseURL is url, or the embedded SQLite file if url is empty.
func databaseURL(url string) string {
	if url == "" {
		return defaultDatabaseURL
	}
	return url
}

// migrateStore applies the migrations to the database at url and says so.
func migrateStore(ctx context.Context, url string, stdout io.Writer) error {
	st, err := store.Open(ctx, databaseURL(url))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	fmt.Fprintf(stdout, "database migrated (%s)\n", st.Dialect())
	return nil
}

// openStore opens the database at url (the embedded SQLite file if empty),
// sealing the endpoints' secrets with keys. A SQLite database is migrated;
// a PostgreSQL one must be already.
func openStore(ctx context.Context, url string, keys *store.Keyring, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, databaseURL(url), store.WithKeyring(keys))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if st.Dialect() == "sqlite" {
		if err = st.Migrate(ctx); err != nil {
			err = fmt.Errorf("migrate database: %w", err)
		}
	} else {
		err = st.CheckMigrated(ctx)
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	if url == "" {
		log.Info("using the embedded SQLite database; set DATABASE_URL=postgres://… for production", "path", strings.TrimPrefix(defaultDatabaseURL, "sqlite:"))
	} else {
		log.Info("using the "+st.Dialect()+" database", "database", store.Where(url))
	}
	if off, err := st.AutovacuumOff(ctx); err != nil {
		log.Warn("could not check PostgreSQL's autovacuum", "err", err)
	} else if off {
		log.Warn("PostgreSQL runs with autovacuum off: turn it on, or run ANALYZE on shiphook's database as its tables grow; " +
			"with statistics taken while a table was small, looking up one message or event can read the whole table")
	}
	return st, nil
}

// ensureAdminKey makes sure an admin can sign in, printing a key it had
// to make (once).
func ensureAdminKey(ctx context.Context, st *store.Store, envKey string, stdout io.Writer) error {
	key, err := subscriptions.EnsureAdminKey(ctx, st, envKey)
	if err != nil {
		return err
	}
	if key != "" {
		fmt.Fprintf(stdout, "Admin API key (shown once, keep it): %s\n", key)
	}
	return nil
}

// caches are what a process keeps of the store in memory, and the sync
// that tells them of changes.
type caches struct {
	syncer   *subscriptions.Sync
	partners *subscriptions.KnownPartners
	// index, endpoints and events serve delivery: nil in a process
	// without delivery workers. The ingest API hands stored events to
	// events when both run here.
	index     *subscriptions.Index
	endpoints *subscriptions.EndpointCache
	events    *dispatcher.EventCache
}

// newCaches builds the caches a process needs. With index, the matcher's
// index of the delivery workers, it builds theirs too; without, the
// delivery caches are nil.
func newCaches(st *store.Store, rdb redis.UniversalClient, index *subscriptions.Index, eventCacheMB int) caches {
	cs := caches{
		index:    index,
		syncer:   subscriptions.NewSync(st, index, rdb),
		partners: subscriptions.NewKnownPartners(st, subscriptions.DefaultKnownPartnersTTL),
	}
	cs.syncer.Caches = append(cs.syncer.Caches, cs.partners)
	if index != nil {
		cs.endpoints = subscriptions.NewEndpointCache(st, subscriptions.DefaultEndpointCacheTTL)
		cs.syncer.Caches = append(cs.syncer.Caches, cs.endpoints)
		cs.events = dispatcher.NewEventCache(eventCacheMB << 20)
	}
	return cs
}

// parts are what the service's components share.
type parts struct {
	st       *store.Store
	rdb      redis.UniversalClient
	redisOpt asynq.RedisConnOpt
	caches
	queue *dispatcher.Queue
	guard *dispatcher.Guard
	// tracer makes the spans of events (a no-op one while tracing is off).
	tracer trace.TracerProvider
	// metrics counts what the dispatcher does; nil when metrics are not
	// served.
	metrics *dispatcher.Metrics
}

// newParts builds the queue and the endpoints' guard over rdb, to share
// with cs.
func newParts(st *store.Store, redisOpt asynq.RedisConnOpt, rdb redis.UniversalClient, cs caches, c config) parts {
	return parts{
		st: st, rdb: rdb, redisOpt: redisOpt, caches: cs,
		queue: dispatcher.NewQueue(rdb, 2*time.Minute),
		guard: dispatcher.NewGuard(rdb, dispatcher.GuardConfig{Breaker: c.breaker, MaxConcurrency: c.endpointConcurrency, Lease: c.lease}),
	}
}

// startWorkers loads the endpoints and starts their sync and the delivery
// workers in g, and returns the workers.
func startWorkers(g *group, p parts, c config, log *slog.Logger) (*dispatcher.Worker, error) {
	if err := p.syncer.Start(g.ctx); err != nil {
		return nil, err
	}
	g.run(func(ctx context.Context) error {
		if err := p.syncer.Run(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("endpoint sync: %w", err)
		}
		return nil
	})
	w := dispatcher.NewWorker(dispatcher.Config{
		Store: p.st, Endpoints: p.endpoints, Events: p.events, Index: p.index, Sync: p.syncer, Notifier: p.syncer, Queue: p.queue, Redis: p.redisOpt,
		Destinations: c.dest, Guard: p.guard, AutoDisableAfter: c.autoDisableAfter, UserAgent: "shiphook/" + version, Schedule: c.schedule, Timeout: c.attemptTimeout, Lease: c.lease,
		Concurrency: c.concurrency, PollInterval: c.pollInterval, ReconcileInterval: c.reconcileInterval, ReconcileGrace: c.reconcileGrace,
		ShutdownTimeout: c.shutdownTimeout, Retention: c.retention, Logger: log, Tracer: p.tracer, Metrics: p.metrics,
	})
	g.run(w.Run)
	log.Info("delivery workers started", "concurrency", c.concurrency, "endpoints", p.index.Len())
	return w, nil
}

// newAPI returns the HTTP API over p; fanout is the delivery workers of
// this process, nil if they run elsewhere. Reads of feeds that wait end
// when stopping is closed, so that they do not hold up the shutdown.
func newAPI(p parts, c config, fanout dispatcher.LocalFanout, stopping <-chan struct{}) http.Handler {
	return api.New(api.Deps{
		Store: p.st, Auth: subscriptions.NewAuth(p.st), Notifier: p.syncer, Destinations: c.dest, Breakers: p.guard,
		Resumer:   &dispatcher.Resumer{Store: p.st, Endpoints: p.st, Queue: p.queue, Guard: p.guard},
		Ingest:    dispatcher.Ingest{Store: p.st, Partners: p.partners, Queue: p.queue, Fanout: fanout, Events: p.events, ItemStore: p.st, Registry: p.st, Tracer: p.tracer, Metrics: p.metrics},
		Replay:    dispatcher.Replay{Store: p.st, Partners: p.st, Queue: p.queue, Metrics: p.metrics},
		Feed:      dispatcher.Feed{Store: p.st, Bell: p.queue.Feeds(), Stopping: stopping},
		UserAgent: "shiphook/" + version,
		Ready:     readiness(p),
	})
}

// listenFeeds has bell hear the rings of every process in g, until g
// stops, so that a long-polling feed read here learns of messages that a
// worker elsewhere stored.
func listenFeeds(g *group, bell *dispatcher.FeedBell) {
	stop := bell.Listen()
	g.run(func(ctx context.Context) error {
		<-ctx.Done()
		stop()
		return nil
	})
}

// readiness is what /readyz checks: the database and Redis of p.
func readiness(p parts) []api.Dependency {
	return []api.Dependency{
		{Name: "database", Check: p.st.Ping},
		{Name: "redis", Check: func(ctx context.Context) error { return p.rdb.Ping(ctx).Err() }},
	}
}

// startHTTP serves h on addr in g, until g stops.
func startHTTP(g *group, addr string, h http.Handler, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Fprintf(stdout, "shiphook %s listening on http://%s\n", version, ln.Addr())
	g.run(func(context.Context) error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.run(func(ctx context.Context) error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	})
	return nil
}

// startPprof serves Go's pprof profiles on addr in g, until g stops.
func startPprof(g *group, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s for pprof: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving pprof profiles", "addr", ln.Addr().String())
	g.run(func(context.Context) error { _ = srv.Serve(ln); return nil })
	g.run(func(ctx context.Context) error { <-ctx.Done(); _ = srv.Close(); return nil })
	return nil
}
