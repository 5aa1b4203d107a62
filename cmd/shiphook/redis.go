package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// miniredisTick is how often the in-process Redis's TTLs advance.
const miniredisTick = 100 * time.Millisecond

// runMiniredisClock makes m's TTLs run with the clock, advancing them every
// miniredisTick, until the returned function is called. (miniredis's own
// ClockTTL advances them on every command instead, walking and sorting
// every key each time: each command would cost more the more tasks are
// queued.)
func runMiniredisClock(m *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(miniredisTick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// connectRedis connects to url, or starts an in-process miniredis when url
// is empty. The returned function closes what was opened.
func connectRedis(ctx context.Context, url string, log *slog.Logger) (asynq.RedisConnOpt, redis.UniversalClient, func(), error) {
	if url == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, nil, fmt.Errorf("start in-process redis: %w", err)
		}
		stopClock := runMiniredisClock(m)
		log.Warn("using an in-process, in-memory Redis: for trying shiphook out only; set REDIS_URL=redis://… for production")
		opt := asynq.RedisClientOpt{Addr: m.Addr()}
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		return opt, rdb, func() { _ = rdb.Close(); stopClock(); m.Close() }, nil
	}
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, nil, errors.New("REDIS_URL: unsupported redis client")
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, nil, nil, fmt.Errorf("connect to redis: %w", err)
	}
	return opt, rdb, func() { _ = rdb.Close() }, nil
}
