package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/shiphook/shiphook/dispatcher/internal/inproc"
	"github.com/shiphook/shiphook/subscriptions"
)

// Task types and their queues.
const (
	taskFanout  = "fanout"
	taskDeliver = "deliver"
	taskRecover = "recover"

	queueFanout  = "fanout"
	queueDeliver = "deliver"
)

// fanoutTimeout bounds how long the fan-out of one event may run.
const fanoutTimeout = time.Minute

// Queue puts work on Redis through asynq. Every task has a TaskID derived
// from the database row it serves, so enqueuing the same work twice (the
// reconciler after a crash, say) is a no-op while the first is still queued.
//
// While a Worker runs in the same process, work that is due now goes to
// the lanes of its scheduler instead, as long as they have room. Work due
// now that goes to Redis rings the doorbell of its queue (doorbell.go).
type Queue struct {
	client *asynq.Client
	bell   *doorbell
	// feeds tells the readers of pull endpoints' feeds of new messages.
	feeds *FeedBell
	// taskTimeout bounds how long one delivery task may run.
	taskTimeout time.Duration

	mu         sync.RWMutex
	fanouts    *inproc.Lane[string]
	deliveries *inproc.Lane[deliveryTask]
}

// NewQueue returns a Queue on rdb, which asynq shares. taskTimeout is the
// attempt timeout plus a margin for signing and recording.
func NewQueue(rdb redis.UniversalClient, taskTimeout time.Duration) *Queue {
	return &Queue{client: asynq.NewClientFromRedisClient(rdb), bell: newDoorbell(rdb), feeds: NewFeedBell(rdb), taskTimeout: taskTimeout}
}

// Feeds returns the bell that q rings when messages for pull endpoints
// are stored, for the feed's readers to wait on.
func (q *Queue) Feeds() *FeedBell { return q.feeds }

// attach makes the lanes of a running Worker's scheduler this Queue's
// first choice.
func (q *Queue) attach(fanouts *inproc.Lane[string], deliveries *inproc.Lane[deliveryTask]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fanouts, q.deliveries = fanouts, deliveries
}

// detach undoes attach, unless another Worker's lanes took their place.
func (q *Queue) detach(fanouts *inproc.Lane[string], deliveries *inproc.Lane[deliveryTask]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fanouts == fanouts && q.deliveries == deliveries {
		q.fanouts, q.deliveries = nil, nil
	}
}

func (q *Queue) lanes() (*inproc.Lane[string], *inproc.Lane[deliveryTask]) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.fanouts, q.deliveries
}

// EnqueueFanout schedules fan-out of the events with these ids.
func (q *Queue) EnqueueFanout(ctx context.Context, eventIDs ...string) error {
	fanouts, _ := q.lanes()
	var remote []string
	for _, id := range eventIDs {
		if !fanouts.Offer(id) {
			remote = append(remote, id)
		}
	}
	return q.remoteFanout(ctx, remote...)
}

// remoteFanout queues fan-out of these events in Redis.
func (q *Queue) remoteFanout(ctx context.Context, eventIDs ...string) error {
	return inParallel(len(eventIDs), func(i int) error {
		id := eventIDs[i]
		t := asynq.NewTask(taskFanout, []byte(id))
		_, err := q.client.EnqueueContext(ctx, t, asynq.TaskID("f:"+id), asynq.Queue(queueFanout), asynq.MaxRetry(20), asynq.Timeout(fanoutTimeout))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueue fan-out of %s: %w", id, err)
		}
		if err == nil {
			q.bell.ring(queueFanout)
		}
		return nil
	})
}

// enqueueParallelism is how many enqueues of one call are in flight at
// once: each is a round trip to Redis, and overlapping them makes a batch
// of 500 take a fraction of the time.
const enqueueParallelism = 8

