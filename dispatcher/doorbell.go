package dispatcher

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The doorbell tells the asynq servers of every process that work is
// waiting in Redis, so that they need not keep asking while there is none.
// An asynq server whose last poll found its queue empty waits, before the
// next, until the doorbell of its queue rings or IdlePoll passes (poller,
// poll.go). Whoever puts work due now in Redis rings: the Queue once it
// has queued a task, a server's forwarder once it has moved scheduled
// tasks that came due to their queue. A ring wakes the servers of its own
// process at once, and those of every process through the Redis channel
// doorbellChannel, published at most every ringGap for each queue and
// heard by each process's servers (listen).
//
// A ring that gets lost (the channel's connection broke, a process that
// does not ring) costs latency, never work: the servers ask Redis again
// after IdlePoll anyway.
type doorbell struct {
	// rdb publishes rings to other processes and hears theirs; nil: the
	// rings stay in the process.
	rdb   redis.UniversalClient
	bells map[string]*bell
}

// doorbellChannel is the Redis channel on which processes announce the
// name of a queue in which they put work.
const doorbellChannel = "shiphook:doorbell"

// ringGap is the shortest time between two rings of one queue that one
// process publishes: a ring within it of the last one is published once
// it has passed, with every other ring made meanwhile. It keeps the
// channel's traffic low under load, when the servers are busy anyway.
const ringGap = time.Millisecond

// bell is the doorbell of one queue.
type bell struct {
	mu sync.Mutex
	// rung is closed by the next ring, and then replaced.
	rung chan struct{}
	// publishing is set while a publish of this queue's ring is due;
	// published is when the last one went out.
	publishing bool
	published  time.Time
}

func newDoorbell(rdb redis.UniversalClient) *doorbell {
	d := &doorbell{rdb: rdb, bells: map[string]*bell{}}
	for _, q := range []string{queueFanout, queueDeliver} {
		d.bells[q] = &bell{rung: make(chan struct{})}
	}
	return d
}

// ring says that work is waiting in queue: it wakes this process's
// servers of queue, and publishes the ring for the others' within
// ringGap. It never waits for Redis.
func (d *doorbell) ring(queue string) {
	b := d.bells[queue]
	if b == nil {
		return
	}
	b.wake()
	if d.rdb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.publishing {
		return
	}
	b.publishing = true
	time.AfterFunc(max(time.Until(b.published.Add(ringGap)), 0), func() { d.publish(queue, b) })
}

// publish announces a ring of queue to every process.
func (d *doorbell) publish(queue string, b *bell) {
	b.mu.Lock()
	b.publishing, b.published = false, time.Now()
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := d.rdb.Publish(ctx, doorbellChannel, queue).Err(); err != nil {
		// The servers of other processes ask Redis after IdlePoll anyway.
		slog.Debug("ring the doorbell", "queue", queue, "err", err)
	}
}

// wake closes the channel that the servers of b's queue wait on.
func (b *bell) wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.rung)
	b.rung = make(chan struct{})
}

// next returns the channel that the next ring of b closes.
func (b *bell) next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rung
}

// listen subscribes to the rings of every process and wakes this
// process's servers at each, until the returned function is called. A
// subscription that fails is retried in the background; rings published
// meanwhile are lost.
func (d *doorbell) listen() (stop func()) {
	if d.rdb == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sub := d.rdb.Subscribe(ctx, doorbellChannel)
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	if _, err := sub.Receive(rctx); err != nil {
		slog.Warn("subscribe to the doorbell; idle workers will find new work within a second", "err", err)
	}
	rcancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.Channel() {
			if b := d.bells[msg.Payload]; b != nil {
				b.wake()
			}
		}
	}()
	return func() {
		cancel()
		_ = sub.Close()
		<-done
	}
}
