package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/itchyny/gojq"

	"github.com/shiphook/shiphook/subscriptions"
)

const (
	// MaxPayloads is the most payloads one body may carry, as many as a
	// batch of events.
	MaxPayloads = 500
	// MaxEventsPerPayload is the most events a mapping may make of one
	// payload.
	MaxEventsPerPayload = 100
	// MaxEventSize is the largest event a mapping may make, encoded; the
	// ingest API takes none larger.
	MaxEventSize = 256 << 10
	// PayloadTimeout is how long the mapping may run on one payload.
	PayloadTimeout = 100 * time.Millisecond
	// BodyTimeout is how long the mapping may run on the payloads of one
	// body in all; the payloads left when it is spent are not translated,
	// each with an error that says so.
	BodyTimeout = 5 * time.Second
)

var (
	errPayloadTimeout = errors.New("the payload's time limit was reached")
	errBodyTimeout    = errors.New("the body's time limit was reached")
)

// Translate runs the mapping on body: one payload (a JSON object) or an
// array of at most MaxPayloads payloads. It returns one Item per payload,
// in order, whose Original is the payload as sent and whose Events are
// what the mapping made of it, each encoded with its keys in order and
// numbers with the digits they had. Zero events is not an error: a
// payload may mean nothing to partners.
//
// An Item's Err, with no Events, says why its payload was not translated:
// a *subscriptions.Error with code invalid_payload (not a JSON object),
// unknown_code (code("table") found no entry; the message names the code
// and the table), mapping_failed (the program raised an error),
// mapping_timeout (it ran longer than PayloadTimeout, or the body's
// BodyTimeout was spent), too_many_events, event_too_large or
// invalid_mapping_output (an output that is not an object, or has no
// type); or a *subscriptions.FieldError naming a string of the payload
// that is not storable text. Events are not checked further: ingest checks
// them as it checks any posted event.
//
// The error beside the items is a *subscriptions.Error for a body that
// cannot be read at all: Malformed (invalid_json: not JSON, empty, not an
// object or array, an empty array) or TooLarge (too_many_payloads); or
// ctx's error if ctx ends first.
func (m *Mapping) Translate(ctx context.Context, body []byte) ([]Item, error) {
	payloads, err := splitBody(body)
	if err != nil {
		return nil, err
	}
	bodyCtx, cancel := context.WithTimeoutCause(ctx, BodyTimeout, errBodyTimeout)
	defer cancel()
	items := make([]Item, len(payloads))
	for i, raw := range payloads {
		items[i] = Item{Original: raw}
		v, err := decodePayload(raw)
		if err == nil {
			items[i].Events, err = m.run(bodyCtx, v)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("translate payload %d: %w", i, ctx.Err())
		}
		if err != nil {
			items[i].Events, items[i].Err = nil, err
		}
	}
	return items, nil
}

// splitBody returns the payloads of body, or why it cannot be read.
func splitBody(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the body is empty; send a payload (a JSON object) or an array of payloads")
	}
	switch body[0] {
	case '{':
		var raw json.RawMessage
		if err := subscriptions.UnmarshalEnvelope(body, &raw); err != nil {
			return nil, err
		}
		return []json.RawMessage{raw}, nil
	case '[':
		var raws []json.RawMessage
		if err := subscriptions.UnmarshalEnvelope(body, &raws); err != nil {
			return nil, err
		}
		switch {
		case len(raws) == 0:
			return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the array is empty; send at least one payload")
		case len(raws) > MaxPayloads:
			return nil, subscriptions.Errorf(subscriptions.TooLarge, "too_many_payloads", "the body carries %d payloads; at most %d are allowed", len(raws), MaxPayloads)
		}
		return raws, nil
	}
	var v any
	if err := subscriptions.UnmarshalEnvelope(body, &v); err != nil {
		return nil, err
	}
	return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the body is %s; send a payload (a JSON object) or an array of payloads", aKind(v))
}

// decodePayload decodes raw, which is valid JSON, for the program:
// numbers as json.Number, so that they keep their digits.
func decodePayload(raw json.RawMessage) (any, error) {
	if err := subscriptions.CheckJSONText(raw); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_payload", "the payload is not valid JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_payload", "the payload is %s; each payload must be a JSON object", aKind(v))
	}
	return v, nil
}

