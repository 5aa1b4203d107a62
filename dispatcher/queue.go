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
// message id (to endpoint endpointID), due at time at (now or earlier means
// as soon as possible). Its TaskID names the message, the attempt and the
// due second, so the same attempt due at the same time is queued once.
func (q *Queue) EnqueueDelivery(ctx context.Context, id, endpointID string, attempts int, at time.Time) error {
	n := strconv.Itoa(attempts)
	t := asynq.NewTask(taskDeliver, []byte(id+":"+n+":"+endpointID))
	opts := []asynq.Option{
		asynq.TaskID("d:" + id + ":" + n + ":" + strconv.FormatInt(at.Unix(), 10)),
		asynq.Queue(queueDeliver), asynq.MaxRetry(20), asynq.Timeout(q.taskTimeout),
	}
	if at.After(time.Now()) {
		// asynq keeps whole seconds: a delay under one second lands
		// within the next one or two.
		opts = append(opts, asynq.ProcessAt(at))
	}
	_, err := q.client.EnqueueContext(ctx, t, opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue delivery of %s (attempt %d): %w", id, attempts+1, err)
	}
	return nil
}

// parseDeliverPayload reads "<message id>:<attempts>:<endpoint id>".
func parseDeliverPayload(p []byte) (id string, attempts int, endpointID string, err error) {
	parts := strings.SplitN(string(p), ":", 3)
	if len(parts) == 3 {
		attempts, err = strconv.Atoi(parts[1])
	}
	if len(parts) != 3 || err != nil {
		return "", 0, "", fmt.Errorf("bad delivery task payload %q: %w", p, asynq.SkipRetry)
	}
	return parts[0], attempts, parts[2], nil
}
