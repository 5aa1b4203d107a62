package dispatcher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shiphook/shiphook/dispatcher/internal/inproc"
)

// The scheduler runs work that is due now within the process, instead of
// sending it through Redis for an asynq server to poll for. While a Worker
// runs beside the ingest API, an event is fanned out and its messages make
// their first attempt without waiting for asynq's next poll and without
// asynq's round trips. It has
//
//   - two lanes (inproc.Lane): fan-outs (event ids) and deliveries
//     (delivery tasks), which the Queue offers work due now to while the
//     scheduler runs, and goroutines that take from them, as many as the
//     asynq servers have handlers;
//   - the gate (inproc.Gate), where a delivery that finds its endpoint at
//     its cap waits for a delivery of this process to the same endpoint
//     to be answered, and the sender goroutines that deliver those the
//     gate admits as they leave it (see deliverer.admitNext).
//
// The database holds the work before it is offered, as it does before work
// is queued in Redis: whatever the scheduler took and did not finish when
// the process died is found by the reconciler, as work that Redis lost is.
// A lane that is full or closed refuses the offer, and the work goes to
// Redis. The gate holds a delivery for gateWait at most.
type scheduler struct {
	queue             *Queue
	handlers          *handlerCount
	concurrency       int
	fanoutConcurrency int
	gateSize          int
	// fanout and deliverer handle the work.
	fanout    *fanout
	deliverer *deliverer

	// Set by start.
	fanoutLane   *inproc.Lane[string]
	deliveryLane *inproc.Lane[deliveryTask]
	// local is deliveryLane from start to shutdown, nil otherwise (for
	// FanOutHere).
	local atomic.Pointer[inproc.Lane[deliveryTask]]
	// lanes runs the goroutines that take from the lanes; handlerCtx is
	// the context of every handler the scheduler runs.
	lanes      sync.WaitGroup
	handlerCtx context.Context

	gate *inproc.Gate[deliveryTask]
	// senders bounds the sender goroutines (gateSize); they run in
	// sending, and those idle wait on idle for more (senderIdle).
	senders chan struct{}
	idle    chan admittedTask
	sending sync.WaitGroup
	// startSender is sendLoop, made a func value once.
	startSender func(admittedTask)
}

// laneWait is how long those who offer work to a lane, or to the gate,
// wait for room at most before they send it through Redis.
const laneWait = inproc.LaneWait

// Sizes of the scheduler's lanes, in multiples of the Worker's
// concurrency: deep enough to ride out a burst, shallow enough that work
// waits in one for far less than the reconciler's grace.
const (
	fanoutLaneDepth  = 4
	deliverLaneDepth = 8
)

// gateDepth is how many deliveries wait in the gate at most, in multiples
// of the Worker's concurrency, and how many of those that waited are under
// way at once: as many as its lane of deliveries holds. Those of one
// endpoint take at most half of it, so that one endpoint alone never fills
// it.
const gateDepth = deliverLaneDepth

// gateWait is how long a delivery waits in the gate at most, unless half
// the reconciler's grace is shorter; one that waited longer when its turn
// comes goes to Redis instead. A claimed message is leased for
// far longer.
const gateWait = 3 * time.Second

// senderIdle is how long a sender goroutine waits for more before it
// ends.
const senderIdle = 5 * time.Second

// admittedTask is a delivery task the gate admitted, and slot, the cap
// slot in Redis of the delivery before it, passed on with its admission,
// if any.
type admittedTask struct {
	dt   deliveryTask
	slot capSlot
}

func newScheduler(cfg Config, handlers *handlerCount) *scheduler {
	s := &scheduler{queue: cfg.Queue, handlers: handlers, concurrency: cfg.Concurrency, fanoutConcurrency: fanoutConcurrency(cfg),
		gateSize: gateDepth * cfg.Concurrency, gate: inproc.NewGate[deliveryTask](), idle: make(chan admittedTask)}
	s.senders = make(chan struct{}, s.gateSize)
	s.startSender = s.sendLoop
	return s
}

// start makes the lanes, opens the gate, starts the goroutines that take
// from the lanes, with handlerCtx for their handlers, and makes the lanes
// the Queue's first choice.
func (s *scheduler) start(handlerCtx context.Context) {
	s.handlerCtx = handlerCtx
	s.fanoutLane = inproc.NewLane[string](fanoutLaneDepth * s.fanoutConcurrency)
	s.deliveryLane = inproc.NewLane[deliveryTask](deliverLaneDepth * s.concurrency)
	s.gate.Open()
	serveLane(s, s.fanoutLane, s.fanoutConcurrency, fanoutTimeout, s.fanout.fanOutEvent, s.retryFanout)
	serveLane(s, s.deliveryLane, s.concurrency, s.queue.taskTimeout, s.deliverer.deliverTask, s.retryDelivery)
	s.queue.attach(s.fanoutLane, s.deliveryLane)
	s.local.Store(s.deliveryLane)
}

