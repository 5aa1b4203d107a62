package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

// faultKind is what a fault does.
type faultKind int

const (
	killWorker      faultKind = iota // SIGKILL one worker, start it again after down
	killWorkers                      // SIGKILL every worker at once
	flushRedis                       // FLUSHALL
	restartRedis                     // kill redis-server, start it again, empty, after down
	restartPostgres                  // stop PostgreSQL, start it again after down
	endpointDown                     // an endpoint's receiver fails for down
)

// step is one fault of the plan.
type step struct {
	at     time.Duration // from the start of the load
	kind   faultKind
	worker int           // killWorker: which
	target string        // endpointDown: the endpoint's name
	down   time.Duration // how long until it is repaired
	// immediate: restartPostgres stops it as a crash would, rather than
	// with a fast shutdown.
	immediate bool
}

// system reports whether the fault is of shiphook's own processes or
// servers, rather than of an endpoint.
func (s step) system() bool { return s.kind != endpointDown }

func (s step) String() string {
	switch s.kind {
	case killWorker:
		return fmt.Sprintf("SIGKILL worker-%d, restart after %s", s.worker+1, s.down)
	case killWorkers:
		return fmt.Sprintf("SIGKILL both workers, restart after %s", s.down)
	case flushRedis:
		return "Redis FLUSHALL"
	case restartRedis:
		return fmt.Sprintf("Redis killed, restarted empty after %s", s.down)
	case restartPostgres:
		how := "fast shutdown"
		if s.immediate {
			how = "immediate shutdown (a crash)"
		}
		return fmt.Sprintf("PostgreSQL %s, restarted after %s", how, s.down)
	default:
		return fmt.Sprintf("endpoint %s %s for %s", s.target, map[harness.Mode]string{
			harness.Hanging: "hangs", harness.Failing: "answers 500", harness.Refusing: "refuses connections"}[modeOf(s.target)], s.down)
	}
}

// modeOf is how the endpoint named name fails.
func modeOf(name string) harness.Mode {
	for _, spec := range endpointSpecs {
		if spec.name == name {
			return spec.down
		}
	}
	return harness.Up
}

// The plan's timing: the load runs warmUpFor, then roundLength per round.
const (
	warmUpFor   = 8 * time.Second
	roundLength = 90 * time.Second
)

// plan returns the faults of rounds rounds, in order. No two system
// faults overlap; endpoints fail while the system faults go on. Every
// second round stops PostgreSQL as a crash.
func plan(rounds int) []step {
	var out []step
	for r := range rounds {
		at := func(s int) time.Duration {
			return warmUpFor + time.Duration(r)*roundLength + time.Duration(s)*time.Second
		}
		out = append(out,
			step{at: at(0), kind: killWorker, worker: 0, down: 2 * time.Second},
			step{at: at(10), kind: flushRedis},
			step{at: at(16), kind: endpointDown, target: "hangs", down: 20 * time.Second},
			step{at: at(22), kind: killWorker, worker: 1, down: 2 * time.Second},
			step{at: at(32), kind: restartRedis, down: 3 * time.Second},
			step{at: at(42), kind: endpointDown, target: "fails", down: 20 * time.Second},
			step{at: at(47), kind: restartPostgres, down: 5 * time.Second, immediate: r%2 == 1},
			step{at: at(64), kind: endpointDown, target: "refuses", down: 20 * time.Second},
			step{at: at(70), kind: killWorkers, down: 2 * time.Second},
		)
	}
	return out
}

// fault is a step as it went.
type fault struct {
	step
	injected, repaired time.Time
	err                error
}

// inject makes the fault of st, waits its down time, and repairs it.
func (s *suite) inject(ctx context.Context, st step) fault {
	f := fault{step: st, injected: time.Now()}
	s.progress("fault: %s", st)
	down := func() bool { return harness.Sleep(ctx, st.down) == nil }
	switch st.kind {
	case killWorker:
		s.cl.killWorker(st.worker)
		if down() {
			f.err = s.cl.startWorker(ctx, st.worker)
		}
	case killWorkers:
		for i := range workers {
			s.cl.killWorker(i)
		}
		if down() {
			for i := range workers {
				if f.err == nil {
					f.err = s.cl.startWorker(ctx, i)
				}
			}
		}
	case flushRedis:
		f.err = s.redis.flushAll(ctx)
	case restartRedis:
		s.redis.kill()
		if down() {
			f.err = s.redis.start(ctx)
		}
	case restartPostgres:
		f.err = s.pg.stop(st.immediate)
		if f.err == nil && down() {
			f.err = s.pg.start(ctx)
		}
	case endpointDown:
		e := s.endpoint(st.target)
		f.err = e.rcv.SetMode(e.down)
		if f.err == nil && down() {
			f.err = e.rcv.SetMode(harness.Up)
		}
	}
	f.repaired = time.Now()
	if f.err == nil && ctx.Err() != nil {
		f.err = ctx.Err()
	}
	if f.err != nil {
		f.err = fmt.Errorf("%s: %w", st, f.err)
	}
	return f
}

