package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/subscriptions"
)

// withBreaker fills in e's breaker state, when b is set.
func withBreaker(ctx context.Context, b subscriptions.BreakerStates, e *subscriptions.Endpoint) error {
	if b == nil {
		return nil
	}
	s, err := b.BreakerState(ctx, e.ID)
	if err != nil {
		return err
	}
	e.Breaker = &s
	return nil
}

type endpointCreator interface {
	partnerGetter
	CreateEndpoint(ctx context.Context, e subscriptions.Endpoint) error
}

// CreateEndpoint handles POST /v1/partners/{partner_id}/endpoints; its URL
// is checked against dest. It answers the endpoint with what verifies its
// deliveries (subscriptions.CreatedEndpoint).
func CreateEndpoint(st endpointCreator, dest *subscriptions.Destinations, n subscriptions.Notifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		p, err := visiblePartner(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		var in subscriptions.EndpointInput
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		if err := mayBringKey(c, in.Secret); err != nil {
			abort(c, err)
			return
		}
		e, err := subscriptions.NewEndpoint(ctx, dest, p.ID, in)
		if err == nil {
			err = st.CreateEndpoint(ctx, e)
		}
		if err != nil {
			abort(c, err)
			return
		}
		n.Changed(ctx, p.ID)
		created, err := subscriptions.Created(e)
		respond(c, http.StatusCreated, created, err)
	}
}

type endpointLister interface {
	partnerGetter
	ListEndpoints(ctx context.Context, partnerID string, page subscriptions.Page) ([]subscriptions.Endpoint, error)
}

// ListEndpoints handles GET /v1/partners/{partner_id}/endpoints, each with
// its breaker state when b is set.
func ListEndpoints(st endpointLister, b subscriptions.BreakerStates) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		p, err := visiblePartner(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		listWith(c, func(page subscriptions.Page) ([]subscriptions.Endpoint, error) {
			eps, err := st.ListEndpoints(ctx, p.ID, page)
			for i := 0; err == nil && i < len(eps); i++ {
				err = withBreaker(ctx, b, &eps[i])
			}
			return eps, err
		}, func(e subscriptions.Endpoint) string { return e.ID })
	}
}

// GetEndpoint handles GET …/endpoints/{endpoint_id}, with its breaker state
// when b is set.
func GetEndpoint(st endpointGetter, b subscriptions.BreakerStates) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := visibleEndpoint(c, st)
		if err == nil {
			err = withBreaker(c.Request.Context(), b, &e)
		}
		respond(c, http.StatusOK, e, err)
	}
}

type endpointUpdater interface {
	endpointGetter
	UpdateEndpoint(ctx context.Context, e subscriptions.Endpoint) error
}

// EndpointUpdate is what UpdateEndpoint needs.
type EndpointUpdate struct {
	Store endpointUpdater
	// Destinations checks a new URL.
	Destinations *subscriptions.Destinations
	Notifier     subscriptions.Notifier
	// Resumer, when set, resumes the endpoint's kept messages when it is
	// enabled again.
	Resumer subscriptions.Resumer
	// Breakers, when set, fills in the endpoint's breaker state.
	Breakers subscriptions.BreakerStates
}

// UpdateEndpoint handles PATCH …/endpoints/{endpoint_id}: fields left out
// stay as they are.
func UpdateEndpoint(d EndpointUpdate) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		e, err := visibleEndpoint(c, d.Store)
		if err != nil {
			abort(c, err)
			return
		}
		var in subscriptions.EndpointInput
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		enabled, err := in.Update(ctx, d.Destinations, &e, time.Now().UTC())
		if err == nil {
			err = d.Store.UpdateEndpoint(ctx, e)
		}
		if err != nil {
			abort(c, err)
			return
		}
		d.Notifier.Changed(ctx, e.PartnerID)
		if enabled && d.Resumer != nil {
			err = d.Resumer.Resume(ctx, e)
		}
		if err == nil {
			err = withBreaker(ctx, d.Breakers, &e)
		}
		respond(c, http.StatusOK, e, err)
	}
}

type endpointDeleter interface {
	endpointGetter
	DeleteEndpoint(ctx context.Context, id string) error
}

// DeleteEndpoint handles DELETE …/endpoints/{endpoint_id}. Its messages stay
// in the log; those not yet delivered are marked disabled.
func DeleteEndpoint(st endpointDeleter, n subscriptions.Notifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := visibleEndpoint(c, st)
		if err == nil {
			err = st.DeleteEndpoint(c.Request.Context(), e.ID)
		}
		if err != nil {
			abort(c, err)
			return
		}
		n.Changed(c.Request.Context(), e.PartnerID)
		c.Status(http.StatusNoContent)
	}
}

// mayBringKey refuses a whsk_ private key that a partner key brings: only
// shiphook, and an admin who brings one, may hold what signs a v1a
// endpoint's deliveries; a partner that held it could sign deliveries
// itself. A partner leaves the secret out and shiphook makes the key pair.
func mayBringKey(c *gin.Context, secret string) error {
	if principalOf(c).Role != subscriptions.RoleAdmin && signing.SchemeOf(secret) == signing.V1a {
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Field: "secret",
			Message: "a partner key may not bring a whsk_ private key: leave secret out and shiphook makes the key pair, showing only its whpk_ public key"}
	}
	return nil
}

// GetSecret handles GET …/endpoints/{endpoint_id}/secret: what verifies
// the endpoint's deliveries (subscriptions.Secrets), never a whsk_ private
// key.
func GetSecret(st endpointGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := visibleEndpoint(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		s, err := subscriptions.SecretsOf(e, time.Now())
		respond(c, http.StatusOK, s, err)
	}
}

// RotateSecret handles POST …/endpoints/{endpoint_id}/secret/rotate
// {"signature_scheme"?, "secret"?, "grace_seconds"?} (the body may be left
// out): a new secret signs from now on, and the old one beside it for the
// grace period. It answers as GetSecret does.
func RotateSecret(st endpointUpdater, n subscriptions.Notifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := visibleEndpoint(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		var in subscriptions.RotateInput
		if c.Request.ContentLength != 0 {
			if err := bindJSON(c, &in); err != nil {
				abort(c, err)
				return
			}
		}
		if err := mayBringKey(c, in.Secret); err != nil {
			abort(c, err)
			return
		}
		now := time.Now().UTC()
		err = in.Rotate(&e, now)
		if err == nil {
			err = st.UpdateEndpoint(c.Request.Context(), e)
		}
		if err != nil {
			abort(c, err)
			return
		}
		n.Changed(c.Request.Context(), e.PartnerID)
		s, err := subscriptions.SecretsOf(e, now)
		respond(c, http.StatusOK, s, err)
	}
}
