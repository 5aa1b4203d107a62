package dispatcher

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// postedEvent is a valid event as posted, changed by edit (on its decoded
// form), then encoded again; data is given raw.
func postedEvent(t *testing.T, typ, data string, edit func(ev map[string]any)) []byte {
	t.Helper()
	ev := map[string]any{
		"type": typ, "occurred_at": "2026-11-26T14:05:00Z",
		"shipment": map[string]any{"id": "SHP-1", "mode": "ocean", "origin": "CNSHA", "destination": "NLRTM", "carrier": "MAEU"},
		"parties":  []any{map[string]any{"partner_id": "acme", "role": "shipper"}, map[string]any{"partner_id": "globex", "role": "consignee"}},
		"data":     json.RawMessage(data),
	}
	if edit != nil {
		edit(ev)
	}
	raw, err := json.Marshal(ev)
	require.NoError(t, err)
	return raw
}

func shipmentField(k string, v any) func(ev map[string]any) {
	return func(ev map[string]any) { ev["shipment"].(map[string]any)[k] = v }
}

func role(i int, r any) func(ev map[string]any) {
	return func(ev map[string]any) { ev["parties"].([]any)[i].(map[string]any)["role"] = r }
}

// TestParseEventVocabularies checks each standard vocabulary with a value
// it accepts and one it refuses, naming the field and what is accepted.
func TestParseEventVocabularies(t *testing.T) {
	const data = `{"location":{"code":"NLRTM"}}`
	accepted := map[string]func(ev map[string]any){
		"every mode listed":       func(ev map[string]any) {},
		"no mode":                 func(ev map[string]any) { delete(ev["shipment"].(map[string]any), "mode") },
		"courier":                 shipmentField("mode", "courier"),
		"multimodal":              shipmentField("mode", "multimodal"),
		"notify_party":            role(1, "notify_party"),
		"customs_broker":          role(0, "customs_broker"),
		"a UN/LOCODE with digits": shipmentField("origin", "US2AB"),
		"an IATA carrier":         shipmentField("carrier", "5X"),
		"a 2-letter SCAC or IATA": shipmentField("carrier", "LH"),
		"no carrier":              func(ev map[string]any) { delete(ev["shipment"].(map[string]any), "carrier") },
	}
	for name, edit := range accepted {
		t.Run(name, func(t *testing.T) {
			_, err := ParseEvent(postedEvent(t, "shipment.milestone.arrived", data, edit), "")
			require.NoError(t, err)
		})
	}
	for _, m := range subscriptions.Modes {
		_, err := ParseEvent(postedEvent(t, "shipment.milestone.arrived", data, shipmentField("mode", m)), "")
		require.NoError(t, err, m)
	}
	for _, r := range subscriptions.Roles {
		_, err := ParseEvent(postedEvent(t, "shipment.milestone.arrived", data, role(0, r)), "")
		require.NoError(t, err, r)
	}

	refused := []struct {
		name    string
		edit    func(ev map[string]any)
		field   string
		message string
	}{
		{"a boat", shipmentField("mode", "boat"), "shipment.mode", `"boat" is not a transport mode; use one of ocean, air, road, rail, barge, courier, multimodal`},
		{"a mode in capitals", shipmentField("mode", "OCEAN"), "shipment.mode", "use one of ocean"},
		{"a boss", role(1, "boss"), "parties[1].role", `"boss" is not a party role; use one of shipper, consignee, notify_party, forwarder, carrier, customs_broker, agent, buyer, seller`},
		{"no role", role(0, ""), "parties[0].role", "is required; use one of shipper"},
		{"a port's name", shipmentField("origin", "Shanghai"), "shipment.origin", `"Shanghai" is not a UN/LOCODE: the two capital letters of the country and three capital letters or digits 2-9, such as NLRTM`},
		{"a UN/LOCODE in lower case", shipmentField("destination", "nlrtm"), "shipment.destination", "is not a UN/LOCODE"},
		{"a 1 in a UN/LOCODE", shipmentField("destination", "NLRT1"), "shipment.destination", "is not a UN/LOCODE"},
		{"a carrier's name", shipmentField("carrier", "Maersk"), "shipment.carrier", `"Maersk" is not a carrier code: the SCAC (2 to 4 capital letters, such as MAEU) or the IATA airline designator (2 capital letters or digits, such as LH or 5X)`},
		{"a SCAC with a digit", shipmentField("carrier", "MA3U"), "shipment.carrier", "is not a carrier code"},
		{"a long value", shipmentField("carrier", strings.Repeat("M", 300)), "shipment.carrier", "...\" is not a carrier code"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEvent(postedEvent(t, "shipment.milestone.arrived", data, tt.edit), "")
			var fe *subscriptions.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field, fe.Message)
			require.Contains(t, fe.Message, tt.message)
		})
	}
}

