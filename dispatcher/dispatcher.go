// Package dispatcher takes shipment changes in and gets them out: event
// ingest, fan-out to matching endpoints, signed delivery with retries, the
// record of every attempt, and the reconciler that re-enqueues what Redis
// lost.
//
// Its delivery core is the Worker, made of components, each in a file of
// its own: fanout (fanout.go), deliverer (deliverer.go, attempt.go), the
// in-process scheduler (scheduler.go, on the lanes and gate of package
// dispatcher/internal/inproc), the asynq servers (servers.go), and the
// loops reconciler (reconciler.go), breakerRefresh (breaker.go), retention
// (retention.go), waker (waker.go) and rechecker (rechecker.go). The Queue
// (queue.go) puts work on Redis or the scheduler's lanes; the Guard
// (guard.go, breaker.go) holds each endpoint's breaker, cap and rate
// limit. docs/architecture.md follows one event through them, gives the
// Worker's start and shutdown order, and defines every term the code uses
// for a mechanism (lane, gate, admission, cap slot, permit, claim, held,
// recheck, …).
package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// Shipment identifies the shipment an event is about: by its id, or, on
// an event that is unresolved, by its references alone.
type Shipment struct {
	ID          string                   `json:"id,omitempty"`
	Mode        string                   `json:"mode,omitempty"`
	Origin      string                   `json:"origin,omitempty"`
	Destination string                   `json:"destination,omitempty"`
	Carrier     string                   `json:"carrier,omitempty"`
	References  subscriptions.References `json:"references,omitzero"`
}

// Event is one shipment change as accepted by the ingest API.
type Event struct {
	ID string `json:"id"`
	// SourceID is the id the source system gave the event, if any; unique.
	SourceID string `json:"source_id,omitempty"`
	// IdempotencyKey is the Idempotency-Key header it was posted with; unique.
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Type           string          `json:"type"`
	OccurredAt     time.Time       `json:"occurred_at"`
	Shipment       Shipment        `json:"shipment"`
	Parties        []Party         `json:"parties"`
	Data           json.RawMessage `json:"data"`
	CreatedAt      time.Time       `json:"created_at"`
	// FannedOutAt is set once the event's messages exist.
	FannedOutAt *time.Time `json:"fanned_out_at"`
	// PurgedAt is set once retention emptied Data.
	PurgedAt *time.Time `json:"purged_at,omitempty"`
	// SourceItemID is the source item the event came from, if it came
	// through a source (POST /v1/sources/{id}/events). Not encoded: the
	// original is shown to admins only, by GET /v1/events/{id}.
	SourceItemID string `json:"-"`
	// Unresolved, on an event that named its shipment by references that
	// matched no registered shipment or several, says which and why; nil
	// once the event is resolved (resolve.go). An event given with a
	// shipment id is never unresolved.
	Unresolved *Unresolved `json:"unresolved,omitempty"`
	// Status is EventUnresolved while Unresolved is set, EventResolved
	// otherwise, as the store reads it and resolution sets it.
	Status string `json:"status,omitempty"`
	// Messages, given to InsertEvents only, are the event's fan-out: they
	// are stored with the event if it is stored, and not if it is skipped
	// as a repeat. Give FannedOutAt with them. Nothing reads them back.
	Messages []Message `json:"-"`
	// TraceParent is the W3C traceparent of the span that took the event
	// in, stored with it while tracing is on (trace.go): its fan-out and
	// delivery attempts join that trace. Empty otherwise.
	TraceParent string `json:"-"`
}

// The status of an event (Event.Status).
const (
	EventResolved   = "resolved"   // its shipment is known: given by id, or resolved from its references
	EventUnresolved = "unresolved" // its references match no registered shipment, or several
)

// Why an event is unresolved (Unresolved.Reason).
const (
	ReasonNoMatch   = "no_match"  // none of its references is registered
	ReasonAmbiguous = "ambiguous" // its references name more than one shipment
)

