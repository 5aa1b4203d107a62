package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// CreateAPIKey handles POST /v1/api-keys: the answer is the only time the
// key itself is shown.
func CreateAPIKey(st subscriptions.KeyCreator) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in subscriptions.KeyInput
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		k, err := subscriptions.CreateKey(c.Request.Context(), st, in)
		respond(c, http.StatusCreated, k, err)
	}
}

type keyLister interface {
	ListAPIKeys(ctx context.Context, page subscriptions.Page) ([]subscriptions.APIKey, error)
}

// ListAPIKeys handles GET /v1/api-keys (the keys themselves are never shown).
func ListAPIKeys(st keyLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		listWith(c, func(page subscriptions.Page) ([]subscriptions.APIKey, error) {
			return st.ListAPIKeys(c.Request.Context(), page)
		}, func(k subscriptions.APIKey) string { return k.ID })
	}
}

type keyDeleter interface {
	DeleteAPIKey(ctx context.Context, id string) error
}

// DeleteAPIKey handles DELETE /v1/api-keys/{key_id}.
func DeleteAPIKey(st keyDeleter) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := st.DeleteAPIKey(c.Request.Context(), c.Param("key_id")); err != nil {
			abort(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
