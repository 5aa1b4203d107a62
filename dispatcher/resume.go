package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// Resumer puts an endpoint's kept messages back on the schedule when the
// endpoint is enabled again, and forgets its breaker and failure streak.
type Resumer struct {
	Store     Store
	Endpoints Endpoints
	Queue     *Queue
	Guard     *Guard
}

// Resume implements subscriptions.Resumer.
func (r *Resumer) Resume(ctx context.Context, ep subscriptions.Endpoint) error {
	r.Guard.Reset(ctx, ep.ID)
	if err := r.Endpoints.MarkEndpointHealthy(ctx, ep.ID); err != nil {
		return fmt.Errorf("resume endpoint %s: %w", ep.ID, err)
	}
	ms, err := r.Store.ResumeMessages(ctx, ep.ID, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("resume messages of %s: %w", ep.ID, err)
	}
	if err := r.Queue.EnqueueMessages(ctx, ms); err != nil {
		// They are pending in the database: the reconciler will.
		logWarn(ctx, "enqueue resumed messages; the reconciler will", "endpoint_id", ep.ID, "err", err)
	}
	logInfo(ctx, "endpoint enabled again; kept messages resumed", "endpoint_id", ep.ID, "messages", len(ms))
	return nil
}
