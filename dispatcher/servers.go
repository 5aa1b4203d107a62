package dispatcher

import (
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// servers are the asynq servers that take a Worker's tasks off Redis: one
// for fan-outs and recovery jobs, deliveryLoops for deliveries. Fan-out
// and delivery each get servers of their own: an asynq server takes tasks
// off Redis one at a time, in one loop, and one loop for both would bound
// them together by its round trips.
type servers struct {
	list []*asynq.Server
	mux  *asynq.ServeMux
}

// deliveryLoops is how many asynq servers take delivery tasks.
const deliveryLoops = 2

// newServers returns the servers of cfg, fanoutConcurrency handlers for
// fan-outs and cfg.Concurrency for deliveries, which hand each task to
// mux.
func newServers(cfg Config, fanoutConcurrency int, mux *asynq.ServeMux) *servers {
	s := &servers{mux: mux}
	s.list = append(s.list, newServer(cfg, map[string]int{queueFanout: 1}, fanoutConcurrency))
	for range deliveryLoops {
		s.list = append(s.list, newServer(cfg, map[string]int{queueDeliver: 1}, max(cfg.Concurrency/deliveryLoops, 1)))
	}
	return s
}

// newServer returns an asynq server of queues with concurrency handlers.
func newServer(cfg Config, queues map[string]int, concurrency int) *asynq.Server {
	return asynq.NewServer(cfg.Redis, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   queues,
		TaskCheckInterval:        cfg.PollInterval,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           infraRetryDelay,
		Logger:                   asynqLogger{cfg.Logger},
		LogLevel:                 asynq.WarnLevel,
	})
}

// infraRetryDelay spaces out the retries of a task that failed for a reason
// of our own (database down): 1 s, 2 s, 4 s, … up to a minute.
func infraRetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	return min(time.Second<<min(n, 6), time.Minute)
}

// start starts every server. Should one fail to start, those started are
// shut down again and the error returned.
func (s *servers) start() error {
	for i, srv := range s.list {
		if err := srv.Start(s.mux); err != nil {
			for _, started := range s.list[:i] {
				started.Shutdown()
			}
			return fmt.Errorf("start workers: %w", err)
		}
	}
	return nil
}

// shutdown shuts the servers down at once, and returns when all have:
// each gives its handlers ShutdownTimeout to finish, then puts their
// tasks back in Redis and returns without waiting for them.
func (s *servers) shutdown() {
	var wg sync.WaitGroup
	for _, srv := range s.list {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}
