package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

type timelineReader interface {
	partnerGetter
	dispatcher.TimelineSources
	messageLabeler
}

// TimelineView is the answer of GET /v1/shipments/{shipment_id}/timeline:
// dispatcher.Timeline with the labels of each delivery's endpoint and
// partner.
type TimelineView struct {
	ShipmentID string              `json:"shipment_id"`
	Events     []TimelineEventView `json:"events"`
	// PartnerNames names, by id, the partners of the deliveries and
	// parties shown that still exist.
	PartnerNames map[string]string `json:"partner_names"`
}

// TimelineEventView is one event of a TimelineView.
type TimelineEventView struct {
	dispatcher.Event
	Deliveries []DeliveryView `json:"deliveries"`
}

// DeliveryView is one delivery of a TimelineEventView, with its last
// error as a message has it (MessageView).
type DeliveryView struct {
	dispatcher.Delivery
	Labels
	LastError string `json:"last_error,omitempty"`
}

// timelineView returns t with the labels and last errors of its
// deliveries and the names of its partners, three reads by id for the
// whole timeline.
func timelineView(ctx context.Context, st messageLabeler, t dispatcher.Timeline) (TimelineView, error) {
	var eps, ps, failed []string
	for _, ev := range t.Events {
		for _, d := range ev.Deliveries {
			eps, ps = append(eps, d.EndpointID), append(ps, d.PartnerID)
			if d.LastErrorClass != dispatcher.ErrorNone {
				failed = append(failed, d.MessageID)
			}
		}
		for _, p := range ev.Parties {
			ps = append(ps, p.PartnerID)
		}
	}
	ls, err := readLabels(ctx, st, eps, ps)
	if err != nil {
		return TimelineView{}, err
	}
	errs, err := st.LastErrors(ctx, failed)
	if err != nil {
		return TimelineView{}, err
	}
	out := TimelineView{ShipmentID: t.ShipmentID, Events: make([]TimelineEventView, len(t.Events)), PartnerNames: ls.partners}
	for i, ev := range t.Events {
		ds := make([]DeliveryView, len(ev.Deliveries))
		for j, d := range ev.Deliveries {
			ds[j] = DeliveryView{Delivery: d, Labels: ls.of(d.EndpointID, d.PartnerID), LastError: errs[d.MessageID]}
		}
		out.Events[i] = TimelineEventView{Event: ev.Event, Deliveries: ds}
	}
	return out, nil
}

// GetTimeline handles GET /v1/shipments/{shipment_id}/timeline: the
// shipment's events in order of occurred_at, each with its deliveries. A
// partner sees only a shipment it is party to (404 otherwise), only its
// own deliveries, and no party list; an admin sees everything.
func GetTimeline(st timelineReader) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var partner *subscriptions.Partner
		if pr := principalOf(c); pr.Role == subscriptions.RolePartner {
			p, err := st.Partner(ctx, pr.PartnerID)
			if err != nil {
				abort(c, err)
				return
			}
			partner = &p
		}
		t, err := dispatcher.ShipmentTimeline(ctx, st, c.Param("shipment_id"), partner)
		if err != nil {
			abort(c, err)
			return
		}
		view, err := timelineView(ctx, st, t)
		respond(c, http.StatusOK, view, err)
	}
}
