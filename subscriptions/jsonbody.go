package subscriptions

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBody is the largest request body the management API reads.
const MaxBody = 256 << 10

// decodeJSON decodes one JSON value from r's body into v, refusing unknown
// fields, trailing data and bodies over MaxBody.
func decodeJSON(r *http.Request, v any) error {
	return DecodeJSON(r.Body, MaxBody, v)
}

// DecodeJSON decodes one JSON value of at most limit bytes from body into v,
// refusing unknown fields and trailing data. Errors are *APIError with code
// body_too_large, invalid_json or invalid_field.
func DecodeJSON(body io.Reader, limit int64, v any) error {
	lr := &io.LimitedReader{R: body, N: limit + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if lr.N <= 0 {
		return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than %d KiB", limit>>10)
	}
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	if err == nil {
		return nil
	}
	return jsonError(err)
}

func jsonError(err error) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "invalid_json", "the request body is empty; send a JSON object")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return Errorf(http.StatusBadRequest, "invalid_json", "the request body must be a JSON object")
		}
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: field,
			Message: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return Errorf(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON at byte %d: %v", syntaxErr.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: name, Message: "unknown field"}
	default:
		var fe *FieldError
		if errors.As(err, &fe) {
			return fe
		}
		return Errorf(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON: %v", err)
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "true or false"
	case "int", "int64", "float64", "uint", "int32":
		return "a number"
	}
	return k
}
