package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// ReplayDeps is what the replay handlers need.
type ReplayDeps struct {
	Store    Store
	Partners subscriptions.Store
	Queue    *Queue
}

// retry makes m due now and queues a manual attempt for it.
func (d ReplayDeps) retry(ctx context.Context, id string) (Message, error) {
	m, err := d.Store.RetryMessage(ctx, id, time.Now().UTC())
	if errors.Is(err, subscriptions.ErrConflict) {
		return Message{}, subscriptions.Errorf(http.StatusConflict, "delivery_in_progress", "message %s is being delivered right now; look again in a moment", id)
	}
	if err != nil {
		return Message{}, err
	}
	if err := d.Queue.enqueueDelivery(ctx, deliveryTask{ID: m.ID, Attempts: m.Attempts, EndpointID: m.EndpointID, Manual: true}, *m.NextAttemptAt); err != nil {
		// The message is pending in the database: the reconciler will.
		logWarn(ctx, "enqueue manual retry; the reconciler will", "message_id", m.ID, "err", err)
	}
	return m, nil
}

// RetryMessage handles POST /v1/messages/{message_id}/retry: one attempt
// now, whatever the message's status (but while an attempt is under way).
// If it fails, the rest of the retry schedule, if any, follows.
func RetryMessage(d ReplayDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		m, err := visibleMessage(c, d.Store)
		if err == nil {
			m, err = d.retry(c.Request.Context(), m.ID)
		}
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		c.JSON(http.StatusAccepted, m)
	}
}

// visibleEvent returns event id if partner p may see it: it is a party, or
// it sees every shipment. Otherwise a 404 error naming field.
func visibleEvent(ctx context.Context, st Store, p subscriptions.Partner, field, id string) (Event, error) {
	ev, err := st.Event(ctx, id)
	if err == nil && (p.Access == subscriptions.AccessAll || isPartyTo(ev, p.ID)) {
		return ev, nil
	}
	if err != nil && !errors.Is(err, subscriptions.ErrNotFound) {
		return Event{}, err
	}
	return Event{}, &subscriptions.APIError{Status: http.StatusNotFound, Code: "not_found", Field: field, Message: fmt.Sprintf("event %s not found", id)}
}

func isPartyTo(ev Event, partnerID string) bool {
	return slices.ContainsFunc(ev.Parties, func(p Party) bool { return p.PartnerID == partnerID })
}

// Resend handles POST …/endpoints/{endpoint_id}/resend {"event_id"}: the
// event goes to this endpoint once more (or for the first time, even if
// the endpoint does not subscribe to it), as a manual attempt.
func Resend(d ReplayDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		ep, err := subscriptions.VisibleEndpoint(c, d.Partners)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		var in struct {
			EventID string `json:"event_id"`
		}
		if err := subscriptions.BindJSON(c, &in); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		if in.EventID == "" {
			subscriptions.Abort(c, subscriptions.Fieldf("event_id", "is required"))
			return
		}
		p, err := d.Partners.Partner(ctx, ep.PartnerID)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		ev, err := visibleEvent(ctx, d.Store, p, "event_id", in.EventID)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		m, err := d.Store.MessageOf(ctx, ev.ID, ep.ID)
		if errors.Is(err, subscriptions.ErrNotFound) {
			m, err = d.newMessage(ctx, ev, ep)
		}
		if err == nil {
			m, err = d.retry(ctx, m.ID)
		}
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		c.JSON(http.StatusAccepted, m)
	}
}

// newMessage stores a message of ev to ep outside fan-out.
func (d ReplayDeps) newMessage(ctx context.Context, ev Event, ep subscriptions.Endpoint) (Message, error) {
	now := time.Now().UTC()
	m := Message{ID: subscriptions.NewID("msg"), EventID: ev.ID, EndpointID: ep.ID, PartnerID: ep.PartnerID, EventType: ev.Type,
		ShipmentID: ev.Shipment.ID, Status: StatusPending, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now}
	if _, err := d.Store.FanOut(ctx, ev.ID, []Message{m}); err != nil {
		return Message{}, err
	}
	return d.Store.MessageOf(ctx, ev.ID, ep.ID)
}

// SentTest is the answer to sending a test event.
type SentTest struct {
	EventID   string `json:"event_id"`
	MessageID string `json:"message_id"`
}

