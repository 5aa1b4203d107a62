package sources

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/shiphook/shiphook/subscriptions"
)

// shiphookFormat takes canonical events as they are: the body is one event
// or an array of them, and each is an item of that one event. The events
// themselves are checked at ingest, each on its own.
type shiphookFormat struct{}

func (shiphookFormat) Translate(_ context.Context, body []byte) ([]Item, error) {
	elems, err := splitPayload(body)
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(elems))
	for i, e := range elems {
		items[i] = Item{Original: e, Events: []json.RawMessage{e}}
	}
	return items, nil
}

// splitPayload splits body, one JSON object or an array of at most MaxItems
// values, into its elements, each as sent. Returns a *subscriptions.Error
// of kind Malformed for a body that is neither, or a
// *subscriptions.FieldError for an empty or too long array.
func splitPayload(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		if !json.Valid(body) {
			return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the body is not valid JSON")
		}
		return []json.RawMessage{json.RawMessage(body)}, nil
	}
	var elems []json.RawMessage
	if len(body) == 0 || body[0] != '[' || json.Unmarshal(body, &elems) != nil {
		return nil, subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "the body must be a JSON object or an array of them")
	}
	if len(elems) == 0 {
		return nil, subscriptions.Fieldf("body", "give at least one item")
	}
	if len(elems) > MaxItems {
		return nil, subscriptions.Fieldf("body", "at most %d items per request, got %d", MaxItems, len(elems))
	}
	return elems, nil
}
