package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// ListMessages handles GET /v1/partners/{partner_id}/messages, newest first,
// with the filters status, endpoint_id, event_type, shipment_id, since and
// until (RFC 3339, on the time the message was created).
func ListMessages(st Store, partners subscriptions.Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := subscriptions.VisiblePartner(c, partners)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		page, err := subscriptions.ParsePage(c)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		q := MessageQuery{
			PartnerID: p.ID, EndpointID: c.Query("endpoint_id"), EventType: c.Query("event_type"),
			ShipmentID: c.Query("shipment_id"), Status: Status(c.Query("status")), Page: page,
		}
		switch q.Status {
		case "", StatusPending, StatusDelivering, StatusSucceeded, StatusFailed, StatusDisabled:
		default:
			subscriptions.Abort(c, subscriptions.Fieldf("status", "must be one of pending, delivering, succeeded, failed, disabled"))
			return
		}
		for _, f := range []struct {
			name string
			dst  **time.Time
		}{{"since", &q.Since}, {"until", &q.Until}} {
			if v := c.Query(f.name); v != "" {
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					subscriptions.Abort(c, subscriptions.Fieldf(f.name, "%q is not an RFC 3339 timestamp such as 2026-11-26T14:05:00Z", v))
					return
				}
				*f.dst = &t
			}
		}
		ms, err := st.ListMessages(c.Request.Context(), q)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		subscriptions.WriteList(c, page, ms, func(m Message) string { return m.ID })
	}
}

// visibleMessage returns the message in the route's :message_id if the
// caller is an admin or the partner it was sent to; otherwise a 404 error.
func visibleMessage(c *gin.Context, st Store) (Message, error) {
	id := c.Param("message_id")
	m, err := st.Message(c.Request.Context(), id)
	if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && !subscriptions.PrincipalOf(c).SeesPartner(m.PartnerID)) {
		return Message{}, subscriptions.Errorf(http.StatusNotFound, "not_found", "message %s not found", id)
	}
	return m, err
}

// GetMessage handles GET /v1/messages/{message_id}.
func GetMessage(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		m, err := visibleMessage(c, st)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		c.JSON(http.StatusOK, m)
	}
}

// ListAttempts handles GET /v1/messages/{message_id}/attempts, in order.
func ListAttempts(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		m, err := visibleMessage(c, st)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		page, err := subscriptions.ParsePage(c)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		as, err := st.ListAttempts(c.Request.Context(), m.ID, page)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		subscriptions.WriteList(c, page, as, func(a Attempt) string { return a.ID })
	}
}

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
	for _, m := range ms {
		if err := r.Queue.EnqueueDelivery(ctx, m.ID, m.EndpointID, m.Attempts, *m.NextAttemptAt); err != nil {
			// They are pending in the database: the reconciler will.
			logWarn(ctx, "enqueue resumed messages; the reconciler will", "endpoint_id", ep.ID, "err", err)
			break
		}
	}
	logInfo(ctx, "endpoint enabled again; kept messages resumed", "endpoint_id", ep.ID, "messages", len(ms))
	return nil
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
	Health
}

// GetEndpointHealth handles GET …/endpoints/{endpoint_id}/health.
func GetEndpointHealth(st Store, partners subscriptions.Store, g *Guard) gin.HandlerFunc {
	return func(c *gin.Context) {
		ep, err := subscriptions.VisibleEndpoint(c, partners)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		ctx := c.Request.Context()
		h, err := st.EndpointHealth(ctx, ep.ID, time.Now().UTC())
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		b, err := g.BreakerState(ctx, ep.ID)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		rate := func(ok, n int) *float64 {
			if n == 0 {
				return nil
			}
			r := float64(ok) / float64(n)
			return &r
		}
		c.JSON(http.StatusOK, EndpointHealthView{
			EndpointID: ep.ID, Disabled: ep.Disabled, DisabledReason: ep.DisabledReason, FailingSince: ep.FailingSince,
			Breaker: b, SuccessRateHour: rate(h.SucceededHour, h.AttemptsHour), SuccessRateDay: rate(h.SucceededDay, h.AttemptsDay), Health: h,
		})
	}
}

// ListEvents handles GET /v1/events (admin): events newest first, with the
// filters type (exact, or a prefix wildcard such as shiphook.* for
// shiphook's own operational events) and shipment_id.
func ListEvents(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		page, err := subscriptions.ParsePage(c)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		evs, err := st.ListEvents(c.Request.Context(), EventQuery{Type: c.Query("type"), ShipmentID: c.Query("shipment_id"), Page: page})
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		subscriptions.WriteList(c, page, evs, func(e Event) string { return e.ID })
	}
}
