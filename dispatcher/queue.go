package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// Task types and their queues.
const (
	taskFanout  = "fanout"
	taskDeliver = "deliver"

	queueFanout  = "fanout"
	queueDeliver = "deliver"
)

// Queue puts work on Redis through asynq. Every task has a TaskID derived
// from the database row it serves, so enqueuing the same work twice (the
// reconciler after a crash, say) is a no-op while the first is still queued.
type Queue struct {
	client *asynq.Client
	// taskTimeout bounds how long one delivery task may run.
	taskTimeout time.Duration
}

// NewQueue returns a Queue on client. taskTimeout is the attempt timeout
// plus a margin for signing and recording.
func NewQueue(client *asynq.Client, taskTimeout time.Duration) *Queue {
	return &Queue{client: client, taskTimeout: taskTimeout}
}

// EnqueueFanout schedules fan-out of the events with these ids.
func (q *Queue) EnqueueFanout(ctx context.Context, eventIDs ...string) error {
	var errs []error
	for _, id := range eventIDs {
		t := asynq.NewTask(taskFanout, []byte(id))
		_, err := q.client.EnqueueContext(ctx, t, asynq.TaskID("f:"+id), asynq.Queue(queueFanout), asynq.MaxRetry(20), asynq.Timeout(time.Minute))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			errs = append(errs, fmt.Errorf("enqueue fan-out of %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// EnqueueDelivery schedules the attempt after attempts made so far of
// message id, at time at (now or earlier means as soon as possible).
func (q *Queue) EnqueueDelivery(ctx context.Context, id string, attempts int, at time.Time) error {
	payload := id + ":" + strconv.Itoa(attempts)
	t := asynq.NewTask(taskDeliver, []byte(payload))
	opts := []asynq.Option{asynq.TaskID("d:" + payload), asynq.Queue(queueDeliver), asynq.MaxRetry(20), asynq.Timeout(q.taskTimeout)}
	if d := time.Until(at); d >= time.Second {
		opts = append(opts, asynq.ProcessAt(at))
	}
	_, err := q.client.EnqueueContext(ctx, t, opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue delivery of %s: %w", payload, err)
	}
	return nil
}

func parseDeliverPayload(p []byte) (id string, attempts int, err error) {
	id, n, ok := strings.Cut(string(p), ":")
	if ok {
		attempts, err = strconv.Atoi(n)
	}
	if !ok || err != nil {
		return "", 0, fmt.Errorf("bad delivery task payload %q: %w", p, asynq.SkipRetry)
	}
	return id, attempts, nil
}
