package subscriptions

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
)

// FieldError is bad input in one field of a request. Field is a dotted path
// such as "shipment.id" or "parties[2].partner_id".
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Fieldf returns a *FieldError for field with a formatted message.
func Fieldf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// APIError is an error with its HTTP status and stable code. Handlers return
// domain errors; Abort turns them into APIErrors in one place.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *APIError.
func Errorf(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Abort writes err as the JSON error body {"error": {"code", "message",
// "field"?}} and stops the handler chain. Unknown errors are logged and
// answered with 500 internal_error, without their text.
func Abort(c *gin.Context, err error) {
	var (
		apiErr   *APIError
		fieldErr *FieldError
	)
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &fieldErr):
		apiErr = &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Message: fieldErr.Message, Field: fieldErr.Field}
	case errors.Is(err, ErrNotFound):
		apiErr = &APIError{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}
	case errors.Is(err, ErrConflict):
		apiErr = &APIError{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}
	default:
		slog.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		apiErr = &APIError{Status: http.StatusInternalServerError, Code: "internal_error", Message: "the server failed to handle this request; it has been logged"}
	}
	c.AbortWithStatusJSON(apiErr.Status, gin.H{"error": apiErr})
}

// BindJSON decodes the request body into v, rejecting unknown fields.
// Returns an *APIError naming what is wrong.
func BindJSON(c *gin.Context, v any) error {
	return decodeJSON(c.Request, v)
}
