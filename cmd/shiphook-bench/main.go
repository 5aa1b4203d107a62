// Command shiphook-bench measures shiphook end to end on one machine.
//
// For each pass it starts bin/shiphook serve as a child process — first on
// PostgreSQL and Redis (a fresh database and an emptied Redis database,
// both removed afterwards), then on the embedded defaults (SQLite and the
// in-process Redis) — with a webhook receiver of its own on 127.0.0.1 that
// verifies every signature. It creates partners and endpoints through the
// API, publishes events with a load generator, and measures events accepted
// per second, deliveries per second end to end, publish-to-receipt
// latency, the CPU that shiphook, Redis and PostgreSQL spent per 1,000
// deliveries, shiphook's peak RSS, and whether every delivery arrived
// exactly once. It prints one markdown report on stdout (and to -out) and
// its progress on stderr.
//
//	make bench                      # the full set, as docs/benchmarks.md shows it
//	make bench BENCHFLAGS=-quick    # a small version, about a minute
//	bin/shiphook-bench -h           # every flag
//
// Every request goes to 127.0.0.1 (and to the PostgreSQL and Redis named
// by -database-url and -redis-url); every loop is bounded in count and
// time. On Ctrl-C, or any failure, shiphook is stopped and the database
// and Redis keys it used are removed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shiphook-bench:", err)
		os.Exit(1)
	}
}

// Defaults of the servers of the first pass.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/14"
)

// options are the flags.
type options struct {
	shiphook    string
	out         string
	latencies   string
	goBench     string
	goBenchCmd  string
	passes      []string
	scenarios   []string
	quick       bool
	databaseURL string
	redisURL    string
	shiphookEnv listFlag

	endpointMaxConcurrency int
	breakerOpenFor         time.Duration
	vacuum                 bool
	checkpoint             bool

	events         int
	publishers     int
	fanout10Events []int
	rate           int
	rateFor        time.Duration
	ratePublishers int
	batchEvents    int
	batchSize      int
	batchPubs      int
	sourceBatch    int
	backlog        int
	backlogEmbed   int
	embeddedScale  float64
	backlogFanout  int
	backlogDown    string
	backlogHold    time.Duration

	publishLimit time.Duration
	drainLimit   time.Duration
	stallAfter   time.Duration

	command string
}

// listFlag is a flag that may be given many times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// quickSizes are the -quick defaults of the flags not given explicitly.
var quickSizes = map[string]string{
	"events":           "1000",
	"publishers":       "32",
	"fanout10-events":  "100,500",
	"rate":             "200",
	"rate-for":         "5s",
	"batch-events":     "2000",
	"backlog":          "5000",
	"backlog-embedded": "500",
	"backlog-hold":     "2s",
	"embedded-scale":   "0.1",
	"breaker-open-for": "5s",
	"stall":            "30s",
}

// parseOptions parses the command line args: -quick sets the flags of
// quickSizes not given, getenv gives the defaults of -database-url and
// -redis-url, and usage and flag errors go to stderr. It returns
// flag.ErrHelp for -h, and an error naming the flag of an option out of
// range.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("shiphook-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: shiphook-bench [flags]\n\nRuns shiphook's end-to-end benchmarks on this machine and prints a markdown report.\n\n")
		fs.PrintDefaults()
	}
	lists := o.declare(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		if err := quickDefaults(fs); err != nil {
			return nil, err
		}
	}
	if err := o.setLists(lists); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.command = commandLine(args)
	return o, nil
}

// listFlags are the flags that take a comma-separated list, as given.
type listFlags struct {
	passes, scenarios, fanout10 string
}

