package dispatcher_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
)

// TestLane checks that a lane refuses work once full or closed, so that
// the caller sends it to Redis, and that closing gives back what was not
// taken.
func TestLane(t *testing.T) {
	l := dispatcher.NewLane(2)
	require.True(t, l.Offer("a"))
	require.True(t, l.Offer("b"))
	require.False(t, l.Offer("c"), "a full lane takes nothing more")
	v, ok := l.Take()
	require.True(t, ok)
	require.Equal(t, "a", v)
	require.True(t, l.Offer("c"), "taking makes room")

	require.Equal(t, []string{"b", "c"}, l.Close())
	require.False(t, l.Offer("d"), "a closed lane takes nothing")
	_, ok = l.Take()
	require.False(t, ok, "those taking from a closed, empty lane stop")
}
