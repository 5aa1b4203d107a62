package dispatcher

import (
	"context"
	"time"
)

// retentionBatch is how many rows one purge statement touches: small, so
// that purging never holds locks that delivery waits on for long.
const retentionBatch = 500

// retentionLoop purges, every RetentionInterval, the attempts and event
// payloads older than Retention, a small batch at a time with a pause
// between batches. Messages (the summaries) are kept.
func (w *Worker) retentionLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := w.Purge(ctx, time.Now().Add(-w.cfg.Retention)); err != nil && ctx.Err() == nil {
				logWarn(ctx, "purge old attempts and payloads", "err", err)
			} else if n > 0 {
				logInfo(ctx, "purged old attempts and payloads", "rows", n)
			}
		}
	}
}

// Purge deletes attempts started before cutoff and empties the payloads of
// events created before it, in batches, and returns how many rows it
// touched.
func (w *Worker) Purge(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	// Cached events may hold payloads purged now.
	defer w.cfg.Events.Clear()
	for _, purge := range []func(context.Context, time.Time, int) (int, error){w.cfg.Store.PurgeAttempts, w.cfg.Store.PurgePayloads} {
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
