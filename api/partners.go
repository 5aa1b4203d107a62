package api

import (
	"context"
	"maps"
	"net/http"
	"slices"
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
	PartnersHealth(ctx context.Context, ids []string) (map[string]subscriptions.PartnerHealth, error)
	EndpointLabels(ctx context.Context, ids []string) (map[string]subscriptions.EndpointLabel, error)
}

type openBreakers interface {
	OpenBreakers(ctx context.Context) (map[string]subscriptions.BreakerState, error)
}

// PartnerView is a partner in the answer of GET /v1/partners; Health is
// there with ?include=health.
type PartnerView struct {
	subscriptions.Partner
	Health *PartnerHealthView `json:"health,omitempty"`
}

// PartnerHealthView is how a partner's deliveries stand.
type PartnerHealthView struct {
	subscriptions.PartnerHealth
	// OldestPendingAgeSeconds is how long the oldest message not yet
	// delivered has waited since it was made; null when none waits.
	OldestPendingAgeSeconds *float64 `json:"oldest_pending_age_seconds"`
}

// ListPartners handles GET /v1/partners. With ?include=health, each
// partner carries its health, read for the whole page at once: two reads
// of the database (the page's endpoints, and every message not yet
// delivered), the open breakers from b, and the endpoints of those.
func ListPartners(st partnerLister, b openBreakers) gin.HandlerFunc {
	return func(c *gin.Context) {
		include := c.Query("include")
		if include != "" && include != "health" {
			abort(c, subscriptions.Fieldf("include", "must be health, or left out"))
			return
		}
		ctx := c.Request.Context()
		listWith(c, func(page subscriptions.Page) ([]PartnerView, error) {
			ps, err := st.ListPartners(ctx, page)
			if err != nil {
				return nil, err
			}
			views := make([]PartnerView, len(ps))
			for i, p := range ps {
				views[i].Partner = p
			}
			if include == "health" {
				err = withHealth(ctx, st, b, views, time.Now())
			}
			return views, err
		}, func(p PartnerView) string { return p.ID })
	}
}

// withHealth sets the Health of each of views, as of now.
func withHealth(ctx context.Context, st partnerLister, b openBreakers, views []PartnerView, now time.Time) error {
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	hs, err := st.PartnersHealth(ctx, ids)
	if err != nil {
		return err
	}
	open, err := b.OpenBreakers(ctx)
	if err != nil {
		return err
	}
	eps, err := st.EndpointLabels(ctx, slices.Collect(maps.Keys(open)))
	if err != nil {
		return err
	}
	for _, ep := range eps {
		if h, ok := hs[ep.PartnerID]; ok {
			h.BreakersOpen++
			hs[ep.PartnerID] = h
		}
	}
	for i := range views {
		h := &PartnerHealthView{PartnerHealth: hs[views[i].ID]}
		if h.OldestPendingAt != nil {
			age := now.Sub(*h.OldestPendingAt).Seconds()
			h.OldestPendingAgeSeconds = &age
		}
		views[i].Health = h
	}
	return nil
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
