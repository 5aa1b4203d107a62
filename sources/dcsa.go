package sources

// This file reads a DCSA Track & Trace 2.2 notification, the array of
// events a carrier posts to its subscriber's callback, checks its
// Notification-Signature, and turns each event into one canonical event.
// What each DCSA event becomes is in dcsa_map.go; how its references and
// places are read, in dcsa_refs.go. docs/dcsa.md holds the whole table.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// MaxDCSAEvents is the most events one DCSA notification may carry.
const MaxDCSAEvents = 500

// DCSAIDPrefix starts the id of every canonical event translated from a
// DCSA event, followed by the DCSA eventID: "dcsa:3cecb101-…". The id is
// the event's idempotency key, so a notification sent again stores
// nothing twice, and the prefix keeps DCSA's ids apart from other
// sources'.
const DCSAIDPrefix = "dcsa:"

// maxEventID bounds a DCSA eventID, so that the canonical id stays within
// what ingest accepts.
const maxEventID = 200

// TranslateDCSA turns body, a DCSA Track & Trace 2.2 notification (an
// array of events, or one event object), into one Item per event, in
// order. An event that cannot be translated (an unknown eventType, a code
// with no canonical type, a required field missing or malformed) has its
// Item.Err: a *subscriptions.FieldError naming the DCSA field, relative to
// the event, and its value; or a *subscriptions.Error when the element is
// not an object at all. Nothing is dropped.
//
// The error beside the items is for a body that cannot be read at all: a
// *subscriptions.Error of kind Malformed (invalid_json, no_events) or
// TooLarge (too_many_events, over MaxDCSAEvents).
func TranslateDCSA(body []byte) ([]Item, error) {
	elems, err := dcsaElements(body)
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(elems))
	for i, raw := range elems {
		items[i] = Item{Original: raw}
		ev, err := translateDCSAEvent(raw)
		if err != nil {
			items[i].Err = err
			continue
		}
		items[i].Events = []json.RawMessage{ev}
	}
	return items, nil
}

// dcsaElements splits body into its events, each exactly as sent.
func dcsaElements(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the notification is empty; DCSA sends a JSON array of events")
	case body[0] == '{':
		if !json.Valid(body) {
			return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the notification is not valid JSON")
		}
		return []json.RawMessage{body}, nil
	case body[0] != '[':
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the notification must be a JSON array of DCSA events")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the notification is not valid JSON: %v", err)
	}
	if len(elems) == 0 {
		return nil, subscriptions.Errorf(subscriptions.Malformed, "no_events", "the notification holds no events")
	}
	if len(elems) > MaxDCSAEvents {
		return nil, subscriptions.Errorf(subscriptions.TooLarge, "too_many_events", "the notification holds %d events; at most %d are taken at once", len(elems), MaxDCSAEvents)
	}
	return elems, nil
}

// canonicalEvent is an event as POST /v1/events takes it. A translated
// event names its shipment by its references only.
type canonicalEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	Shipment   shipmentRef     `json:"shipment"`
	Data       json.RawMessage `json:"data"`
}

type shipmentRef struct {
	References references `json:"references"`
}

// translateDCSAEvent returns the canonical event of one DCSA event.
func translateDCSAEvent(raw json.RawMessage) (json.RawMessage, error) {
	e, err := decodeDCSAEvent(raw)
	if err != nil {
		return nil, err
	}
	if e.EventID == "" {
		return nil, subscriptions.Fieldf("eventID", "is required: it is the event's idempotency key")
	}
	if len(e.EventID) > maxEventID {
		return nil, subscriptions.Fieldf("eventID", "must be at most %d characters", maxEventID)
	}
	c, err := translateByType(e)
	if err != nil {
		return nil, err
	}
	refs, err := e.references()
	if err != nil {
		return nil, err
	}
	if refs.empty() {
		return nil, subscriptions.Fieldf("documentReferences", "the event names no booking, bill of lading, container, purchase order or customer reference, so no shipment can be found for it")
	}
	data, err := json.Marshal(c.data)
	if err != nil {
		return nil, fmt.Errorf("encode the data of DCSA event %s: %w", e.EventID, err)
	}
	// The data is built to fit its type; the catalog has the last word,
	// and puts it in the form deliveries carry.
	if data, err = subscriptions.NormalizeData(c.typ, data); err != nil {
		return nil, err
	}
	return json.Marshal(canonicalEvent{ID: DCSAIDPrefix + e.EventID, Type: c.typ, OccurredAt: c.occurredAt,
		Shipment: shipmentRef{References: refs}, Data: data})
}

// decodeDCSAEvent reads raw, one element of a notification, naming the
// field at fault when it cannot: a string that no store can keep, or a
// field of the wrong JSON type.
func decodeDCSAEvent(raw json.RawMessage) (*dcsaEvent, error) {
	if k := jsonKind(raw); k != "an object" {
		return nil, subscriptions.Errorf(subscriptions.Malformed, "not_an_event", "a DCSA event is a JSON object, not %s", k)
	}
	if err := subscriptions.CheckJSONText(raw); err != nil {
		return nil, err
	}
	var e dcsaEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, subscriptions.Fieldf(typeErr.Field, "must be %s, not a JSON %s", goKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the event is not valid JSON: %v", err)
	}
	e.trim()
	return &e, nil
}

// jsonKind names the kind of raw, one JSON value without spaces around it.
func jsonKind(raw []byte) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// goKind words the JSON a Go kind decodes from.
func goKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a number"
}

// dcsaTimeLayouts are the forms of a date-time DCSA events are read in:
// RFC 3339, and ISO 8601 with an offset written without its colon or a
// time without seconds, which some publishers send.
var dcsaTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04Z07:00"}

// dcsaTime returns the date-time s, the value of field, as RFC 3339 with
// the offset it was given in.
func dcsaTime(field, s string) (string, error) {
	if s == "" {
		return "", subscriptions.Fieldf(field, "is required: a date-time with its offset, such as 2019-11-12T07:41:00+08:30")
	}
	for _, layout := range dcsaTimeLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if y := t.UTC().Year(); y < 1970 || y > 9999 {
			return "", subscriptions.Fieldf(field, "%q is year %d in UTC; it must be from 1970 to 9999", s, y)
		}
		return t.Format(time.RFC3339Nano), nil
	}
	return "", subscriptions.Fieldf(field, "%q is not a date-time with its offset, such as 2019-11-12T07:41:00+08:30", s)
}

// VerifyDCSASignature reports whether header, the Notification-Signature
// of a DCSA notification, signs body with secret: "sha256=" followed by
// the hex HMAC-SHA256 of the raw body, compared in constant time. A
// missing or malformed header, another signature type, or an empty
// secret is false.
func VerifyDCSASignature(secret []byte, body []byte, header string) bool {
	kind, sig, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(kind, "sha256") || len(secret) == 0 {
		return false
	}
	given, err := hex.DecodeString(sig)
	if err != nil || len(given) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(given, mac.Sum(nil))
}
