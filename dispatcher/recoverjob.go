package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shiphook/shiphook/subscriptions"
)

// recoveryStore is what a recovery job needs of the Store.
type recoveryStore interface {
	RecoverJob(ctx context.Context, id string) (RecoverJob, error)
	RequeueFailed(ctx context.Context, endpointID string, since time.Time, until *time.Time, after string, limit int, at time.Time) ([]Message, error)
	UpdateRecoverJob(ctx context.Context, j RecoverJob) error
}

// recoveryJobs runs the recovery jobs (RecoverJob) that the asynq servers
// take off Redis.
type recoveryJobs struct {
	store recoveryStore
	queue *Queue
}

// recoverBatch is how many messages a recovery job re-queues at a time.
const recoverBatch = 500

// handleTask runs a recovery job to its end, batch by batch, recording
// its progress after each.
func (r *recoveryJobs) handleTask(ctx context.Context, t *asynq.Task) error {
	job, err := r.store.RecoverJob(ctx, string(t.Payload()))
	if errors.Is(err, subscriptions.ErrNotFound) {
		return fmt.Errorf("recovery job %s: %w: %w", t.Payload(), err, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	for job.Status == "running" {
		ms, err := r.store.RequeueFailed(ctx, job.EndpointID, job.Since, job.Until, job.Cursor, recoverBatch, time.Now().UTC())
		if err != nil {
			return fmt.Errorf("recovery job %s: %w", job.ID, err)
		}
		if err := r.queue.EnqueueMessages(ctx, ms); err != nil {
			logWarn(ctx, "enqueue recovered messages; the reconciler will", "job_id", job.ID, "err", err)
		}
		now := time.Now().UTC()
		job.Requeued += len(ms)
		job.UpdatedAt = now
		if len(ms) > 0 {
			job.Cursor = ms[len(ms)-1].ID
		}
		if len(ms) == 0 {
			// Not a short batch: a message retried meanwhile can make a
			// batch short before the range is done.
			job.Status, job.FinishedAt = "done", &now
			job.Total = max(job.Total, job.Requeued)
		}
		if err := r.store.UpdateRecoverJob(ctx, job); err != nil {
			return fmt.Errorf("recovery job %s: %w", job.ID, err)
		}
	}
	logInfo(ctx, "recovery job done", "job_id", job.ID, "endpoint_id", job.EndpointID, "requeued", job.Requeued)
	return nil
}
