package dispatcher

import (
	"context"
	"time"
)

// Postpone puts the delivery task with this payload back for delay, as
// handleDeliver does when the endpoint's guard says wait for reason.
func Postpone(ctx context.Context, w *Worker, payload string, delay time.Duration, reason string) error {
	dt, err := parseDeliveryTask([]byte(payload))
	if err != nil {
		return err
	}
	return w.postpone(ctx, dt, &Wait{Delay: delay, Reason: reason})
}
