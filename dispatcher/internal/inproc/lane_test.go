package inproc

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLane checks that a lane refuses work once full or closed, so that
// the caller sends it to Redis, and that closing gives back what was not
// taken.
func TestLane(t *testing.T) {
	l := NewLane[string](2)
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

// TestLaneWait checks that an offer may wait for room, and that once a
// wait found none while nothing was taken, offers stop waiting for a
// while: a lane whose handlers hang must not hold up everyone who offers
// work.
func TestLaneWait(t *testing.T) {
	l := NewLane[string](1)
	require.True(t, l.Offer("a"))
	go func() {
		time.Sleep(20 * time.Millisecond)
		l.Take()
	}()
	require.True(t, l.OfferBy("b", time.Now().Add(10*time.Second)), "room made while waiting is taken")

	// The wait must last a quarter of LaneWait to count; the margin is for
	// a loaded machine, slow to start it. The next offer, coming within
	// stuckFor, does not wait; a loaded machine may delay it past stuckFor,
	// so a pair whose offer waited is tried again, five times at most.
	for try := 1; ; try++ {
		require.False(t, l.OfferBy("c", time.Now().Add(LaneWait/4+time.Second)), "no room came")
		deadline := time.Now().Add(10 * time.Second)
		require.False(t, l.OfferBy("d", deadline))
		if time.Now().Before(deadline) {
			return // it did not wait
		}
		require.Less(t, try, 5, "the offer waited although the last wait found no room")
		time.Sleep(stuckFor) // let the lane count as not stuck again before the next try
	}
}

// TestLaneWaitBehindOthers checks that a wait which found no room only
// because others offering were ahead of it, while the lane's handler took
// work quickly, does not stop the offers after it from waiting: under
// load, those are the waits that keep fan-out from outrunning deliveries.
func TestLaneWaitBehindOthers(t *testing.T) {
	l := NewLane[string](2)
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		for {
			if _, ok := l.Take(); !ok {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// 150 others wait ahead: a place behind them comes after about 1.5 s,
	// and after more than the offer's wait even if only a third of them
	// are in line by then.
	var stop atomic.Bool
	var others sync.WaitGroup
	for range 150 {
		others.Go(func() {
			for !stop.Load() {
				l.OfferBy("other", time.Now().Add(time.Minute))
			}
		})
	}
	time.Sleep(100 * time.Millisecond)

	require.False(t, l.OfferBy("c", time.Now().Add(LaneWait/4+50*time.Millisecond)), "the others came first")
	require.True(t, l.OfferBy("d", time.Now().Add(time.Minute)), "the lane was taking work: the next offer waits its turn")

	stop.Store(true)
	others.Wait()
	l.Close()
	<-handled
}

// TestLaneAwaitRoom checks that fan-out, before it claims messages, waits
// for the lane to be less than half full, and no longer than its deadline;
// that it stops waiting for a while once the lane took nothing during a
// wait; and that closing the lane lets those waiting go.
func TestLaneAwaitRoom(t *testing.T) {
	l := NewLane[string](4)
	require.True(t, l.AwaitRoom(4, time.Now()), "an empty lane has room at once")
	for _, v := range []string{"a", "b", "c", "d"} {
		require.True(t, l.Offer(v))
	}
	require.False(t, l.AwaitRoom(5, time.Now().Add(time.Minute)), "more than the lane holds never fits")

	taken := make(chan string, 4)
	go func() {
		for range 3 {
			time.Sleep(20 * time.Millisecond)
			v, _ := l.Take()
			taken <- v
		}
	}()
	require.True(t, l.AwaitRoom(2, time.Now().Add(10*time.Second)))
	require.GreaterOrEqual(t, len(taken), 2, "room for 2 in a lane of 4 needs 2 taken")

	for len(taken) < 3 {
		time.Sleep(time.Millisecond)
	}
	require.True(t, l.Offer("e"))
	require.True(t, l.Offer("f"))
	require.True(t, l.Offer("g"))
	start := time.Now()
	require.False(t, l.AwaitRoom(2, time.Now().Add(LaneWait/4+time.Second)), "nothing was taken")
	require.GreaterOrEqual(t, time.Since(start), LaneWait/4, "it waited until its deadline")
	start = time.Now()
	require.False(t, l.AwaitRoom(2, time.Now().Add(10*time.Second)))
	require.Less(t, time.Since(start), 5*time.Second, "a lane found stuck is not waited for")

	l2 := NewLane[string](2)
	require.True(t, l2.Offer("a"))
	require.True(t, l2.Offer("b"))
	done := make(chan bool)
	go func() { done <- l2.AwaitRoom(2, time.Now().Add(time.Minute)) }()
	time.Sleep(20 * time.Millisecond)
	l2.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("closing the lane did not wake those awaiting room")
	}
}
