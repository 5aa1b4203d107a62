package dispatcher

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// EventCache keeps recent events in memory, so that fan-out and the
// deliveries of an event read it from the database once at most, and not
// at all when the ingest API runs in the same process and hands it over.
// It holds events up to a budget of bytes: past it, it forgets the events
// it took in first. An entry also lapses after a minute. Events are not
// changed after ingest except by fan-out (which updates its entry) and
// retention (which empties the cache). Safe for concurrent use; a nil
// *EventCache keeps nothing.
//
// Each event is kept encoded, in one slice of bytes (encodeEvent), and
// decoded by Get. A slice of bytes is one object that the garbage
// collector does not look inside; kept as Go values, each event was a
// dozen objects and their pointers, which every collection had to follow,
// making each cycle longer and the deliveries made during it later.
type EventCache struct {
	mu sync.Mutex
	m  map[string]cachedEvent
	// order holds the ids in m in the order they came in, the oldest at
	// head.
	order []string
	head  int
	// bytes is the size of the entries in m (entrySize); max the budget.
	bytes, max int
	ttl        time.Duration
}

type cachedEvent struct {
	encoded []byte
	// expires is in Unix nanoseconds.
	expires int64
}

// DefaultEventCacheBytes is the budget of a Worker's cache unless given
// one. A burst of events waits for fan-out; while it is within the
// budget, fan-out and delivery find every event of it here. 32 MiB holds
// about 40,000 events of half a kilobyte of data, and takes up to about
// twice that of the process's memory, the garbage collector's headroom
// included.
const DefaultEventCacheBytes = 32 << 20

// NewEventCache returns a cache of events of at most maxBytes in all; with
// 0 it keeps nothing.
func NewEventCache(maxBytes int) *EventCache {
	return &EventCache{m: make(map[string]cachedEvent), max: maxBytes, ttl: time.Minute}
}

// Get returns the event with id, if the cache holds it. The event's Data
// is shared with the cache and with the other callers who got it: it must
// not be changed.
func (c *EventCache) Get(id string) (Event, bool) {
	if c == nil {
		return Event{}, false
	}
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if !ok || time.Now().UnixNano() > e.expires {
		return Event{}, false
	}
	ev, err := decodeEvent(e.encoded)
	if err != nil {
		// Only a fault of encodeEvent could bring this about; the caller
		// reads the event from the database instead.
		return Event{}, false
	}
	return ev, true
}

