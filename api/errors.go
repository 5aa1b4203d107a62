package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// Error is an error answer: its HTTP status and the body's stable code,
// message and, when one input is at fault, field.
type Error struct {
	Status int `json:"-"`
	// RetryAfter, when above zero, is sent as the Retry-After header, in
	// whole seconds.
	RetryAfter time.Duration `json:"-"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	Field      string        `json:"field,omitempty"`
}

// RetryUnavailable is the Retry-After of a 503 unavailable answer.
const RetryUnavailable = 5 * time.Second

// unavailable is the answer to a request that failed because the database
// or Redis could not be reached.
var unavailable = Error{
	Status: http.StatusServiceUnavailable, RetryAfter: RetryUnavailable, Code: "unavailable",
	Message: "the database or the queue is unreachable; retry later",
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorf returns an *Error with a formatted message.
func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// notFound returns the 404 answer, code not_found, with a formatted message.
func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, "not_found", format, args...)
}

// kindStatus is the status of each kind of domain error.
var kindStatus = map[subscriptions.Kind]int{
	subscriptions.Malformed: http.StatusBadRequest,
	subscriptions.TooLarge:  http.StatusRequestEntityTooLarge,
	subscriptions.NotFound:  http.StatusNotFound,
	subscriptions.Conflict:  http.StatusConflict,
}

// toError maps err to its answer, as the package documentation lists; ok
// is false for an error it does not know, which is an internal one.
func toError(err error) (e *Error, ok bool) {
	var (
		apiErr   *Error
		fieldErr *subscriptions.FieldError
		domErr   *subscriptions.Error
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr, true
	case errors.As(err, &fieldErr):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Message: fieldErr.Message, Field: fieldErr.Field}, true
	case errors.As(err, &domErr) && kindStatus[domErr.Kind] != 0:
		return &Error{Status: kindStatus[domErr.Kind], Code: domErr.Code, Message: domErr.Message, Field: domErr.Field}, true
	case errors.Is(err, subscriptions.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}, true
	case errors.Is(err, subscriptions.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}, true
	case errors.Is(err, subscriptions.ErrUnavailable):
		e := unavailable
		return &e, true
	}
	return nil, false
}

// abort answers err as {"error": {...}} and stops the handler chain. An
// error toError does not know is logged and answered with 500
// internal_error, without its text; subscriptions.ErrUnavailable is logged
// and answered 503 unavailable with a Retry-After, without its text either.
func abort(c *gin.Context, err error) {
	e, ok := toError(err)
	switch {
	case !ok:
		slog.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		e = &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "the server failed to handle this request; it has been logged"}
	case e.Code == unavailable.Code:
		slog.WarnContext(c.Request.Context(), "request failed: unavailable", "method", c.Request.Method, "path", c.FullPath(), "err", err)
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(e.RetryAfter.Round(time.Second)/time.Second)))
	}
	c.AbortWithStatusPureJSON(e.Status, gin.H{"error": e})
}

// respond answers v with status, or err if it is not nil.
func respond(c *gin.Context, status int, v any, err error) {
	if err != nil {
		abort(c, err)
		return
	}
	c.PureJSON(status, v)
}
