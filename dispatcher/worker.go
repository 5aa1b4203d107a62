package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shiphook/shiphook/subscriptions"
)

// Worker runs the fan-out and delivery tasks, and the reconciler.
type Worker struct {
	cfg    Config
	client *http.Client
	srvs   []*asynq.Server
	// busy counts the task handlers running.
	busy atomic.Int64
	// rechecks are the events fanned out at ingest, to check against
	// endpoint changes made elsewhere (recheck.go).
	rechecks chan recheck
	// gate lines up the deliveries that find their endpoint at its cap
	// (gate.go); runners bounds the deliveries from it under way, in
	// goroutines that send them on and record their attempts, which run
	// in running, with runCtx, the lanes' handlers' context, and wait on
	// idle for more.
	gate    *gate
	runners chan struct{}
	idle    chan placed
	running sync.WaitGroup
	runCtx  context.Context
	// here is the lane of deliveries while Run runs, for FanOutHere;
	// nil otherwise.
	here atomic.Pointer[lane[deliveryTask]]
}

// handlerGrace bounds how long Run waits, once its servers have shut
// down, for task handlers that asynq gave up on: their context is
// cancelled, and they only put their message back or record it.
const handlerGrace = 10 * time.Second

// deliveryLoops is how many asynq servers take delivery tasks.
const deliveryLoops = 2

// server returns an asynq server of queues with concurrency workers.
func (w *Worker) server(queues map[string]int, concurrency int) *asynq.Server {
	return asynq.NewServer(w.cfg.Redis, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   queues,
		TaskCheckInterval:        w.cfg.PollInterval,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          w.cfg.ShutdownTimeout,
		RetryDelayFunc:           infraRetryDelay,
		Logger:                   asynqLogger{w.cfg.Logger},
		LogLevel:                 asynq.WarnLevel,
	})
}

// NewWorker returns a Worker for cfg.
func NewWorker(cfg Config) *Worker {
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg, client: newHTTPClient(cfg.Destinations), rechecks: make(chan recheck, recheckQueue),
		gate: newGate(), idle: make(chan placed)}
	w.runners = make(chan struct{}, w.gateSize())
	// Fan-out and delivery each get asynq servers of their own: an asynq
	// server takes tasks off Redis one at a time, in one loop, and one loop
	// for both would bound them together by its round trips.
	w.srvs = append(w.srvs, w.server(map[string]int{queueFanout: 1}, w.fanoutConcurrency()))
	for range deliveryLoops {
		w.srvs = append(w.srvs, w.server(map[string]int{queueDeliver: 1}, max(cfg.Concurrency/deliveryLoops, 1)))
	}
	return w
}

// gateSize is how many deliveries wait in the gate at most, and how many
// of those that waited are under way at once.
func (w *Worker) gateSize() int { return gateDepth * w.cfg.Concurrency }

// fanoutConcurrency is how many fan-outs run at once, from Redis and from
// the lane each.
func (w *Worker) fanoutConcurrency() int { return max(w.cfg.Concurrency/4, 1) }

// infraRetryDelay spaces out the retries of a task that failed for a reason
// of our own (database down): 1 s, 2 s, 4 s, … up to a minute.
func infraRetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	return min(time.Second<<min(n, 6), time.Minute)
}

