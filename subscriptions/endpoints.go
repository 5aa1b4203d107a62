package subscriptions

import (
	"context"
	"strings"
	"time"

	"github.com/shiphook/shiphook/signing"
)

// DefaultSecretGrace is how long a rotated-out secret keeps signing.
const DefaultSecretGrace = 24 * time.Hour

// maxSecretGrace bounds the grace period a rotation may ask for.
const maxSecretGrace = 7 * 24 * time.Hour

// EndpointInput is an endpoint as created or changed through the API; a
// field left out stays as it is. Secret is only taken on creation.
type EndpointInput struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Filter      *Filter   `json:"filter"`
	Disabled    *bool     `json:"disabled"`
	Secret      string    `json:"secret"`
	optionsInput
}

func (in EndpointInput) apply(ctx context.Context, dest *Destinations, e *Endpoint) error {
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
	return in.optionsInput.apply(&e.Options)
}

// NewEndpoint returns the endpoint of partnerID that in describes, with a
// fresh id and, unless in brings one, a generated secret; it is not stored.
// Its URL is required and checked against dest. Returns a *FieldError for
// bad input.
func NewEndpoint(ctx context.Context, dest *Destinations, partnerID string, in EndpointInput) (Endpoint, error) {
	if in.URL == nil {
		return Endpoint{}, Fieldf("url", "is required")
	}
	if err := checkSecret("secret", in.Secret); err != nil {
		return Endpoint{}, err
	}
	now := time.Now().UTC()
	e := Endpoint{ID: NewID("ep"), PartnerID: partnerID, EventTypes: []string{}, Filter: Filter{}, Secret: in.Secret, CreatedAt: now, UpdatedAt: now}
	if e.Secret == "" {
		e.Secret = signing.NewSecret()
	}
	if err := in.apply(ctx, dest, &e); err != nil {
		return Endpoint{}, err
	}
	return e, nil
}

// Update applies in to e, stamping UpdatedAt with now; it is not stored.
// enabled reports that e was disabled and is enabled again: its failure
// streak then starts anew, and its kept messages are to be resumed.
// Returns a *FieldError for bad input, or if in brings a secret (rotate it
// instead).
func (in EndpointInput) Update(ctx context.Context, dest *Destinations, e *Endpoint, now time.Time) (enabled bool, err error) {
	if in.Secret != "" {
		return false, Fieldf("secret", "change the secret with POST …/secret/rotate")
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

// Secrets is the answer to revealing or rotating an endpoint's secret.
type Secrets struct {
	Secret                  string     `json:"secret"`
	PreviousSecret          string     `json:"previous_secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// SecretsOf returns e's secrets as they sign at now: the previous one only
// while its grace period lasts.
func SecretsOf(e Endpoint, now time.Time) Secrets {
	s := Secrets{Secret: e.Secret}
	if e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt) {
		s.PreviousSecret, s.PreviousSecretExpiresAt = e.PreviousSecret, e.PreviousSecretExpiresAt
	}
	return s
}

// RotateInput asks for a secret rotation.
type RotateInput struct {
	// Secret is the new secret; generated when empty.
	Secret string `json:"secret"`
	// GraceSeconds is how long the old secret keeps signing (default 86400).
	GraceSeconds *int64 `json:"grace_seconds"`
}

// Rotate gives e a new secret as of now, the old one signing beside it for
// the grace period; rotating again within the grace period drops the
// oldest secret. e is not stored. Returns a *FieldError for bad input.
func (in RotateInput) Rotate(e *Endpoint, now time.Time) error {
	if err := checkSecret("secret", in.Secret); err != nil {
		return err
	}
	grace := DefaultSecretGrace
	if in.GraceSeconds != nil {
		grace = time.Duration(*in.GraceSeconds) * time.Second
		if grace < 0 || grace > maxSecretGrace {
			return Fieldf("grace_seconds", "must be from 0 to %d (7 days)", int64(maxSecretGrace/time.Second))
		}
	}
	expires := now.Add(grace)
	e.PreviousSecret, e.PreviousSecretExpiresAt = e.Secret, &expires
	e.Secret = in.Secret
	if e.Secret == "" {
		e.Secret = signing.NewSecret()
	}
	e.UpdatedAt = now
	return nil
}
