package dispatcher

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// Worker is the delivery core of one process. It is made of components,
// each in a file of its own (docs/architecture.md traces an event through
// them):
//
//   - fanout (fanout.go) matches an event to endpoints and stores and
//     schedules its messages;
//   - deliverer (deliverer.go, attempt.go) makes and records each attempt;
//   - scheduler (scheduler.go) runs work due now within the process, on
//     its lanes and gate, without a round trip to Redis;
//   - servers (servers.go) take fan-out, delivery and recovery tasks off
//     Redis, waiting for the doorbell while there are none (poll.go,
//     doorbell.go);
//   - reconciler (reconciler.go) queues again the work Redis lost;
//   - retention (retention.go) purges old attempts and payloads;
//   - waker (waker.go) wakes the messages held behind open breakers;
//   - rechecker (rechecker.go) matches events fanned out at ingest again
//     after endpoint changes made elsewhere;
//   - breakerRefresh (breaker.go) reads the open breakers from Redis;
//   - recoveryJobs (recoverjob.go) runs the recovery jobs.
type Worker struct {
	cfg      Config
	handlers *handlerCount

	fanout    *fanout
	deliverer *deliverer
	scheduler *scheduler
	servers   *servers
	// loops are the components that run until Run's context ends, in the
	// order they start and are waited for.
	loops      []loop
	reconciler *reconciler
	retention  *retention
	rechecker  *rechecker
}

// A loop is a component that runs in a goroutine of its own from start
// until the context given to start ends; shutdown waits for that.
type loop interface {
	start(ctx context.Context)
	shutdown()
}

// background runs the goroutine of a loop.
type background struct{ done chan struct{} }

// launch runs fn(ctx) in a goroutine of b's.
func (b *background) launch(ctx context.Context, fn func(context.Context)) {
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		fn(ctx)
	}()
}

// every launches a goroutine that calls fn every interval until ctx ends.
func (b *background) every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	b.launch(ctx, func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	})
}

// shutdown waits for the goroutine launch started to return.
func (b *background) shutdown() { <-b.done }

// NewWorker returns a Worker for cfg.
func NewWorker(cfg Config) *Worker {
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg, handlers: &handlerCount{}}
	events := &eventSource{cache: cfg.Events, store: cfg.Store}
	w.fanout = &fanout{store: cfg.Store, events: events, index: cfg.Index, sync: cfg.Sync, guard: cfg.Guard, queue: cfg.Queue, lease: cfg.Lease,
		tracing: newTracing(cfg.Tracer), metrics: cfg.Metrics}
	w.scheduler = newScheduler(cfg, w.handlers)
	w.deliverer = newDeliverer(cfg, events, w.scheduler)
	w.scheduler.fanout, w.scheduler.deliverer = w.fanout, w.deliverer
	w.rechecker = newRechecker(cfg.Store, w.fanout, cfg.Queue)

	mux := asynq.NewServeMux()
	mux.Use(w.handlers.middleware)
	mux.HandleFunc(taskFanout, w.fanout.handleTask)
	mux.HandleFunc(taskDeliver, w.deliverer.handleTask)
	mux.HandleFunc(taskRecover, (&recoveryJobs{store: cfg.Store, queue: cfg.Queue}).handleTask)
	w.servers = newServers(cfg, fanoutConcurrency(cfg), mux)

	w.reconciler = &reconciler{store: cfg.Store, queue: cfg.Queue, interval: cfg.ReconcileInterval, grace: cfg.ReconcileGrace, metrics: cfg.Metrics}
	w.retention = &retention{store: cfg.Store, events: cfg.Events, keep: cfg.Retention, interval: cfg.RetentionInterval}
	waker := newWaker(cfg.Store, cfg.Guard, cfg.Queue, cfg.Lease)
	waker.scheduler = w.scheduler
	w.loops = []loop{w.reconciler, &breakerRefresh{guard: cfg.Guard}, w.retention, waker, w.rechecker}
	return w
}

// fanoutConcurrency is how many fan-outs run at once, from Redis and from
// the scheduler's lane each.
func fanoutConcurrency(cfg Config) int { return max(cfg.Concurrency/4, 1) }

// handlerGrace bounds how long Run waits, once its servers have shut
// down, for task handlers that asynq gave up on: their context is
// cancelled, and they only put their message back or record it.
const handlerGrace = 10 * time.Second

