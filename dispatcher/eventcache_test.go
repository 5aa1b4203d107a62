package dispatcher

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// sized returns an event whose data makes its entry take n bytes.
func sized(id, typ string, n int) Event {
	ev := Event{ID: id, Type: typ, Data: json.RawMessage(`""`)}
	base := entrySize(id, encodeEvent(ev))
	ev.Data = json.RawMessage(`"` + strings.Repeat("x", max(n-base, 0)) + `"`)
	return ev
}

func TestEventCache(t *testing.T) {
	const each = 1000
	c := NewEventCache(100 * each)
	for i := range 250 {
		c.Put(sized(fmt.Sprintf("evt_%d", i), "shipment.created", each))
	}
	// Bounded by bytes: the newest 100 are kept, the oldest forgotten.
	require.Len(t, c.m, 100)
	require.LessOrEqual(t, c.bytes, 100*each)
	ev, ok := c.Get("evt_249")
	require.True(t, ok)
	require.Equal(t, "shipment.created", ev.Type)
	_, ok = c.Get("evt_150")
	require.True(t, ok)
	_, ok = c.Get("evt_149")
	require.False(t, ok)

	// Putting an event again updates it in place and forgets nothing.
	c.Put(sized("evt_150", "shipment.delivered", each))
	ev, ok = c.Get("evt_150")
	require.True(t, ok)
	require.Equal(t, "shipment.delivered", ev.Type)
	_, ok = c.Get("evt_151")
	require.True(t, ok)

	// A large event makes room by forgetting as many of the oldest as its
	// size takes; one over the whole budget is not kept.
	c.Put(sized("evt_big", "shipment.created", 10*each))
	require.Len(t, c.m, 91)
	_, ok = c.Get("evt_159")
	require.False(t, ok)
	_, ok = c.Get("evt_160")
	require.True(t, ok)
	c.Put(sized("evt_huge", "shipment.created", 101*each))
	_, ok = c.Get("evt_huge")
	require.False(t, ok)
	require.Len(t, c.m, 91)

	// Expired entries are not served.
	c.ttl = 10 * time.Millisecond
	c.Put(Event{ID: "evt_short"})
	require.Eventually(t, func() bool { _, ok := c.Get("evt_short"); return !ok }, time.Second, 5*time.Millisecond)

	c.Clear()
	_, ok = c.Get("evt_249")
	require.False(t, ok)
	require.Zero(t, c.bytes)

	// A nil cache, and one of no bytes, keep nothing and do not fail.
	var none *EventCache
	none.Put(Event{ID: "evt_1"})
	_, ok = none.Get("evt_1")
	require.False(t, ok)
	none.Clear()
	empty := NewEventCache(0)
	empty.Put(Event{ID: "evt_1"})
	_, ok = empty.Get("evt_1")
	require.False(t, ok)
}

func TestEventCacheLongRun(t *testing.T) {
	// Many more events than fit: the budget holds and the order of ids
	// does not grow without end.
	c := NewEventCache(50 * 600)
	for i := range 20_000 {
		c.Put(sized(fmt.Sprintf("evt_%05d", i), "shipment.created", 600))
	}
	require.Len(t, c.m, 50)
	require.LessOrEqual(t, len(c.order)-c.head, 50)
	require.Less(t, len(c.order), 2100)
	for i := 19_950; i < 20_000; i++ {
		_, ok := c.Get(fmt.Sprintf("evt_%05d", i))
		require.True(t, ok, i)
	}
}

func TestEventCacheKeepsEveryField(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v.UTC()
	}
	fanned, purged := at("2026-11-26T14:05:01.5Z"), at("2026-12-01T00:00:00Z")
	long := strings.Repeat("ü", 300) // lengths past one byte of varint
	events := []Event{
		{
			ID: "evt_1", SourceID: "tms-42", IdempotencyKey: "key-" + long, Type: "shipment.milestone.departed",
			OccurredAt: at("2026-11-26T14:05:00.123456789Z"), CreatedAt: at("2026-11-26T14:05:01Z"),
			Shipment: Shipment{ID: "SHP-1", Mode: "ocean", Origin: "CNSHA", Destination: "NLRTM", Carrier: "MSCU",
				References: subscriptions.References{BillOfLading: "MSCU1234567", PurchaseOrders: []string{long}}},
			Parties:     []Party{{PartnerID: "prt_a", Role: "shipper"}, {PartnerID: "prt_b", Role: "consignee"}},
			Data:        json.RawMessage(`{"location":{"code":"CNSHA"},"note":"` + long + `"}`),
			FannedOutAt: &fanned, PurgedAt: &purged, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		},
		// Nil and empty are told apart; zero and far times survive.
		{ID: "evt_2", Type: "shipment.created", Parties: []Party{}, Shipment: Shipment{ID: "SHP-2"}, Data: json.RawMessage(`{}`)},
		{ID: "evt_3", Type: "shipment.created", OccurredAt: at("9999-12-31T23:59:59.999999999Z"), CreatedAt: at("1970-01-01T00:00:00Z")},
	}
	c := NewEventCache(1 << 20)
	for _, ev := range events {
		c.Put(ev)
		got, ok := c.Get(ev.ID)
		require.True(t, ok, ev.ID)
		require.Equal(t, ev, got, ev.ID)
	}

	// The cache keeps its own copy: changing what was put changes nothing.
	ev := events[0]
	ev.Data = append(json.RawMessage(nil), ev.Data...)
	c.Put(ev)
	ev.Data[2] = 'X'
	got, _ := c.Get(ev.ID)
	require.Equal(t, events[0].Data, got.Data)

	// Messages are not kept.
	withMessages := events[1]
	withMessages.Messages = []Message{{ID: "msg_1"}}
	c.Put(withMessages)
	got, _ = c.Get(withMessages.ID)
	require.Nil(t, got.Messages)

	// The encoding takes no more room than it needs.
	for _, ev := range events {
		encoded := encodeEvent(ev)
		require.Equal(t, len(encoded), cap(encoded), ev.ID)
	}

	// Whatever part of an encoding is lost, decoding says so and does not
	// panic.
	full := encodeEvent(events[0])
	for n := range len(full) - len(events[0].Data) {
		_, err := decodeEvent(full[:n])
		require.Error(t, err, "first %d of %d bytes", n, len(full))
	}
}
