// Package subscriptions holds who receives what: partners, their endpoints
// and filters, API keys and roles, the event type catalog, and the matcher
// that picks the endpoints an event goes to.
package subscriptions

import (
	"context"
	"errors"
	"time"
)

// Access says which shipments a partner may see.
type Access string

const (
	// AccessParty limits a partner to shipments that name it as a party.
	AccessParty Access = "party"
	// AccessAll lets a partner (an internal system such as an ERP) see every
	// shipment.
	AccessAll Access = "all"
)

// Partner is a company or system that receives shipment changes.
type Partner struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Access    Access    `json:"access"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// EndpointKind says how an endpoint receives its messages.
type EndpointKind string

const (
	// KindWebhook endpoints are sent their messages as signed POSTs to
	// their URL (the default).
	KindWebhook EndpointKind = "webhook"
	// KindPull endpoints have no URL: the partner reads their messages
	// from the endpoint's feed, and reading acknowledges them.
	KindPull EndpointKind = "pull"
)

// Endpoint is where a partner receives shipment changes: a URL of the
// partner's that receives signed webhooks, or a feed the partner reads
// (Kind pull).
type Endpoint struct {
	ID        string `json:"id"`
	PartnerID string `json:"partner_id"`
	// Kind is webhook or pull; it never changes after creation. An empty
	// Kind is webhook.
	Kind        EndpointKind `json:"kind"`
	URL         string       `json:"url"`
	Description string       `json:"description"`
	// EventTypes lists exact types or prefix wildcards ("shipment.milestone.*");
	// empty means every type.
	EventTypes []string `json:"event_types"`
	Filter     Filter   `json:"filter"`
	Disabled   bool     `json:"disabled"`
	// DisabledReason says why shiphook disabled the endpoint ("gone" after a
	// 410); empty when a person disabled it or it is enabled.
	DisabledReason string `json:"disabled_reason,omitempty"`
	// Secret signs every delivery: a whsec_ secret (scheme v1) or a whsk_
	// ed25519 private key (scheme v1a; see Scheme). PreviousSecret, while
	// PreviousSecretExpiresAt is in the future, signs beside it (secret
	// rotation), in its own scheme. The API never shows a whsk_ key, only
	// its whpk_ public key (see SecretsOf).
	Secret                  string     `json:"-"`
	PreviousSecret          string     `json:"-"`
	PreviousSecretExpiresAt *time.Time `json:"-"`
	Options
	// FailingSince is when the first failed attempt after the last success
	// was made; nil while the endpoint is healthy.
	FailingSince *time.Time `json:"failing_since"`
	// Breaker is the circuit breaker's state, filled in by the handlers that
	// show an endpoint; it is not stored with the endpoint.
	Breaker   *BreakerState `json:"breaker,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// Options tune how an endpoint is delivered to. Zero values mean the
// server's defaults. They are stored together, as one JSON document.
type Options struct {
	// TimeoutSeconds bounds one attempt, 1–60 (default: the server's, 15).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// RateLimit caps deliveries per second, across every worker (default:
	// no limit).
	RateLimit int `json:"rate_limit,omitempty"`
	// MaxConcurrency caps deliveries in flight at once, across every worker
	// (default: the server's, 10).
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// Headers are added to every delivery. Reserved names (webhook-*, Host,
	// Content-Length, …) are refused when saved. Their JSON masks the values.
	Headers Headers `json:"headers,omitempty"`
	// BreakerSettings override the server's circuit breaker settings.
	BreakerSettings *BreakerSettings `json:"breaker_settings,omitempty"`
	// Format is the form of the endpoint's deliveries: "" for shiphook's
	// own (FormatShiphook, the default) or FormatDCSA. The API shows the
	// default as "shiphook".
	Format string `json:"format,omitempty"`
	// Ordering is OrderingNone (the default, shown as "none") or
	// OrderingShipment: the messages of one shipment are then attempted
	// one at a time, in the order their events were accepted, each
	// carrying its sequence number.
	Ordering string `json:"ordering,omitempty"`
	// OnFailure, for an ordered endpoint, says what a message that ends
	// failed does to the messages of its shipment behind it:
	// OnFailureSkip (the default) lets the next go on, OnFailureBlock
	// stops them until the failed one is retried or discarded.
	OnFailure string `json:"on_failure,omitempty"`
	// TraceContext, while tracing is on, has every delivery carry a W3C
	// traceparent header naming the attempt's span, so that the
	// endpoint's own traces join the event's (default false).
	TraceContext bool `json:"trace_context,omitempty"`
}

// Values of Options.Ordering and Options.OnFailure.
const (
	OrderingNone     = "none"
	OrderingShipment = "shipment"
	OnFailureSkip    = "skip"
	OnFailureBlock   = "block"
)

// Ordered reports whether the endpoint orders its messages by shipment.
func (o Options) Ordered() bool { return o.Ordering == OrderingShipment }

// Blocks reports whether a failed message of an ordered endpoint stops
// its shipment's queue (on_failure "block").
func (o Options) Blocks() bool { return o.OnFailure == OnFailureBlock }

// BreakerSettings tune an endpoint's circuit breaker. Zero values mean the
// server's defaults.
type BreakerSettings struct {
	// FailureRatio of the attempts in the window must fail to open it (0–1].
	FailureRatio float64 `json:"failure_ratio,omitempty"`
	// MinRequests must have been made in the window before it can open.
	MinRequests int `json:"min_requests,omitempty"`
	// WindowSeconds is the rolling window failures are counted over.
	WindowSeconds int `json:"window_seconds,omitempty"`
	// OpenSeconds is how long it stays open before a probe is let through.
	OpenSeconds int `json:"open_seconds,omitempty"`
}

