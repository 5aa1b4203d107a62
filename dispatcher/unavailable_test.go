package dispatcher_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestRedisUnreachable checks that the Redis calls whose errors reach an
// HTTP answer report a Redis that cannot be reached as
// subscriptions.ErrUnavailable.
func TestRedisUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}) // nothing listens there
	t.Cleanup(func() { _ = rdb.Close() })
	err := dispatcher.NewQueue(rdb, time.Minute).EnqueueRecover(t.Context(), "rec_1")
	require.ErrorIs(t, err, subscriptions.ErrUnavailable)

	_, err = dispatcher.NewGuard(rdb, dispatcher.GuardConfig{}).BreakerState(t.Context(), "ep_1")
	require.ErrorIs(t, err, subscriptions.ErrUnavailable)
}