// declare declares the flags on fs, each setting a field of o, but for
// those that take a list: they set the fields of the listFlags it
// returns. The defaults of -database-url and -redis-url come from getenv.
func (o *options) declare(fs *flag.FlagSet, getenv func(string) string) *listFlags {
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	lists := &listFlags{}
	fs.StringVar(&o.shiphook, "shiphook", "bin/shiphook", "the shiphook binary to run")
	fs.StringVar(&o.out, "out", "", "also write the report to this file")
	fs.StringVar(&o.latencies, "latencies", "", "write each scenario's publish → receipt latencies, in milliseconds and in order of arrival, to a file <pass>-<scenario>-<events>.txt in this directory: to see when the slow ones came")
	fs.StringVar(&o.goBench, "gobench", "", "output of go test -bench to include in the report")
	fs.StringVar(&o.goBenchCmd, "gobench-cmd", "", "the command that wrote the -gobench file, for the report to name")
	fs.StringVar(&lists.passes, "passes", passPostgres+","+passEmbedded, "passes to run: postgres (PostgreSQL and Redis), embedded (SQLite and the in-process Redis)")
	fs.StringVar(&lists.scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, in this order: "+strings.Join(allScenarios, ", "))
	fs.BoolVar(&o.quick, "quick", false, "small sizes (about a minute in all); flags given explicitly still count")
	fs.StringVar(&o.databaseURL, "database-url", envOr("SHIPHOOK_BENCH_DATABASE_URL", defaultDatabaseURL), "PostgreSQL server of the first pass; a database shiphook_bench_<random> is created on it and dropped ($SHIPHOOK_BENCH_DATABASE_URL)")
	fs.StringVar(&o.redisURL, "redis-url", envOr("SHIPHOOK_BENCH_REDIS_URL", defaultRedisURL), "Redis database of the first pass, emptied before and after; claimed as the tests claim theirs ($SHIPHOOK_BENCH_REDIS_URL)")
	fs.Var(&o.shiphookEnv, "shiphook-env", "KEY=VALUE added to shiphook's environment, such as SHIPHOOK_CONCURRENCY=400 (may be repeated)")
	fs.IntVar(&o.endpointMaxConcurrency, "endpoint-max-concurrency", 0, "SHIPHOOK_ENDPOINT_MAX_CONCURRENCY for shiphook: deliveries in flight to one endpoint; 0 keeps shiphook's default (10)")
	fs.DurationVar(&o.breakerOpenFor, "breaker-open-for", 0, "SHIPHOOK_BREAKER_OPEN_FOR for shiphook: how long the backlog waits for a probe once the receiver is back; 0 keeps shiphook's default (30s)")
	fs.BoolVar(&o.checkpoint, "checkpoint", true, "run CHECKPOINT on PostgreSQL before each scenario, so that none waits on writing out the pages that the ones before it left dirty")
	fs.BoolVar(&o.vacuum, "vacuum", true, "when PostgreSQL runs with autovacuum off (as a CI server may), VACUUM ANALYZE the tables of the bench's database that hold rows before each scenario, as autovacuum would have, so that none pays for the dead rows of the ones before it")
	fs.IntVar(&o.events, "events", 20000, "fan-out ×1: events to publish")
	fs.IntVar(&o.publishers, "publishers", 64, "fan-out ×1 and ×10: concurrent publishers")
	fs.StringVar(&lists.fanout10, "fanout10-events", "2000,20000", "fan-out ×10: events to publish, one run per number")
	fs.IntVar(&o.rate, "rate", 1000, "fixed rate: events offered a second")
	fs.DurationVar(&o.rateFor, "rate-for", 30*time.Second, "fixed rate: how long")
	fs.IntVar(&o.ratePublishers, "rate-publishers", 256, "fixed rate: most requests in flight at once")
	fs.IntVar(&o.batchEvents, "batch-events", 50000, "batch ingest: events to publish")
	fs.IntVar(&o.batchSize, "batch-size", 500, "batch ingest and backlog: events per batch call (shiphook takes at most 500)")
	fs.IntVar(&o.batchPubs, "batch-publishers", 4, "batch ingest and backlog: concurrent batch calls")
	fs.IntVar(&o.sourceBatch, "source-batch-size", 100, "batch ingest through a source (batch-dcsa, batch-mapped): events per call, of -batch-events, from -batch-publishers callers (a source takes at most 500)")
	fs.IntVar(&o.backlog, "backlog", 200000, "backlog: pending messages to pile up on PostgreSQL and Redis (use 1000000 for the full target)")
	fs.IntVar(&o.backlogEmbed, "backlog-embedded", 2000, "backlog: pending messages to pile up on the embedded pass")
	fs.Float64Var(&o.embeddedScale, "embedded-scale", 0.02, "the embedded pass publishes this share of the events of the other scenarios (and offers its fixed rate for this share of the time): it is much slower")
	fs.IntVar(&o.backlogFanout, "backlog-fanout", 10, "backlog: endpoints each event goes to (10 partners, one endpoint each)")
	fs.StringVar(&o.backlogDown, "backlog-down", "503", "backlog: how the receiver is down: 503 (answers 503 Service Unavailable) or refuse (connections refused)")
	fs.DurationVar(&o.backlogHold, "backlog-hold", 15*time.Second, "backlog: how long to hold the built backlog before the receiver comes back")
	fs.DurationVar(&o.publishLimit, "publish-limit", 15*time.Minute, "most time one scenario may spend publishing")
	fs.DurationVar(&o.drainLimit, "drain-limit", 30*time.Minute, "most time one scenario may wait for its deliveries")
	fs.DurationVar(&o.stallAfter, "stall", 2*time.Minute, "stop waiting when no delivery (or fan-out) progress was seen for this long")
	return lists
}

// quickDefaults sets each flag of quickSizes that was not given to its
// -quick size.
func quickDefaults(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range quickSizes {
		if !given[name] {
			if err := fs.Set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// setLists sets the passes, scenarios and fan-out ×10 sizes of o from the
// lists given, and returns an error naming the flag of an unknown or
// malformed item.
func (o *options) setLists(lists *listFlags) error {
	o.passes = splitList(lists.passes)
	for _, p := range o.passes {
		if _, ok := passTitle[p]; !ok {
			return fmt.Errorf("-passes: unknown pass %q; use postgres, embedded", p)
		}
	}
	o.scenarios = splitList(lists.scenarios)
	for _, s := range o.scenarios {
		if !contains(allScenarios, s) {
			return fmt.Errorf("-scenarios: unknown scenario %q; use %s", s, strings.Join(allScenarios, ", "))
		}
	}
	for _, s := range splitList(lists.fanout10) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("-fanout10-events: %q is not a positive number", s)
		}
		o.fanout10Events = append(o.fanout10Events, n)
	}
	return nil
}

// validate returns an error that names the flag of the first option out of
// its range.
func (o *options) validate() error {
	for _, kv := range o.shiphookEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("-shiphook-env %q: use KEY=VALUE", kv)
		}
	}
	switch {
	case o.events < 1 || o.publishers < 1 || o.ratePublishers < 1 || o.batchPubs < 1 || o.batchEvents < 1:
		return errors.New("event counts and publishers must be at least 1")
	case o.batchSize < 1 || o.batchSize > 500:
		return errors.New("-batch-size: from 1 to 500")
	case o.sourceBatch < 1 || o.sourceBatch > 500:
		return errors.New("-source-batch-size: from 1 to 500")
	case o.rate < 1 || o.rate > 1_000_000 || o.rateFor < time.Second:
		return errors.New("-rate must be at least 1 and -rate-for at least 1s")
	case o.backlog < 1 || o.backlogEmbed < 1 || o.backlogFanout < 1 || o.backlogFanout > 50:
		return errors.New("-backlog sizes must be at least 1, -backlog-fanout from 1 to 50")
	case o.embeddedScale <= 0 || o.embeddedScale > 1:
		return errors.New("-embedded-scale: above 0, at most 1")
	case o.backlogDown != "503" && o.backlogDown != "refuse":
		return errors.New("-backlog-down: 503 or refuse")
	case o.publishLimit <= 0 || o.drainLimit <= 0 || o.stallAfter <= 0:
		return errors.New("time limits must be positive")
	}
	return nil
}

