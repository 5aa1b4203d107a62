package dispatcher_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
)

// TestAlive checks a Worker's liveness: an error before its loops start,
// nil while its reconciler ends a pass every interval, and an error once
// it has not for 3 intervals, or a minute at least.
func TestAlive(t *testing.T) {
	st, redisOpt, client, _ := workerDeps(t)
	q := dispatcher.NewQueue(client, time.Minute)

	t.Run("turning", func(t *testing.T) {
		w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: q, ReconcileInterval: 50 * time.Millisecond})
		require.ErrorContains(t, w.Alive(time.Now()), "has not started")

		started := time.Now()
		stop := dispatcher.StartReconciler(w)
		defer stop()
		require.NoError(t, w.Alive(time.Now()))
		require.NoError(t, w.Alive(started.Add(50*time.Second)), "a minute at least, however short the interval")
		require.ErrorContains(t, w.Alive(time.Now().Add(2*time.Minute)), "stalled after 1m0s")
		// Passes ended since keep it alive a minute past its start.
		require.Eventually(t, func() bool { return w.Alive(started.Add(61*time.Second)) == nil }, 10*time.Second, 50*time.Millisecond)
	})

	t.Run("three intervals", func(t *testing.T) {
		w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: q, ReconcileInterval: time.Minute})
		stop := dispatcher.StartReconciler(w)
		defer stop()
		now := time.Now()
		require.NoError(t, w.Alive(now.Add(170*time.Second)))
		require.ErrorContains(t, w.Alive(now.Add(190*time.Second)), "stalled after 3m0s")
	})
}
