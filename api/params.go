package api

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// The visible* helpers read a resource named by a path parameter and
// answer 404 alike whether it does not exist or the caller may not see it.

type partnerGetter interface {
	Partner(ctx context.Context, id string) (subscriptions.Partner, error)
}

// visiblePartner returns the partner in the route's :partner_id, or a 404
// error if it does not exist or the caller may not see it.
func visiblePartner(c *gin.Context, st partnerGetter) (subscriptions.Partner, error) {
	id := c.Param("partner_id")
	if !principalOf(c).SeesPartner(id) {
		return subscriptions.Partner{}, notFound("partner %s not found", id)
	}
	p, err := st.Partner(c.Request.Context(), id)
	if errors.Is(err, subscriptions.ErrNotFound) {
		return subscriptions.Partner{}, notFound("partner %s not found", id)
	}
	return p, err
}

type endpointGetter interface {
	partnerGetter
	Endpoint(ctx context.Context, id string) (subscriptions.Endpoint, error)
}

// visibleEndpoint returns the endpoint in the route's :endpoint_id if it
// belongs to the route's :partner_id and the caller may see that partner;
// otherwise a 404 error.
func visibleEndpoint(c *gin.Context, st endpointGetter) (subscriptions.Endpoint, error) {
	p, err := visiblePartner(c, st)
	if err != nil {
		return subscriptions.Endpoint{}, err
	}
	id := c.Param("endpoint_id")
	e, err := st.Endpoint(c.Request.Context(), id)
	if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && e.PartnerID != p.ID) {
		return subscriptions.Endpoint{}, notFound("endpoint %s not found", id)
	}
	return e, err
}

type messageGetter interface {
	Message(ctx context.Context, id string) (dispatcher.Message, error)
}

// visibleMessage returns the message in the route's :message_id if the
// caller is an admin or the partner it was sent to; otherwise a 404 error.
func visibleMessage(c *gin.Context, st messageGetter) (dispatcher.Message, error) {
	id := c.Param("message_id")
	m, err := st.Message(c.Request.Context(), id)
	if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && !principalOf(c).SeesPartner(m.PartnerID)) {
		return dispatcher.Message{}, notFound("message %s not found", id)
	}
	return m, err
}