// shutdown detaches the lanes from the Queue, so that new work goes to
// Redis, closes the lanes and the gate, and sends there the work they
// still had. A claimed message is unclaimed first.
func (s *scheduler) shutdown() {
	s.local.Store(nil)
	s.queue.detach(s.fanoutLane, s.deliveryLane)
	ctx := context.WithoutCancel(s.handlerCtx)
	ids := s.fanoutLane.Close()
	if err := s.queue.remoteFanout(ctx, ids...); err != nil {
		logWarn(ctx, "queue fan-outs at shutdown; the reconciler will", "events", len(ids), "err", err)
	}
	dts := append(s.deliveryLane.Close(), s.gate.Close()...)
	for i := range dts {
		s.deliverer.unclaimTask(ctx, dts[i])
		dts[i].claimed = nil
	}
	now := time.Now()
	if err := inParallel(len(dts), func(i int) error { return s.queue.remoteDelivery(ctx, dts[i], now) }); err != nil {
		logWarn(ctx, "queue deliveries at shutdown; the reconciler will", "messages", len(dts), "err", err)
	}
}

// awaitHandlers waits, after shutdown, for the handlers of the lanes and
// the sender goroutines to end; past timeout it calls cancel, which
// cancels their context, and returns.
func (s *scheduler) awaitHandlers(timeout time.Duration, cancel func()) {
	finished := make(chan struct{})
	go func() { s.lanes.Wait(); s.sending.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(timeout):
		cancel()
	}
}

// serveLane takes work off l with n goroutines of s.lanes until l is
// closed, and handles each piece (handleOne).
func serveLane[T any](s *scheduler, l *inproc.Lane[T], n int, timeout time.Duration,
	handle func(context.Context, T) error, retry func(context.Context, T, error)) {
	for range n {
		s.lanes.Go(func() {
			for {
				v, ok := l.Take()
				if !ok {
					return
				}
				handleOne(s, v, timeout, handle, retry)
			}
		})
	}
}

// handleOne runs handle on v within timeout, counted as asynq's handlers
// are; v whose handler fails for a reason worth a retry is given to retry,
// with a context that outlives the handlers'.
func handleOne[T any](s *scheduler, v T, timeout time.Duration,
	handle func(context.Context, T) error, retry func(context.Context, T, error)) {
	s.handlers.n.Add(1)
	defer s.handlers.n.Add(-1)
	tctx, cancel := context.WithTimeout(s.handlerCtx, timeout)
	err := handle(tctx, v)
	cancel()
	if err != nil && !errors.Is(err, asynq.SkipRetry) {
		retry(context.WithoutCancel(s.handlerCtx), v, err)
	}
}

// retryFanout sends the fan-out of event id, whose handler in this process
// failed, to Redis, where asynq retries it.
func (s *scheduler) retryFanout(ctx context.Context, id string, err error) {
	logWarn(ctx, "fan-out failed; queued in Redis to retry", "event_id", id, "err", err)
	if err := s.queue.remoteFanout(ctx, id); err != nil {
		logWarn(ctx, "queue fan-out; the reconciler will", "event_id", id, "err", err)
	}
}

// retryDelivery sends dt, whose handler in this process failed, to Redis,
// where asynq retries it.
func (s *scheduler) retryDelivery(ctx context.Context, dt deliveryTask, err error) {
	ctx = logDelivery(ctx, dt)
	logWarn(ctx, "delivery task failed; queued in Redis to retry", "message_id", dt.ID, "err", err)
	if err := s.queue.remoteDelivery(ctx, dt, time.Now().Add(time.Second)); err != nil {
		logWarn(ctx, "queue delivery; the reconciler will", "message_id", dt.ID, "err", err)
	}
}

// send delivers a, admitted by the gate, in a sender goroutine, as a
// lane's handler would, and reports whether there was room for one more
// under way.
func (s *scheduler) send(a admittedTask) bool {
	select {
	case s.senders <- struct{}{}:
	default:
		return false
	}
	if !inproc.RunWhileOpen(s.gate, &s.sending, s.idle, a, s.startSender) {
		<-s.senders
		return false
	}
	return true
}

// sendLoop delivers a, then those that send hands it, until none came for
// senderIdle or the gate closes. Kept for the next delivery rather than
// started anew for each, a goroutine keeps the stack that sending and
// recording grew: a new goroutine for every delivery spent about 7 % of
// shiphook's CPU at fan-out ×1 growing its stack (docs/benchmarks.md,
// change 27).
func (s *scheduler) sendLoop(a admittedTask) {
	idle := time.NewTimer(senderIdle)
	defer idle.Stop()
	for {
		handleOne(s, a, s.queue.taskTimeout, s.deliverer.deliverAdmitted, s.retryAdmitted)
		<-s.senders
		// The goroutine freed goes to an admission that stalled for want
		// of one.
		if id, ok := s.gate.TakeStalled(); ok {
			s.deliverer.admitNext(s.handlerCtx, id, capSlot{})
		}
		idle.Reset(senderIdle)
		select {
		case a = <-s.idle:
		case <-idle.C:
			return
		case <-s.gate.Closed():
			return
		}
	}
}

// retryAdmitted is retryDelivery for a delivery the gate admitted.
func (s *scheduler) retryAdmitted(ctx context.Context, a admittedTask, err error) {
	s.retryDelivery(ctx, a.dt, err)
}
