package dispatcher

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// AttemptDetail is one attempt with the request that was sent and the
// response that came back.
type AttemptDetail struct {
	Attempt
	Request  SentRequest  `json:"request"`
	Response ReceivedBody `json:"response"`
}

// SentRequest is an attempt's request as it was sent, less its secrets: the
// signature is not shown, and the values of the endpoint's own headers are
// masked.
type SentRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// ReceivedBody is what the endpoint answered (cookies are never kept).
type ReceivedBody struct {
	StatusCode int               `json:"status_code,omitempty"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// AttemptSources is what DescribeAttempt reads; a store of both
// contracts is one.
type AttemptSources interface {
	Message(ctx context.Context, id string) (Message, error)
	Event(ctx context.Context, id string) (Event, error)
	Endpoint(ctx context.Context, id string) (subscriptions.Endpoint, error)
}

// DescribeAttempt returns attempt a with the request that was sent, as the
// User-Agent userAgent sends it, and the response that came back. The body
// sent is empty once the event's payload is purged. The read that
// acknowledged a pull endpoint's message shows as a GET of the feed that
// answered the message's envelope.
func DescribeAttempt(ctx context.Context, src AttemptSources, a Attempt, userAgent string) (AttemptDetail, error) {
	m, err := src.Message(ctx, a.MessageID)
	if err != nil {
		return AttemptDetail{}, err
	}
	ev, err := src.Event(ctx, m.EventID)
	if err != nil {
		return AttemptDetail{}, err
	}
	if a.Trigger == triggerRead {
		return describeRead(a, m, ev)
	}
	headers := map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        userAgent,
		"webhook-id":        m.ID,
		"webhook-timestamp": strconv.FormatInt(a.StartedAt.Unix(), 10),
		"webhook-signature": "(signed with the endpoint's secret; not shown)",
	}
	dcsa := false
	if ep, err := src.Endpoint(ctx, a.EndpointID); err == nil {
		for k := range ep.Headers {
			headers[k] = "(set by the endpoint; not shown)"
		}
		dcsa = ep.Format == subscriptions.FormatDCSA
	}
	var body string
	switch {
	case ev.PurgedAt != nil || a.ErrorClass == ErrorNoDCSAForm:
	case dcsa:
		// The body as a DCSA endpoint receives it; its signature is not shown.
		if event, ok := sources.DCSAEvent(CanonicalOf(ev)); ok {
			body = "[" + string(event) + "]"
		}
		headers["Notification-Signature"] = "(signed with the endpoint's secret; not shown)"
		headers["API-Version"] = "2.2.0"
	default:
		raw, err := payload(ev, m)
		if err != nil {
			return AttemptDetail{}, err
		}
		body = string(raw)
	}
	respHeaders := a.ResponseHeaders
	if respHeaders == nil {
		respHeaders = map[string]string{}
	}
	return AttemptDetail{
		Attempt:  a,
		Request:  SentRequest{Method: http.MethodPost, URL: a.URL, Headers: headers, Body: body},
		Response: ReceivedBody{StatusCode: a.StatusCode, Headers: respHeaders, Body: a.ResponseBody},
	}, nil
}

// describeRead is DescribeAttempt of the read a that acknowledged pull
// message m of event ev: the partner's GET of the feed, answered with
// m's envelope.
func describeRead(a Attempt, m Message, ev Event) (AttemptDetail, error) {
	env, err := FeedItem{Message: m, Event: ev}.Envelope()
	if err != nil {
		return AttemptDetail{}, err
	}
	return AttemptDetail{
		Attempt:  a,
		Request:  SentRequest{Method: http.MethodGet, URL: a.URL, Headers: map[string]string{}},
		Response: ReceivedBody{StatusCode: a.StatusCode, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(env)},
	}, nil
}

// TimelineEvent is one event of a shipment's timeline with its deliveries.
type TimelineEvent struct {
	Event
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is where one message of an event stands.
type Delivery struct {
	MessageID      string     `json:"message_id"`
	EndpointID     string     `json:"endpoint_id"`
	PartnerID      string     `json:"partner_id"`
	Status         Status     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastErrorClass ErrorClass `json:"last_error_class,omitempty"`
}

// Timeline is the answer of GET /v1/shipments/{shipment_id}/timeline.
type Timeline struct {
	ShipmentID string          `json:"shipment_id"`
	Events     []TimelineEvent `json:"events"`
}

// maxTimeline bounds the events a timeline shows.
const maxTimeline = 1000

// TimelineSources is what ShipmentTimeline reads; Store is one.
type TimelineSources interface {
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	MessagesOfEvents(ctx context.Context, eventIDs []string) ([]Message, error)
}

// ShipmentTimeline returns the shipment's events (up to 1000) in order of
// occurred_at, each with its deliveries. For a partner (nil: an admin) it
// holds only the events the partner may see, only the partner's own
// deliveries, and no party list or source ids. Returns a not_found
// *subscriptions.Error if no event is left to show.
func ShipmentTimeline(ctx context.Context, src TimelineSources, shipmentID string, partner *subscriptions.Partner) (Timeline, error) {
	evs, err := timelineEvents(ctx, src, shipmentID, partner)
	if err != nil {
		return Timeline{}, err
	}
	if len(evs) == 0 {
		return Timeline{}, subscriptions.NotFoundf("shipment %s not found", shipmentID)
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	ms, err := src.MessagesOfEvents(ctx, ids)
	if err != nil {
		return Timeline{}, err
	}
	byEvent := map[string][]Delivery{}
	for _, m := range ms {
		if partner != nil && m.PartnerID != partner.ID {
			continue
		}
		byEvent[m.EventID] = append(byEvent[m.EventID], Delivery{
			MessageID: m.ID, EndpointID: m.EndpointID, PartnerID: m.PartnerID, Status: m.Status,
			Attempts: m.Attempts, LastStatusCode: m.LastStatusCode, LastErrorClass: m.LastErrorClass,
		})
	}
	out := Timeline{ShipmentID: shipmentID, Events: make([]TimelineEvent, len(evs))}
	for i, ev := range evs {
		if partner != nil {
			ev.Parties = nil // no other party's identity
			ev.SourceID, ev.IdempotencyKey = "", ""
		}
		ds := byEvent[ev.ID]
		if ds == nil {
			ds = []Delivery{}
		}
		out.Events[i] = TimelineEvent{Event: ev, Deliveries: ds}
	}
	slices.SortStableFunc(out.Events, func(a, b TimelineEvent) int {
		if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// timelineEvents returns up to maxTimeline of the shipment's events that
// partner (nil: an admin) may see, leaving out shiphook's own.
func timelineEvents(ctx context.Context, src TimelineSources, shipmentID string, partner *subscriptions.Partner) ([]Event, error) {
	var evs []Event
	page := subscriptions.Page{Limit: 250}
	for len(evs) < maxTimeline {
		batch, err := src.ListEvents(ctx, EventQuery{ShipmentID: shipmentID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, ev := range batch {
			if strings.HasPrefix(ev.Type, "shiphook.") {
				continue
			}
			if partner == nil || partner.Access == subscriptions.AccessAll || IsPartyTo(ev, partner.ID) {
				evs = append(evs, ev)
			}
		}
		if len(batch) < page.Limit {
			break
		}
		page.After = batch[len(batch)-1].ID
	}
	return evs, nil
}
