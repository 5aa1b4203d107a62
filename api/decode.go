package api

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// MaxBody is the largest request body the management API reads.
const MaxBody = 256 << 10

// bindJSON decodes the request body, of at most MaxBody bytes, into v,
// refusing unknown fields and trailing data. Its errors are those of
// subscriptions.DecodeJSON.
func bindJSON(c *gin.Context, v any) error {
	return subscriptions.DecodeJSON(c.Request.Body, MaxBody, v)
}

// readBody reads at most limit bytes of the request body. Returns a 413
// body_too_large *Error for a larger body, or a 400 invalid_body one if
// it cannot be read.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || n > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than %d KiB", limit>>10)
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid_body", "could not read the request body: %v", err)
	}
	return buf.Bytes(), nil
}
