package dispatcher

import (
	"sync"
	"time"
)

// EventCache keeps recent events in memory, so that fan-out and the
// deliveries of an event read it from the database once at most, and not
// at all when the ingest API runs in the same process and hands it over.
// When full, it forgets the events it took in first; an entry also lapses
// after a minute. Events are not changed after ingest except by fan-out
// (which updates its entry) and retention (which empties the cache). Safe
// for concurrent use; a nil *EventCache keeps nothing.
type EventCache struct {
	mu sync.Mutex
	m  map[string]cachedEvent
	// order holds the ids in m in the order they came in, as a ring whose
	// oldest is at next once it is full.
	order []string
	next  int
	max   int
	ttl   time.Duration
}

type cachedEvent struct {
	ev      Event
	expires time.Time
}

// DefaultEventCacheSize is how many events a Worker's cache holds unless
// given one: at most a few MiB of payloads.
const DefaultEventCacheSize = 10_000

// NewEventCache returns a cache of at most max events.
func NewEventCache(max int) *EventCache {
	return &EventCache{m: make(map[string]cachedEvent, max), order: make([]string, 0, max), max: max, ttl: time.Minute}
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

// Put keeps ev. Callers must not change ev (its Data, Shipment or Parties)
// afterwards: readers share them.
func (c *EventCache) Put(ev Event) {
	if c == nil {
		return
	}
	e := cachedEvent{ev: ev, expires: time.Now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[ev.ID]; !ok {
		if len(c.order) < c.max {
			c.order = append(c.order, ev.ID)
		} else {
			delete(c.m, c.order[c.next])
			c.order[c.next] = ev.ID
			c.next = (c.next + 1) % c.max
		}
	}
	c.m[ev.ID] = e
}

// Clear empties the cache.
func (c *EventCache) Clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.order, c.next = c.order[:0], 0
}