// Run processes tasks and reconciles until ctx ends, then shuts down
// gracefully: in-flight deliveries get ShutdownTimeout to finish, after
// which they are returned to the queue.
func (w *Worker) Run(ctx context.Context) error {
	mux := asynq.NewServeMux()
	mux.Use(w.counted)
	mux.HandleFunc(taskFanout, w.handleFanout)
	mux.HandleFunc(taskDeliver, w.handleDeliver)
	mux.HandleFunc(taskRecover, w.handleRecover)
	fanouts := newLane[string](fanoutLaneDepth * w.fanoutConcurrency())
	deliveries := newLane[deliveryTask](deliverLaneDepth * w.cfg.Concurrency)
	// The lanes' handlers outlive ctx by up to ShutdownTimeout, as asynq's do.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	w.runCtx = hctx
	w.gate.start()
	lanes := w.runLanes(hctx, fanouts, deliveries)
	w.cfg.Queue.attach(fanouts, deliveries)
	w.here.Store(deliveries)
	for i, srv := range w.srvs {
		if err := srv.Start(mux); err != nil {
			for _, started := range w.srvs[:i] {
				started.Shutdown()
			}
			w.closeLanes(hctx, fanouts, deliveries)
			lanes.Wait()
			return fmt.Errorf("start workers: %w", err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.reconcileLoop(ctx)
	}()
	guardDone := make(chan struct{})
	go func() {
		defer close(guardDone)
		w.cfg.Guard.Run(ctx)
	}()
	retentionDone := make(chan struct{})
	go func() {
		defer close(retentionDone)
		w.retentionLoop(ctx)
	}()
	wakeDone := make(chan struct{})
	go func() {
		defer close(wakeDone)
		w.wakeLoop(ctx, deliveries)
	}()
	recheckDone := make(chan struct{})
	go func() {
		defer close(recheckDone)
		w.recheckLoop(ctx)
	}()
	<-ctx.Done()
	w.closeLanes(hctx, fanouts, deliveries)
	var wg sync.WaitGroup
	for _, srv := range w.srvs {
		wg.Go(srv.Shutdown)
	}
	wg.Go(func() {
		finished := make(chan struct{})
		go func() { lanes.Wait(); w.running.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(w.cfg.ShutdownTimeout):
			hcancel()
		}
	})
	wg.Wait()
	hcancel()
	// Past ShutdownTimeout asynq puts a task back and returns without
	// waiting for its handler, and the lanes cancel theirs; a handler then
	// puts its message back in the database: let it, before the caller
	// closes the database.
	for deadline := time.Now().Add(handlerGrace); w.busy.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			w.cfg.Logger.Warn("task handlers still running at shutdown; the reconciler will take up their messages", "handlers", w.busy.Load())
			break
		}
	}
	<-done
	<-guardDone
	<-retentionDone
	<-wakeDone
	<-recheckDone
	return nil
}

// closeLanes detaches the lanes from the Queue, so that new work goes to
// Redis, closes the gate, and sends there the work they still held.
func (w *Worker) closeLanes(ctx context.Context, fanouts *lane[string], deliveries *lane[deliveryTask]) {
	w.here.Store(nil)
	w.cfg.Queue.detach(fanouts, deliveries)
	ctx = context.WithoutCancel(ctx)
	ids := fanouts.close()
	if err := w.cfg.Queue.remoteFanout(ctx, ids...); err != nil {
		logWarn(ctx, "queue fan-outs at shutdown; the reconciler will", "events", len(ids), "err", err)
	}
	dts := append(deliveries.close(), w.gate.close()...)
	for i := range dts {
		w.handBack(ctx, dts[i])
		dts[i].claimed = nil
	}
	now := time.Now()
	if err := inParallel(len(dts), func(i int) error { return w.cfg.Queue.remoteDelivery(ctx, dts[i], now) }); err != nil {
		logWarn(ctx, "queue deliveries at shutdown; the reconciler will", "messages", len(dts), "err", err)
	}
}

// handOver gives m, claimed by this process, to deliveries, waiting for
// room until deadline. A message they do not take is made pending again
// (putBack) and returned with queue set, for the caller to queue in Redis;
// should that fail, the reconciler takes it up once its lease ends.
func (w *Worker) handOver(ctx context.Context, m Message, deliveries *lane[deliveryTask], deadline time.Time) (_ Message, queue bool) {
	dt := deliveryTask{ID: m.ID, Attempts: m.Attempts, EndpointID: m.EndpointID, claimed: &m}
	if deliveries.offerBy(dt, deadline) {
		return m, false
	}
	m, err := w.putBack(ctx, m)
	return m, err == nil
}

// putBack makes m, claimed and not attempted after all, pending and due
// now, and returns it so. Should that fail, the reconciler takes it up
// once its lease ends.
func (w *Worker) putBack(ctx context.Context, m Message) (Message, error) {
	now := time.Now().UTC()
	if err := w.cfg.Store.SetMessageStatus(context.WithoutCancel(ctx), m.ID, Outcome{Status: StatusPending, NextAttemptAt: &now}); err != nil {
		logWarn(ctx, "put a claimed message back; the reconciler will take it up when its lease ends", "message_id", m.ID, "err", err)
		return m, err
	}
	m.Status, m.NextAttemptAt, m.LeaseUntil = StatusPending, &now, nil
	return m, nil
}

// counted counts h's runs in w.busy (a middleware of every task).
func (w *Worker) counted(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		w.busy.Add(1)
		defer w.busy.Add(-1)
		return h.ProcessTask(ctx, t)
	})
}

