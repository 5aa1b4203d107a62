package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

type messageLister interface {
	ListMessages(ctx context.Context, q dispatcher.MessageQuery) ([]dispatcher.Message, error)
	messageLabeler
}

type partnerMessageLister interface {
	partnerGetter
	messageLister
}

// ListAllMessages handles GET /v1/messages (admin), across partners or,
// with ?partner_id=, of one; with the filters of ListPartnerMessages.
func ListAllMessages(st messageLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		listMessages(c, st, c.Query("partner_id"))
	}
}

// ListPartnerMessages handles GET /v1/partners/{partner_id}/messages:
// newest first, with the filters status, endpoint_id, event_type,
// shipment_id, error_class, since and until (RFC 3339, on the time the
// message was created).
func ListPartnerMessages(st partnerMessageLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := visiblePartner(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		listMessages(c, st, p.ID)
	}
}

// listMessages answers one page of the messages of partnerID (all
// partners if empty) that match the request's filters.
func listMessages(c *gin.Context, st messageLister, partnerID string) {
	q := dispatcher.MessageQuery{
		PartnerID: partnerID, EndpointID: c.Query("endpoint_id"), EventType: c.Query("event_type"), ShipmentID: c.Query("shipment_id"),
		Status: dispatcher.Status(c.Query("status")), ErrorClass: dispatcher.ErrorClass(c.Query("error_class")),
	}
	switch q.Status {
	case "", dispatcher.StatusPending, dispatcher.StatusHeld, dispatcher.StatusDelivering, dispatcher.StatusSucceeded, dispatcher.StatusFailed,
		dispatcher.StatusDisabled, dispatcher.StatusWaiting, dispatcher.StatusDiscarded:
	default:
		abort(c, subscriptions.Fieldf("status", "must be one of pending, held, delivering, succeeded, failed, disabled, waiting, discarded"))
		return
	}
	err := checkErrorClass(q.ErrorClass)
	if err == nil {
		q.Since, q.Until, err = timeRange(c)
	}
	if err != nil {
		abort(c, err)
		return
	}
	writeMessages(c, st, q)
}

// writeMessages answers one page of the messages matching q, with their
// labels and last errors.
func writeMessages(c *gin.Context, st messageLister, q dispatcher.MessageQuery) {
	listWith(c, func(page subscriptions.Page) ([]MessageView, error) {
		q.Page = page
		ms, err := st.ListMessages(c.Request.Context(), q)
		if err != nil {
			return nil, err
		}
		return messageViews(c.Request.Context(), st, ms)
	}, func(m MessageView) string { return m.ID })
}

// errorClasses are the error classes an attempt can have.
var errorClasses = []dispatcher.ErrorClass{dispatcher.ErrorDNS, dispatcher.ErrorConnect, dispatcher.ErrorTLS, dispatcher.ErrorTimeout,
	dispatcher.ErrorHTTPStatus, dispatcher.ErrorRedirect, dispatcher.ErrorBlocked, dispatcher.ErrorPurged, dispatcher.ErrorNoDCSAForm}

func checkErrorClass(ec dispatcher.ErrorClass) error {
	if ec == "" || slices.Contains(errorClasses, ec) {
		return nil
	}
	return subscriptions.Fieldf("error_class", "must be one of dns, connect, tls, timeout, http_status, redirect, ssrf_blocked, purged, no_dcsa_form")
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

type messageShower interface {
	messageGetter
	messageLabeler
}

// GetMessage handles GET /v1/messages/{message_id}: the message with its
// labels and last error.
func GetMessage(st messageShower) gin.HandlerFunc {
	return func(c *gin.Context) {
		m, err := visibleMessage(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		views, err := messageViews(c.Request.Context(), st, []dispatcher.Message{m})
		if err != nil {
			abort(c, err)
			return
		}
		c.PureJSON(http.StatusOK, views[0])
	}
}

type messageAttemptLister interface {
	messageGetter
	ListAttempts(ctx context.Context, messageID string, page subscriptions.Page) ([]dispatcher.Attempt, error)
}

// ListAttempts handles GET /v1/messages/{message_id}/attempts, in order.
func ListAttempts(st messageAttemptLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		m, err := visibleMessage(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		listWith(c, func(page subscriptions.Page) ([]dispatcher.Attempt, error) {
			return st.ListAttempts(c.Request.Context(), m.ID, page)
		}, func(a dispatcher.Attempt) string { return a.ID })
	}
}

// AllDeadLetters handles GET /v1/dead-letters (admin): every failed
// message, or one partner's with ?partner_id=.
func AllDeadLetters(st messageLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		writeMessages(c, st, dispatcher.MessageQuery{Status: dispatcher.StatusFailed, PartnerID: c.Query("partner_id")})
	}
}

type endpointMessageLister interface {
	endpointGetter
	messageLister
}

// EndpointDeadLetters handles GET …/endpoints/{endpoint_id}/dead-letters:
// that endpoint's failed messages.
func EndpointDeadLetters(st endpointMessageLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		ep, err := visibleEndpoint(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		writeMessages(c, st, dispatcher.MessageQuery{Status: dispatcher.StatusFailed, PartnerID: ep.PartnerID, EndpointID: ep.ID})
	}
}