// run runs the mapping on one payload, v, within PayloadTimeout and ctx,
// and returns its outputs encoded, or the error of the payload's Item.
func (m *Mapping) run(ctx context.Context, v any) (events []json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			events, err = nil, mappingErrorf("mapping_failed", "the mapping failed on this payload: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeoutCause(ctx, PayloadTimeout, errPayloadTimeout)
	defer cancel()
	iter := m.code.RunWithContext(ctx, v, m.vars)
	for {
		out, ok := iter.Next()
		if !ok {
			return events, nil
		}
		if err, ok := out.(error); ok {
			var halt *gojq.HaltError
			if errors.As(err, &halt) && halt.Value() == nil {
				return events, nil // halt: no more outputs
			}
			return nil, runError(ctx, err)
		}
		if len(events) == MaxEventsPerPayload {
			return nil, subscriptions.Errorf(subscriptions.TooLarge, "too_many_events", "the mapping made more than %d events of this payload", MaxEventsPerPayload)
		}
		ev, err := encodeEvent(out, len(events)+1)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
}

// runError is the Item error for err, raised while the mapping ran with
// ctx.
func runError(ctx context.Context, err error) error {
	var unknown *unknownCodeError
	switch {
	case errors.As(err, &unknown):
		return mappingErrorf("unknown_code", "%v; add the code to the table, or correct the payload", err)
	case ctx.Err() == nil:
		return mappingErrorf("mapping_failed", "the mapping failed on this payload: %v", err)
	case context.Cause(ctx) == errPayloadTimeout:
		return mappingErrorf("mapping_timeout", "the mapping ran longer than %v on this payload; look for a loop that does not end, such as repeat or a def that calls itself", PayloadTimeout)
	case context.Cause(ctx) == errBodyTimeout:
		return mappingErrorf("mapping_timeout", "not translated: the mapping ran longer than %v on this body's payloads in all; send fewer payloads at once", BodyTimeout)
	}
	return err // ctx's parent ended; Translate returns its error
}

func mappingErrorf(code, format string, args ...any) *subscriptions.Error {
	return subscriptions.Errorf(subscriptions.Malformed, code, format, args...)
}

// encodeEvent checks out, the nth output of the mapping, and encodes it
// with its keys in order.
func encodeEvent(out any, n int) (json.RawMessage, error) {
	obj, ok := out.(map[string]any)
	if !ok {
		return nil, mappingErrorf("invalid_mapping_output", "output %d of the mapping is %s; each output must be a JSON object, a canonical event as POST /v1/events takes it", n, aKind(out))
	}
	switch t := obj["type"].(type) {
	case nil:
		return nil, mappingErrorf("invalid_mapping_output", "output %d of the mapping has no type; if the program looks the type up, as in $codes.status[.status], the payload's code has no entry there: look it up with code(\"status\") to have the code named", n)
	case string:
		if t == "" {
			return nil, mappingErrorf("invalid_mapping_output", "output %d of the mapping has an empty type", n)
		}
	default:
		return nil, mappingErrorf("invalid_mapping_output", "output %d of the mapping has a type that is %s; it must be a string, an event type", n, aKind(t))
	}
	raw, err := gojq.Marshal(obj)
	if err != nil {
		return nil, mappingErrorf("mapping_failed", "output %d of the mapping cannot be encoded: %v", n, err)
	}
	if len(raw) > MaxEventSize {
		return nil, subscriptions.Errorf(subscriptions.TooLarge, "event_too_large", "output %d of the mapping is %d KiB encoded; an event is at most %d KiB", n, len(raw)>>10, MaxEventSize>>10)
	}
	return raw, nil
}

// unknownCodeError is the error of code("table") for a code the table has
// no entry for.
type unknownCodeError struct{ table, code string }

func (e *unknownCodeError) Error() string {
	return fmt.Sprintf("no entry for %q in code table %s", e.code, e.table)
}

// lookup is the program's code(table): the entry of table for the input,
// a code given as a string or a number, or an error naming what is
// missing.
func (m *Mapping) lookup(v any, args []any) any {
	name, ok := args[0].(string)
	if !ok {
		return fmt.Errorf("code(table): the table's name must be a string, not %s", aKind(args[0]))
	}
	table, ok := m.tables[name]
	if !ok {
		return fmt.Errorf("code(%q): there is no code table %q", name, name)
	}
	key, ok := codeKey(v)
	if !ok {
		return fmt.Errorf("code(%q) was given %s; a code is a string or a number", name, aKind(v))
	}
	val, ok := table[key]
	if !ok {
		return &unknownCodeError{table: name, code: key}
	}
	return val
}

// codeKey returns the code v as the tables spell it: a string as is, a
// number as its JSON text.
func codeKey(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case *big.Int:
		return v.String(), true
	}
	return "", false
}

// aKind names the JSON kind of v, for a message: "an object", "a
// string", "null".
func aKind(v any) string {
	switch k := gojq.TypeOf(v); k {
	case "null":
		return k
	case "array", "object":
		return "an " + k
	default:
		return "a " + k
	}
}
