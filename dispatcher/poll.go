package dispatcher

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// A poller paces the polls of one asynq server, as a hook on the server's
// Redis client: asynq asks Redis for a task every PollInterval while its
// queue is empty, and a poller makes the poll that follows one that found
// nothing wait until the doorbell of the server's queue rings, or until
// IdlePoll passes (doorbell.go). It also rings that doorbell when the
// server's forwarder has moved scheduled tasks that came due into the
// queue.
//
// It knows asynq's polls by their Redis keys (asynq 0.26 keeps a queue's
// tasks under "asynq:{<queue>}:…"): the dequeue script's first two keys
// are the queue's pending and paused lists, the forward script's are a
// scheduled or retry set and the pending list.
type poller struct {
	bell *bell
	ring func()
	idle time.Duration
	// stop, once closed, ends every wait: the server is shutting down.
	stop <-chan struct{}

	pending, paused, scheduled, retry string

	mu sync.Mutex
	// quiet is set when the last poll found the queue empty; rung is the
	// channel of the doorbell's next ring as it was before that poll, so
	// that a ring made while the poll ran is not missed.
	quiet bool
	rung  <-chan struct{}
	// waiting counts the polls that wait now (for tests).
	waiting atomic.Int32
}

func newPoller(d *doorbell, queue string, idle time.Duration, stop <-chan struct{}) *poller {
	prefix := "asynq:{" + queue + "}:"
	return &poller{
		bell: d.bells[queue], ring: func() { d.ring(queue) }, idle: idle, stop: stop,
		pending: prefix + "pending", paused: prefix + "paused", scheduled: prefix + "scheduled", retry: prefix + "retry",
	}
}

// pollerConn is the Redis connection of an asynq server, whose client has
// the server's poller as a hook.
type pollerConn struct {
	asynq.RedisConnOpt
	poller *poller
}

// MakeRedisClient returns a client of c's RedisConnOpt with c's poller.
func (c pollerConn) MakeRedisClient() any {
	client := c.RedisConnOpt.MakeRedisClient()
	if u, ok := client.(redis.UniversalClient); ok {
		u.AddHook(c.poller)
	}
	return client
}

// DialHook is part of redis.Hook.
func (p *poller) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessPipelineHook is part of redis.Hook.
func (p *poller) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { return next(ctx, cmds) }
}

// ProcessHook paces the server's polls and rings for what its forwarder
// moves; other commands go through as they are.
func (p *poller) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		keys := scriptKeys(cmd)
		switch {
		case len(keys) == 4 && keys[0] == p.pending && keys[1] == p.paused:
			return p.poll(ctx, cmd, next)
		case len(keys) == 2 && keys[1] == p.pending && (keys[0] == p.scheduled || keys[0] == p.retry):
			err := next(ctx, cmd)
			if c, ok := cmd.(*redis.Cmd); ok {
				if n, _ := c.Int64(); n > 0 {
					p.ring()
				}
			}
			return err
		}
		return next(ctx, cmd)
	}
}

// poll runs one of asynq's polls for a task, after waiting, if the last
// found the queue empty, for a ring made since it began, IdlePoll, or the
// server's shutdown.
func (p *poller) poll(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
	p.mu.Lock()
	quiet, rung := p.quiet, p.rung
	p.mu.Unlock()
	if quiet {
		p.waiting.Add(1)
		t := time.NewTimer(p.idle)
		select {
		case <-rung:
		case <-t.C:
		case <-p.stop:
		}
		t.Stop()
		p.waiting.Add(-1)
	}
	rung = p.bell.next()
	err := next(ctx, cmd)
	p.mu.Lock()
	p.quiet, p.rung = errors.Is(err, redis.Nil), rung
	p.mu.Unlock()
	return err
}

// scriptKeys returns the keys of cmd if it runs a Lua script (EVAL or
// EVALSHA), and nil otherwise.
func scriptKeys(cmd redis.Cmder) []string {
	if name := cmd.Name(); name != "evalsha" && name != "eval" {
		return nil
	}
	args := cmd.Args()
	if len(args) < 3 {
		return nil
	}
	n, ok := args[2].(int)
	if !ok || n < 0 || len(args) < 3+n {
		return nil
	}
	keys := make([]string, n)
	for i := range keys {
		if keys[i], ok = args[3+i].(string); !ok {
			return nil
		}
	}
	return keys
}