// Unresolved says why an event's references did not resolve to one
// registered shipment.
type Unresolved struct {
	// Reason is ReasonNoMatch or ReasonAmbiguous.
	Reason string `json:"reason"`
	// References are those of the event that failed: all of them for
	// no_match, those that matched for ambiguous.
	References subscriptions.References `json:"references"`
	// Shipments, when ambiguous, are the registered shipments they name.
	Shipments []string `json:"shipments,omitempty"`
}

// Status is where a message stands.
type Status string

const (
	StatusPending    Status = "pending"    // waiting for its next attempt
	StatusHeld       Status = "held"       // waiting for its endpoint's circuit breaker to close
	StatusDelivering Status = "delivering" // an attempt is under way
	StatusSucceeded  Status = "succeeded"  // an attempt got a 2xx
	StatusFailed     Status = "failed"     // the schedule is exhausted, or the endpoint answered 410
	StatusDisabled   Status = "disabled"   // the endpoint was disabled or deleted before delivery
	StatusWaiting    Status = "waiting"    // an earlier message of its shipment to its endpoint is not done (ordered endpoints)
	StatusDiscarded  Status = "discarded"  // ended by a person without delivery, letting its shipment's queue go on
)

// Message is one event to one endpoint.
type Message struct {
	ID         string `json:"id"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	PartnerID  string `json:"partner_id"`
	EventType  string `json:"event_type"`
	ShipmentID string `json:"shipment_id"`
	Status     Status `json:"status"`
	Attempts   int    `json:"attempts"`
	// NextAttemptAt is when a pending message is due.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	// LastStatusCode and LastErrorClass describe the last attempt (0 and
	// "" before the first, or when it succeeded without an error).
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastErrorClass ErrorClass `json:"last_error_class,omitempty"`
	// LeaseUntil is when a delivering message's attempt is presumed lost.
	LeaseUntil *time.Time `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// Sequence is the message's number in its ordered queue, 1, 2, 3… per
	// endpoint and shipment, delivered in its body; 0 for a message of an
	// unordered endpoint.
	Sequence int64 `json:"sequence,omitempty"`
	// Ordered, given to FanOut, asks for the message to be numbered in its
	// (endpoint, shipment) queue: its endpoint is ordered and its event's
	// shipment known. Not stored; Sequence says it once numbered.
	Ordered bool `json:"-"`
	// Pull marks a message made for a pull endpoint: it is stored pending
	// with no next attempt and waits in its endpoint's feed (feed.go);
	// nothing delivers it. Only fan-out sets it; a message read back is
	// known as unread by Unread.
	Pull bool `json:"-"`
}

// Unread reports whether m waits in a pull endpoint's feed: pending with
// no next attempt (a webhook endpoint's pending message always has one).
func (m Message) Unread() bool {
	return m.Pull || (m.Status == StatusPending && m.NextAttemptAt == nil)
}

// ErrorClass says why an attempt failed.
type ErrorClass string

const (
	ErrorNone       ErrorClass = ""
	ErrorDNS        ErrorClass = "dns"
	ErrorConnect    ErrorClass = "connect"
	ErrorTLS        ErrorClass = "tls"
	ErrorTimeout    ErrorClass = "timeout"
	ErrorHTTPStatus ErrorClass = "http_status"
	ErrorRedirect   ErrorClass = "redirect"
	ErrorBlocked    ErrorClass = "ssrf_blocked"
	// ErrorPurged: the event's payload was purged by retention before the
	// attempt, so none was made.
	ErrorPurged ErrorClass = "purged"
)

