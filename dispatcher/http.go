package dispatcher

import (
	"errors"
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
