package dispatcher_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// FuzzParseEvent posts arbitrary bodies and Idempotency-Keys to
// ParseEvent. An accepted event keeps every promise the ingest API makes of
// it (its data stored in the delivered form, its shipment and parties in
// the standard vocabularies) and parses again, re-encoded, to the same
// event; a refused one is a typed input error, never one the API would
// answer 500.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"id":"tms-4711","type":"shipment.milestone.departed","occurred_at":"2026-11-26T14:05:00Z",`+
		`"shipment":{"id":"SHP-4711","mode":"ocean","origin":"CNSHA","destination":"NLRTM","carrier":"MSCU","references":{"po":"PO-1"}},`+
		`"parties":[{"partner_id":"acme","role":"shipper"},{"partner_id":"globex","role":"consignee"}],`+
		`"data":{"location":{"code":"CNSHA","name":"Shanghai"},"vessel":"MSC OSCAR","voyage":"FE547W"}}`), "key-1")
	f.Add([]byte(`{"type":"shipment.cancelled","occurred_at":"2026-11-26T14:05:00.123456789+02:00","shipment":{"id":" S "},"data":null}`), "")
	f.Add([]byte(`{"type":"shipment.created","occurred_at":"1970-01-01T00:00:00Z","shipment":{"id":"S"},"parties":[],"data":{"event_id":"x"}}`), "")
	f.Add([]byte(`{"type":"shipment.updated","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"S"},"data":[1]}`), "")
	f.Add([]byte(`{"type":"shiphook.ping","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"S"}}`), "")
	f.Add([]byte(`{"type":"shipment.created","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"S"},"extra":1}`), "")
	f.Add([]byte(`{"type":"shipment.created","shipment":"S"}`), "")
	f.Add([]byte(`{"type":"shipment.created"} {}`), "")
	f.Add([]byte(`{"type":"shipment.invoice.issued","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"S","carrier":"5X"},`+
		`"data":{"invoice_number":"INV-1","amount":12345678901234567.891,"currency":"EUR"}}`), "")
	f.Add([]byte(`{"type":"shipment.charge.updated","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"S","mode":"courier"},`+
		`"data":{"charges":[{"code":"A","amount":2.45237e3,"currency":"EUR"},{"code":"B","amount":"-0.10","currency":"USD"}]}}`), "")
	f.Add([]byte(`{"type":"shipment.updated","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"S","origin":"CNSHA"},`+
		`"data":{"routing":[{"from":"CNSHA","to":{"code":"NLRTM"},"mode":"ocean"}]}}`), "")
	f.Add([]byte(`{"type":"shipment.milestone.arrived","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"S","mode":"boat"},`+
		`"parties":[{"partner_id":"a","role":"boss"}],"data":{"location":"Rotterdam"}}`), "")
	f.Add([]byte(`[]`), "")
	f.Add([]byte(``), "")
	for _, typ := range subscriptions.Catalog() {
		data, ok := subscriptions.ExampleData(typ.Name)
		require.True(f, ok, typ.Name)
		raw, err := json.Marshal(map[string]any{"type": typ.Name, "occurred_at": "2026-11-26T14:05:00Z",
			"shipment": map[string]any{"id": "SHP-1"}, "data": data})
		require.NoError(f, err)
		f.Add(raw, "")
	}

	f.Fuzz(func(t *testing.T, raw []byte, key string) {
		ev, err := dispatcher.ParseEvent(raw, key)
		if err != nil {
			requireInputError(t, err)
			return
		}
		requireAcceptedEvent(t, ev, key)

		// The event as the source would post it again parses to itself.
		again, err := dispatcher.ParseEvent(repost(t, ev), ev.IdempotencyKey)
		require.NoError(t, err, "the accepted event, posted again")
		again.ID, again.CreatedAt = ev.ID, ev.CreatedAt
		require.Equal(t, ev, again)
	})
}