// commandLine is how the report names its run: with the arguments given,
// but not where the report was written nor the Go benchmarks' command,
// which the report shows with their table.
func commandLine(args []string) string {
	out := []string{"shiphook-bench"}
	for i := 0; i < len(args); i++ {
		name, _, inline := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if strings.HasPrefix(args[i], "-") && (name == "out" || name == "gobench-cmd") {
			if !inline {
				i++
			}
			continue
		}
		out = append(out, shellQuote(args[i]))
	}
	return strings.Join(out, " ")
}

// shellQuote quotes s for a POSIX shell, if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// scenariosFor returns the scenarios of a pass, in order.
func (o *options) scenariosFor(pass string) []scenario {
	scale := func(n int) int { return n }
	rateFor := o.rateFor
	if pass == passEmbedded {
		scale = func(n int) int { return max(1, int(float64(n)*o.embeddedScale+0.5)) }
		rateFor = max(time.Second/time.Duration(o.rate), time.Duration(float64(o.rateFor)*o.embeddedScale)).Round(time.Millisecond)
	}
	var out []scenario
	for _, kind := range o.scenarios {
		switch kind {
		case scenarioFanout1:
			n := scale(o.events)
			out = append(out, scenario{kind: kind, fanout: 1, events: n, publishers: o.publishers,
				title: fmt.Sprintf("fan-out ×1, %s events, %d publishers, as fast as it goes", thousands(n), o.publishers)})
		case scenarioOrdered:
			n := scale(o.events)
			out = append(out, scenario{kind: kind, fanout: 1, events: n, publishers: o.publishers, ordered: true, shipments: orderedShipments,
				title: fmt.Sprintf("fan-out ×1 to an endpoint ordered by shipment, %s events over %d shipments, %d publishers, as fast as it goes",
					thousands(n), orderedShipments, o.publishers)})
		case scenarioFanout10:
			for _, n := range o.fanout10Events {
				n = scale(n)
				out = append(out, scenario{kind: kind, fanout: 10, events: n, publishers: o.publishers,
					title: fmt.Sprintf("fan-out ×10, %s events, %d publishers, as fast as it goes", thousands(n), o.publishers)})
			}
		case scenarioRate:
			out = append(out, scenario{kind: kind, fanout: 1, rate: o.rate, duration: rateFor, publishers: o.ratePublishers,
				title: fmt.Sprintf("fan-out ×1, %s events/s offered for %s (open loop)", thousands(o.rate), rateFor)})
		case scenarioBatch:
			n := scale(o.batchEvents)
			out = append(out, scenario{kind: kind, fanout: 1, events: n, batch: o.batchSize, publishers: o.batchPubs,
				title: fmt.Sprintf("batch ingest, %s events, %d per call, %d callers, fan-out ×1", thousands(n), o.batchSize, o.batchPubs)})
		case scenarioBatchDCSA, scenarioBatchMapped:
			n := scale(o.batchEvents)
			format, via := formatDCSA, "DCSA T&T 2.2 notifications"
			if kind == scenarioBatchMapped {
				format, via = formatMapped, "a mapped source"
			}
			out = append(out, scenario{kind: kind, fanout: 1, events: n, batch: o.sourceBatch, publishers: o.batchPubs, source: format,
				title: fmt.Sprintf("batch ingest through %s, %s events, %d per call, %d callers, fan-out ×1", via, thousands(n), o.sourceBatch, o.batchPubs)})
		case scenarioBacklog:
			n := o.backlog
			if pass == passEmbedded {
				n = o.backlogEmbed
			}
			events := max(1, n/o.backlogFanout)
			down := harness.Unavailable
			if o.backlogDown == "refuse" {
				down = harness.Refusing
			}
			out = append(out, scenario{kind: kind, fanout: o.backlogFanout, events: events, batch: o.batchSize, publishers: o.batchPubs,
				down: down, hold: o.backlogHold,
				title: fmt.Sprintf("backlog of %s messages (fan-out ×%d), receiver down, then drain", thousands(events*o.backlogFanout), o.backlogFanout)})
		}
	}
	return out
}

