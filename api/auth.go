package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// principals tells who holds an API key; *subscriptions.Auth is one.
type principals interface {
	// Principal returns subscriptions.ErrNotFound for a key that is not valid.
	Principal(ctx context.Context, key string) (subscriptions.Principal, error)
}

const principalKey = "shiphook.principal"

// authenticate answers 401 to a request without a valid
// "Authorization: Bearer <key>" and otherwise records its principal. A key
// that could not be looked up is answered as abort maps the failure: 503
// unavailable when the store could not be reached, never 401.
func authenticate(keys principals) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := principalFrom(c, keys)
		if err != nil {
			abort(c, err)
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// principalFrom returns who holds the request's bearer key, or the error
// authenticate answers.
func principalFrom(c *gin.Context, keys principals) (subscriptions.Principal, error) {
	key, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || key == "" {
		return subscriptions.Principal{}, errorf(http.StatusUnauthorized, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
	}
	p, err := keys.Principal(c.Request.Context(), strings.TrimSpace(key))
	if errors.Is(err, subscriptions.ErrNotFound) {
		return p, errorf(http.StatusUnauthorized, "unauthorized", "the API key is not valid")
	}
	return p, err
}

// unbound answers 403 to an ingest key bound to a source: it posts to
// that source only.
func unbound() gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := principalOf(c); p.SourceID != "" {
			abort(c, errorf(http.StatusForbidden, "forbidden", "this key is bound to source %s; post to /v1/sources/%s/events", p.SourceID, p.SourceID))
			return
		}
		c.Next()
	}
}

// allow answers 403 unless the request's principal has one of roles.
func allow(roles ...subscriptions.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principalOf(c)
		for _, r := range roles {
			if p.Role == r {
				c.Next()
				return
			}
		}
		abort(c, errorf(http.StatusForbidden, "forbidden", "a %s key may not do this", p.Role))
	}
}

// principalOf returns the principal that authenticate recorded.
func principalOf(c *gin.Context) subscriptions.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(subscriptions.Principal)
	return pr
}

// Me handles GET /v1/me: who the key belongs to.
func Me() gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principalOf(c)
		c.PureJSON(http.StatusOK, gin.H{"key_id": p.KeyID, "role": p.Role, "partner_id": p.PartnerID, "source_id": p.SourceID})
	}
}
