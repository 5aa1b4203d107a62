package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/signing"
)

var partnerIDPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Notifier is told when a partner's endpoints change; *Sync is one.
type Notifier interface {
	Changed(ctx context.Context, partnerID string)
}

type partnerInput struct {
	ID     string  `json:"id"`
	Name   *string `json:"name"`
	Access *Access `json:"access"`
}

func (in partnerInput) apply(p *Partner) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if len(name) > 200 {
			return Fieldf("name", "must be at most 200 characters")
		}
		p.Name = name
	}
	if in.Access != nil {
		if *in.Access != AccessParty && *in.Access != AccessAll {
			return Fieldf("access", "must be %q or %q", AccessParty, AccessAll)
		}
		p.Access = *in.Access
	}
	return nil
}

// CreatePartner handles POST /v1/partners.
func CreatePartner(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in partnerInput
		if err := BindJSON(c, &in); err != nil {
			Abort(c, err)
			return
		}
		now := time.Now().UTC()
		p := Partner{ID: in.ID, Access: AccessParty, CreatedAt: now, UpdatedAt: now}
		if p.ID == "" {
			p.ID = strings.ToLower(NewID("p"))
		} else if !partnerIDPattern.MatchString(p.ID) {
			Abort(c, Fieldf("id", "must be 1 to 64 characters of a-z, 0-9, _ and -"))
			return
		}
		if err := in.apply(&p); err != nil {
			Abort(c, err)
			return
		}
		if p.Name == "" {
			p.Name = p.ID
		}
		if err := st.CreatePartner(c.Request.Context(), p); err != nil {
			if errors.Is(err, ErrConflict) {
				err = &APIError{Status: http.StatusConflict, Code: "conflict", Field: "id", Message: fmt.Sprintf("partner %s already exists", p.ID)}
			}
			Abort(c, err)
			return
		}
		c.JSON(http.StatusCreated, p)
	}
}

// ListPartners handles GET /v1/partners.
func ListPartners(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		page, err := ParsePage(c)
		if err != nil {
			Abort(c, err)
			return
		}
		ps, err := st.ListPartners(c.Request.Context(), page)
		if err != nil {
			Abort(c, err)
			return
		}
		WriteList(c, page, ps, func(p Partner) string { return p.ID })
	}
}

// partnerNotFound is the answer for a partner that does not exist or that
// the caller may not see: the two are indistinguishable on purpose.
func partnerNotFound(id string) error {
	return &APIError{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("partner %s not found", id)}
}

// VisiblePartner returns the partner in the route's :partner_id, or a 404
// error if it does not exist or the caller may not see it.
func VisiblePartner(c *gin.Context, st Store) (Partner, error) {
	id := c.Param("partner_id")
	if !PrincipalOf(c).SeesPartner(id) {
		return Partner{}, partnerNotFound(id)
	}
	p, err := st.Partner(c.Request.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return Partner{}, partnerNotFound(id)
	}
	return p, err
}

// GetPartner handles GET /v1/partners/{partner_id}.
func GetPartner(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := VisiblePartner(c, st)
		if err != nil {
			Abort(c, err)
			return
		}
		c.JSON(http.StatusOK, p)
	}
}

// UpdatePartner handles PATCH /v1/partners/{partner_id}.
func UpdatePartner(st Store, n Notifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := VisiblePartner(c, st)
		if err != nil {
			Abort(c, err)
			return
		}
		var in partnerInput
		if err := BindJSON(c, &in); err != nil {
			Abort(c, err)
			return
		}
		if in.ID != "" && in.ID != p.ID {
			Abort(c, Fieldf("id", "a partner's id cannot change"))
			return
		}
		if err := in.apply(&p); err != nil {
			Abort(c, err)
			return
		}
		p.UpdatedAt = time.Now().UTC()
		if err := st.UpdatePartner(c.Request.Context(), p); err != nil {
			Abort(c, err)
			return
		}
		n.Changed(c.Request.Context(), p.ID)
		c.JSON(http.StatusOK, p)
	}
}

// DeletePartner handles DELETE /v1/partners/{partner_id}: the partner, its
// endpoints and its API keys go; its delivery log stays.
func DeletePartner(st Store, n Notifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := VisiblePartner(c, st)
		if err != nil {
			Abort(c, err)
			return
		}
		if err := st.DeletePartner(c.Request.Context(), p.ID); err != nil {
			Abort(c, err)
			return
		}
		n.Changed(c.Request.Context(), p.ID)
		c.Status(http.StatusNoContent)
	}
}

type apiKeyInput struct {
	Role      Role   `json:"role"`
	PartnerID string `json:"partner_id"`
	Name      string `json:"name"`
}

// CreatedKey is the answer to creating an API key: the only time the key
// itself is shown.
type CreatedKey struct {
	APIKey
	Key string `json:"key"`
}

// CreateAPIKey handles POST /v1/api-keys.
func CreateAPIKey(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in apiKeyInput
		if err := BindJSON(c, &in); err != nil {
			Abort(c, err)
			return
		}
		switch in.Role {
		case RoleAdmin, RoleIngest:
			if in.PartnerID != "" {
				Abort(c, Fieldf("partner_id", "only a partner key is bound to a partner"))
				return
			}
		case RolePartner:
			if in.PartnerID == "" {
				Abort(c, Fieldf("partner_id", "a partner key needs the partner it belongs to"))
				return
			}
			if _, err := st.Partner(c.Request.Context(), in.PartnerID); err != nil {
				if errors.Is(err, ErrNotFound) {
					err = Fieldf("partner_id", "partner %s does not exist", in.PartnerID)
				}
				Abort(c, err)
				return
			}
		default:
			Abort(c, Fieldf("role", "must be admin, ingest or partner"))
			return
		}
		key := NewKey()
		k := APIKey{ID: NewID("key"), Role: in.Role, PartnerID: in.PartnerID, Name: in.Name, Hash: HashKey(key), CreatedAt: time.Now().UTC()}
		if err := st.CreateAPIKey(c.Request.Context(), k); err != nil {
			Abort(c, err)
			return
		}
		c.JSON(http.StatusCreated, CreatedKey{APIKey: k, Key: key})
	}
}

// ListAPIKeys handles GET /v1/api-keys (the keys themselves are never shown).
func ListAPIKeys(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		page, err := ParsePage(c)
		if err != nil {
			Abort(c, err)
			return
		}
		ks, err := st.ListAPIKeys(c.Request.Context(), page)
		if err != nil {
			Abort(c, err)
			return
		}
		WriteList(c, page, ks, func(k APIKey) string { return k.ID })
	}
}

// DeleteAPIKey handles DELETE /v1/api-keys/{key_id}.
func DeleteAPIKey(st Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := st.DeleteAPIKey(c.Request.Context(), c.Param("key_id")); err != nil {
			Abort(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// ListEventTypes handles GET /v1/event-types.
func ListEventTypes() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(http.StatusOK, List[EventType]{Data: Catalog()})
	}
}

// verifySecretInput is shared by endpoint creation and rotation: an
// operator may bring a secret of their own instead of a generated one.
func checkSecret(field, s string) error {
	if s == "" {
		return nil
	}
	if err := signing.ValidSecret(s); err != nil {
		return Fieldf(field, "%v", err)
	}
	return nil
}
