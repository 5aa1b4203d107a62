package subscriptions

import "fmt"

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

// Kind is what went wrong, as far as a caller needs to know to answer.
type Kind int

const (
	// Malformed input cannot be read at all (such as JSON that does not
	// parse).
	Malformed Kind = iota + 1
	// TooLarge input is over the size the operation accepts.
	TooLarge
	// NotFound: the resource does not exist, or the caller may not see it.
	// An *Error of this kind is ErrNotFound for errors.Is.
	NotFound
	// Conflict: the operation clashes with the resource's current state.
	// An *Error of this kind is ErrConflict for errors.Is.
	Conflict
)

// Error is a domain error with a stable code and a message meant for the
// caller, such as "delivery_in_progress". Field, when set, names the input
// at fault. It says nothing of a transport: the HTTP API maps its Kind to a
// status.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes an *Error of kind NotFound or Conflict match ErrNotFound or
// ErrConflict.
func (e *Error) Is(target error) bool {
	return (e.Kind == NotFound && target == ErrNotFound) || (e.Kind == Conflict && target == ErrConflict)
}

// Errorf returns an *Error of kind with code and a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf returns an *Error of kind NotFound, code "not_found".
func NotFoundf(format string, args ...any) *Error {
	return Errorf(NotFound, "not_found", format, args...)
}