// requireInputError checks that err is one the API answers 4xx: a
// *subscriptions.FieldError, or a *subscriptions.Error of kind Malformed or
// TooLarge. A FieldError's Field may be empty: it is the unknown key of
// {"": 1}.
func requireInputError(t *testing.T, err error) {
	t.Helper()
	var fe *subscriptions.FieldError
	var de *subscriptions.Error
	switch {
	case errors.As(err, &fe):
		require.NotEmpty(t, fe.Message, "%v", err)
	case errors.As(err, &de):
		require.Contains(t, []subscriptions.Kind{subscriptions.Malformed, subscriptions.TooLarge}, de.Kind, "%v", err)
		require.NotEmpty(t, de.Code, "%v", err)
	default:
		require.Failf(t, "an untyped error, which the API answers 500", "%T: %v", err, err)
	}
}

// requireAcceptedEvent checks what ParseEvent promises of an event it
// accepts.
func requireAcceptedEvent(t *testing.T, ev dispatcher.Event, key string) {
	t.Helper()
	require.True(t, strings.HasPrefix(ev.ID, "evt_"), ev.ID)
	require.Equal(t, key, ev.IdempotencyKey)
	require.LessOrEqual(t, len(ev.IdempotencyKey), 255)
	require.LessOrEqual(t, len(ev.SourceID), 255)
	require.Equal(t, strings.TrimSpace(ev.SourceID), ev.SourceID)
	_, known := subscriptions.LookupType(ev.Type)
	require.True(t, known, "type %q is in the catalog", ev.Type)
	require.False(t, strings.HasPrefix(ev.Type, "shiphook."), ev.Type)
	require.Equal(t, time.UTC, ev.OccurredAt.Location())
	require.True(t, ev.OccurredAt.Year() >= 1970 && ev.OccurredAt.Year() <= 9999, ev.OccurredAt)
	require.NotEmpty(t, strings.TrimSpace(ev.Shipment.ID))
	require.LessOrEqual(t, len(ev.Shipment.References.List()), 50)
	require.NotNil(t, ev.Parties, "no parties is [], not null")
	require.LessOrEqual(t, len(ev.Parties), 50)
	seen := map[string]bool{}
	for _, p := range ev.Parties {
		require.NotEmpty(t, p.PartnerID)
		require.NotEmpty(t, p.Role)
		require.False(t, seen[p.PartnerID], "partner %s listed twice", p.PartnerID)
		seen[p.PartnerID] = true
	}
	var data map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(ev.Data, &data), "data is a JSON object: %s", ev.Data)
	require.NotNil(t, data, "data is an object, not null")
	normal, err := subscriptions.NormalizeData(ev.Type, ev.Data)
	require.NoError(t, err)
	require.Equal(t, string(ev.Data), string(normal), "data is stored as deliveries carry it")
	require.Equal(t, string(ev.Data), string(subscriptions.DeliveredData(ev.Type, ev.Data)))
	for _, check := range []struct {
		field, value string
		check        func(field, value string) error
	}{
		{"shipment.mode", ev.Shipment.Mode, subscriptions.CheckMode},
		{"shipment.origin", ev.Shipment.Origin, subscriptions.CheckLocode},
		{"shipment.destination", ev.Shipment.Destination, subscriptions.CheckLocode},
		{"shipment.carrier", ev.Shipment.Carrier, subscriptions.CheckCarrier},
	} {
		if check.value != "" {
			require.NoError(t, check.check(check.field, check.value))
		}
	}
	for _, p := range ev.Parties {
		require.NoError(t, subscriptions.CheckRole("role", p.Role))
	}
}

// repost encodes ev as a source system posts it.
func repost(t *testing.T, ev dispatcher.Event) []byte {
	t.Helper()
	in := map[string]any{"type": ev.Type, "occurred_at": ev.OccurredAt.Format(time.RFC3339Nano),
		"shipment": ev.Shipment, "parties": ev.Parties, "data": ev.Data}
	if ev.SourceID != "" {
		in["id"] = ev.SourceID
	}
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	return raw
}