// handleFanout creates the messages of one event and schedules them.
func (w *Worker) handleFanout(ctx context.Context, t *asynq.Task) error {
	return w.fanOutEvent(ctx, string(t.Payload()))
}

// fanOutEvent creates the messages of event id and schedules them.
func (w *Worker) fanOutEvent(ctx context.Context, id string) error {
	ev, err := w.event(ctx, id)
	if errors.Is(err, subscriptions.ErrNotFound) {
		return fmt.Errorf("fan out %s: %w: %w", id, err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("fan out %s: %w", id, err)
	}
	if ev.FannedOutAt != nil {
		// Done before: only make sure its pending messages are queued, in
		// Redis, where those still queued are not queued twice.
		return w.fanOut(ctx, ev, nil, nil, time.Time{})
	}
	if err := w.catchUp(ctx); err != nil {
		return fmt.Errorf("fan out %s: %w", id, err)
	}
	now := time.Now().UTC()
	deadline := now.Add(laneWait)
	_, deliveries := w.cfg.Queue.lanes()
	if err := w.fanOut(ctx, ev, w.messages(ev, now, deliveries, deadline), deliveries, deadline); err != nil {
		return err
	}
	ev.FannedOutAt = &now
	w.cfg.Events.Put(ev)
	return nil
}

// catchUp brings the index up to date with the endpoint changes made so
// far, by any process, so that an endpoint created before an event was
// accepted receives it.
func (w *Worker) catchUp(ctx context.Context) error {
	if w.cfg.Sync == nil {
		return nil
	}
	if err := w.cfg.Sync.CatchUp(ctx); err != nil {
		return fmt.Errorf("bring the endpoints up to date: %w", err)
	}
	return nil
}

// messages returns the messages of ev, made at now: one to each endpoint
// it matches. Messages whose endpoint's breaker is open are held (see
// wakeLoop). Those that go to deliveries, this process's, are claimed:
// that saves each a statement and a commit before its request. They are
// claimed once the lane is at most half full, waiting until deadline for
// that: then all that fan out at once fit, rather than claim more than the
// lane takes and hand it back with a statement each. If the lane does not
// make room by then, they are pending, due now.
func (w *Worker) messages(ev Event, now time.Time, deliveries *lane[deliveryTask], deadline time.Time) []Message {
	targets := w.cfg.Index.Match(subscriptions.Subject{
		Type: ev.Type, Mode: ev.Shipment.Mode, Origin: ev.Shipment.Origin, Destination: ev.Shipment.Destination,
		Carrier: ev.Shipment.Carrier, Parties: ev.Parties,
	})
	msgs := make([]Message, len(targets))
	due := 0
	for i, tg := range targets {
		msgs[i] = Message{
			ID: subscriptions.NewID("msg"), EventID: ev.ID, EndpointID: tg.EndpointID, PartnerID: tg.PartnerID,
			EventType: ev.Type, ShipmentID: ev.Shipment.ID, Status: StatusPending, NextAttemptAt: &now,
			CreatedAt: now, UpdatedAt: now,
		}
		if w.cfg.Guard.Open(tg.EndpointID) {
			msgs[i].Status, msgs[i].NextAttemptAt = StatusHeld, nil
		} else {
			due++
		}
	}
	if due > 0 && deliveries.awaitRoom(max(due, deliveries.size()/2), deadline) {
		lease := now.Add(w.cfg.Lease)
		for i := range msgs {
			if msgs[i].Status == StatusPending {
				msgs[i].Status, msgs[i].LeaseUntil = StatusDelivering, &lease
			}
		}
	}
	return msgs
}

// event returns the event with id, from the cache or else the database.
func (w *Worker) event(ctx context.Context, id string) (Event, error) {
	if ev, ok := w.cfg.Events.Get(id); ok {
		return ev, nil
	}
	ev, err := w.cfg.Store.Event(ctx, id)
	if err != nil {
		return Event{}, err
	}
	w.cfg.Events.Put(ev)
	return ev, nil
}

// fanOut stores msgs of ev and queues every pending message of ev, those
// due now in deliveries first (nil: none), as schedule does, waiting for
// room until deadline.
func (w *Worker) fanOut(ctx context.Context, ev Event, msgs []Message, deliveries *lane[deliveryTask], deadline time.Time) error {
	due, err := w.cfg.Store.FanOut(ctx, ev.ID, msgs)
	if err != nil {
		return fmt.Errorf("fan out %s: %w", ev.ID, err)
	}
	w.schedule(ctx, ev.ID, due, deliveries, deadline)
	return nil
}

// schedule queues the messages of event eventID in due: those it stored
// claimed go to deliveries only, and one that does not fit by deadline is
// made pending again; the pending ones go to deliveries first if due now
// (nil: none; waiting for room until deadline), else to Redis. Held ones
// wait for wakeLoop.
func (w *Worker) schedule(ctx context.Context, eventID string, due []Message, deliveries *lane[deliveryTask], deadline time.Time) {
	pending := due[:0:0]
	for _, m := range due {
		switch m.Status {
		case StatusDelivering:
			// Stored claimed: only this process knows of it.
			if m, queue := w.handOver(ctx, m, deliveries, deadline); queue {
				pending = append(pending, m)
			}
		case StatusPending:
			pending = append(pending, m)
		}
	}
	if err := w.cfg.Queue.enqueueMessages(ctx, pending, deliveries, deadline); err != nil {
		logWarn(ctx, "enqueue deliveries; the reconciler will", "event_id", eventID, "err", err)
	}
}

// reconcileLoop re-enqueues, every ReconcileInterval, the events not yet
// fanned out and the messages overdue by ReconcileGrace: work that Redis
// lost in a flush or crash. Enqueuing is idempotent by TaskID, so work that
// is still queued is not doubled.
func (w *Worker) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.Reconcile(ctx); err != nil && ctx.Err() == nil {
				logWarn(ctx, "reconcile", "err", err)
			}
		}
	}
}

