package inproc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testGate is an open Gate of message ids keyed by endpoint, as package
// dispatcher uses one, whose answers read as words.
type testGate struct{ g *Gate[string] }

func newTestGate() testGate {
	g := NewGate[string]()
	g.Open()
	return testGate{g}
}

// Enter admits message id to endpoint, or lines it up, and says which:
// admitted, waiting, full or refused.
func (g testGate) Enter(endpoint, id string, limit, max int) string {
	return [...]string{Refused: "refused", Admitted: "admitted", Waiting: "waiting", Full: "full"}[g.g.Enter(endpoint, id, limit, max)]
}

func (g testGate) AwaitRoom(deadline time.Time) bool { return g.g.AwaitRoom(deadline) }

func (g testGate) Pass(endpoint string) (string, bool) {
	id, _, ok := g.g.Pass(endpoint)
	return id, ok
}

func (g testGate) PassWaited(endpoint string) (string, time.Duration, bool) {
	return g.g.Pass(endpoint)
}

func (g testGate) Leave(endpoint string) (string, bool) {
	id, _, ok := g.g.Leave(endpoint)
	return id, ok
}

func (g testGate) Close() []string { return g.g.Close() }

func (g testGate) Stall(endpoint, id string, waited time.Duration) bool {
	return g.g.Stall(endpoint, id, waited)
}

func (g testGate) TakeStalled() (string, bool) { return g.g.TakeStalled() }

func (g testGate) Awaiting() int {
	g.g.mu.Lock()
	defer g.g.mu.Unlock()
	return g.g.awaiting
}

// TestGate checks the admissions of a gate: up to an endpoint's cap, then a
// line in the order of arrival, each admission given back going to the first in
// line; one endpoint's line is refused past half the gate, all lines
// together are full at the whole, and a closed gate lines nobody up.
func TestGate(t *testing.T) {
	g := newTestGate()
	enter := func(ep, id string) string { return g.Enter(ep, id, 2, 4) }
	require.Equal(t, "admitted", enter("ep_a", "m1"))
	require.Equal(t, "admitted", enter("ep_a", "m2"))
	require.Equal(t, "admitted", enter("ep_b", "n1"), "another endpoint has admissions of its own")
	require.Equal(t, "waiting", enter("ep_a", "m3"))
	require.Equal(t, "waiting", enter("ep_a", "m4"))
	require.Equal(t, "refused", enter("ep_a", "m5"), "one endpoint's line holds half the gate")
	require.Equal(t, "admitted", enter("ep_b", "n2"))
	require.Equal(t, "waiting", enter("ep_b", "n3"))
	require.Equal(t, "waiting", enter("ep_b", "n4"))
	require.Equal(t, "admitted", enter("ep_c", "o1"))
	require.Equal(t, "admitted", enter("ep_c", "o2"))
	require.Equal(t, "full", enter("ep_c", "o3"), "four wait in all, the most the gate holds")

	id, ok := g.Pass("ep_a")
	require.True(t, ok)
	require.Equal(t, "m3", id, "the first in line takes the admission")
	require.Equal(t, "waiting", enter("ep_c", "o3"), "the lines have room again")
	id, ok = g.Leave("ep_a")
	require.True(t, ok)
	require.Equal(t, "m4", id, "an admission given back goes to the next in line")
	_, ok = g.Pass("ep_a")
	require.False(t, ok, "nobody is left in line")
	_, ok = g.Leave("ep_a")
	require.False(t, ok)
	require.Equal(t, "admitted", enter("ep_a", "m6"), "the admission given back is free")
	require.Equal(t, "waiting", enter("ep_a", "m7"), "two admissions are taken again")

	require.ElementsMatch(t, []string{"m7", "n3", "n4", "o3"}, g.Close(), "closing hands back all that waits")
	require.Equal(t, "refused", enter("ep_a", "m8"), "nothing waits in a closed gate")
	_, ok = g.Leave("ep_b")
	require.False(t, ok, "the line emptied by closing passes no admission on")
}

