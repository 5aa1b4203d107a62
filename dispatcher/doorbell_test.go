package dispatcher

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store/storetest"
)

// idleServers starts a Worker's asynq servers on a Redis database of the
// test's own, with an IdlePoll of an hour: once asleep, they take up work
// only when the doorbell rings. It returns the Queue of their process, the
// Redis options, and what their handlers got, by task type.
func idleServers(t *testing.T) (*Queue, asynq.RedisConnOpt, func() map[string][]string) {
	t.Helper()
	redisOpt, err := asynq.ParseRedisURI(storetest.Redis(t))
	require.NoError(t, err)
	q := NewQueue(newRedisClient(t, redisOpt), time.Minute)
	var (
		mu  sync.Mutex
		got = map[string][]string{}
	)
	mux := asynq.NewServeMux()
	for _, typ := range []string{taskFanout, taskDeliver, taskRecover} {
		mux.HandleFunc(typ, func(_ context.Context, task *asynq.Task) error {
			mu.Lock()
			defer mu.Unlock()
			got[typ] = append(got[typ], string(task.Payload()))
			return nil
		})
	}
	cfg := Config{Redis: redisOpt, Queue: q, IdlePoll: time.Hour, Concurrency: 4, ShutdownTimeout: time.Second, Logger: slog.Default()}.withDefaults()
	s := newServers(cfg, 1, mux)
	require.NoError(t, s.start())
	t.Cleanup(s.shutdown)
	// Asleep: every poller waits after a poll that found nothing.
	require.Eventually(t, func() bool {
		for _, p := range s.pollers {
			if p.waiting.Load() != 1 {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "the idle servers go to sleep")
	return q, redisOpt, func() map[string][]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]string{}
		for k, v := range got {
			out[k] = append([]string(nil), v...)
		}
		return out
	}
}

func newRedisClient(t *testing.T, opt asynq.RedisConnOpt) redis.UniversalClient {
	t.Helper()
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestDoorbellWakesIdleServers checks that asleep asynq servers take up
// work queued in Redis at once, though their IdlePoll is an hour away:
// work queued by their own process, by another process (another Queue,
// on a client of its own), and scheduled work once it is due, which no
// Queue rings for.
func TestDoorbellWakesIdleServers(t *testing.T) {
	ctx := t.Context()
	waitFor := func(t *testing.T, got func() map[string][]string, typ, payload string) {
		t.Helper()
		require.Eventually(t, func() bool {
			for _, p := range got()[typ] {
				if p == payload {
					return true
				}
			}
			return false
		}, 20*time.Second, 5*time.Millisecond, "%s %s is handled", typ, payload)
	}

	t.Run("queued by the same process", func(t *testing.T) {
		q, _, got := idleServers(t)
		require.NoError(t, q.remoteFanout(ctx, "evt_1"))
		waitFor(t, got, taskFanout, "evt_1")
		require.NoError(t, q.remoteDelivery(ctx, deliveryTask{ID: "msg_1", EndpointID: "ep_1"}, time.Now()))
		waitFor(t, got, taskDeliver, "msg_1:0:ep_1")
	})
	t.Run("queued by another process", func(t *testing.T) {
		_, redisOpt, got := idleServers(t)
		other := NewQueue(newRedisClient(t, redisOpt), time.Minute)
		require.NoError(t, other.remoteDelivery(ctx, deliveryTask{ID: "msg_2", EndpointID: "ep_1"}, time.Now()))
		waitFor(t, got, taskDeliver, "msg_2:0:ep_1")
		require.NoError(t, other.EnqueueRecover(ctx, "rec_1"))
		waitFor(t, got, taskRecover, "rec_1")
	})
	t.Run("scheduled, once due", func(t *testing.T) {
		_, redisOpt, got := idleServers(t)
		// A plain asynq client: nothing rings when the task is queued.
		client := asynq.NewClient(redisOpt)
		t.Cleanup(func() { _ = client.Close() })
		_, err := client.EnqueueContext(ctx, asynq.NewTask(taskDeliver, []byte("msg_3:1:ep_1")), asynq.Queue(queueDeliver), asynq.ProcessIn(time.Second))
		require.NoError(t, err)
		waitFor(t, got, taskDeliver, "msg_3:1:ep_1")
	})
}

// TestIdleServersShutDown checks that servers asleep between polls shut
// down at once, without waiting for their IdlePoll.
func TestIdleServersShutDown(t *testing.T) {
	redisOpt, err := asynq.ParseRedisURI(storetest.Redis(t))
	require.NoError(t, err)
	q := NewQueue(newRedisClient(t, redisOpt), time.Minute)
	cfg := Config{Redis: redisOpt, Queue: q, IdlePoll: time.Hour, Concurrency: 4, ShutdownTimeout: time.Second, Logger: slog.Default()}.withDefaults()
	s := newServers(cfg, 1, asynq.NewServeMux())
	require.NoError(t, s.start())
	require.Eventually(t, func() bool { return s.pollers[0].waiting.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	done := make(chan struct{})
	go func() { s.shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("servers asleep for an hour did not shut down")
	}
}