// Reconcile makes one pass of the reconciler: events not fanned out,
// overdue messages and stalled recovery jobs are queued again.
func (w *Worker) Reconcile(ctx context.Context) error {
	before := time.Now().Add(-w.cfg.ReconcileGrace)
	ids, err := w.cfg.Store.UnfannedEvents(ctx, before, 1000)
	if err != nil {
		return fmt.Errorf("find events not fanned out: %w", err)
	}
	// Lost work goes to Redis, never to the lanes: what is merely late,
	// still queued in Redis, is then not taken up twice, as task ids make
	// the second enqueue a no-op.
	if err := w.cfg.Queue.remoteFanout(ctx, ids...); err != nil {
		return err
	}
	due, err := w.cfg.Store.DueMessages(ctx, before, 5000)
	if err != nil {
		return fmt.Errorf("find overdue messages: %w", err)
	}
	// The due time names a task in Redis, as when it was first queued.
	if err := w.cfg.Queue.enqueueMessages(ctx, due, nil, time.Time{}); err != nil {
		return err
	}
	jobs, err := w.cfg.Store.StaleRecoverJobs(ctx, before, 100)
	if err != nil {
		return fmt.Errorf("find stalled recovery jobs: %w", err)
	}
	for _, id := range jobs {
		if err := w.cfg.Queue.EnqueueRecover(ctx, id); err != nil {
			return err
		}
	}
	if len(ids)+len(due) > 0 {
		logInfo(ctx, "reconciler re-enqueued lost work", "events", len(ids), "messages", len(due))
	}
	return nil
}

func logWarn(ctx context.Context, msg string, args ...any) { slog.WarnContext(ctx, msg, args...) }
func logInfo(ctx context.Context, msg string, args ...any) { slog.InfoContext(ctx, msg, args...) }

// asynqLogger sends asynq's log lines to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }

// FanOutHere fans ev out in this process, while w runs: it gives ev its
// messages and marks it fanned out, for InsertEvents to store
// them with it, and returns a func that schedules them once they are
// stored. That saves the event a statement and a commit before its
// messages' first attempts, and the update of its row. While w is not
// running, ok is false and ev unchanged: its fan-out is then queued once it is
// stored (EnqueueFanout). Unlike a queued fan-out, it matches before
// catching up with endpoint changes made through other processes; the
// event is checked against them once scheduled (recheck.go).
func (w *Worker) FanOutHere(ev *Event) (schedule func(context.Context), ok bool) {
	deliveries := w.here.Load()
	if deliveries == nil {
		return nil, false
	}
	applied := w.applied()
	now := time.Now().UTC()
	deadline := now.Add(laneWait)
	msgs := w.messages(*ev, now, deliveries, deadline)
	ev.FannedOutAt, ev.Messages = &now, msgs
	return func(ctx context.Context) {
		w.schedule(ctx, ev.ID, msgs, deliveries, deadline)
		w.queueRecheck(ctx, recheck{ev: *ev, applied: applied, msgs: msgs})
	}, true
}