// inParallel calls fn(0) … fn(n-1), up to enqueueParallelism at a time,
// and returns their errors joined.
func inParallel(n int, fn func(i int) error) error {
	switch n {
	case 0:
		return nil
	case 1:
		return fn(0)
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, enqueueParallelism) {
		wg.Go(func() {
			for i := range next {
				errs[i] = fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// deliveryTask names one attempt to make: of message ID, after Attempts
// made so far, to EndpointID; Manual when a person asked for it.
type deliveryTask struct {
	ID         string
	Attempts   int
	EndpointID string
	Manual     bool
	// claimed, in the scheduler only, is the message as the fan-out or
	// the waker stored it, already claimed (claim.go); it is never sent
	// to Redis, where a task must claim its message itself.
	claimed *Message
}

// payload encodes t as "<message id>:<attempts>:<endpoint id>", followed by
// ":manual" when a person asked for it.
func (t deliveryTask) payload() string {
	p := t.ID + ":" + strconv.Itoa(t.Attempts) + ":" + t.EndpointID
	if t.Manual {
		p += ":manual"
	}
	return p
}

// parseDeliveryTask reads what payload wrote.
func parseDeliveryTask(p []byte) (deliveryTask, error) {
	parts := strings.Split(string(p), ":")
	bad := func() (deliveryTask, error) {
		return deliveryTask{}, fmt.Errorf("bad delivery task payload %q: %w", p, asynq.SkipRetry)
	}
	if len(parts) < 3 || parts[0] == "" {
		return bad()
	}
	t := deliveryTask{ID: parts[0], EndpointID: parts[2]}
	var err error
	if t.Attempts, err = strconv.Atoi(parts[1]); err != nil {
		return bad()
	}
	for _, flag := range parts[3:] {
		if flag != "manual" {
			return bad()
		}
		t.Manual = true
	}
	return t, nil
}

// EnqueueDelivery schedules the attempt after attempts made so far of
// message id (to endpoint endpointID), due at time at (now or earlier means
// as soon as possible). Its TaskID names the message, the attempt and the
// due second, so the same attempt due at the same time is queued once.
func (q *Queue) EnqueueDelivery(ctx context.Context, id, endpointID string, attempts int, at time.Time) error {
	return q.enqueueDelivery(ctx, deliveryTask{ID: id, Attempts: attempts, EndpointID: endpointID}, at)
}

// EnqueueMessages schedules the next attempt of each of ms (pending
// messages), due at its NextAttemptAt (nil: now).
func (q *Queue) EnqueueMessages(ctx context.Context, ms []Message) error {
	_, deliveries := q.lanes()
	return q.enqueueMessages(ctx, ms, deliveries, time.Now().Add(laneWait))
}

// enqueueMessages does EnqueueMessages, offering what is due now to
// deliveries first (nil: none), waiting for room until deadline. Those who
// fan out wait, rather than send each message through Redis: when
// deliveries fall behind, fan-out slows down, and the events that wait for
// it cost Redis one task each instead of one per message.
func (q *Queue) enqueueMessages(ctx context.Context, ms []Message, deliveries *inproc.Lane[deliveryTask], deadline time.Time) error {
	now := time.Now()
	type due struct {
		dt deliveryTask
		at time.Time
	}
	var remote []due
	for _, m := range ms {
		d := due{deliveryTask{ID: m.ID, Attempts: m.Attempts, EndpointID: m.EndpointID}, now}
		switch {
		case m.Status == StatusDelivering && m.LeaseUntil != nil:
			// An attempt whose lease ended (its process died) is named
			// by the lease, not by the task that was under way: that
			// task may sit in Redis's active list, orphaned, for a
			// minute, and would make this enqueue a no-op meanwhile.
			// When it is retried, its claim fails.
			d.at = *m.LeaseUntil
		case m.NextAttemptAt != nil:
			d.at = *m.NextAttemptAt
		}
		if d.at.After(now) || !deliveries.OfferBy(d.dt, deadline) {
			remote = append(remote, d)
		}
	}
	return inParallel(len(remote), func(i int) error { return q.remoteDelivery(ctx, remote[i].dt, remote[i].at) })
}

func (q *Queue) enqueueDelivery(ctx context.Context, dt deliveryTask, at time.Time) error {
	if _, deliveries := q.lanes(); !at.After(time.Now()) && deliveries.Offer(dt) {
		return nil
	}
	return q.remoteDelivery(ctx, dt, at)
}

// remoteDelivery queues dt in Redis, due at at.
func (q *Queue) remoteDelivery(ctx context.Context, dt deliveryTask, at time.Time) error {
	taskID := "d:" + dt.ID + ":" + strconv.Itoa(dt.Attempts) + ":" + strconv.FormatInt(at.Unix(), 10)
	if dt.Manual {
		taskID += ":m"
	}
	opts := []asynq.Option{asynq.TaskID(taskID), asynq.Queue(queueDeliver), asynq.MaxRetry(20), asynq.Timeout(q.taskTimeout)}
	due := !at.After(time.Now())
	if !due {
		// asynq keeps whole seconds, and runs a task once its second has
		// begun: it is given the second after at, lest the attempt come
		// before its time. Its server's forwarder rings when it is due.
		opts = append(opts, asynq.ProcessAt(ceilSecond(at)))
	}
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(taskDeliver, []byte(dt.payload())), opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue delivery of %s (attempt %d): %w", dt.ID, dt.Attempts+1, err)
	}
	if err == nil && due {
		q.bell.ring(queueDeliver)
	}
	return nil
}

// ceilSecond returns t rounded up to a whole second.
func ceilSecond(t time.Time) time.Time {
	if s := t.Truncate(time.Second); s.Before(t) {
		return s.Add(time.Second)
	}
	return t
}

// EnqueueRecover schedules the recovery job with this id. Returns
// subscriptions.ErrUnavailable if Redis could not be reached.
func (q *Queue) EnqueueRecover(ctx context.Context, jobID string) error {
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(taskRecover, []byte(jobID)),
		asynq.TaskID("r:"+jobID), asynq.Queue(queueFanout), asynq.MaxRetry(20), asynq.Timeout(30*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue recovery job %s: %w", jobID, redisUnavailable(err))
	}
	if err == nil {
		q.bell.ring(queueFanout)
	}
	return nil
}

// redisUnavailable returns err wrapped in subscriptions.ErrUnavailable,
// the cause kept in the chain, if it says that Redis could not be reached
// (a connection refused, broken or timed out, a closed client, no free
// connection in time), and err as it is otherwise.
func redisUnavailable(err error) error {
	var netErr *net.OpError
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return fmt.Errorf("%w: %w", subscriptions.ErrUnavailable, err)
	}
	return err
}
