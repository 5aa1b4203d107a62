package inproc

import (
	"sync"
	"time"
)

// A Gate admits, per key, up to a cap of pieces of work at once, and
// lines up, in order of arrival, the work that finds its key at its cap:
// each admission given back goes to the first in that key's line
// (dispatcher keys deliveries by endpoint, so that a delivery goes as soon
// as one to the same endpoint is answered).
//
// One key's line holds at most half of what the Gate holds, so that one
// key alone, hanging say, never fills it. When the lines together are
// full, those bringing more may wait for room (AwaitRoom). What waits in a
// Gate is in memory only, as in a Lane.
type Gate[T any] struct {
	mu     sync.Mutex
	open   bool
	queued int
	keys   map[string]*keyLine[T]
	// roomMade gets a token whenever work leaves a line while anyone
	// awaits room (AwaitRoom), which wakes one of them; closed is closed
	// with the gate, which wakes them all.
	roomMade chan struct{}
	closed   chan struct{}
	awaiting int
	// stalled are the keys of the admissions Stall kept, one entry per
	// admission, oldest first.
	stalled []string
}

// keyLine is the state of one key: admitted counts the admissions given
// out (work under way, and work passed an admission as one was given
// back); limit is the cap last given; line is the work waiting.
type keyLine[T any] struct {
	admitted int
	limit    int
	line     []waiting[T]
}

type waiting[T any] struct {
	v     T
	since time.Time
}

// NewGate returns a Gate that admits work but lines none up until Open.
func NewGate[T any]() *Gate[T] {
	return &Gate[T]{keys: map[string]*keyLine[T]{}, roomMade: make(chan struct{}, 256), closed: make(chan struct{})}
}

// Open lets work wait in line: until then, and once the Gate is closed,
// nothing waits.
func (g *Gate[T]) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
}

// Entry is the answer of Enter.
type Entry int

// Answers of Enter.
const (
	Refused  Entry = iota // the work may not go now, nor wait
	Admitted              // the work may go now
	Waiting               // the work waits in line
	Full                  // the work may wait, but the lines are full
)

// Enter admits v, of key, whose cap is limit, and answers Admitted. When
// limit pieces of work of key are admitted already, it lines v up instead,
// if the Gate is open and the lines have room: max in all, half of that
// for one key, and answers Waiting. It answers Full when all the lines
// together are full, Refused when the Gate is closed or key's line is full.
func (g *Gate[T]) Enter(key string, v T, limit, max int) Entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := g.keys[key]
	if k == nil {
		k = &keyLine[T]{}
		g.keys[key] = k
	}
	k.limit = limit
	switch {
	case k.admitted < limit:
		k.admitted++
		return Admitted
	case !g.open || len(k.line) >= max/2:
		return Refused
	case g.queued >= max:
		return Full
	}
	k.line = append(k.line, waiting[T]{v: v, since: time.Now()})
	g.queued++
	return Waiting
}

// AwaitRoom waits until work leaves the lines, the Gate closes, or
// deadline, and reports whether it may be worth entering again.
func (g *Gate[T]) AwaitRoom(deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	g.mu.Lock()
	g.awaiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.awaiting--
		g.mu.Unlock()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.roomMade:
		return true
	case <-g.closed:
		return true
	case <-t.C:
		return false
	}
}

// madeRoomLocked wakes one of those awaiting room, if any.
func (g *Gate[T]) madeRoomLocked() {
	if g.awaiting > 0 {
		select {
		case g.roomMade <- struct{}{}:
		default:
		}
	}
}

// Pass passes an admission of key, given back by the caller, to the first
// work in line for it, if any, and returns that work with how long it
// waited: the caller sends it on its way and, should it not go, passes the
// admission on again or leaves. An admission is not passed on while key
// has more admitted than its cap (lowered meanwhile).
func (g *Gate[T]) Pass(key string) (next T, waited time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.passLocked(key)
}

func (g *Gate[T]) passLocked(key string) (next T, waited time.Duration, ok bool) {
	k := g.keys[key]
	if k == nil || len(k.line) == 0 || k.admitted > k.limit {
		return next, 0, false
	}
	w := k.line[0]
	k.line[0] = waiting[T]{}
	k.line = k.line[1:]
	g.queued--
	g.madeRoomLocked()
	return w.v, time.Since(w.since), true
}

// Leave gives back an admission of key, unless work has lined up for it
// since the caller last passed it on: then it goes to that work, as Pass
// does.
func (g *Gate[T]) Leave(key string) (next T, waited time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if next, waited, ok = g.passLocked(key); ok {
		return next, waited, true
	}
	if k := g.keys[key]; k != nil {
		if k.admitted--; k.admitted <= 0 {
			delete(g.keys, key)
		}
	}
	return next, 0, false
}

// Stall puts v, of key, passed an admission that the caller could not
// send on its way yet, back at the head of key's line, and keeps the
// admission for it until TakeStalled names key. The time it waited so far
// (Pass) still counts. It reports false, keeping nothing, once the Gate is
// closed: the caller leaves, and sends v elsewhere.
func (g *Gate[T]) Stall(key string, v T, waited time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := g.keys[key]
	if !g.open || k == nil {
		return false
	}
	k.line = append(k.line, waiting[T]{})
	copy(k.line[1:], k.line)
	k.line[0] = waiting[T]{v: v, since: time.Now().Add(-waited)}
	g.queued++
	g.stalled = append(g.stalled, key)
	return true
}

// TakeStalled returns the key of the oldest admission Stall kept, if any,
// for the caller to pass on (Pass, or Leave should its line be empty by
// now).
func (g *Gate[T]) TakeStalled() (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.stalled) == 0 {
		return "", false
	}
	key := g.stalled[0]
	g.stalled[0] = ""
	g.stalled = g.stalled[1:]
	return key, true
}

// Close stops all waiting and returns what waited.
func (g *Gate[T]) Close() []T {
	g.mu.Lock()
	defer g.mu.Unlock()
	var left []T
	for _, k := range g.keys {
		for _, w := range k.line {
			left = append(left, w.v)
		}
		k.line = nil
	}
	g.queued = 0
	if g.open {
		g.open = false
		close(g.closed)
	}
	return left
}

// Closed is closed once the Gate is.
func (g *Gate[T]) Closed() <-chan struct{} { return g.closed }

// RunWhileOpen hands p to a goroutine waiting on idle, or else starts one
// with start, in wg, unless g is closed: once g is closed, whoever waits
// for wg sees every goroutine it will ever have, and none of them takes
// more work. It reports whether p was handed or started.
func RunWhileOpen[T, P any](g *Gate[T], wg *sync.WaitGroup, idle chan<- P, p P, start func(P)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		return false
	}
	select {
	case idle <- p:
	default:
		wg.Go(func() { start(p) })
	}
	return true
}
