package dispatcher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// A lane hands work that is due now to the Worker running in this process,
// instead of sending it through Redis for a worker to poll for. While a
// Worker runs beside the ingest API, an event is fanned out and its
// messages make their first attempt without waiting for asynq's next poll
// and without asynq's round trips.
//
// The database holds the work before it is offered, as it does before work
// is queued in Redis: whatever a lane took and did not finish when the
// process died is found by the reconciler, as work that Redis lost is. A
// lane that is full or closed refuses the offer, and the work goes to
// Redis.
type lane[T any] struct {
	mu     sync.RWMutex
	closed bool
	work   chan T
	// taken counts the work taken off the lane.
	taken atomic.Uint64
	// roomMade is closed, and replaced, when a take leaves the lane less
	// than half full while anyone awaits room (awaitRoom).
	roomMu   sync.Mutex
	roomMade chan struct{}
	awaiting atomic.Int32
	// stuckUntil (Unix nanoseconds): see stuckFor.
	stuckUntil atomic.Int64
}

func newLane[T any](size int) *lane[T] {
	return &lane[T]{work: make(chan T, size), roomMade: make(chan struct{})}
}

// offer hands v to the lane, unless it is full or closed. A nil lane takes
// nothing.
func (l *lane[T]) offer(v T) bool {
	if l == nil {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	select {
	case l.work <- v:
		return true
	default:
		return false
	}
}

// room is how much more the lane would take now (none when nil).
func (l *lane[T]) room() int {
	if l == nil {
		return 0
	}
	return cap(l.work) - len(l.work)
}

// size is how much the lane holds when full.
func (l *lane[T]) size() int {
	if l == nil {
		return 0
	}
	return cap(l.work)
}

// offerBy hands v to the lane, waiting for room until deadline, unless it
// is closed or stuck (see stuckFor).
func (l *lane[T]) offerBy(v T, deadline time.Time) bool {
	if l.offer(v) {
		return true
	}
	now := time.Now()
	if l == nil || !l.mayWait(now, deadline) {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	taken := l.taken.Load()
	t := time.NewTimer(deadline.Sub(now))
	defer t.Stop()
	select {
	case l.work <- v:
		return true
	case <-t.C:
		l.gaveUp(now, taken)
		return false
	}
}

// awaitRoom reports whether the lane has room for n more pieces of work,
// waiting until deadline for it to have, unless it is stuck (see
// stuckFor). Those waiting look again whenever a take leaves the lane
// less than half full. A nil lane has no room.
func (l *lane[T]) awaitRoom(n int, deadline time.Time) bool {
	if l == nil || n > cap(l.work) {
		return false
	}
	if l.room() >= n {
		return true
	}
	now := time.Now()
	if !l.mayWait(now, deadline) {
		return false
	}
	l.awaiting.Add(1)
	defer l.awaiting.Add(-1)
	taken := l.taken.Load()
	t := time.NewTimer(deadline.Sub(now))
	defer t.Stop()
	for {
		l.roomMu.Lock()
		made := l.roomMade
		l.roomMu.Unlock()
		if l.room() >= n {
			return true
		}
		select {
		case <-made:
		case <-t.C:
			l.gaveUp(now, taken)
			return false
		}
	}
}

// mayWait reports whether a wait for room may start at now: deadline is
// still ahead and the lane is not stuck (see stuckFor).
func (l *lane[T]) mayWait(now, deadline time.Time) bool {
	return now.Before(deadline) && now.UnixNano() >= l.stuckUntil.Load()
}

// gaveUp marks the lane stuck if a wait for room that started at start,
// when the lane had handed out taken pieces, lasted a quarter of laneWait
// or more while the lane was slow (see stuckFor).
func (l *lane[T]) gaveUp(start time.Time, taken uint64) {
	if waited := time.Since(start); waited >= laneWait/4 && l.slow(l.taken.Load()-taken, waited) {
		l.stuckUntil.Store(time.Now().Add(stuckFor).UnixNano())
	}
}

// slow reports whether a lane that took took pieces of work in waited
// would need more than laneWait to pass on all it holds.
func (l *lane[T]) slow(took uint64, waited time.Duration) bool {
	return took*uint64(laneWait) < uint64(cap(l.work))*uint64(waited)
}

// take returns the next piece of work, waiting for one; ok is false once
// the lane is closed and empty.
func (l *lane[T]) take() (v T, ok bool) {
	v, ok = <-l.work
	if ok {
		l.taken.Add(1)
		if l.awaiting.Load() > 0 && len(l.work) < cap(l.work)/2 {
			l.madeRoom()
		}
	}
	return v, ok
}

// madeRoom wakes those awaiting room.
func (l *lane[T]) madeRoom() {
	l.roomMu.Lock()
	defer l.roomMu.Unlock()
	close(l.roomMade)
	l.roomMade = make(chan struct{})
}

// laneWait is how long those who hand work to a lane wait for room, at
// most, before they send it through Redis. Waiting is what keeps them from
// outrunning the lane's handlers: work sent through Redis costs more, so
// while the deliveries are saturated, a wait given up too soon leaves
// them with less of the machine and the rest of the offers with more
// reason to give up. Callers with several pieces share one deadline.
const laneWait = 2 * time.Second

// stuckFor is how long nobody waits for room in a lane after a wait of at
// least a quarter of laneWait found none while the lane was slow: at the
// rate it took work meanwhile, it would have needed more than laneWait to
// pass on all it holds (its handlers take more than a quarter of a second
// each, on average). Handlers that hang, on endpoints that hang, say, must
// not slow down everyone who offers work. A wait that found no room while
// the lane was turning over quickly leaves it as it was: those offering
// were only behind each other.
const stuckFor = time.Second

// close refuses every offer from now on and returns the work not yet
// taken; those taking from the lane stop once it is empty, and those
// awaiting room stop waiting.
func (l *lane[T]) close() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.work)
	var left []T
	for v := range l.work {
		left = append(left, v)
	}
	l.madeRoom()
	return left
}

