package subscriptions

import "time"

// EndpointLabel is what shows an endpoint to people where a list refers
// to it by id: its partner, kind, URL (empty for a pull endpoint) and
// description.
type EndpointLabel struct {
	ID          string
	PartnerID   string
	Kind        EndpointKind
	URL         string
	Description string
}

// PartnerHealth sums up how a partner's deliveries stand, for the list of
// partners.
type PartnerHealth struct {
	// Endpoints counts the partner's endpoints; EndpointsFailing those
	// whose last attempt failed (FailingSince set), EndpointsDisabled
	// those disabled.
	Endpoints         int `json:"endpoints"`
	EndpointsFailing  int `json:"endpoints_failing"`
	EndpointsDisabled int `json:"endpoints_disabled"`
	// BreakersOpen counts the endpoints whose circuit breaker is open or
	// half-open.
	BreakersOpen int `json:"breakers_open"`
	// OldestPendingAt is when the oldest of the partner's messages not
	// yet delivered (pending, held or delivering) was created; nil when
	// there is none. A message waiting behind an earlier one of its
	// ordered queue is not counted: that one is.
	OldestPendingAt *time.Time `json:"oldest_pending_at"`
}
