package api

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/docs"
)

// OpenAPIPath is where the API's OpenAPI document is served.
const OpenAPIPath = "/v1/openapi.json"

// OpenAPI handles GET /v1/openapi.json without authentication: the
// OpenAPI 3.1 document of this API (docs/openapi.yaml), as JSON made once
// when the program starts. It describes the API and holds no secret, so
// that a client generator or a browser can read it without a key.
func OpenAPI() gin.HandlerFunc {
	return func(c *gin.Context) {
		doc, err := docs.OpenAPIJSON()
		if err != nil {
			abort(c, fmt.Errorf("serve the OpenAPI document: %w", err))
			return
		}
		c.Data(http.StatusOK, "application/json", doc)
	}
}