// Sizes of a Worker's lanes, in multiples of its concurrency: deep enough
// to ride out a burst, shallow enough that work waits in one for far less
// than the reconciler's grace.
const (
	fanoutLaneDepth  = 4
	deliverLaneDepth = 8
)

// runLanes takes work off the lanes until they are closed, as many at
// once as the Worker's asynq servers take from Redis; ctx is their
// handlers'. Work whose handler fails goes to Redis, where asynq retries
// it.
func (w *Worker) runLanes(ctx context.Context, fanouts *lane[string], deliveries *lane[deliveryTask]) *sync.WaitGroup {
	var wg sync.WaitGroup
	serveLane(w, &wg, ctx, fanouts, w.fanoutConcurrency(), fanoutTimeout, w.fanOutEvent,
		func(ctx context.Context, id string, err error) {
			logWarn(ctx, "fan-out failed; queued in Redis to retry", "event_id", id, "err", err)
			if err := w.cfg.Queue.remoteFanout(ctx, id); err != nil {
				logWarn(ctx, "queue fan-out; the reconciler will", "event_id", id, "err", err)
			}
		})
	serveLane(w, &wg, ctx, deliveries, w.cfg.Concurrency, w.cfg.Queue.taskTimeout, w.deliverTask, w.retryDelivery)
	return &wg
}

// retryDelivery sends dt, whose handler in this process failed, to Redis,
// where asynq retries it.
func (w *Worker) retryDelivery(ctx context.Context, dt deliveryTask, err error) {
	logWarn(ctx, "delivery task failed; queued in Redis to retry", "message_id", dt.ID, "err", err)
	if err := w.cfg.Queue.remoteDelivery(ctx, dt, time.Now().Add(time.Second)); err != nil {
		logWarn(ctx, "queue delivery; the reconciler will", "message_id", dt.ID, "err", err)
	}
}

// serveLane takes work off l with n goroutines of wg until l is closed,
// and handles each piece (handleOne).
func serveLane[T any](w *Worker, wg *sync.WaitGroup, ctx context.Context, l *lane[T], n int, timeout time.Duration,
	handle func(context.Context, T) error, retry func(context.Context, T, error)) {
	for range n {
		wg.Go(func() {
			for {
				v, ok := l.take()
				if !ok {
					return
				}
				handleOne(w, ctx, v, timeout, handle, retry)
			}
		})
	}
}

// handleOne runs handle on v within timeout, counted in w.busy as asynq's
// handlers are; v whose handler fails for a reason worth a retry is given
// to retry, with a context that outlives ctx.
func handleOne[T any](w *Worker, ctx context.Context, v T, timeout time.Duration,
	handle func(context.Context, T) error, retry func(context.Context, T, error)) {
	w.busy.Add(1)
	defer w.busy.Add(-1)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	err := handle(tctx, v)
	cancel()
	if err != nil && !errors.Is(err, asynq.SkipRetry) {
		retry(context.WithoutCancel(ctx), v, err)
	}
}