// BreakerState is what an endpoint's circuit breaker says now.
type BreakerState struct {
	// State is "closed" (deliveries flow), "open" (deliveries wait) or
	// "half_open" (one probe is under way).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// OpenedAt and NextProbeAt are set while it is not closed.
	OpenedAt    *time.Time `json:"opened_at,omitempty"`
	NextProbeAt *time.Time `json:"next_probe_at,omitempty"`
}

// Pull reports whether e is a pull endpoint, read through its feed.
func (e Endpoint) Pull() bool { return e.Kind == KindPull }

// KindOrDefault returns e's Kind, webhook when it is empty.
func (e Endpoint) KindOrDefault() EndpointKind {
	if e.Kind == "" {
		return KindWebhook
	}
	return e.Kind
}

// ActiveSecrets returns the secrets that sign a delivery made at now: the
// current one first, then the previous one while its grace period lasts.
// Each signs in its own scheme (a whsec_ secret v1, a whsk_ key v1a).
func (e Endpoint) ActiveSecrets(now time.Time) []string {
	s := []string{e.Secret}
	if e.previousSigns(now) {
		s = append(s, e.PreviousSecret)
	}
	return s
}

// previousSigns reports whether e's previous secret still signs at now.
func (e Endpoint) previousSigns(now time.Time) bool {
	return e.PreviousSecret != "" && e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt)
}

// Role is what an API key may do.
type Role string

const (
	RoleAdmin   Role = "admin"   // everything
	RoleIngest  Role = "ingest"  // post events only
	RolePartner Role = "partner" // one partner's endpoints, messages and attempts
)

// APIKey is a stored key. Only the SHA-256 hash of the key is kept.
type APIKey struct {
	ID        string `json:"id"`
	Role      Role   `json:"role"`
	PartnerID string `json:"partner_id,omitempty"`
	// SourceID binds an ingest key to one source: it may then post to
	// POST /v1/sources/{source_id}/events only.
	SourceID  string    `json:"source_id,omitempty"`
	Name      string    `json:"name,omitempty"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// Page asks for one page of a list: items after the cursor After (an id),
// at most Limit of them.
type Page struct {
	After string
	Limit int
}

var (
	// ErrNotFound is returned when a resource does not exist (or the caller
	// may not know that it does).
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a resource with the same id exists.
	ErrConflict = errors.New("already exists")
	// ErrUnavailable is returned, wrapping the cause, when a server the
	// operation needs (the database, Redis) could not be reached: the
	// operation may not have taken effect, and may succeed if tried again
	// later.
	ErrUnavailable = errors.New("unavailable")
)

// Store keeps partners, endpoints and API keys. Both database
// implementations satisfy it; see package store.
type Store interface {
	// CreatePartner stores p. Returns ErrConflict if p.ID is taken.
	CreatePartner(ctx context.Context, p Partner) error
	// Partner returns ErrNotFound if the partner does not exist.
	Partner(ctx context.Context, id string) (Partner, error)
	// ListPartners returns partners ordered by id, after page.After.
	ListPartners(ctx context.Context, page Page) ([]Partner, error)
	// UpdatePartner saves name and access. Returns ErrNotFound.
	UpdatePartner(ctx context.Context, p Partner) error
	// DeletePartner deletes the partner, its endpoints and its API keys.
	// Returns ErrNotFound.
	DeletePartner(ctx context.Context, id string) error
	// MissingPartners returns those of ids that do not exist.
	MissingPartners(ctx context.Context, ids []string) ([]string, error)

	// CreateEndpoint stores e. Returns ErrNotFound if its partner is gone.
	CreateEndpoint(ctx context.Context, e Endpoint) error
	// Endpoint returns the endpoint with that id, whatever its partner.
	// Returns ErrNotFound.
	Endpoint(ctx context.Context, id string) (Endpoint, error)
	// ListEndpoints returns a partner's endpoints ordered by id, after page.After.
	ListEndpoints(ctx context.Context, partnerID string, page Page) ([]Endpoint, error)
	// UpdateEndpoint saves every field of e but CreatedAt. Returns ErrNotFound.
	UpdateEndpoint(ctx context.Context, e Endpoint) error
	// DeleteEndpoint returns ErrNotFound.
	DeleteEndpoint(ctx context.Context, id string) error
	// PartnerEndpoints returns the partner and all its endpoints, for the
	// matcher. Returns ErrNotFound if the partner does not exist.
	PartnerEndpoints(ctx context.Context, partnerID string) (Partner, []Endpoint, error)
	// AllEndpoints calls fn for every partner with all its endpoints.
	AllEndpoints(ctx context.Context, fn func(Partner, []Endpoint)) error
	// MarkEndpointFailing sets the endpoint's FailingSince to at unless it
	// is set already, and returns the value it then has. Returns ErrNotFound.
	MarkEndpointFailing(ctx context.Context, id string, at time.Time) (time.Time, error)
	// MarkEndpointHealthy clears the endpoint's FailingSince.
	MarkEndpointHealthy(ctx context.Context, id string) error
	// DisableEndpoint disables an enabled endpoint with reason; changed is
	// false if it was disabled already.
	DisableEndpoint(ctx context.Context, id, reason string) (changed bool, err error)

	// CreateAPIKey stores k (with its Hash). Returns ErrNotFound if its
	// partner or source does not exist.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash returns ErrNotFound if no key has that hash.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// ListAPIKeys returns keys ordered by id, after page.After.
	ListAPIKeys(ctx context.Context, page Page) ([]APIKey, error)
	// DeleteAPIKey returns ErrNotFound.
	DeleteAPIKey(ctx context.Context, id string) error
	// CountAPIKeys returns how many keys have that role.
	CountAPIKeys(ctx context.Context, role Role) (int, error)
}
