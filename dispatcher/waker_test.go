package dispatcher_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
)

// TestWakeHeld checks the rounds of waking held messages: an endpoint
// whose breaker is closed has its held messages woken, claimed, into the
// lane, in pages that share its free half; one whose breaker is open has
// none woken until its probe time, and then one, a different one each
// time.
func TestWakeHeld(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, _ := workerDeps(t)
	guard := dispatcher.NewGuard(nil, dispatcher.GuardConfig{})
	w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: dispatcher.NewQueue(client, time.Minute), Guard: guard})
	var open, closed []string
	for range 3 {
		ms, due := storedEvent(t, st, dispatcher.StatusHeld, "ep_a", "ep_b")
		require.Empty(t, due, "held messages are not due")
		open, closed = append(open, ms[0].ID), append(closed, ms[1].ID)
	}
	// The waker takes each endpoint's held messages in id order, and ids
	// made within the same millisecond need not sort in the order made.
	slices.Sort(open)
	slices.Sort(closed)
	status := func(id string) dispatcher.Status {
		t.Helper()
		m, err := st.Message(ctx, id)
		require.NoError(t, err)
		return m.Status
	}
	round := func(k dispatcher.Waker, look bool) ([]string, bool) {
		t.Helper()
		next := k.Round
		if look {
			next = k.Look
		}
		woken, more, err := next(ctx)
		require.NoError(t, err)
		for _, id := range woken {
			require.Equal(t, dispatcher.StatusDelivering, status(id), "woken claimed")
		}
		return woken, more
	}

	// ep_a's breaker is open, its probe a minute away; ep_b's is closed.
	// A lane of 4 has room for 2 per round.
	k := dispatcher.NewWaker(w, 4)
	dispatcher.SetBreaker(guard, "ep_a", time.Now().Add(time.Minute))
	woken, more := round(k, true)
	require.Equal(t, closed[:2], woken)
	require.True(t, more)
	woken, more = round(k, false)
	require.Equal(t, closed[2:], woken)
	require.False(t, more)
	woken, _ = round(k, true)
	require.Empty(t, woken)
	for _, id := range open {
		require.Equal(t, dispatcher.StatusHeld, status(id))
	}

	// Its probe time comes: one message per look, in turn, each held again
	// (as when the probe fails and its next attempt finds the breaker open).
	dispatcher.SetBreaker(guard, "ep_a", time.Now().Add(-time.Second))
	for _, want := range []string{open[0], open[1], open[2], open[0]} {
		woken, more = round(k, true)
		require.Equal(t, []string{want}, woken)
		require.False(t, more)
		require.NoError(t, st.SetMessageStatus(ctx, want, dispatcher.Outcome{Status: dispatcher.StatusHeld}))
	}

	// Closed: the rest go.
	dispatcher.SetBreaker(guard, "ep_a", time.Time{})
	woken, _ = round(dispatcher.NewWaker(w, 10), true)
	require.Equal(t, open, woken)
	ids, err := st.HeldEndpoints(ctx)
	require.NoError(t, err)
	require.Empty(t, ids)
}