// run is the whole program.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	bin, err := harness.Binary(o.shiphook)
	if err != nil {
		return err
	}
	rep := &report{started: time.Now(), opts: o, machine: readMachine()}
	if o.goBench != "" {
		if rep.goBench, err = readGoBench(o.goBench); err != nil {
			return err
		}
	}
	rcv, err := harness.StartReceiver()
	if err != nil {
		return err
	}
	defer rcv.Close()

	env := append([]string(nil), o.shiphookEnv...)
	if o.breakerOpenFor > 0 {
		env = append([]string{"SHIPHOOK_BREAKER_OPEN_FOR=" + o.breakerOpenFor.String()}, env...)
	}
	if o.endpointMaxConcurrency > 0 {
		env = append([]string{"SHIPHOOK_ENDPOINT_MAX_CONCURRENCY=" + strconv.Itoa(o.endpointMaxConcurrency)}, env...)
	}
	rep.shiphookEnv = env
	for _, name := range o.passes {
		if ctx.Err() != nil {
			break
		}
		rep.passes = append(rep.passes, runPass(ctx, name, passConfig{bin: bin, databaseURL: o.databaseURL, redisURL: o.redisURL, env: env}, o, rcv, rep, stderr))
	}
	rep.finished = time.Now()
	rep.stray, rep.invalid = rcv.Stray.Load(), rcv.Invalid.Load()
	rep.lastInvalid = rcv.LastInvalid()

	text := rep.markdown()
	fmt.Fprint(stdout, text)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report written to %s\n", o.out)
	}
	if o.latencies != "" {
		if err := writeLatencies(o.latencies, rep.rows); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "latencies written to %s\n", o.latencies)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if bad := rep.problems(); bad != "" {
		return errors.New(bad)
	}
	return nil
}

// runPass runs every scenario of one pass and records its rows in rep.
func runPass(ctx context.Context, name string, c passConfig, o *options, rcv *harness.Receiver, rep *report, stderr io.Writer) passInfo {
	info := passInfo{name: name}
	fmt.Fprintf(stderr, "[%s] starting shiphook (%s)\n", name, passTitle[name])
	p, err := startPass(ctx, name, c, stderr)
	if err != nil {
		info.err = err
		fmt.Fprintf(stderr, "[%s] %v\n", name, err)
		return info
	}
	info.postgresVersion, info.redisVersion = p.postgresVersion, p.redisVersion
	info.autovacuumOff, info.vacuumed = p.autovacuumOff, p.autovacuumOff && o.vacuum
	info.checkpointed = p.stats != nil && o.checkpoint
	rn := &runner{p: p, rcv: rcv, opts: o, stderr: stderr}
	for _, s := range o.scenariosFor(name) {
		if ctx.Err() != nil {
			break
		}
		r := rn.run(ctx, s)
		rep.rows = append(rep.rows, r)
		if err := p.alive(); err != nil {
			info.err = err
			break
		}
	}
	info.logLines = harness.CountLogMessages(p.logPath)
	if err := p.close(stderr); err != nil && info.err == nil {
		info.err = fmt.Errorf("cleanup: %w", err)
	}
	return info
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