// Put keeps ev, without its Messages, unless it alone is over the budget
// or it is unresolved: an unresolved event changes when it is resolved
// (Registry.ResolveEvents), and every process then reads it anew.
func (c *EventCache) Put(ev Event) {
	if c == nil || c.max <= 0 || ev.Unresolved != nil {
		return
	}
	encoded := encodeEvent(ev)
	size := entrySize(ev.ID, encoded)
	if size > c.max {
		return
	}
	e := cachedEvent{encoded: encoded, expires: time.Now().Add(c.ttl).UnixNano()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[ev.ID]; ok {
		c.bytes -= entrySize(ev.ID, old.encoded)
	} else {
		c.order = append(c.order, ev.ID)
	}
	c.m[ev.ID] = e
	c.bytes += size
	for c.bytes > c.max {
		id := c.order[c.head]
		c.order[c.head] = ""
		c.head++
		c.bytes -= entrySize(id, c.m[id].encoded)
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

// entryOverhead is a rough size, in bytes, of what an entry holds besides
// its id and encoded event: its slot in the map and in order.
const entryOverhead = 80

// entrySize estimates the memory an entry for id takes in the cache.
func entrySize(id string, encoded []byte) int {
	return entryOverhead + 2*len(id) + cap(encoded)
}

// encodeEvent returns ev, without its Messages, as EventCache keeps it:
// first its strings, each after its length, in a section that begins with
// its own length (4 bytes), so that decodeEvent makes them all from one
// copy; then its times, as seconds and nanoseconds; then its data.
func encodeEvent(ev Event) []byte {
	sh := ev.Shipment
	refs := sh.References.List()
	strs := []string{ev.ID, ev.SourceID, ev.IdempotencyKey, ev.Type, sh.ID, sh.Mode, sh.Origin, sh.Destination, sh.Carrier, ev.TraceParent}
	// The exact size, so that the cache holds no spare room.
	n := 4 + uvarintLen(countOf(refs)) + uvarintLen(countOf(ev.Parties)) +
		timeLen(ev.OccurredAt) + timeLen(ev.CreatedAt) + 1 + len(ev.Data)
	for _, s := range strs {
		n += stringLen(s)
	}
	for _, r := range refs {
		n += stringLen(r.Kind) + stringLen(r.Value)
	}
	for _, p := range ev.Parties {
		n += stringLen(p.PartnerID) + stringLen(p.Role)
	}
	if ev.FannedOutAt != nil {
		n += timeLen(*ev.FannedOutAt)
	}
	if ev.PurgedAt != nil {
		n += timeLen(*ev.PurgedAt)
	}
	b := make([]byte, 4, n)
	for _, s := range strs {
		b = appendString(b, s)
	}
	// A count is one more than the number of items, 0 for nil.
	b = binary.AppendUvarint(b, countOf(refs))
	for _, r := range refs {
		b = appendString(appendString(b, r.Kind), r.Value)
	}
	b = binary.AppendUvarint(b, countOf(ev.Parties))
	for _, p := range ev.Parties {
		b = appendString(appendString(b, p.PartnerID), p.Role)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))

	b = appendTime(appendTime(b, ev.OccurredAt), ev.CreatedAt)
	var flags byte
	if ev.FannedOutAt != nil {
		flags |= 1
	}
	if ev.PurgedAt != nil {
		flags |= 2
	}
	if ev.Data == nil {
		flags |= 4
	}
	b = append(b, flags)
	if ev.FannedOutAt != nil {
		b = appendTime(b, *ev.FannedOutAt)
	}
	if ev.PurgedAt != nil {
		b = appendTime(b, *ev.PurgedAt)
	}
	return append(b, ev.Data...)
}

// countOf is how encodeEvent writes the size of the references or the
// parties: one more than the number of items, 0 for nil.
func countOf[T []subscriptions.Reference | []Party](items T) uint64 {
	if items == nil {
		return 0
	}
	return uint64(len(items)) + 1
}

// uvarintLen is the length of x as binary.AppendUvarint writes it.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// timeLen is the length of t as appendTime writes it.
func timeLen(t time.Time) int {
	sec := t.Unix()
	// binary.AppendVarint's zig-zag encoding.
	return uvarintLen(uint64(sec<<1)^uint64(sec>>63)) + uvarintLen(uint64(t.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

var errBadEncoding = errors.New("event cache: bad encoding")

// decodeEvent returns the event that encodeEvent wrote to b. Its times are
// in UTC; its Data is b's, not a copy.
func decodeEvent(b []byte) (Event, error) {
	if len(b) < 4 {
		return Event{}, errBadEncoding
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > len(b)-4 {
		return Event{}, errBadEncoding
	}
	// One copy holds every string of the event.
	d := decoder{b: b[4 : 4+n], s: string(b[4 : 4+n])}
	var ev Event
	sh := &ev.Shipment
	for _, s := range []*string{&ev.ID, &ev.SourceID, &ev.IdempotencyKey, &ev.Type, &sh.ID, &sh.Mode, &sh.Origin, &sh.Destination, &sh.Carrier, &ev.TraceParent} {
		*s = d.string()
	}
	// Each item takes at least two bytes: a count past that is bad.
	if refs := d.count(); refs > 0 && !d.tooMany(refs-1) {
		list := make([]subscriptions.Reference, refs-1)
		for i := range list {
			list[i] = subscriptions.Reference{Kind: d.string(), Value: d.string()}
		}
		sh.References = subscriptions.ReferencesOf(list)
	}
	if parties := d.count(); parties > 0 && !d.tooMany(parties-1) {
		ev.Parties = make([]Party, parties-1)
		for i := range ev.Parties {
			ev.Parties[i] = Party{PartnerID: d.string(), Role: d.string()}
		}
	}
	if d.bad || d.at != len(d.s) {
		return Event{}, errBadEncoding
	}

	t := timeReader{b: b[4+n:]}
	ev.OccurredAt, ev.CreatedAt = t.time(), t.time()
	if t.bad || len(t.b) == 0 {
		return Event{}, errBadEncoding
	}
	flags := t.b[0]
	t.b = t.b[1:]
	if flags&1 != 0 {
		at := t.time()
		ev.FannedOutAt = &at
	}
	if flags&2 != 0 {
		at := t.time()
		ev.PurgedAt = &at
	}
	if t.bad {
		return Event{}, errBadEncoding
	}
	if flags&4 == 0 {
		ev.Data = t.b[:len(t.b):len(t.b)]
	}
	return ev, nil
}

// decoder reads the strings and counts of an encoded event's first
// section, b, whose copy s the strings are cut from; bad is set once
// something could not be read.
type decoder struct {
	b   []byte
	s   string
	at  int
	bad bool
}

func (d *decoder) count() uint64 {
	n, k := binary.Uvarint(d.b[d.at:])
	if k <= 0 {
		d.bad = true
		return 0
	}
	d.at += k
	return n
}

// tooMany is whether n items cannot fit in what is left, and marks d bad
// if so.
func (d *decoder) tooMany(n uint64) bool {
	if n > uint64(len(d.s)-d.at)/2 {
		d.bad = true
	}
	return d.bad
}

func (d *decoder) string() string {
	n := d.count()
	if d.bad || n > uint64(len(d.s)-d.at) {
		d.bad = true
		return ""
	}
	s := d.s[d.at : d.at+int(n)]
	d.at += int(n)
	return s
}

// timeReader reads the times after an encoded event's strings.
type timeReader struct {
	b   []byte
	bad bool
}

func (r *timeReader) time() time.Time {
	sec, k := binary.Varint(r.b)
	if k <= 0 {
		r.bad = true
		return time.Time{}
	}
	nsec, j := binary.Uvarint(r.b[k:])
	if j <= 0 || nsec >= 1e9 {
		r.bad = true
		return time.Time{}
	}
	r.b = r.b[k+j:]
	return time.Unix(sec, int64(nsec)).UTC()
}

// eventSource reads events through a cache (nil: none) from the Store.
type eventSource struct {
	cache *EventCache
	store interface {
		Event(ctx context.Context, id string) (Event, error)
	}
}

// get returns the event with id, from the cache or else the database.
// Returns ErrNotFound.
func (s *eventSource) get(ctx context.Context, id string) (Event, error) {
	if ev, ok := s.cache.Get(id); ok {
		return ev, nil
	}
	ev, err := s.store.Event(ctx, id)
	if err != nil {
		return Event{}, err
	}
	s.cache.Put(ev)
	return ev, nil
}
