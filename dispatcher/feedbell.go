package dispatcher

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// FeedBell tells the readers of pull endpoints' feeds, in every process,
// that messages for their endpoint have been stored. Fan-out rings it once
// the messages are committed (fanout.schedule); a long-polling read waits
// on it (Feed.Read). A ring wakes the readers of this process at once and
// goes to the other processes on the Redis channel feedChannel, which
// carries the endpoint ids rung, space-separated; each process that serves
// feeds hears it (Listen).
//
// A ring that gets lost (a subscription that broke, a process of an
// older version) costs latency, never a message: a waiting read looks at
// the database again every feedRecheck anyway.
type FeedBell struct {
	// rdb publishes rings to other processes and hears theirs; nil: the
	// rings stay in the process.
	rdb redis.UniversalClient

	mu sync.Mutex
	// rung maps an endpoint id to the channel its next ring closes; an
	// entry is made by Next and removed by the ring that closes it.
	rung map[string]chan struct{}
}

// feedChannel is the Redis channel on which processes announce the pull
// endpoints they stored messages for.
const feedChannel = "shiphook:feeds"

// NewFeedBell returns a bell that rings across processes through rdb
// (nil: within the process only).
func NewFeedBell(rdb redis.UniversalClient) *FeedBell {
	return &FeedBell{rdb: rdb, rung: map[string]chan struct{}{}}
}

// Next returns the channel that the next ring of endpointID closes. A
// reader takes it before it reads the feed, so that a message stored
// after that read is never missed.
func (b *FeedBell) Next(endpointID string) <-chan struct{} {
	if b == nil {
		return nil // never closed: the reader looks again after feedRecheck
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.rung[endpointID]
	if !ok {
		ch = make(chan struct{})
		b.rung[endpointID] = ch
	}
	return ch
}

// Ring says that messages for endpointIDs were stored: it wakes this
// process's readers of them and publishes the ring to the others, in the
// background. It never waits for Redis. A nil bell, or no id, does nothing.
func (b *FeedBell) Ring(endpointIDs ...string) {
	if b == nil || len(endpointIDs) == 0 {
		return
	}
	b.wake(endpointIDs)
	if b.rdb == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := b.rdb.Publish(ctx, feedChannel, strings.Join(endpointIDs, " ")).Err(); err != nil {
			// Readers elsewhere look at the database again within feedRecheck.
			slog.Debug("ring the feed bell", "endpoints", len(endpointIDs), "err", err)
		}
	}()
}

// wake closes the channels that readers of ids wait on.
func (b *FeedBell) wake(ids []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		if ch, ok := b.rung[id]; ok {
			close(ch)
			delete(b.rung, id)
		}
	}
}

// Listen subscribes to the rings of every process and wakes this
// process's readers at each, until the returned function is called. A
// subscription that fails is retried in the background by the client;
// rings published meanwhile are lost.
func (b *FeedBell) Listen() (stop func()) {
	if b == nil || b.rdb == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sub := b.rdb.Subscribe(ctx, feedChannel)
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	if _, err := sub.Receive(rctx); err != nil {
		slog.Warn("subscribe to the feed bell; long-polling feed reads will see new messages within a second", "err", err)
	}
	rcancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.Channel() {
			b.wake(strings.Fields(msg.Payload))
		}
	}()
	return func() {
		cancel()
		_ = sub.Close()
		<-done
	}
}