// TestGateAwaitRoom checks that those awaiting room in a full gate wake
// when a delivery leaves a line, or when the gate closes, and give up at
// their deadline.
func TestGateAwaitRoom(t *testing.T) {
	g := newTestGate()
	for _, ep := range []string{"ep_a", "ep_b"} {
		require.Equal(t, "admitted", g.Enter(ep, ep+"1", 1, 2))
		require.Equal(t, "waiting", g.Enter(ep, ep+"2", 1, 2))
	}
	require.Equal(t, "admitted", g.Enter("ep_c", "c1", 1, 2))
	require.Equal(t, "full", g.Enter("ep_c", "c2", 1, 2))

	require.False(t, g.AwaitRoom(time.Now().Add(20*time.Millisecond)), "nobody left a line")
	awaiting := func() bool { return g.Awaiting() == 1 }
	done := make(chan bool)
	go func() { done <- g.AwaitRoom(time.Now().Add(time.Minute)) }()
	require.Eventually(t, awaiting, 5*time.Second, time.Millisecond)
	_, ok := g.Pass("ep_a")
	require.True(t, ok)
	require.True(t, <-done, "a delivery left a line")
	require.Equal(t, "waiting", g.Enter("ep_c", "c2", 1, 2))

	go func() { done <- g.AwaitRoom(time.Now().Add(time.Minute)) }()
	require.Eventually(t, awaiting, 5*time.Second, time.Millisecond)
	g.Close()
	require.True(t, <-done, "closing wakes those awaiting room")
	require.Equal(t, "refused", g.Enter("ep_c", "c3", 1, 2))
}

// TestGateLowerCap checks that an admission given back while an endpoint has more
// under way than its cap, lowered meanwhile, is given back, not passed on.
func TestGateLowerCap(t *testing.T) {
	g := newTestGate()
	for _, id := range []string{"m1", "m2", "m3"} {
		require.Equal(t, "admitted", g.Enter("ep", id, 3, 10))
	}
	require.Equal(t, "waiting", g.Enter("ep", "m4", 2, 10))
	_, ok := g.Leave("ep")
	require.False(t, ok, "three were under way against a cap of two")
	id, ok := g.Leave("ep")
	require.True(t, ok, "two under way: the next admission goes to the line")
	require.Equal(t, "m4", id)
}

// TestGateStall checks an admission passed on when no goroutine was free to take
// it: its delivery goes back to the head of the line, the time it waited
// still counting, the admission stays taken until the stalled admission is
// taken up, and a closed gate keeps nothing stalled.
func TestGateStall(t *testing.T) {
	g := newTestGate()
	require.Equal(t, "admitted", g.Enter("ep", "m1", 1, 10))
	require.Equal(t, "waiting", g.Enter("ep", "m2", 1, 10))
	require.Equal(t, "waiting", g.Enter("ep", "m3", 1, 10))
	id, ok := g.Pass("ep")
	require.True(t, ok)
	require.Equal(t, "m2", id)
	require.True(t, g.Stall("ep", id, 2*time.Second), "no goroutine was free for m2")
	_, ok = g.TakeStalled()
	require.True(t, ok)
	_, ok = g.TakeStalled()
	require.False(t, ok, "one admission was stalled")
	id, waited, ok := g.PassWaited("ep")
	require.True(t, ok)
	require.Equal(t, "m2", id, "m2 is first in line again, its admission kept")
	require.GreaterOrEqual(t, waited, 2*time.Second, "the time m2 waited before it stalled still counts")
	id, ok = g.Leave("ep")
	require.True(t, ok)
	require.Equal(t, "m3", id)
	_, ok = g.Leave("ep")
	require.False(t, ok)
	require.Equal(t, "admitted", g.Enter("ep", "m4", 1, 10), "the one admission is free")

	require.Equal(t, "waiting", g.Enter("ep", "m5", 1, 10))
	require.ElementsMatch(t, []string{"m5"}, g.Close())
	require.False(t, g.Stall("ep", "m5", 0), "a closed gate keeps no admission")
	_, ok = g.TakeStalled()
	require.False(t, ok)
}
