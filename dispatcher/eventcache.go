package dispatcher

import (
	"sync"
	"time"
)

// EventCache keeps recent events in memory, so that fan-out and the
// deliveries of an event read it from the database once at most, and not
// at all when the ingest API runs in the same process and hands it over.
// It holds events up to a budget of bytes (their estimated size in
// memory): past it, it forgets the events it took in first. An entry also
// lapses after a minute. Events are not changed after ingest except by
// fan-out (which updates its entry) and retention (which empties the
// cache). Safe for concurrent use; a nil *EventCache keeps nothing.
type EventCache struct {
	mu sync.Mutex
	m  map[string]cachedEvent
	// order holds the ids in m in the order they came in, the oldest at
	// head.
	order []string
	head  int
	// bytes is the size of the events in m; max the budget.
	bytes, max int
	ttl        time.Duration
}

type cachedEvent struct {
	ev      Event
	size    int
	expires time.Time
}

// DefaultEventCacheBytes is the budget of a Worker's cache unless given
// one. A burst of events waits for fan-out; while it is within the
// budget, fan-out and delivery find every event of it here. 32 MiB holds
// about 30,000 events of half a kilobyte of data, and takes up to about
// twice that of the process's memory, the garbage collector's headroom
// included.
const DefaultEventCacheBytes = 32 << 20

// NewEventCache returns a cache of events of at most maxBytes in all; with
// 0 it keeps nothing.
func NewEventCache(maxBytes int) *EventCache {
	return &EventCache{m: make(map[string]cachedEvent), max: maxBytes, ttl: time.Minute}
}

// Get returns the event with id, if the cache holds it.
func (c *EventCache) Get(id string) (Event, bool) {
	if c == nil {
		return Event{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || time.Now().After(e.expires) {
		return Event{}, false
	}
	return e.ev, true
}

// Put keeps ev, unless it alone is over the budget. Callers must not
// change ev (its Data, Shipment or Parties) afterwards: readers share them.
func (c *EventCache) Put(ev Event) {
	if c == nil {
		return
	}
	size := eventSize(ev)
	if size > c.max {
		return
	}
	e := cachedEvent{ev: ev, size: size, expires: time.Now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[ev.ID]; ok {
		c.bytes -= old.size
	} else {
		c.order = append(c.order, ev.ID)
	}
	c.m[ev.ID] = e
	c.bytes += size
	for c.bytes > c.max {
		id := c.order[c.head]
		c.order[c.head] = ""
		c.head++
		c.bytes -= c.m[id].size
		delete(c.m, id)
	}
	// Reuse the space of forgotten ids once they are half of order.
	if c.head >= 1024 && 2*c.head >= len(c.order) {
		n := copy(c.order, c.order[c.head:])
		clear(c.order[n:])
		c.order, c.head = c.order[:n], 0
	}
}

// Clear empties the cache.
func (c *EventCache) Clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.order, c.head, c.bytes = c.order[:0], 0, 0
}

// Rough sizes, in bytes, of what an entry holds besides its strings: the
// Event with its map entry and id in order, and each party and reference.
const (
	eventOverhead     = 400
	partyOverhead     = 48
	referenceOverhead = 64
)

// eventSize estimates the memory ev takes in the cache.
func eventSize(ev Event) int {
	s := ev.Shipment
	n := eventOverhead + 2*len(ev.ID) + len(ev.SourceID) + len(ev.IdempotencyKey) + len(ev.Type) + len(ev.Data) +
		len(s.ID) + len(s.Mode) + len(s.Origin) + len(s.Destination) + len(s.Carrier)
	for k, v := range s.References {
		n += referenceOverhead + len(k) + len(v)
	}
	for _, p := range ev.Parties {
		n += partyOverhead + len(p.PartnerID) + len(p.Role)
	}
	return n
}
