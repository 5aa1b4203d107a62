package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// Healthz handles GET /healthz: 200 while the process answers and alive,
// if not nil, returns nil; else 503. The answer is unauthenticated, so it
// says only that the process is stalled; alive's error goes to the log.
func Healthz(alive func(now time.Time) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if alive != nil {
			if err := alive(time.Now()); err != nil {
				slog.WarnContext(c.Request.Context(), "not alive", "err", err)
				c.PureJSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": "stalled"})
				return
			}
		}
		c.PureJSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

// Dependency is something the service needs to take requests, such as
// the database: Check returns nil while it is reachable.
type Dependency struct {
	Name  string
	Check func(ctx context.Context) error
}

// Readyz handles GET /readyz: 200 if every dependency's Check answers nil
// within 2 s in all, else 503 naming the first that did not. The answer
// is unauthenticated, so it names the dependency and nothing more; its
// error goes to the log.
func Readyz(deps []Dependency) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		for _, d := range deps {
			if err := d.Check(ctx); err != nil {
				slog.WarnContext(ctx, "not ready", "dependency", d.Name, "err", err)
				c.PureJSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": d.Name + " unreachable"})
				return
			}
		}
		c.PureJSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

// EndpointHealthView is the answer of GET …/endpoints/{id}/health.
type EndpointHealthView struct {
	EndpointID     string                     `json:"endpoint_id"`
	Disabled       bool                       `json:"disabled"`
	DisabledReason string                     `json:"disabled_reason,omitempty"`
	FailingSince   *time.Time                 `json:"failing_since"`
	Breaker        subscriptions.BreakerState `json:"breaker"`
	// SuccessRate* are the share of attempts that succeeded, null without
	// attempts.
	SuccessRateHour *float64 `json:"success_rate_last_hour"`
	SuccessRateDay  *float64 `json:"success_rate_last_day"`
	dispatcher.Health
	// Feed, for a pull endpoint only, says how far its partner is behind
	// in reading: unread messages, the oldest's age, the last read.
	Feed *FeedHealthView `json:"feed,omitempty"`
}

// FeedHealthView is a pull endpoint's feed in its health.
type FeedHealthView struct {
	dispatcher.FeedHealth
	// OldestUnreadAgeSeconds is how long the oldest unread message has
	// waited; null when none does.
	OldestUnreadAgeSeconds *float64 `json:"oldest_unread_age_seconds"`
	// AckedCursor is the cursor of the acknowledged position, to read
	// again from there; empty before the first acknowledgement.
	AckedCursor string `json:"acknowledged_cursor"`
}

type healthReader interface {
	endpointGetter
	FeedStore
	EndpointHealth(ctx context.Context, endpointID string, now time.Time) (dispatcher.Health, error)
}

// GetEndpointHealth handles GET …/endpoints/{endpoint_id}/health: the
// endpoint's state, its breaker's as b tells it, and its recent attempts.
func GetEndpointHealth(st healthReader, b subscriptions.BreakerStates) gin.HandlerFunc {
	return func(c *gin.Context) {
		ep, err := visibleEndpoint(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		ctx := c.Request.Context()
		h, err := st.EndpointHealth(ctx, ep.ID, time.Now().UTC())
		if err != nil {
			abort(c, err)
			return
		}
		breaker, err := b.BreakerState(ctx, ep.ID)
		if err != nil {
			abort(c, err)
			return
		}
		view := EndpointHealthView{
			EndpointID: ep.ID, Disabled: ep.Disabled, DisabledReason: ep.DisabledReason, FailingSince: ep.FailingSince,
			Breaker: breaker, SuccessRateHour: rate(h.SucceededHour, h.AttemptsHour), SuccessRateDay: rate(h.SucceededDay, h.AttemptsDay), Health: h,
		}
		if ep.Pull() {
			if view.Feed, err = feedHealth(ctx, st, ep.ID, time.Now()); err != nil {
				abort(c, err)
				return
			}
		}
		c.PureJSON(http.StatusOK, view)
	}
}

// feedHealth returns the health of endpointID's feed as of now.
func feedHealth(ctx context.Context, st FeedStore, endpointID string, now time.Time) (*FeedHealthView, error) {
	fh, err := st.FeedHealth(ctx, endpointID)
	if err != nil {
		return nil, err
	}
	v := &FeedHealthView{FeedHealth: fh}
	if fh.OldestUnreadAt != nil {
		age := now.Sub(*fh.OldestUnreadAt).Seconds()
		v.OldestUnreadAgeSeconds = &age
	}
	if fh.AckedPosition > 0 {
		v.AckedCursor = FeedCursor(fh.AckedPosition)
	}
	return v, nil
}

// rate is ok out of n, or nil when n is 0.
func rate(ok, n int) *float64 {
	if n == 0 {
		return nil
	}
	r := float64(ok) / float64(n)
	return &r
}