// Attempt is one HTTP request made to deliver a message.
type Attempt struct {
	ID         string    `json:"id"`
	MessageID  string    `json:"message_id"`
	EndpointID string    `json:"endpoint_id"`
	PartnerID  string    `json:"partner_id"`
	Number     int       `json:"number"`
	Trigger    string    `json:"trigger"` // "scheduled", "manual" or "read" (a pull endpoint's feed was read past it)
	URL        string    `json:"url"`
	StartedAt  time.Time `json:"started_at"`
	// DurationMS is the request's duration in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	StatusCode int   `json:"status_code,omitempty"`
	// ResponseBody is at most 16 KiB of what the endpoint answered.
	ResponseBody    string            `json:"response_body"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ErrorClass      ErrorClass        `json:"error_class,omitempty"`
	Error           string            `json:"error,omitempty"`
}

// ErrClaimLost is RecordAttempt's answer when the message is no longer
// held by the claim that made the attempt: its lease ran out and another
// claim took it, or its attempt was recorded already. Nothing was stored.
var ErrClaimLost = errors.New("the message is no longer held by the claim that made the attempt")

// ErrEarlierEvent is FanOut's answer when the event has ordered messages
// to number and an event of the same shipment accepted before it is not
// fanned out yet: nothing was stored, and the fan-out is to be tried again
// shortly, so that numbers follow the order of acceptance.
var ErrEarlierEvent = errors.New("an earlier event of the shipment is not fanned out yet")

// EarlierEventError is ErrEarlierEvent naming the earlier event; errors.Is
// finds ErrEarlierEvent in it.
type EarlierEventError struct {
	// EventID is an event of the shipment accepted earlier and not fanned
	// out yet.
	EventID string
}

func (e *EarlierEventError) Error() string {
	return "event " + e.EventID + ", of the same shipment and accepted earlier, is not fanned out yet"
}

// Is reports whether target is ErrEarlierEvent.
func (e *EarlierEventError) Is(target error) bool { return target == ErrEarlierEvent }

// Outcome is how an attempt leaves its message.
type Outcome struct {
	Status        Status
	NextAttemptAt *time.Time
}

// Insert is what storing one event gave: the event's id and whether it was
// new. A repeated SourceID or IdempotencyKey gives the first event's id and
// Created false.
type Insert struct {
	ID      string
	Created bool
	// Unfanned: the event's Messages were not stored with it, nor the
	// event marked fanned out; its fan-out is to be queued. So an event
	// with messages to an ordered endpoint is stored when they cannot be
	// numbered with it (Store.InsertEvents).
	Unfanned bool
	// Sequences are the numbers the event's Messages to ordered
	// endpoints were given in their queues, by message id; Waiting the ids
	// of those stored waiting, not to be attempted yet.
	Sequences map[string]int64
	Waiting   []string
}

// MessageQuery selects messages, newest first. Empty fields match all.
type MessageQuery struct {
	PartnerID string
	// ErrorClass matches the error class of the message's last attempt.
	ErrorClass ErrorClass
	EndpointID string
	EventType  string
	ShipmentID string
	Status     Status
	Since      *time.Time // created at or after
	Until      *time.Time // created before
	subscriptions.Page
}

// AttemptQuery selects attempts, newest first. Empty fields match all.
type AttemptQuery struct {
	PartnerID  string
	EndpointID string
	MessageID  string
	// ShipmentID and EventType match through the attempt's message.
	ShipmentID string
	EventType  string
	ErrorClass ErrorClass
	// Failed, when true, matches only attempts with an error class.
	Failed bool
	Since  *time.Time // started at or after
	Until  *time.Time // started before
	subscriptions.Page
}

// RecoverJob re-queues, in the background, every failed message of an
// endpoint created in [Since, Until).
type RecoverJob struct {
	ID         string     `json:"id"`
	EndpointID string     `json:"endpoint_id"`
	PartnerID  string     `json:"partner_id"`
	Since      time.Time  `json:"since"`
	Until      *time.Time `json:"until"`
	// Status is "running" or "done".
	Status string `json:"status"`
	// Total is how many failed messages the range held when the job began;
	// Requeued how many it has put back on the schedule so far.
	Total    int `json:"total"`
	Requeued int `json:"requeued"`
	// Cursor is the id of the last message handled.
	Cursor     string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// Store keeps events, messages and attempts. Both database implementations
// satisfy it; see package store.
type Store interface {
	// Registry keeps the registered shipments and resolves events.
	Registry
	// InsertEvents stores events in one transaction, skipping those whose
	// SourceID or IdempotencyKey was seen before, and the Messages of those
	// it stores. Results are in order.
	InsertEvents(ctx context.Context, events []Event) ([]Insert, error)
	// Event returns ErrNotFound.
	Event(ctx context.Context, id string) (Event, error)
	// FanOut stores msgs (all of one event) and marks the event fanned out,
	// in one transaction. A message whose (event, endpoint) exists is kept
	// as it is. Returns every pending message of the event, new or not, and
	// the delivering ones it stored: a message stored as delivering, with
	// its lease, is claimed by the caller as it is made.
	FanOut(ctx context.Context, eventID string, msgs []Message) ([]Message, error)
	// ClaimMessage moves a message that is pending and has made attempts
	// attempts (or is delivering with its lease past) to delivering, leased
	// until leaseUntil. ok is false if it was not in that state.
	ClaimMessage(ctx context.Context, id string, attempts int, leaseUntil time.Time) (m Message, ok bool, err error)
	// RecordAttempt stores a and applies the outcome to its message (status,
	// attempts+1, next attempt), in one transaction, if the message is still
	// held by the claim that made a: delivering, with a.Number-1 attempts
	// made (the fence); a zero a.Number names no claim and is recorded as
	// the message's next attempt, unfenced. Returns ErrClaimLost if the
	// message is not so held, ErrNotFound if it does not exist.
	RecordAttempt(ctx context.Context, a Attempt, o Outcome) error
	// RecordEnd is RecordAttempt for an attempt that ends m, a message of
	// an ordered endpoint, and lets its queue go on (succeeded, or failed
	// with on_failure skip); m's EndpointID, ShipmentID and Sequence name
	// the queue. In the same transaction, if m is its queue's head, the
	// head moves to the next number, and the message with that number, if
	// there is one, is made pending and due now or, with a non-zero
	// leaseUntil, delivering, leased until then (claimed by the caller),
	// and returned with ok true. A message that is not the head (a manual
	// retry of one that failed earlier) moves nothing.
	RecordEnd(ctx context.Context, a Attempt, o Outcome, m Message, leaseUntil time.Time) (next Message, ok bool, err error)
	// DiscardMessage ends a message that is failed, pending, held or
	// disabled without delivering it (StatusDiscarded) and, if it is its
	// ordered queue's head, moves the head on as RecordEnd does (the next
	// pending, due now). Returns the message and the next, if one was
	// made pending. Returns ErrNotFound, or ErrConflict for a message
	// delivering, waiting, succeeded or discarded.
	DiscardMessage(ctx context.Context, id string) (m Message, next *Message, err error)
	// DeferMessage moves the next attempt of a message that is pending with
	// attempts attempts made to at, without spending an attempt. ok is false
	// if the message is not in that state.
	DeferMessage(ctx context.Context, id string, attempts int, at time.Time) (ok bool, err error)
	// HoldMessage moves a message that is pending with attempts attempts
	// made to held: it waits, with no next attempt, until WakeHeld. ok is
	// false if the message is not in that state.
	HoldMessage(ctx context.Context, id string, attempts int) (ok bool, err error)
	// HeldEndpoints returns the ids of the endpoints that have held
	// messages, in order.
	HeldEndpoints(ctx context.Context) ([]string, error)
	// WakeHeld moves up to limit held messages of an endpoint, those with
	// an id after after, in id order, to delivering, leased until
	// leaseUntil (claimed by the caller), and returns them in id order.
	WakeHeld(ctx context.Context, endpointID, after string, limit int, leaseUntil time.Time) ([]Message, error)
	// SetMessageStatus sets status and next attempt of a message.
	SetMessageStatus(ctx context.Context, id string, o Outcome) error
	// Message returns ErrNotFound.
	Message(ctx context.Context, id string) (Message, error)
	// ListMessages returns messages matching q, newest first.
	ListMessages(ctx context.Context, q MessageQuery) ([]Message, error)
	// ListAttempts returns a message's attempts, in order of number, after
	// page.After.
	ListAttempts(ctx context.Context, messageID string, page subscriptions.Page) ([]Attempt, error)
	// UnfannedEvents returns ids of events created before t and not fanned out.
	UnfannedEvents(ctx context.Context, before time.Time, limit int) ([]string, error)
	// DueMessages returns messages that are pending with their next attempt
	// before t, or delivering with their lease before t, oldest due first.
	DueMessages(ctx context.Context, before time.Time, limit int) ([]Message, error)
	// ResumeMessages moves every disabled message of an endpoint back to
	// pending, due at, and returns them.
	ResumeMessages(ctx context.Context, endpointID string, at time.Time) ([]Message, error)
	// EndpointHealth sums up an endpoint's attempts as of now.
	EndpointHealth(ctx context.Context, endpointID string, now time.Time) (Health, error)
	// ListEvents returns events matching q, newest first.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)

	// SearchAttempts returns attempts matching q, newest first (by id).
	SearchAttempts(ctx context.Context, q AttemptQuery) ([]Attempt, error)
	// Attempt returns ErrNotFound.
	Attempt(ctx context.Context, id string) (Attempt, error)
	// RetryMessage makes a message that is not being delivered pending and
	// due at at, keeping its attempt count. Returns ErrNotFound, or
	// ErrConflict if an attempt is under way or the message is waiting
	// behind an earlier one of its ordered queue.
	RetryMessage(ctx context.Context, id string, at time.Time) (Message, error)
	// MessagesOfEvents returns the messages of these events, by id.
	MessagesOfEvents(ctx context.Context, eventIDs []string) ([]Message, error)
	// MessageOf returns the message of an event to an endpoint, or
	// ErrNotFound.
	MessageOf(ctx context.Context, eventID, endpointID string) (Message, error)

	// CreateRecoverJob stores j, unless a job of the same endpoint, Since
	// and Until is running: then that one is returned with created false.
	CreateRecoverJob(ctx context.Context, j RecoverJob) (job RecoverJob, created bool, err error)
	// RecoverJob returns ErrNotFound.
	RecoverJob(ctx context.Context, id string) (RecoverJob, error)
	// UpdateRecoverJob saves Status, Total, Requeued, Cursor, UpdatedAt and
	// FinishedAt.
	UpdateRecoverJob(ctx context.Context, j RecoverJob) error
	// StaleRecoverJobs returns the ids of running recovery jobs whose
	// progress was last recorded before before.
	StaleRecoverJobs(ctx context.Context, before time.Time, limit int) ([]string, error)
	// CountFailed counts the failed messages of an endpoint created in
	// [since, until) (until nil: no end).
	CountFailed(ctx context.Context, endpointID string, since time.Time, until *time.Time) (int, error)
	// RequeueFailed makes up to limit failed messages of an endpoint,
	// created in [since, until) with ids after the cursor after (in id
	// order), pending and due at at, and returns them.
	RequeueFailed(ctx context.Context, endpointID string, since time.Time, until *time.Time, after string, limit int, at time.Time) ([]Message, error)

	// PurgeAttempts deletes up to limit attempts started before t and
	// returns how many it deleted.
	PurgeAttempts(ctx context.Context, before time.Time, limit int) (int, error)
	// PurgePayloads empties the data of up to limit events created before
	// t (their summary stays) and returns how many it emptied.
	PurgePayloads(ctx context.Context, before time.Time, limit int) (int, error)
}

// Health sums up an endpoint's recent attempts.
type Health struct {
	// Attempts and Succeeded count the attempts of the last hour and of the
	// last 24 hours, and how many of them succeeded.
	AttemptsHour  int `json:"attempts_last_hour"`
	SucceededHour int `json:"succeeded_last_hour"`
	AttemptsDay   int `json:"attempts_last_day"`
	SucceededDay  int `json:"succeeded_last_day"`
	// ConsecutiveFailures counts the failed attempts since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// LastSuccessAt is when the last successful attempt started.
	LastSuccessAt *time.Time `json:"last_success_at"`
	// LastFailure is the last failed attempt, if any.
	LastFailure *Attempt `json:"last_failure"`
}

// EventQuery selects events, newest first.
type EventQuery struct {
	// Type is an exact type, or a prefix wildcard such as "shiphook.*".
	Type       string
	ShipmentID string
	// Status is EventResolved, EventUnresolved, or empty for both.
	Status string
	subscriptions.Page
}
