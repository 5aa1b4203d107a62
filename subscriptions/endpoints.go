package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/signing"
)

// DefaultSecretGrace is how long a rotated-out secret keeps signing.
const DefaultSecretGrace = 24 * time.Hour

// maxSecretGrace bounds the grace period a rotation may ask for.
const maxSecretGrace = 7 * 24 * time.Hour

// EndpointDeps is what the endpoint handlers need.
type EndpointDeps struct {
	Store        Store
	Notifier     Notifier
	Destinations *Destinations
	// Breakers, when set, fills in each endpoint's breaker state.
	Breakers BreakerStates
	// Resumer, when set, resumes an endpoint's kept messages when it is
	// enabled again.
	Resumer Resumer
}

type endpointInput struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Filter      *Filter   `json:"filter"`
	Disabled    *bool     `json:"disabled"`
	Secret      string    `json:"secret"`
	optionsInput
}

func (in endpointInput) apply(ctx context.Context, d EndpointDeps, e *Endpoint) error {
	if in.URL != nil {
		u := strings.TrimSpace(*in.URL)
		if err := d.Destinations.CheckURL(ctx, "url", u); err != nil {
			return err
		}
		e.URL = u
	}
	if in.Description != nil {
		if len(*in.Description) > 1000 {
			return Fieldf("description", "must be at most 1000 characters")
		}
		e.Description = *in.Description
	}
	if in.EventTypes != nil {
		if len(*in.EventTypes) > 100 {
			return Fieldf("event_types", "at most 100 entries")
		}
		seen := map[string]bool{}
		types := []string{}
		for i, t := range *in.EventTypes {
			if err := ValidPattern(i, t); err != nil {
				return err
			}
			if !seen[t] {
				seen[t] = true
				types = append(types, t)
			}
		}
		e.EventTypes = types
	}
	if in.Filter != nil {
		if err := in.Filter.Validate(); err != nil {
			return err
		}
		e.Filter = *in.Filter
	}
	if in.Disabled != nil {
		e.Disabled = *in.Disabled
		if !e.Disabled {
			e.DisabledReason = ""
		}
	}
	return in.optionsInput.apply(&e.Options)
}

// withBreaker fills in e's breaker state, when the handlers know it.
func (d EndpointDeps) withBreaker(ctx context.Context, e *Endpoint) error {
	if d.Breakers == nil {
		return nil
	}
	b, err := d.Breakers.BreakerState(ctx, e.ID)
	if err != nil {
		return err
	}
	e.Breaker = &b
	return nil
}

// EndpointWithSecret is the answer to creating an endpoint: the endpoint
// and its signing secret.
type EndpointWithSecret struct {
	Endpoint
	Secret string `json:"secret"`
}

// CreateEndpoint handles POST /v1/partners/{partner_id}/endpoints.
func CreateEndpoint(d EndpointDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := VisiblePartner(c, d.Store)
		if err != nil {
			Abort(c, err)
			return
		}
		var in endpointInput
		if err := BindJSON(c, &in); err != nil {
			Abort(c, err)
			return
		}
		if in.URL == nil {
			Abort(c, Fieldf("url", "is required"))
			return
		}
		if err := checkSecret("secret", in.Secret); err != nil {
			Abort(c, err)
			return
		}
		now := time.Now().UTC()
		e := Endpoint{ID: NewID("ep"), PartnerID: p.ID, EventTypes: []string{}, Filter: Filter{}, Secret: in.Secret, CreatedAt: now, UpdatedAt: now}
		if e.Secret == "" {
			e.Secret = signing.NewSecret()
		}
		if err := in.apply(c.Request.Context(), d, &e); err != nil {
			Abort(c, err)
			return
		}
		if err := d.Store.CreateEndpoint(c.Request.Context(), e); err != nil {
			Abort(c, err)
			return
		}
		d.Notifier.Changed(c.Request.Context(), p.ID)
		c.JSON(http.StatusCreated, EndpointWithSecret{Endpoint: e, Secret: e.Secret})
	}
}

// ListEndpoints handles GET /v1/partners/{partner_id}/endpoints.
func ListEndpoints(d EndpointDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := VisiblePartner(c, d.Store)
		if err != nil {
			Abort(c, err)
			return
		}
		page, err := ParsePage(c)
		if err != nil {
			Abort(c, err)
			return
		}
		eps, err := d.Store.ListEndpoints(c.Request.Context(), p.ID, page)
		if err != nil {
			Abort(c, err)
			return
		}
		for i := range eps {
			if err := d.withBreaker(c.Request.Context(), &eps[i]); err != nil {
				Abort(c, err)
				return
			}
		}
		WriteList(c, page, eps, func(e Endpoint) string { return e.ID })
	}
}

// VisibleEndpoint returns the endpoint in the route's :endpoint_id if it
// belongs to the route's :partner_id and the caller may see that partner;
// otherwise a 404 error.
func VisibleEndpoint(c *gin.Context, st Store) (Endpoint, error) {
	p, err := VisiblePartner(c, st)
	if err != nil {
		return Endpoint{}, err
	}
	id := c.Param("endpoint_id")
	e, err := st.Endpoint(c.Request.Context(), id)
	if errors.Is(err, ErrNotFound) || (err == nil && e.PartnerID != p.ID) {
		return Endpoint{}, &APIError{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("endpoint %s not found", id)}
	}
	return e, err
}

