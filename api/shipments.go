package api

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

type shipmentPutter interface {
	dispatcher.PartnerChecker
	PutShipment(ctx context.Context, s dispatcher.RegisteredShipment) (dispatcher.RegisteredShipment, bool, error)
}

// PutShipment handles PUT /v1/shipments/{shipment_id} (admin, ingest):
// registers the shipment as given, whole. Its attributes, references and
// parties replace those registered: a field left out is emptied, a party
// left out is no longer a party. 201 when it is new, 200 otherwise, with
// the shipment.
func PutShipment(st shipmentPutter) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, err := readBody(c, MaxBody)
		if err != nil {
			abort(c, err)
			return
		}
		ctx := c.Request.Context()
		s, err := dispatcher.ParseShipment(c.Param("shipment_id"), raw)
		if err == nil {
			err = dispatcher.MissingParties(ctx, st, s)
		}
		if err != nil {
			abort(c, err)
			return
		}
		s, created, err := st.PutShipment(ctx, s)
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		respond(c, status, s, err)
	}
}

type shipmentGetter interface {
	Shipment(ctx context.Context, id string) (dispatcher.RegisteredShipment, error)
}

// GetShipment handles GET /v1/shipments/{shipment_id} (admin, partner). A
// partner sees only a shipment it is party to, 404 otherwise, and of its
// parties only itself.
func GetShipment(st shipmentGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Param("shipment_id")
		s, err := st.Shipment(c.Request.Context(), id)
		if errors.Is(err, subscriptions.ErrNotFound) {
			err = notFound("shipment %s not found", id)
		}
		if err != nil {
			abort(c, err)
			return
		}
		s, ok := visibleShipment(principalOf(c), s)
		if !ok {
			abort(c, notFound("shipment %s not found", id))
			return
		}
		c.PureJSON(http.StatusOK, s)
	}
}

type shipmentFinder interface {
	ShipmentsByReference(ctx context.Context, value string) ([]dispatcher.RegisteredShipment, error)
}

// FindShipments handles GET /v1/shipments?reference=… (admin, partner):
// the shipments with a reference of any kind equal to it, in one page,
// and 404 if there is none. A partner finds only shipments it is party
// to.
func FindShipments(st shipmentFinder) gin.HandlerFunc {
	return func(c *gin.Context) {
		ref := c.Query("reference")
		if ref == "" {
			abort(c, subscriptions.Fieldf("reference", "is required: a booking, bill of lading, container, purchase order or customer reference"))
			return
		}
		found, err := st.ShipmentsByReference(c.Request.Context(), ref)
		if err != nil {
			abort(c, err)
			return
		}
		var out []dispatcher.RegisteredShipment
		for _, s := range found {
			if s, ok := visibleShipment(principalOf(c), s); ok {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			abort(c, notFound("no shipment has the reference %s", ref))
			return
		}
		c.PureJSON(http.StatusOK, List[dispatcher.RegisteredShipment]{Data: out})
	}
}

// visibleShipment returns s as pr may see it: whole for an admin; for a
// partner that is party to it, with itself as its only party; ok false
// otherwise.
func visibleShipment(pr subscriptions.Principal, s dispatcher.RegisteredShipment) (dispatcher.RegisteredShipment, bool) {
	if pr.Role == subscriptions.RoleAdmin {
		return s, true
	}
	i := slices.IndexFunc(s.Parties, func(p dispatcher.Party) bool { return pr.PartnerID != "" && p.PartnerID == pr.PartnerID })
	if pr.Role != subscriptions.RolePartner || i < 0 {
		return dispatcher.RegisteredShipment{}, false
	}
	s.Parties = []dispatcher.Party{s.Parties[i]}
	return s, true
}
