package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

type timelineReader interface {
	partnerGetter
	dispatcher.TimelineSources
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
		respond(c, http.StatusOK, t, err)
	}
}
