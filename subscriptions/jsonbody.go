package subscriptions

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// DecodeJSON decodes one JSON value of at most limit bytes from body into v,
// refusing unknown fields and trailing data. Errors are an *Error of kind
// TooLarge (code body_too_large) or Malformed (code invalid_json), or a
// *FieldError naming the field of the wrong type or the unknown field.
func DecodeJSON(body io.Reader, limit int64, v any) error {
	lr := &io.LimitedReader{R: body, N: limit + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if lr.N <= 0 {
		return Errorf(TooLarge, "body_too_large", "the request body is larger than %d KiB", limit>>10)
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
		return Errorf(Malformed, "invalid_json", "the request body is empty; send a JSON object")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return Errorf(Malformed, "invalid_json", "the request body must be a JSON object")
		}
		return Fieldf(field, "must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Errorf(Malformed, "invalid_json", "the request body is not valid JSON at byte %d: %v", syntaxErr.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Fieldf(name, "unknown field")
	default:
		var fe *FieldError
		if errors.As(err, &fe) {
			return fe
		}
		return Errorf(Malformed, "invalid_json", "the request body is not valid JSON: %v", err)
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