// Run processes tasks and runs the loops until ctx ends, then shuts down
// gracefully: in-flight deliveries get ShutdownTimeout to finish, after
// which they are returned to the queue.
//
// It starts the scheduler, the asynq servers, then the loops: the
// reconciler, the breaker refresh, retention, the waker and the
// rechecker. Once ctx ends, the loops stop by themselves, and Run
//
//  1. shuts the scheduler down: new work goes to Redis, and so does the
//     work its lanes and gate still had;
//  2. shuts the asynq servers down and, meanwhile, waits for the
//     scheduler's handlers; after ShutdownTimeout it cancels the
//     handlers' context (asynq does the same for its own);
//  3. waits up to handlerGrace for handlers still running, which put
//     their messages back;
//  4. waits for the loops, in the order they started.
func (w *Worker) Run(ctx context.Context) error {
	// Task handlers outlive ctx by up to ShutdownTimeout, as asynq's do.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	w.scheduler.start(handlerCtx)
	if err := w.servers.start(); err != nil {
		w.scheduler.shutdown()
		w.scheduler.lanes.Wait()
		return err
	}
	for _, l := range w.loops {
		l.start(ctx)
	}
	<-ctx.Done()
	w.scheduler.shutdown()
	var wg sync.WaitGroup
	wg.Go(w.servers.shutdown)
	wg.Go(func() { w.scheduler.awaitHandlers(w.cfg.ShutdownTimeout, cancelHandlers) })
	wg.Wait()
	cancelHandlers()
	w.handlers.awaitIdle(handlerGrace, w.cfg.Logger)
	for _, l := range w.loops {
		l.shutdown()
	}
	return nil
}

// Alive reports whether w's loops are turning, for a liveness probe: nil
// while its reconciler, which runs every ReconcileInterval whatever the
// database and Redis answer, ended its last pass (or, before the first,
// started) within 3 of its intervals of now, and never less than a
// minute; otherwise an error saying since when. It is an error too
// before Run has started the loops. It is cheap: it reads one clock.
func (w *Worker) Alive(now time.Time) error { return w.reconciler.alive(now) }

// Reconcile makes one pass of the reconciler: events not fanned out,
// overdue messages and stalled recovery jobs are queued again.
func (w *Worker) Reconcile(ctx context.Context) error { return w.reconciler.reconcile(ctx) }

// Purge deletes attempts started before cutoff and empties the payloads of
// events created before it, in batches, and returns how many rows it
// touched.
func (w *Worker) Purge(ctx context.Context, cutoff time.Time) (int, error) {
	return w.retention.purge(ctx, cutoff)
}

// FanOutHere fans ev out in this process, while w runs: it gives ev its
// messages and marks it fanned out, for InsertEvents to store
// them with it, and returns a func that schedules them once they are
// stored. That saves the event a statement and a commit before its
// messages' first attempts, and the update of its row. While w is not
// running, ok is false and ev unchanged: its fan-out is then queued once it is
// stored (EnqueueFanout). Unlike a queued fan-out, it matches before
// catching up with endpoint changes made through other processes; the
// rechecker checks the event against them once scheduled (rechecker.go).
// A message to an ordered endpoint is numbered in its queue as it is
// stored; schedule leaves out those stored waiting (Insert.Waiting), and
// is not to be called for an event stored without its messages
// (Insert.Unfanned), whose fan-out is queued.
func (w *Worker) FanOutHere(ev *Event) (schedule func(context.Context, Insert), ok bool) {
	deliveries := w.scheduler.local.Load()
	if deliveries == nil {
		return nil, false
	}
	applied := w.fanout.applied()
	now := time.Now().UTC()
	deadline := now.Add(laneWait)
	msgs := w.fanout.messages(*ev, now, deliveries, deadline)
	ev.FannedOutAt, ev.Messages = &now, msgs
	return func(ctx context.Context, in Insert) {
		w.cfg.Metrics.messagesCreated(msgs)
		w.fanout.schedule(ctx, ev.ID, numberedAs(msgs, in), deliveries, deadline)
		w.rechecker.add(ctx, recheck{ev: *ev, applied: applied, msgs: msgs})
	}, true
}

// handlerCount counts the task handlers running, those of the asynq
// servers and those of the scheduler alike, so that Run can wait for them
// at shutdown.
type handlerCount struct{ n atomic.Int64 }

// middleware counts h's runs (a middleware of every asynq task).
func (c *handlerCount) middleware(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		c.n.Add(1)
		defer c.n.Add(-1)
		return h.ProcessTask(ctx, t)
	})
}

// awaitIdle waits until no handler runs, for grace at most; past ShutdownTimeout
// asynq puts a task back and returns without waiting for its handler, and
// the scheduler cancels theirs, and a handler then puts its message back
// in the database: let it, before the caller closes the database.
func (c *handlerCount) awaitIdle(grace time.Duration, log *slog.Logger) {
	for deadline := time.Now().Add(grace); c.n.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			log.Warn("task handlers still running at shutdown; the reconciler will take up their messages", "handlers", c.n.Load())
			break
		}
	}
}

// numberedAs returns msgs as in says they were stored: with their
// numbers, and without those stored waiting.
func numberedAs(msgs []Message, in Insert) []Message {
	if len(in.Sequences) == 0 {
		return msgs
	}
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		if slices.Contains(in.Waiting, m.ID) {
			continue
		}
		m.Sequence = in.Sequences[m.ID]
		out = append(out, m)
	}
	return out
}
