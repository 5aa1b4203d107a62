package dispatcher

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEventCache(t *testing.T) {
	c := NewEventCache(100)
	for i := range 250 {
		c.Put(Event{ID: fmt.Sprintf("evt_%d", i), Type: "shipment.created"})
	}
	// Bounded: the newest 100 are kept, the oldest forgotten.
	require.Len(t, c.m, 100)
	ev, ok := c.Get("evt_249")
	require.True(t, ok)
	require.Equal(t, "shipment.created", ev.Type)
	_, ok = c.Get("evt_150")
	require.True(t, ok)
	_, ok = c.Get("evt_149")
	require.False(t, ok)

	// Putting an event again updates it in place and forgets nothing.
	c.Put(Event{ID: "evt_150", Type: "shipment.delivered"})
	ev, ok = c.Get("evt_150")
	require.True(t, ok)
	require.Equal(t, "shipment.delivered", ev.Type)
	_, ok = c.Get("evt_151")
	require.True(t, ok)

	// Expired entries are not served.
	c.ttl = 10 * time.Millisecond
	c.Put(Event{ID: "evt_short"})
	require.Eventually(t, func() bool { _, ok := c.Get("evt_short"); return !ok }, time.Second, 5*time.Millisecond)

	c.Clear()
	_, ok = c.Get("evt_249")
	require.False(t, ok)

	// A nil cache keeps nothing and does not fail.
	var none *EventCache
	none.Put(Event{ID: "evt_1"})
	_, ok = none.Get("evt_1")
	require.False(t, ok)
	none.Clear()
}
