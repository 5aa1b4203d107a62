package dispatcher_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestCheckItem checks what ingest would make of an item, as the mapping
// test shows it: its status, and the error with its field named from the
// item.
func TestCheckItem(t *testing.T) {
	valid := json.RawMessage(`{"id":"e1","type":"shipment.milestone.arrived","occurred_at":"2026-11-26T14:05:00Z",` +
		`"shipment":{"id":"SHP-1"},"data":{"location":"NLRTM"}}`)
	noType := json.RawMessage(`{"id":"e2","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"SHP-1"}}`)
	for _, tc := range []struct {
		name   string
		item   sources.Item
		status dispatcher.ItemStatus
		err    *dispatcher.ItemError
	}{
		{"valid", sources.Item{Events: []json.RawMessage{valid}}, dispatcher.ItemAccepted, nil},
		{"no event", sources.Item{}, dispatcher.ItemIgnored, nil},
		{"second event invalid", sources.Item{Events: []json.RawMessage{valid, noType}}, dispatcher.ItemRejected,
			&dispatcher.ItemError{Code: "invalid_field", Field: "events[1].type", Message: "is required; see GET /v1/event-types"}},
		{"not an object", sources.Item{Events: []json.RawMessage{json.RawMessage(`3`)}}, dispatcher.ItemRejected,
			&dispatcher.ItemError{Code: "invalid_json", Field: "events[0]", Message: "MESSAGE"}},
		{"untranslated", sources.Item{Err: errors.New("no code for status ZZ")}, dispatcher.ItemUnmapped,
			&dispatcher.ItemError{Code: "untranslatable", Message: "no code for status ZZ"}},
		{"untranslated field", sources.Item{Err: subscriptions.Fieldf("transportCall.vessel", "is required")}, dispatcher.ItemUnmapped,
			&dispatcher.ItemError{Code: "invalid_field", Field: "transportCall.vessel", Message: "is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, err := dispatcher.CheckItem(tc.item)
			require.Equal(t, tc.status, status)
			if tc.err != nil && tc.err.Message == "MESSAGE" {
				tc.err.Message = err.Message // ParseEvent's own
				require.NotEmpty(t, err.Message)
			}
			require.Equal(t, tc.err, err)
		})
	}
}
