package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// CreatePartner handles POST /v1/partners.
func CreatePartner(st subscriptions.PartnerCreator) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in subscriptions.PartnerInput
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		p, err := subscriptions.CreatePartner(c.Request.Context(), st, in)
		respond(c, http.StatusCreated, p, err)
	}
}

type partnerLister interface {
	ListPartners(ctx context.Context, page subscriptions.Page) ([]subscriptions.Partner, error)
}

// ListPartners handles GET /v1/partners.
func ListPartners(st partnerLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		listWith(c, func(page subscriptions.Page) ([]subscriptions.Partner, error) {
			return st.ListPartners(c.Request.Context(), page)
		}, func(p subscriptions.Partner) string { return p.ID })
	}
}

// GetPartner handles GET /v1/partners/{partner_id}.
func GetPartner(st partnerGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := visiblePartner(c, st)
		respond(c, http.StatusOK, p, err)
	}
}

type partnerUpdater interface {
	partnerGetter
	UpdatePartner(ctx context.Context, p subscriptions.Partner) error
}

// UpdatePartner handles PATCH /v1/partners/{partner_id}.
func UpdatePartner(st partnerUpdater, n subscriptions.Notifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := visiblePartner(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		var in subscriptions.PartnerInput
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		if err := in.Update(&p, time.Now().UTC()); err != nil {
			abort(c, err)
			return
		}
		if err := st.UpdatePartner(c.Request.Context(), p); err != nil {
			abort(c, err)
			return
		}
		n.Changed(c.Request.Context(), p.ID)
		c.PureJSON(http.StatusOK, p)
	}
}

type partnerDeleter interface {
	partnerGetter
	DeletePartner(ctx context.Context, id string) error
}

// DeletePartner handles DELETE /v1/partners/{partner_id}: the partner, its
// endpoints and its API keys go; its delivery log stays.
func DeletePartner(st partnerDeleter, n subscriptions.Notifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := visiblePartner(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		if err := st.DeletePartner(c.Request.Context(), p.ID); err != nil {
			abort(c, err)
			return
		}
		n.Changed(c.Request.Context(), p.ID)
		c.Status(http.StatusNoContent)
	}
}
