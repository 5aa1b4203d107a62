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
// them together by its round trips. While its queue is empty, each server
// waits for the doorbell between its polls (poll.go, doorbell.go).
type servers struct {
	list    []*asynq.Server
	pollers []*poller
	mux     *asynq.ServeMux
	bell    *doorbell
	// stopping, closed at shutdown, ends the pollers' waits; unlisten
	// ends the subscription to other processes' rings.
	stopping chan struct{}
	unlisten func()
}

// deliveryLoops is how many asynq servers take delivery tasks.
const deliveryLoops = 2

// newServers returns the servers of cfg, fanoutConcurrency handlers for
// fan-outs and cfg.Concurrency for deliveries, which hand each task to
// mux.
func newServers(cfg Config, fanoutConcurrency int, mux *asynq.ServeMux) *servers {
	s := &servers{mux: mux, bell: newDoorbell(nil), stopping: make(chan struct{})}
	if cfg.Queue != nil {
		s.bell = cfg.Queue.bell
	}
	s.add(cfg, queueFanout, fanoutConcurrency)
	for range deliveryLoops {
		s.add(cfg, queueDeliver, max(cfg.Concurrency/deliveryLoops, 1))
	}
	return s
}

// add adds an asynq server of queue with concurrency handlers, and its
// poller.
func (s *servers) add(cfg Config, queue string, concurrency int) {
	p := newPoller(s.bell, queue, cfg.IdlePoll, s.stopping)
	s.pollers = append(s.pollers, p)
	s.list = append(s.list, asynq.NewServer(pollerConn{RedisConnOpt: cfg.Redis, poller: p}, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{queue: 1},
		TaskCheckInterval:        cfg.PollInterval,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           infraRetryDelay,
		Logger:                   asynqLogger{cfg.Logger},
		LogLevel:                 asynq.WarnLevel,
	}))
}

// infraRetryDelay spaces out the retries of a task that failed for a reason
// of our own (database down): 1 s, 2 s, 4 s, … up to a minute.
func infraRetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	return min(time.Second<<min(n, 6), time.Minute)
}

// start listens to the doorbell, then starts every server. Should one fail
// to start, those started are shut down again and the error returned.
func (s *servers) start() error {
	s.unlisten = s.bell.listen()
	for i, srv := range s.list {
		if err := srv.Start(s.mux); err != nil {
			close(s.stopping)
			for _, started := range s.list[:i] {
				started.Shutdown()
			}
			s.unlisten()
			return fmt.Errorf("start workers: %w", err)
		}
	}
	return nil
}

// shutdown shuts the servers down at once, and returns when all have:
// each gives its handlers ShutdownTimeout to finish, then puts their
// tasks back in Redis and returns without waiting for them.
func (s *servers) shutdown() {
	close(s.stopping)
	defer s.unlisten()
	var wg sync.WaitGroup
	for _, srv := range s.list {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}