// TestParseEventKeepsDecimals checks that amounts are stored as decimal
// strings with their digits as posted, and places given by their code as
// objects.
func TestParseEventKeepsDecimals(t *testing.T) {
	ev, err := ParseEvent(postedEvent(t, "shipment.invoice.issued", `{"invoice_number": "INV-1", "amount": 12345678901234567.891, "currency": "EUR"}`, nil), "")
	require.NoError(t, err)
	require.Equal(t, `{"invoice_number":"INV-1","amount":"12345678901234567.891","currency":"EUR"}`, string(ev.Data))

	ev, err = ParseEvent(postedEvent(t, "shipment.milestone.departed", `{"location": "CNSHA", "vessel": "MSC OSCAR"}`, nil), "")
	require.NoError(t, err)
	require.Equal(t, `{"location":{"code":"CNSHA"},"vessel":"MSC OSCAR"}`, string(ev.Data))

	_, err = ParseEvent(postedEvent(t, "shipment.invoice.issued", `{"invoice_number": "INV-1", "amount": 1e400, "currency": "EUR"}`, nil), "")
	var fe *subscriptions.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "data.amount", fe.Field)
	require.Contains(t, fe.Message, "1e400 has 401 digits written out; at most 28 are allowed")
}

// TestPayloadDecimals checks that a delivery carries amounts as decimal
// strings, for events stored as ingest now stores them and for events
// stored earlier with amounts as JSON numbers.
func TestPayloadDecimals(t *testing.T) {
	ev := Event{ID: "evt_1", Type: "shipment.invoice.issued", OccurredAt: time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC),
		Shipment: Shipment{ID: "SHP-1"}}
	for stored, delivered := range map[string]string{
		`{"invoice_number":"INV-1","amount":"2452.37","currency":"EUR"}`:               `"amount":"2452.37"`,
		`{"invoice_number":"INV-1","amount":2452.37,"currency":"EUR"}`:                 `"amount":"2452.37"`,
		`{"invoice_number":"INV-1","amount":0.30000000000000004,"currency":"EUR"}`:     `"amount":"0.30000000000000004"`,
		`{"invoice_number":"INV-1","amount":"12345678901234567.891","currency":"EUR"}`: `"amount":"12345678901234567.891"`,
	} {
		ev.Data = json.RawMessage(stored)
		body, err := payload(ev, Message{})
		require.NoError(t, err)
		require.Contains(t, string(body), delivered, stored)
		require.True(t, json.Valid(body))
	}
}

func BenchmarkPayloadInvoice(b *testing.B) {
	ev := Event{ID: "evt_1", Type: "shipment.invoice.issued", OccurredAt: time.Now(), Shipment: Shipment{ID: "SHP-1", Mode: "ocean"},
		Data: json.RawMessage(`{"invoice_number":"INV-2026-004812","amount":"2452.37","currency":"EUR","due_date":"2026-12-31"}`)}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = payload(ev, Message{PartnerID: "acme"})
	}
}
