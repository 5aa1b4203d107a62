package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

type attemptSearcher interface {
	SearchAttempts(ctx context.Context, q dispatcher.AttemptQuery) ([]dispatcher.Attempt, error)
	labelReader
}

type partnerAttemptSearcher interface {
	partnerGetter
	attemptSearcher
}

// SearchAllAttempts handles GET /v1/attempts (admin), across partners or,
// with ?partner_id=, of one; with the filters of SearchPartnerAttempts.
func SearchAllAttempts(st attemptSearcher) gin.HandlerFunc {
	return func(c *gin.Context) {
		searchAttempts(c, st, c.Query("partner_id"))
	}
}

// SearchPartnerAttempts handles GET /v1/partners/{partner_id}/attempts:
// newest first, with the filters endpoint_id, message_id, shipment_id,
// event_type, error_class, failed=true, since and until (on the time the
// attempt started).
func SearchPartnerAttempts(st partnerAttemptSearcher) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := visiblePartner(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		searchAttempts(c, st, p.ID)
	}
}

// searchAttempts answers one page of the attempts of partnerID (all
// partners if empty) that match the request's filters.
func searchAttempts(c *gin.Context, st attemptSearcher, partnerID string) {
	q := dispatcher.AttemptQuery{
		PartnerID: partnerID, EndpointID: c.Query("endpoint_id"), MessageID: c.Query("message_id"), ShipmentID: c.Query("shipment_id"),
		EventType: c.Query("event_type"), ErrorClass: dispatcher.ErrorClass(c.Query("error_class")), Failed: c.Query("failed") == "true",
	}
	if err := checkErrorClass(q.ErrorClass); err != nil {
		abort(c, err)
		return
	}
	page, err := parsePage(c)
	if err == nil {
		q.Since, q.Until, err = timeRange(c)
	}
	if err != nil {
		abort(c, err)
		return
	}
	q.Page = page
	as, err := st.SearchAttempts(c.Request.Context(), q)
	if err != nil {
		abort(c, err)
		return
	}
	views, err := attemptViews(c.Request.Context(), st, as)
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, page, views, func(a AttemptView) string { return a.ID })
}

type attemptDescriber interface {
	Attempt(ctx context.Context, id string) (dispatcher.Attempt, error)
	dispatcher.AttemptSources
	labelReader
}

// AttemptDetailView is the answer of GET /v1/attempts/{attempt_id}: the
// attempt with its request and response, and the labels of its endpoint
// and partner.
type AttemptDetailView struct {
	dispatcher.AttemptDetail
	Labels
}

// GetAttempt handles GET /v1/attempts/{attempt_id} (admin, or the partner
// it was made for): the attempt with its request, as sent with User-Agent
// userAgent, and the response.
func GetAttempt(st attemptDescriber, userAgent string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		id := c.Param("attempt_id")
		a, err := st.Attempt(ctx, id)
		if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && !principalOf(c).SeesPartner(a.PartnerID)) {
			err = notFound("attempt %s not found", id)
		}
		if err != nil {
			abort(c, err)
			return
		}
		d, err := dispatcher.DescribeAttempt(ctx, st, a, userAgent)
		if err != nil {
			abort(c, err)
			return
		}
		ls, err := readLabels(ctx, st, []string{a.EndpointID}, []string{a.PartnerID})
		respond(c, http.StatusOK, AttemptDetailView{AttemptDetail: d, Labels: ls.of(a.EndpointID, a.PartnerID)}, err)
	}
}
