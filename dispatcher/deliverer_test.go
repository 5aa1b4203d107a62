package dispatcher_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
)

// TestRescheduleHolds checks that a message held back by an open breaker is
// held in the database, with no task in Redis, and that other long waits
// move its next attempt as far as its task.
func TestRescheduleHolds(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, inspector := workerDeps(t)
	w := dispatcher.NewWorker(dispatcher.Config{Store: st, Redis: redisOpt, Queue: dispatcher.NewQueue(client, time.Minute)})
	ms, _ := storedEvent(t, st, "", "ep_1")
	m := ms[0]
	status := func() dispatcher.Message {
		t.Helper()
		got, err := st.Message(ctx, m.ID)
		require.NoError(t, err)
		return got
	}
	tasks := func() int {
		t.Helper()
		scheduled, err := inspector.ListScheduledTasks("deliver")
		require.NoError(t, err)
		pending, err := inspector.ListPendingTasks("deliver")
		if err != nil {
			require.ErrorIs(t, err, asynq.ErrQueueNotFound)
		}
		for _, task := range scheduled {
			require.NoError(t, inspector.DeleteTask("deliver", task.ID))
		}
		return len(scheduled) + len(pending)
	}

	// Any long wait but the breaker's moves it as far as the task.
	require.NoError(t, dispatcher.Reschedule(ctx, w, m.ID+":0:ep_1", 20*time.Second, "rate_limit"))
	require.Equal(t, dispatcher.StatusPending, status().Status)
	require.WithinDuration(t, time.Now().Add(20*time.Second), *status().NextAttemptAt, 3*time.Second)
	require.Equal(t, 1, tasks())

	// A stale task holds nothing.
	require.NoError(t, dispatcher.Reschedule(ctx, w, m.ID+":3:ep_1", 15*time.Second, "breaker_open"))
	require.Equal(t, dispatcher.StatusPending, status().Status)

	// Behind an open breaker: held, with no next attempt and no task.
	require.NoError(t, dispatcher.Reschedule(ctx, w, m.ID+":0:ep_1", 15*time.Second, "breaker_open"))
	got := status()
	require.Equal(t, dispatcher.StatusHeld, got.Status)
	require.Nil(t, got.NextAttemptAt)
	require.Zero(t, got.Attempts)
	require.Zero(t, tasks())
}
