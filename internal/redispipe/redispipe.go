// Package redispipe sends the Redis commands made at the same moment by
// many goroutines in one round trip.
package redispipe

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// A Pipeline sends the Redis commands that many goroutines make at the same
// moment together, in one round trip: each alone would cost a write, a
// read and a pooled connection on both sides. Nothing waits to fill a
// batch: a command finding no batch under way is sent at once, alone, by
// its own goroutine; commands made while one is under way queue up, and
// the first of them sends them all, once that one is back. So batches grow
// with the load, with no goroutine of its own to start or stop.
type Pipeline struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	busy    bool
	waiting []*pipedCmd
}

type pipedCmd struct {
	ctx  context.Context
	add  func(context.Context, redis.Cmdable) redis.Cmder
	cmd  redis.Cmder
	done chan bool // true: the command's turn to send the next batch
}

// maxPipeline is the most commands one batch carries.
const maxPipeline = 256

// New returns a Pipeline on rdb.
func New(rdb redis.UniversalClient) *Pipeline { return &Pipeline{rdb: rdb} }

// Do makes the command add makes on p and returns it once it was sent and
// answered.
func Do[C redis.Cmder](ctx context.Context, p *Pipeline, add func(context.Context, redis.Cmdable) C) C {
	return p.do(ctx, func(ctx context.Context, c redis.Cmdable) redis.Cmder { return add(ctx, c) }).(C)
}

func (p *Pipeline) do(ctx context.Context, add func(context.Context, redis.Cmdable) redis.Cmder) redis.Cmder {
	c := &pipedCmd{ctx: ctx, add: add, done: make(chan bool, 1)}
	p.mu.Lock()
	p.waiting = append(p.waiting, c)
	if p.busy {
		p.mu.Unlock()
		if lead := <-c.done; !lead {
			return c.cmd
		}
		p.mu.Lock()
	}
	p.busy = true
	n := min(len(p.waiting), maxPipeline)
	batch := p.waiting[:n:n]
	p.waiting = p.waiting[n:]
	p.mu.Unlock()

	p.send(batch)

	p.mu.Lock()
	if len(p.waiting) == 0 {
		p.busy = false
		p.waiting = nil
	} else {
		p.waiting[0].done <- true
	}
	p.mu.Unlock()
	return c.cmd
}

// send sends batch (which holds the caller's own command first) and hands
// each command its answer.
func (p *Pipeline) send(batch []*pipedCmd) {
	if len(batch) == 1 {
		c := batch[0]
		c.cmd = c.add(c.ctx, p.rdb)
		return
	}
	pipe := p.rdb.Pipeline()
	for _, c := range batch {
		c.cmd = c.add(c.ctx, pipe)
	}
	// Each command carries its own error; so does Exec, for the first.
	_, _ = pipe.Exec(context.WithoutCancel(batch[0].ctx))
	for _, c := range batch[1:] {
		c.done <- false
	}
}
