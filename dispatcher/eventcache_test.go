package dispatcher

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sized returns an event whose data makes it take about n bytes.
func sized(id, typ string, n int) Event {
	ev := Event{ID: id, Type: typ}
	ev.Data = json.RawMessage(`"` + strings.Repeat("x", max(n-eventSize(ev)-2, 0)) + `"`)
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
