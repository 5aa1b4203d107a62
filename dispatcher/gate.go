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
// processes goes back to Redis as before.
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
// of one endpoint may take all of it, as they take the room of others only
// while the others' endpoints are at their cap too.
const gateDepth = deliverLaneDepth

// gateWait is how long a delivery waits in a gate at most, unless half the
// reconciler's grace is shorter; one that waited longer when its turn
// comes goes to Redis instead. A message the fan-out claimed is leased for
// far longer.
const gateWait = 3 * time.Second

func newGate() *gate { return &gate{ends: map[string]*endpointGate{}} }

// start opens the gate: until then, and once it is closed, nothing waits.
func (g *gate) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
}

// enter takes a place of this process for dt's endpoint, whose cap is
// limit, and reports placed. When the process has limit deliveries to it
// under way, or handed a place, already, it lines dt up instead, and
// reports lined, if the gate is open and the lines have room (max in all).
// Neither means dt may not go now.
func (g *gate) enter(dt deliveryTask, limit, max int) (placed, lined bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.ends[dt.EndpointID]
	if e == nil {
		e = &endpointGate{}
		g.ends[dt.EndpointID] = e
	}
	e.limit = limit
	if e.inflight < limit {
		e.inflight++
		return true, false
	}
	if !g.open || g.queued >= max {
		return false, false
	}
	e.line = append(e.line, waiting{dt: dt, since: time.Now()})
	g.queued++
	return false, true
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

// close stops all waiting and returns what waited.
func (g *gate) close() []deliveryTask {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = false
	var left []deliveryTask
	for _, e := range g.ends {
		for _, w := range e.line {
			left = append(left, w.dt)
		}
		e.line = nil
	}
	g.queued = 0
	return left
}

// spawn runs f in a goroutine of wg, unless the gate is closed: once
// closed, whoever waits for wg sees every goroutine it will ever have.
func (g *gate) spawn(wg *sync.WaitGroup, f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		return false
	}
	wg.Go(f)
	return true
}
