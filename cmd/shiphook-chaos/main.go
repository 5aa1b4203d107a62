// Command shiphook-chaos is shiphook's fault suite. On a PostgreSQL and a
// Redis of its own (throwaway servers on free ports of 127.0.0.1, under a
// temporary directory), it runs bin/shiphook as an api and two worker
// processes, posts events at a steady rate, and meanwhile:
//
//   - kills workers with SIGKILL and starts them again,
//   - empties Redis (FLUSHALL), and restarts it empty,
//   - restarts PostgreSQL (a fast shutdown, then, in later rounds, an
//     immediate one, as a crash),
//   - makes endpoints hang until the attempt timeout, answer 500, and
//     refuse connections, for a while each.
//
// Then it checks that nothing answered 202 was lost (every accepted
// event reached every endpoint, by event and message id), counts the
// duplicates, checks that the breakers of the failing endpoints opened
// and closed again, that retries kept their schedule (read from the
// attempts API), and that every answer the API gave was 202, or 503 with
// a Retry-After, and never a 500 or no answer at all. It prints a summary
// and exits 1 if any check failed.
//
//	make chaos               # the long form: three rounds of faults, about 6 minutes
//	make chaos CHAOS=short   # one round, about 2 minutes, as make test runs it
//	bin/shiphook-chaos -h    # every flag
//
// Every request goes to 127.0.0.1; every loop is bounded in count and
// time. On Ctrl-C, or any failure, every process it started is stopped
// and its temporary directory removed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errChecksFailed) {
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shiphook-chaos:", err)
		os.Exit(1)
	}
}

// errChecksFailed is returned when the suite ran and a check failed; the
// summary says which.
var errChecksFailed = errors.New("checks failed")

// options are the flags.
type options struct {
	shiphook    string
	pgBindir    string
	redisServer string
	short       bool
	rounds      int
	rate        int
	drainLimit  time.Duration
	maxDupShare float64
	slack       time.Duration
	keep        bool
}

// parseOptions parses the command line args; getenv gives the defaults of
// -pg-bindir and -redis-server. It returns flag.ErrHelp for -h.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("shiphook-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: shiphook-chaos [flags]\n\nRuns shiphook's fault suite on throwaway PostgreSQL and Redis servers and prints a summary.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.shiphook, "shiphook", "bin/shiphook", "the shiphook binary to run")
	fs.StringVar(&o.pgBindir, "pg-bindir", getenv("SHIPHOOK_PG_BINDIR"), "directory of PostgreSQL's initdb and postgres ($SHIPHOOK_PG_BINDIR; deploy/dev/test-services.sh --binaries sets it)")
	fs.StringVar(&o.redisServer, "redis-server", getenv("SHIPHOOK_REDIS_SERVER"), "the redis-server binary ($SHIPHOOK_REDIS_SERVER; default: redis-server on the PATH)")
	fs.BoolVar(&o.short, "short", false, "the short form: one round of faults at a lower rate, for CI (flags given explicitly still count)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of faults; each takes 90 s (short: 1)")
	fs.IntVar(&o.rate, "rate", 25, "events posted a second, each to 6 endpoints (short: 15)")
	fs.DurationVar(&o.drainLimit, "drain-limit", 3*time.Minute, "most time to wait, after the load, for every accepted event to arrive")
	fs.Float64Var(&o.maxDupShare, "max-duplicates", 1, "most duplicates allowed, in percent of the deliveries")
	fs.DurationVar(&o.slack, "schedule-slack", 2500*time.Millisecond, "how much later than its schedule (+20 %) a retry may come outside faults: asynq counts whole seconds and moves due tasks once a second")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (server and shiphook logs) and print where it is")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.short {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["rounds"] {
			o.rounds = 1
		}
		if !given["rate"] {
			o.rate = 15
		}
	}
	switch {
	case o.rounds < 1 || o.rounds > 20:
		return nil, errors.New("-rounds: from 1 to 20")
	case o.rate < 1 || o.rate > 500:
		return nil, errors.New("-rate: from 1 to 500")
	case o.drainLimit <= 0 || o.slack < 0 || o.maxDupShare < 0:
		return nil, errors.New("-drain-limit must be positive, -schedule-slack and -max-duplicates not negative")
	case o.pgBindir == "":
		return nil, errors.New("-pg-bindir: where are initdb and postgres? Run through make chaos, which finds (or installs) them, or set SHIPHOOK_PG_BINDIR")
	}
	return o, nil
}

// run is the whole program.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
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
	s := &suite{opts: o, bin: bin, log: stderr, started: time.Now()}
	defer func() {
		if cerr := s.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := s.setUp(ctx); err != nil {
		return err
	}
	res, err := s.exercise(ctx)
	if err != nil {
		return err
	}
	rep := s.check(ctx, res)
	rep.print(stdout)
	if !rep.passed() {
		return errChecksFailed
	}
	return nil
}
