package dispatcher

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

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

// GetAttempt handles GET /v1/attempts/{attempt_id} (admin, or the partner
// it was made for).
func GetAttempt(st Store, partners subscriptions.Store, userAgent string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		id := c.Param("attempt_id")
		a, err := st.Attempt(ctx, id)
		if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && !subscriptions.PrincipalOf(c).SeesPartner(a.PartnerID)) {
			err = subscriptions.Errorf(http.StatusNotFound, "not_found", "attempt %s not found", id)
		}
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		m, err := st.Message(ctx, a.MessageID)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		ev, err := st.Event(ctx, m.EventID)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		headers := map[string]string{
			"Content-Type":      "application/json",
			"User-Agent":        userAgent,
			"webhook-id":        m.ID,
			"webhook-timestamp": strconv.FormatInt(a.StartedAt.Unix(), 10),
			"webhook-signature": "(signed with the endpoint's secret; not shown)",
		}
		if ep, err := partners.Endpoint(ctx, a.EndpointID); err == nil {
			for k := range ep.Headers {
				headers[k] = "(set by the endpoint; not shown)"
			}
		}
		var body string
		if ev.PurgedAt == nil {
			raw, err := payload(ev, roleOf(ev, m.PartnerID))
			if err != nil {
				subscriptions.Abort(c, err)
				return
			}
			body = string(raw)
		}
		respHeaders := a.ResponseHeaders
		if respHeaders == nil {
			respHeaders = map[string]string{}
		}
		c.JSON(http.StatusOK, AttemptDetail{
			Attempt:  a,
			Request:  SentRequest{Method: http.MethodPost, URL: a.URL, Headers: headers, Body: body},
			Response: ReceivedBody{StatusCode: a.StatusCode, Headers: respHeaders, Body: a.ResponseBody},
		})
	}
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

// GetTimeline handles GET /v1/shipments/{shipment_id}/timeline: the
// shipment's events in order of occurred_at, each with its deliveries. A
// partner sees only a shipment it is party to (404 otherwise), only its
// own deliveries, and no party list; an admin sees everything.
func GetTimeline(st Store, partners subscriptions.Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		sid := c.Param("shipment_id")
		pr := subscriptions.PrincipalOf(c)
		var partner *subscriptions.Partner
		if pr.Role == subscriptions.RolePartner {
			p, err := partners.Partner(ctx, pr.PartnerID)
			if err != nil {
				subscriptions.Abort(c, err)
				return
			}
			partner = &p
		}
		var evs []Event
		page := subscriptions.Page{Limit: 250}
		for len(evs) < maxTimeline {
			batch, err := st.ListEvents(ctx, EventQuery{ShipmentID: sid, Page: page})
			if err != nil {
				subscriptions.Abort(c, err)
				return
			}
			for _, ev := range batch {
				if strings.HasPrefix(ev.Type, "shiphook.") {
					continue
				}
				if partner == nil || partner.Access == subscriptions.AccessAll || isPartyTo(ev, partner.ID) {
					evs = append(evs, ev)
				}
			}
			if len(batch) < page.Limit {
				break
			}
			page.After = batch[len(batch)-1].ID
		}
		if len(evs) == 0 {
			subscriptions.Abort(c, subscriptions.Errorf(http.StatusNotFound, "not_found", "shipment %s not found", sid))
			return
		}
		ids := make([]string, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ID
		}
		ms, err := st.MessagesOfEvents(ctx, ids)
		if err != nil {
			subscriptions.Abort(c, err)
			return
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
		out := Timeline{ShipmentID: sid, Events: make([]TimelineEvent, len(evs))}
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
		c.JSON(http.StatusOK, out)
	}
}
