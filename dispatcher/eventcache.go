package dispatcher

import (
	"sync"
	"time"
)

// EventCache keeps recent events in memory, so that fan-out and the
// deliveries of an event read it from the database once at most, and not
// at all when the ingest API runs in the same process and hands it over.
// Entries live for a minute; events are not changed after ingest except by
// fan-out (which updates its entry) and retention (which empties the
// cache). Safe for concurrent use; a nil *EventCache keeps nothing.
type EventCache struct {
	mu  sync.Mutex
	m   map[string]cachedEvent
	max int
	ttl time.Duration
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
	return &EventCache{m: make(map[string]cachedEvent), max: max, ttl: time.Minute}
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
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[ev.ID]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[ev.ID] = cachedEvent{ev: ev, expires: now.Add(c.ttl)}
}

// evict makes room: it drops the expired entries, and if that frees less
// than a tenth of the cache, arbitrary others too. Called with mu held.
func (c *EventCache) evict(now time.Time) {
	for id, e := range c.m {
		if now.After(e.expires) {
			delete(c.m, id)
		}
	}
	for id := range c.m {
		if len(c.m) < c.max-c.max/10 {
			break
		}
		delete(c.m, id)
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
}
