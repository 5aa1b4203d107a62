package subscriptions

import (
	"context"
	"strings"
	"time"

	"github.com/shiphook/shiphook/signing"
)

// EndpointInput is an endpoint as created or changed through the API; a
// field left out stays as it is. SignatureScheme and Secret are only taken
// on creation (a rotation changes them afterwards).
type EndpointInput struct {
	// Kind is webhook (the default) or pull, taken on creation only.
	Kind        *EndpointKind `json:"kind"`
	URL         *string       `json:"url"`
	Description *string       `json:"description"`
	EventTypes  *[]string     `json:"event_types"`
	Filter      *Filter       `json:"filter"`
	Disabled    *bool         `json:"disabled"`
	// SignatureScheme is v1 (HMAC-SHA256 under a whsec_ secret, the
	// default) or v1a (ed25519 under a whsk_ private key); left out, it
	// follows from Secret when that is given.
	SignatureScheme signing.Scheme `json:"signature_scheme"`
	// Secret is the key to sign with, whsec_ or whsk_; made when empty.
	Secret string `json:"secret"`
	optionsInput
}

func (in EndpointInput) apply(ctx context.Context, dest *Destinations, e *Endpoint) error {
	if e.Pull() {
		if err := in.forPull(); err != nil {
			return err
		}
	}
	if in.URL != nil {
		u := strings.TrimSpace(*in.URL)
		if err := dest.CheckURL(ctx, "url", u); err != nil {
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
	if err := in.optionsInput.apply(&e.Options); err != nil {
		return err
	}
	return checkFormatFits(e)
}

// NewEndpoint returns the endpoint of partnerID that in describes, with a
// fresh id and, unless in brings one, a generated secret of in's signature
// scheme (v1 by default); it is not stored. Its URL is required and checked
// against dest. Returns a *FieldError for bad input.
//
// A pull endpoint (Kind pull) has no URL and none of the delivery options
// (timeout, rate limit, concurrency, headers, breaker settings): giving one
// is a *FieldError naming it.
func NewEndpoint(ctx context.Context, dest *Destinations, partnerID string, in EndpointInput) (Endpoint, error) {
	kind := KindWebhook
	if in.Kind != nil {
		kind = *in.Kind
	}
	switch {
	case kind != KindWebhook && kind != KindPull:
		return Endpoint{}, Fieldf("kind", "must be webhook or pull")
	case kind == KindWebhook && in.URL == nil:
		return Endpoint{}, Fieldf("url", "is required (or create a pull endpoint, kind pull, which has none)")
	}
	secret, err := signingKey(in.SignatureScheme, in.Secret, signing.V1)
	if err != nil {
		return Endpoint{}, err
	}
	now := time.Now().UTC()
	e := Endpoint{ID: NewID("ep"), PartnerID: partnerID, Kind: kind, EventTypes: []string{}, Filter: Filter{}, Secret: secret, CreatedAt: now, UpdatedAt: now}
	if err := in.apply(ctx, dest, &e); err != nil {
		return Endpoint{}, err
	}
	return e, nil
}

// Update applies in to e, stamping UpdatedAt with now; it is not stored.
// enabled reports that e was disabled and is enabled again: its failure
// streak then starts anew, and its kept messages are to be resumed.
// Returns a *FieldError for bad input, or if in brings a secret or a
// signature scheme other than e's (rotate the secret instead).
func (in EndpointInput) Update(ctx context.Context, dest *Destinations, e *Endpoint, now time.Time) (enabled bool, err error) {
	if in.Secret != "" {
		return false, Fieldf("secret", "change the secret with POST …/secret/rotate")
	}
	if in.Kind != nil && *in.Kind != e.KindOrDefault() {
		return false, Fieldf("kind", "cannot change after creation: this endpoint is of kind %s; create a new endpoint of kind %s instead",
			e.KindOrDefault(), *in.Kind)
	}
	if in.SignatureScheme != "" && in.SignatureScheme != e.Scheme() {
		return false, Fieldf("signature_scheme", "change the signature scheme with POST …/secret/rotate, which takes a signature_scheme")
	}
	wasDisabled := e.Disabled
	if err := in.apply(ctx, dest, e); err != nil {
		return false, err
	}
	e.UpdatedAt = now
	enabled = wasDisabled && !e.Disabled
	if enabled {
		e.FailingSince = nil // a fresh start: the auto-disable window counts anew
	}
	return enabled, nil
}

// forPull checks in for a pull endpoint: it gives no URL and no delivery
// option, which a pull endpoint has no use for. Returns a *FieldError
// naming the first one given.
func (in EndpointInput) forPull() error {
	refuse := func(field string) error {
		return Fieldf(field, "a pull endpoint has no %s: its partner reads its feed, GET …/endpoints/{id}/feed", field)
	}
	o := in.optionsInput
	switch {
	case in.URL != nil:
		return refuse("url")
	case o.TimeoutSeconds != nil:
		return refuse("timeout_seconds")
	case o.RateLimit != nil:
		return refuse("rate_limit")
	case o.MaxConcurrency != nil:
		return refuse("max_concurrency")
	case o.Headers != nil:
		return refuse("headers")
	case o.BreakerSettings != nil:
		return refuse("breaker_settings")
	case o.TraceContext != nil && *o.TraceContext:
		return refuse("trace_context")
	case o.Format != nil && *o.Format != FormatShiphook && *o.Format != "":
		return Fieldf("format", "a pull endpoint's feed carries shiphook's own envelopes; a DCSA client reads GET /dcsa/tnt/v2/events instead")
	case o.OnFailure != nil && *o.OnFailure == OnFailureBlock:
		return Fieldf("on_failure", "a pull endpoint's messages never fail: its partner reads them from its feed")
	}
	return nil
}
