// Package inproc holds the machinery that hands work from one goroutine
// of a process to another without a round trip to Redis: the Lane, a
// bounded queue whose offers may wait a little for room, and the Gate,
// which admits up to a cap of work per key at once and lines up the rest.
// It knows nothing of messages or endpoints; package dispatcher builds its
// in-process scheduler from them (see docs/architecture.md).
package inproc

import (
	"sync"
	"sync/atomic"
	"time"
)

// A Lane hands work from those who offer it to those who take it, within
// one process. It is bounded: an offer to a Lane that is full (once any
// wait for room is over) or closed is refused, and the caller sends the
// work elsewhere (dispatcher sends it through Redis). A Lane holds work in
// memory only: whoever offers work must have a durable record of it first.
type Lane[T any] struct {
	mu     sync.RWMutex
	closed bool
	work   chan T
	// taken counts the work taken off the lane.
	taken atomic.Uint64
	// roomMade is closed, and replaced, when a take leaves the lane less
	// than half full while anyone awaits room (AwaitRoom).
	roomMu   sync.Mutex
	roomMade chan struct{}
	awaiting atomic.Int32
	// stuckUntil (Unix nanoseconds): see stuckFor.
	stuckUntil atomic.Int64
}

// NewLane returns an open Lane that holds size pieces of work.
func NewLane[T any](size int) *Lane[T] {
	return &Lane[T]{work: make(chan T, size), roomMade: make(chan struct{})}
}

// Offer hands v to the lane, unless it is full or closed. A nil lane takes
// nothing.
func (l *Lane[T]) Offer(v T) bool {
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

// Room is how much more the lane would take now (none when nil).
func (l *Lane[T]) Room() int {
	if l == nil {
		return 0
	}
	return cap(l.work) - len(l.work)
}

// Size is how much the lane holds when full.
func (l *Lane[T]) Size() int {
	if l == nil {
		return 0
	}
	return cap(l.work)
}

// OfferBy hands v to the lane, waiting for room until deadline, unless it
// is closed or stuck (see stuckFor).
func (l *Lane[T]) OfferBy(v T, deadline time.Time) bool {
	if l.Offer(v) {
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

// AwaitRoom reports whether the lane has room for n more pieces of work,
// waiting until deadline for it to have, unless it is stuck (see
// stuckFor). Those waiting look again whenever a take leaves the lane
// less than half full. A nil lane has no room.
func (l *Lane[T]) AwaitRoom(n int, deadline time.Time) bool {
	if l == nil || n > cap(l.work) {
		return false
	}
	if l.Room() >= n {
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
		if l.Room() >= n {
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
func (l *Lane[T]) mayWait(now, deadline time.Time) bool {
	return now.Before(deadline) && now.UnixNano() >= l.stuckUntil.Load()
}

// gaveUp marks the lane stuck if a wait for room that started at start,
// when the lane had handed out taken pieces, lasted a quarter of LaneWait
// or more while the lane was slow (see stuckFor).
func (l *Lane[T]) gaveUp(start time.Time, taken uint64) {
	if waited := time.Since(start); waited >= LaneWait/4 && l.slow(l.taken.Load()-taken, waited) {
		l.stuckUntil.Store(time.Now().Add(stuckFor).UnixNano())
	}
}

// slow reports whether a lane that took took pieces of work in waited
// would need more than LaneWait to pass on all it holds.
func (l *Lane[T]) slow(took uint64, waited time.Duration) bool {
	return took*uint64(LaneWait) < uint64(cap(l.work))*uint64(waited)
}

// Take returns the next piece of work, waiting for one; ok is false once
// the lane is closed and empty.
func (l *Lane[T]) Take() (v T, ok bool) {
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
func (l *Lane[T]) madeRoom() {
	l.roomMu.Lock()
	defer l.roomMu.Unlock()
	close(l.roomMade)
	l.roomMade = make(chan struct{})
}

// LaneWait is how long those who hand work to a lane wait for room, at
// most, before they send it through Redis. Waiting is what keeps them from
// outrunning the lane's handlers: work sent through Redis costs more, so
// while the deliveries are saturated, a wait given up too soon leaves
// them with less of the machine and the rest of the offers with more
// reason to give up. Callers with several pieces share one deadline.
const LaneWait = 2 * time.Second

// stuckFor is how long nobody waits for room in a lane after a wait of at
// least a quarter of LaneWait found none while the lane was slow: at the
// rate it took work meanwhile, it would have needed more than LaneWait to
// pass on all it holds (its handlers take more than a quarter of a second
// each, on average). Handlers that hang, on endpoints that hang, say, must
// not slow down everyone who offers work. A wait that found no room while
// the lane was turning over quickly leaves it as it was: those offering
// were only behind each other.
const stuckFor = time.Second

// Close refuses every offer from now on and returns the work not yet
// taken; those taking from the lane stop once it is empty, and those
// awaiting room stop waiting.
func (l *Lane[T]) Close() []T {
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
