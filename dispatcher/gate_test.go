package dispatcher_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
)

// TestGate checks the places of a gate: up to an endpoint's cap, then a
// line in the order of arrival, each place freed going to the first in
// line, and the line refused once full or closed.
func TestGate(t *testing.T) {
	g := dispatcher.NewGate()
	enter := func(ep, id string) string {
		switch placed, lined := g.Enter(ep, id, 2, 3); {
		case placed:
			return "placed"
		case lined:
			return "lined"
		}
		return "refused"
	}
	require.Equal(t, "placed", enter("ep_a", "m1"))
	require.Equal(t, "placed", enter("ep_a", "m2"))
	require.Equal(t, "placed", enter("ep_b", "n1"), "another endpoint has places of its own")
	require.Equal(t, "lined", enter("ep_a", "m3"))
	require.Equal(t, "lined", enter("ep_a", "m4"))
	require.Equal(t, "placed", enter("ep_b", "n2"))
	require.Equal(t, "lined", enter("ep_b", "n3"))
	require.Equal(t, "refused", enter("ep_a", "m5"), "three wait in all, the most the gate holds")

	id, ok := g.Pass("ep_a")
	require.True(t, ok)
	require.Equal(t, "m3", id, "the first in line takes the place")
	require.Equal(t, "lined", enter("ep_a", "m5"), "the line has room again")
	id, ok = g.Leave("ep_a")
	require.True(t, ok)
	require.Equal(t, "m4", id, "a place given back goes to the next in line")
	id, ok = g.Leave("ep_a")
	require.True(t, ok)
	require.Equal(t, "m5", id)
	_, ok = g.Pass("ep_a")
	require.False(t, ok, "nobody is left in line")
	_, ok = g.Leave("ep_a")
	require.False(t, ok)
	require.Equal(t, "placed", enter("ep_a", "m6"), "the place given back is free")
	require.Equal(t, "lined", enter("ep_a", "m7"), "two places are taken again")

	require.ElementsMatch(t, []string{"m7", "n3"}, g.Close(), "closing hands back all that waits")
	require.Equal(t, "refused", enter("ep_a", "m8"), "nothing waits in a closed gate")
	_, ok = g.Leave("ep_b")
	require.False(t, ok, "the line emptied by closing hands no place on")
}

// TestGateLowerCap checks that a place freed while an endpoint has more
// under way than its cap, lowered meanwhile, is given back, not passed on.
func TestGateLowerCap(t *testing.T) {
	g := dispatcher.NewGate()
	for _, id := range []string{"m1", "m2", "m3"} {
		placed, _ := g.Enter("ep", id, 3, 10)
		require.True(t, placed)
	}
	placed, lined := g.Enter("ep", "m4", 2, 10)
	require.False(t, placed)
	require.True(t, lined)
	_, ok := g.Leave("ep")
	require.False(t, ok, "three were under way against a cap of two")
	id, ok := g.Leave("ep")
	require.True(t, ok, "two under way: the next place goes to the line")
	require.Equal(t, "m4", id)
}
