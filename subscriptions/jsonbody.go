package subscriptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// DecodeJSON reads one JSON value of at most limit bytes from body and
// decodes it into v as UnmarshalJSON does. Errors are an *Error of kind
// TooLarge (code body_too_large), or those of UnmarshalJSON.
func DecodeJSON(body io.Reader, limit int64, v any) error {
	lr := &io.LimitedReader{R: body, N: limit + 1}
	raw, err := io.ReadAll(lr)
	if lr.N <= 0 {
		return Errorf(TooLarge, "body_too_large", "the request body is larger than %d KiB", limit>>10)
	}
	if err != nil {
		return jsonError(err)
	}
	return UnmarshalJSON(raw, v)
}

// UnmarshalJSON decodes raw, one JSON value, into v, refusing unknown
// fields, trailing data and text no store can keep (CheckJSONText). Errors
// are an *Error of kind Malformed (code invalid_json), or a *FieldError
// naming the field of the wrong type, the unknown field or the string that
// is not storable text.
func UnmarshalJSON(raw []byte, v any) error {
	if err := UnmarshalEnvelope(raw, v); err != nil {
		return err
	}
	return CheckJSONText(raw)
}

// UnmarshalEnvelope is UnmarshalJSON without the check of the text, for a
// body that wraps documents kept as json.RawMessage and given each to
// UnmarshalJSON on its own (a batch of events), so that a string at fault
// is the fault of its document alone.
func UnmarshalEnvelope(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
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