// GetEndpoint handles GET …/endpoints/{endpoint_id}.
func GetEndpoint(d EndpointDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := VisibleEndpoint(c, d.Store)
		if err != nil {
			Abort(c, err)
			return
		}
		if err := d.withBreaker(c.Request.Context(), &e); err != nil {
			Abort(c, err)
			return
		}
		c.JSON(http.StatusOK, e)
	}
}

// UpdateEndpoint handles PATCH …/endpoints/{endpoint_id}: fields left out
// stay as they are.
func UpdateEndpoint(d EndpointDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := VisibleEndpoint(c, d.Store)
		if err != nil {
			Abort(c, err)
			return
		}
		var in endpointInput
		if err := BindJSON(c, &in); err != nil {
			Abort(c, err)
			return
		}
		if in.Secret != "" {
			Abort(c, Fieldf("secret", "change the secret with POST …/secret/rotate"))
			return
		}
		wasDisabled := e.Disabled
		if err := in.apply(c.Request.Context(), d, &e); err != nil {
			Abort(c, err)
			return
		}
		e.UpdatedAt = time.Now().UTC()
		if wasDisabled && !e.Disabled {
			e.FailingSince = nil // a fresh start: the auto-disable window counts anew
		}
		if err := d.Store.UpdateEndpoint(c.Request.Context(), e); err != nil {
			Abort(c, err)
			return
		}
		d.Notifier.Changed(c.Request.Context(), e.PartnerID)
		if wasDisabled && !e.Disabled && d.Resumer != nil {
			if err := d.Resumer.Resume(c.Request.Context(), e); err != nil {
				Abort(c, err)
				return
			}
		}
		if err := d.withBreaker(c.Request.Context(), &e); err != nil {
			Abort(c, err)
			return
		}
		c.JSON(http.StatusOK, e)
	}
}

// DeleteEndpoint handles DELETE …/endpoints/{endpoint_id}. Its messages stay
// in the log; those not yet delivered are marked disabled.
func DeleteEndpoint(d EndpointDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := VisibleEndpoint(c, d.Store)
		if err != nil {
			Abort(c, err)
			return
		}
		if err := d.Store.DeleteEndpoint(c.Request.Context(), e.ID); err != nil {
			Abort(c, err)
			return
		}
		d.Notifier.Changed(c.Request.Context(), e.PartnerID)
		c.Status(http.StatusNoContent)
	}
}

// Secrets is the answer to revealing or rotating an endpoint's secret.
type Secrets struct {
	Secret                  string     `json:"secret"`
	PreviousSecret          string     `json:"previous_secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

func secretsOf(e Endpoint, now time.Time) Secrets {
	s := Secrets{Secret: e.Secret}
	if e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt) {
		s.PreviousSecret, s.PreviousSecretExpiresAt = e.PreviousSecret, e.PreviousSecretExpiresAt
	}
	return s
}

// GetSecret handles GET …/endpoints/{endpoint_id}/secret.
func GetSecret(d EndpointDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := VisibleEndpoint(c, d.Store)
		if err != nil {
			Abort(c, err)
			return
		}
		c.JSON(http.StatusOK, secretsOf(e, time.Now()))
	}
}

type rotateInput struct {
	// Secret is the new secret; generated when empty.
	Secret string `json:"secret"`
	// GraceSeconds is how long the old secret keeps signing (default 86400).
	GraceSeconds *int64 `json:"grace_seconds"`
}

// RotateSecret handles POST …/endpoints/{endpoint_id}/secret/rotate: a new
// secret signs from now on, and the old one signs beside it for the grace
// period. Rotating again within the grace period drops the oldest secret.
func RotateSecret(d EndpointDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := VisibleEndpoint(c, d.Store)
		if err != nil {
			Abort(c, err)
			return
		}
		var in rotateInput
		if c.Request.ContentLength != 0 {
			if err := BindJSON(c, &in); err != nil {
				Abort(c, err)
				return
			}
		}
		if err := checkSecret("secret", in.Secret); err != nil {
			Abort(c, err)
			return
		}
		grace := DefaultSecretGrace
		if in.GraceSeconds != nil {
			grace = time.Duration(*in.GraceSeconds) * time.Second
			if grace < 0 || grace > maxSecretGrace {
				Abort(c, Fieldf("grace_seconds", "must be from 0 to %d (7 days)", int64(maxSecretGrace/time.Second)))
				return
			}
		}
		now := time.Now().UTC()
		expires := now.Add(grace)
		e.PreviousSecret, e.PreviousSecretExpiresAt = e.Secret, &expires
		e.Secret = in.Secret
		if e.Secret == "" {
			e.Secret = signing.NewSecret()
		}
		e.UpdatedAt = now
		if err := d.Store.UpdateEndpoint(c.Request.Context(), e); err != nil {
			Abort(c, err)
			return
		}
		d.Notifier.Changed(c.Request.Context(), e.PartnerID)
		c.JSON(http.StatusOK, secretsOf(e, now))
	}
}
