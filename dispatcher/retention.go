package dispatcher

import (
	"context"
	"time"
)

// retentionStore is what retention needs of the Store.
type retentionStore interface {
	PurgeAttempts(ctx context.Context, before time.Time, limit int) (int, error)
	PurgePayloads(ctx context.Context, before time.Time, limit int) (int, error)
}

// retention purges, every interval, the attempts and event payloads older
// than keep, a small batch at a time with a pause between batches.
// Messages (the summaries) are kept.
type retention struct {
	background
	store    retentionStore
	events   *EventCache
	keep     time.Duration
	interval time.Duration
}

// retentionBatch is how many rows one purge statement touches: small, so
// that purging never holds locks that delivery waits on for long.
const retentionBatch = 500

// start purges every interval until ctx ends.
func (r *retention) start(ctx context.Context) {
	r.every(ctx, r.interval, func(ctx context.Context) {
		if n, err := r.purge(ctx, time.Now().Add(-r.keep)); err != nil && ctx.Err() == nil {
			logWarn(ctx, "purge old attempts and payloads", "err", err)
		} else if n > 0 {
			logInfo(ctx, "purged old attempts and payloads", "rows", n)
		}
	})
}

// purge does Worker.Purge.
func (r *retention) purge(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	// Cached events may hold payloads purged now.
	defer r.events.Clear()
	for _, purge := range []func(context.Context, time.Time, int) (int, error){r.store.PurgeAttempts, r.store.PurgePayloads} {
		for {
			n, err := purge(ctx, cutoff, retentionBatch)
			total += n
			if err != nil {
				return total, err
			}
			if n < retentionBatch {
				break
			}
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return total, nil
}
