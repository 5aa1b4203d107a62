package dispatcher

import (
	"sync"
	"time"
)

// A gate lines up, per endpoint, the deliveries of this process that find
// their endpoint at its cap of deliveries in flight, so that each goes as
// soon as a delivery of this process to the same endpoint is answered.
// Sent back to Redis instead, a delivery would cost a task, often a
// database write, and a second of waiting, and under a burst to one
// endpoint at the default cap most of the work would be deliveries
// bouncing: handlers taking deliveries that cannot go.
//
// The cap itself is kept in Redis, across processes (Guard); the gate
// counts the places of this process only. A delivery waits in the gate
// only while a delivery of this process to its endpoint is under way, as
// that one's end is what lets it go; one that would have to wait for other
// processes goes back to Redis.
//
// One endpoint's line holds at most half of what the gate holds, so that
// one endpoint alone, hanging say, never fills it. When the lines of
// several endpoints fill it, those bringing more wait for room, up to
// laneWait, as those who offer work to a full lane do: the deliveries
// are saturated, and waiting slows the sources rather than send the work
// round through Redis, which costs more than it delivers.
//
// What waits in a gate is in memory only, like the work in a lane: the
// database still holds its message, pending or claimed with a lease, and
// the reconciler takes it up should the process die. A delivery waits at
// most gateWait, lest the reconciler take it for lost.
type gate struct {
	mu     sync.Mutex
	open   bool
	queued int
	ends   map[string]*endpointGate
	// roomMade gets a token whenever a delivery leaves a line while anyone
	// awaits room (awaitRoom), which wakes one of them; closed is closed
	// with the gate, which wakes them all.
	roomMade chan struct{}
	closed   chan struct{}
	awaiting int
	// owed are the endpoints of places handed on while no goroutine was
	// free to take them (owe), one entry per place.
	owed []string
}

type endpointGate struct {
	// inflight counts the places of this process taken: deliveries under
	// way, and those handed a place as it was freed; limit is the cap
	// last seen.
	inflight int
	limit    int
	line     []waiting
}

type waiting struct {
	dt    deliveryTask
	since time.Time
}

// gateDepth is how many deliveries wait in a gate at most, in multiples of
// the Worker's concurrency: as many as its lane of deliveries holds. Those
// of one endpoint take at most half of it, so that one endpoint alone
// never fills it.
const gateDepth = deliverLaneDepth

// gateWait is how long a delivery waits in a gate at most, unless half the
// reconciler's grace is shorter; one that waited longer when its turn
// comes goes to Redis instead. A message the fan-out claimed is leased for
// far longer.
const gateWait = 3 * time.Second

func newGate() *gate {
	return &gate{ends: map[string]*endpointGate{}, roomMade: make(chan struct{}, 256), closed: make(chan struct{})}
}

// start opens the gate: until then, and once it is closed, nothing waits.
func (g *gate) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
}

// Answers of enter.
const (
	gateRefused = iota // dt may not go now, nor wait
	gatePlaced         // dt may go now
	gateLined          // dt waits in line
	gateFull           // dt may wait, but the lines are full
)

// enter takes a place of this process for dt's endpoint, whose cap is
// limit, and answers gatePlaced. When the process has limit deliveries to
// it under way, or handed a place, already, it lines dt up instead, if the
// gate is open and the lines have room: max in all, half of that for one
// endpoint. It answers gateFull when all the lines together are full,
// gateRefused when the gate is closed or the endpoint's line is full.
func (g *gate) enter(dt deliveryTask, limit, max int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.ends[dt.EndpointID]
	if e == nil {
		e = &endpointGate{}
		g.ends[dt.EndpointID] = e
	}
	e.limit = limit
	switch {
	case e.inflight < limit:
		e.inflight++
		return gatePlaced
	case !g.open || len(e.line) >= max/2:
		return gateRefused
	case g.queued >= max:
		return gateFull
	}
	e.line = append(e.line, waiting{dt: dt, since: time.Now()})
	g.queued++
	return gateLined
}

// awaitRoom waits until a delivery leaves the lines, the gate closes, or
// deadline, and reports whether it may be worth entering again.
func (g *gate) awaitRoom(deadline time.Time) bool {
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
func (g *gate) madeRoomLocked() {
	if g.awaiting > 0 {
		select {
		case g.roomMade <- struct{}{}:
		default:
		}
	}
}

// pass hands a place for endpoint id to the first delivery in line for
// it, if any, and returns that delivery with how long it waited: the
// caller sends it on its way and, should it not go, passes the place on
// again or leaves.
func (g *gate) pass(id string) (next deliveryTask, waited time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.passLocked(id)
}

func (g *gate) passLocked(id string) (deliveryTask, time.Duration, bool) {
	e := g.ends[id]
	if e == nil || len(e.line) == 0 || e.inflight > e.limit {
		return deliveryTask{}, 0, false
	}
	w := e.line[0]
	e.line[0] = waiting{}
	e.line = e.line[1:]
	g.queued--
	g.madeRoomLocked()
	return w.dt, time.Since(w.since), true
}

// leave gives back a place for endpoint id, unless a delivery has lined
// up for it since the caller last passed it on: then it goes to that one,
// as pass does.
func (g *gate) leave(id string) (next deliveryTask, waited time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if next, waited, ok = g.passLocked(id); ok {
		return next, waited, true
	}
	if e := g.ends[id]; e != nil {
		if e.inflight--; e.inflight <= 0 {
			delete(g.ends, id)
		}
	}
	return deliveryTask{}, 0, false
}

// owe puts dt, handed a place of its endpoint when no goroutine was free
// to send it on, back at the head of its line, and keeps the place for it
// until takeOwed. The time it waited so far (pass) still counts against
// gateWait. It reports false, keeping nothing, once the gate is closed:
// the caller leaves, and sends dt to Redis.
func (g *gate) owe(dt deliveryTask, waited time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.ends[dt.EndpointID]
	if !g.open || e == nil {
		return false
	}
	e.line = append(e.line, waiting{})
	copy(e.line[1:], e.line)
	e.line[0] = waiting{dt: dt, since: time.Now().Add(-waited)}
	g.queued++
	g.owed = append(g.owed, dt.EndpointID)
	return true
}

// takeOwed returns the endpoint of the oldest place owed, if any, for the
// caller to hand on (pass, or leave should its line be empty by now).
func (g *gate) takeOwed() (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.owed) == 0 {
		return "", false
	}
	id := g.owed[0]
	g.owed[0] = ""
	g.owed = g.owed[1:]
	return id, true
}

// close stops all waiting and returns what waited.
func (g *gate) close() []deliveryTask {
	g.mu.Lock()
	defer g.mu.Unlock()
	var left []deliveryTask
	for _, e := range g.ends {
		for _, w := range e.line {
			left = append(left, w.dt)
		}
		e.line = nil
	}
	g.queued = 0
	if g.open {
		g.open = false
		close(g.closed)
	}
	return left
}

// run hands p to an idle goroutine waiting on idle, or else starts one
// with start, in wg, unless the gate is closed: once closed, whoever waits
// for wg sees every goroutine it will ever have, and none of them takes
// more work.
func (g *gate) run(wg *sync.WaitGroup, idle chan<- placed, p placed, start func(placed)) bool {
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