// SendTest handles POST …/endpoints/{endpoint_id}/test {"type"}: the
// catalog's example of that type, for a made-up shipment, goes to this
// endpoint only.
func SendTest(d ReplayDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		ep, err := subscriptions.VisibleEndpoint(c, d.Partners)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		var in struct {
			Type string `json:"type"`
		}
		if err := subscriptions.BindJSON(c, &in); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		example, ok := subscriptions.ExampleData(in.Type)
		if !ok {
			subscriptions.Abort(c, subscriptions.Fieldf("type", "unknown event type %q; see GET /v1/event-types", in.Type))
			return
		}
		now := time.Now().UTC()
		ev := Event{
			ID: subscriptions.NewID("evt"), Type: in.Type, OccurredAt: now, CreatedAt: now,
			Shipment: Shipment{ID: "TEST-" + strconv.FormatInt(now.UnixMilli(), 36), Mode: "ocean", Origin: "CNSHA", Destination: "NLRTM", References: map[string]string{"test": "true"}},
			Parties:  []Party{{PartnerID: ep.PartnerID, Role: "test"}},
			Data:     example,
		}
		if _, err := d.Store.InsertEvents(ctx, []Event{ev}); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		m, err := d.newMessage(ctx, ev, ep)
		if err == nil {
			m, err = d.retry(ctx, m.ID)
		}
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		c.JSON(http.StatusAccepted, SentTest{EventID: ev.ID, MessageID: m.ID})
	}
}

// StartRecover handles POST …/endpoints/{endpoint_id}/recover {"since",
// "until"?}: a background job puts every failed message of the endpoint
// created in that range back on the schedule. Calling it again while the
// job runs returns the same job; calling it after finds only what is
// still failed.
func StartRecover(d ReplayDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		ep, err := subscriptions.VisibleEndpoint(c, d.Partners)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		var in struct {
			Since string `json:"since"`
			Until string `json:"until"`
		}
		if err := subscriptions.BindJSON(c, &in); err != nil {
			subscriptions.Abort(c, err)
			return
		}
		since, err := time.Parse(time.RFC3339Nano, in.Since)
		if err != nil {
			subscriptions.Abort(c, subscriptions.Fieldf("since", "is required, as an RFC 3339 timestamp such as 2026-11-26T14:05:00Z"))
			return
		}
		var until *time.Time
		if in.Until != "" {
			u, err := time.Parse(time.RFC3339Nano, in.Until)
			if err != nil || !u.After(since) {
				subscriptions.Abort(c, subscriptions.Fieldf("until", "must be an RFC 3339 timestamp after since"))
				return
			}
			u = u.UTC()
			until = &u
		}
		since = since.UTC()
		total, err := d.Store.CountFailed(ctx, ep.ID, since, until)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		now := time.Now().UTC()
		job, created, err := d.Store.CreateRecoverJob(ctx, RecoverJob{
			ID: subscriptions.NewID("rec"), EndpointID: ep.ID, PartnerID: ep.PartnerID, Since: since, Until: until,
			Status: "running", Total: total, CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		if created || job.Status == "running" {
			if err := d.Queue.EnqueueRecover(ctx, job.ID); err != nil {
				subscriptions.Abort(c, err)
				return
			}
		}
		c.JSON(http.StatusAccepted, job)
	}
}

// GetRecover handles GET …/endpoints/{endpoint_id}/recover/{job_id}.
func GetRecover(d ReplayDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ep, err := subscriptions.VisibleEndpoint(c, d.Partners)
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		job, err := d.Store.RecoverJob(c.Request.Context(), c.Param("job_id"))
		if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && job.EndpointID != ep.ID) {
			err = subscriptions.Errorf(http.StatusNotFound, "not_found", "recovery job %s not found", c.Param("job_id"))
		}
		if err != nil {
			subscriptions.Abort(c, err)
			return
		}
		c.JSON(http.StatusOK, job)
	}
}

// DeadLetters handles GET …/endpoints/{endpoint_id}/dead-letters (that
// endpoint's failed messages) and, with allPartners, GET /v1/dead-letters
// (admin; every failed message, or one partner's with ?partner_id=).
func DeadLetters(st Store, partners subscriptions.Store, allPartners bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		q := MessageQuery{Status: StatusFailed, PartnerID: c.Query("partner_id")}
		if !allPartners {
			ep, err := subscriptions.VisibleEndpoint(c, partners)
			if err != nil {
				subscriptions.Abort(c, err)
				return
			}
			q.PartnerID, q.EndpointID = ep.PartnerID, ep.ID
		}
		writeMessages(c, st, q)
	}
}