func (s *suite) endpoint(name string) *endpoint {
	for _, e := range s.endpoints {
		if e.name == name {
			return e
		}
	}
	panic("no endpoint " + name)
}

// results are what the exercise left to check.
type results struct {
	faults             []fault
	loadStart, loadEnd time.Time
	drained            time.Time // zero if not everything arrived
	samples            []breakerSample
	finalBreakers      map[string]string // endpoint name → state after the drain
}

// retriesAfterLoad is how long after the load the publishers keep
// sending the events not yet accepted.
const retriesAfterLoad = 30 * time.Second

// exercise runs the load and the faults of the plan, then waits for the
// deliveries to drain. An error is one of the suite itself (a process
// that would not start again, a shiphook process that died); what the
// checks find is for check.
func (s *suite) exercise(ctx context.Context) (*results, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	steps := plan(s.opts.rounds)
	loadFor := warmUpFor + time.Duration(s.opts.rounds)*roundLength
	res := &results{faults: make([]fault, len(steps)), loadStart: time.Now()}
	s.progress("load: %d events/s for %s, %d faults", s.opts.rate, loadFor, len(steps))
	mon := s.startMonitor(ctx, cancel)
	var wg sync.WaitGroup
	wg.Go(func() { s.pub.run(ctx, s.opts.rate, loadFor, res.loadStart.Add(loadFor+retriesAfterLoad)) })
	for i, st := range steps {
		wg.Go(func() {
			if harness.Sleep(ctx, time.Until(res.loadStart.Add(st.at))) != nil {
				return
			}
			res.faults[i] = s.inject(ctx, st)
			if err := res.faults[i].err; err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	res.loadEnd = time.Now()
	if err := context.Cause(ctx); err != nil {
		mon.stop()
		return nil, err
	}
	accepted, _, _ := s.pub.result()
	s.progress("load over: %d events accepted; waiting up to %s for every delivery", len(accepted), s.opts.drainLimit)
	res.drained = s.drain(ctx, accepted)
	// Duplicates under way still arrive.
	_ = harness.Sleep(ctx, 3*time.Second)
	res.samples = mon.stop()
	res.finalBreakers = s.breakerStates(ctx)
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// expected calls f with each delivery that acc calls for: the endpoint's
// path and the event.
func (s *suite) expected(acc []acceptance, f func(path, eventID string)) {
	for _, a := range acc {
		for _, e := range s.endpoints {
			if !e.scheduled || a.scheduled {
				f(e.path(), a.id)
			}
		}
	}
}

// missing counts the deliveries acc calls for that did not arrive.
func (s *suite) missing(acc []acceptance) (missing, expected int) {
	s.expected(acc, func(path, id string) {
		expected++
		if _, ok := s.tally.FirstArrival(path, id); !ok {
			missing++
		}
	})
	return missing, expected
}

// drain waits until every accepted event has reached every endpoint it
// should, or the drain limit passes; it returns when (zero: never).
func (s *suite) drain(ctx context.Context, acc []acceptance) time.Time {
	deadline := time.Now().Add(s.opts.drainLimit)
	lastSaid := time.Now()
	for {
		n, want := s.missing(acc)
		if n == 0 {
			s.progress("every one of %d deliveries arrived", want)
			return time.Now()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.progress("%d of %d deliveries still missing after %s", n, want, s.opts.drainLimit)
			return time.Time{}
		}
		if time.Since(lastSaid) >= 10*time.Second {
			s.progress("%d of %d deliveries still to arrive", n, want)
			lastSaid = time.Now()
		}
		_ = harness.Sleep(ctx, 500*time.Millisecond)
	}
}
