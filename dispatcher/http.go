package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// ListMessages handles GET /v1/partners/{partner_id}/messages and, with
// allPartners, GET /v1/messages (admin, with an optional partner_id):
// newest first, with the filters status, endpoint_id, event_type,
// shipment_id, error_class, since and until (RFC 3339, on the time the
// message was created).
func ListMessages(st Store, partners subscriptions.Store, allPartners bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		q := MessageQuery{
			EndpointID: c.Query("endpoint_id"), EventType: c.Query("event_type"), ShipmentID: c.Query("shipment_id"),
			Status: Status(c.Query("status")), ErrorClass: ErrorClass(c.Query("error_class")),
		}
		var err error
		if q.PartnerID, err = scopedPartner(c, partners, allPartners); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		switch q.Status {
		case "", StatusPending, StatusHeld, StatusDelivering, StatusSucceeded, StatusFailed, StatusDisabled:
		default:
			subscriptions.Abort(c, subscriptions.Fieldf("status", "must be one of pending, held, delivering, succeeded, failed, disabled"))
			return
		}
		if err := checkErrorClass(q.ErrorClass); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		if q.Since, q.Until, err = timeRange(c); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		writeMessages(c, st, q)
	}
}

// scopedPartner returns the partner a list is about: the route's
// :partner_id (if the caller may see it), or, on an admin's route across
// partners, the optional partner_id query parameter.
func scopedPartner(c *gin.Context, partners subscriptions.Store, allPartners bool) (string, error) {
	if allPartners {
		return c.Query("partner_id"), nil
	}
	p, err := subscriptions.VisiblePartner(c, partners)
	return p.ID, err
}

// writeMessages answers with one page of the messages matching q.
func writeMessages(c *gin.Context, st Store, q MessageQuery) {
	page, err := subscriptions.ParsePage(c)
	if err != nil {
		subscriptions.Abort(c, err)
		return
	}
	q.Page = page
	ms, err := st.ListMessages(c.Request.Context(), q)
	if err != nil {
		subscriptions.Abort(c, err)
		return
	}
	subscriptions.WriteList(c, page, ms, func(m Message) string { return m.ID })
}

// errorClasses are the error classes an attempt can have.
var errorClasses = []ErrorClass{ErrorDNS, ErrorConnect, ErrorTLS, ErrorTimeout, ErrorHTTPStatus, ErrorRedirect, ErrorBlocked, ErrorPurged}

func checkErrorClass(ec ErrorClass) error {
	if ec == "" || slices.Contains(errorClasses, ec) {
		return nil
	}
	return subscriptions.Fieldf("error_class", "must be one of dns, connect, tls, timeout, http_status, redirect, ssrf_blocked, purged")
}

// timeRange reads the since and until query parameters (RFC 3339).
func timeRange(c *gin.Context) (since, until *time.Time, err error) {
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"since", &since}, {"until", &until}} {
		if v := c.Query(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, nil, subscriptions.Fieldf(f.name, "%q is not an RFC 3339 timestamp such as 2026-11-26T14:05:00Z", v)
			}
			t = t.UTC()
			*f.dst = &t
		}
	}
	return since, until, nil
}

// SearchAttempts handles GET /v1/partners/{partner_id}/attempts and, with
// allPartners, GET /v1/attempts (admin, with an optional partner_id):
// newest first, with the filters endpoint_id, message_id, shipment_id,
// event_type, error_class, failed=true, since and until (on the time the
// attempt started).
func SearchAttempts(st Store, partners subscriptions.Store, allPartners bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		q := AttemptQuery{
			EndpointID: c.Query("endpoint_id"), MessageID: c.Query("message_id"), ShipmentID: c.Query("shipment_id"),
			EventType: c.Query("event_type"), ErrorClass: ErrorClass(c.Query("error_class")), Failed: c.Query("failed") == "true",
		}
		var err error
		if q.PartnerID, err = scopedPartner(c, partners, allPartners); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		if err := checkErrorClass(q.ErrorClass); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		page, err := subscriptions.ParsePage(c)
		if err == nil {
			q.Since, q.Until, err = timeRange(c)
		}
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		q.Page = page
		as, err := st.SearchAttempts(c.Request.Context(), q)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		subscriptions.WriteList(c, page, as, func(a Attempt) string { return a.ID })
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
	if err := r.Queue.EnqueueMessages(ctx, ms); err != nil {
		// They are pending in the database: the reconciler will.
		logWarn(ctx, "enqueue resumed messages; the reconciler will", "endpoint_id", ep.ID, "err", err)
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
