package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// milestone returns a valid posted event with source id id, naming partners.
func milestone(id string, partners ...string) map[string]any {
	parties := []map[string]any{}
	for _, p := range partners {
		parties = append(parties, map[string]any{"partner_id": p, "role": "consignee"})
	}
	return map[string]any{
		"id": id, "type": "shipment.milestone.departed", "occurred_at": "2026-11-26T14:05:00Z",
		"shipment": map[string]any{"id": "SHP-4711", "mode": "ocean", "origin": "CNSHA", "destination": "NLRTM"},
		"parties":  parties,
		"data":     map[string]any{"location": map[string]any{"code": "CNSHA", "name": "Shanghai"}, "vessel": "MSC OSCAR"},
	}
}

func TestPostEvent(t *testing.T) {
	a := newTestAPI(t)
	status, first := a.do(t, "POST", "/v1/events", ingestKey, milestone("tms-1", "acme"))
	require.Equal(t, http.StatusAccepted, status, "%v", first)
	require.True(t, strings.HasPrefix(first["id"].(string), "evt_"), "%v", first)
	require.Equal(t, false, first["duplicate"])
	require.Equal(t, []string{first["id"].(string)}, a.queue.enqueued(), "its fan-out is queued")

	status, again := a.do(t, "POST", "/v1/events", ingestKey, milestone("tms-1", "acme"))
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, map[string]any{"id": first["id"], "duplicate": true}, again, "a duplicate answers the first event's id")
	require.Len(t, a.queue.enqueued(), 1, "a duplicate is not fanned out again")

	status, body := a.do(t, "POST", "/v1/events", ingestKey, milestone("tms-2", "initech"))
	require.Equal(t, http.StatusUnprocessableEntity, status)
	e := errorOf(t, body)
	require.Equal(t, "parties[0].partner_id", e["field"])
	require.Equal(t, "partner initech does not exist; create it with POST /v1/partners", e["message"])

	status, _ = a.do(t, "POST", "/v1/events", acmeKey, milestone("tms-3"))
	require.Equal(t, http.StatusForbidden, status, "a partner key does not post events")
}

func TestPostBatch(t *testing.T) {
	a := newTestAPI(t)
	unknownType := milestone("tms-b2", "acme")
	unknownType["type"] = "shipment.teleported"
	status, body := a.do(t, "POST", "/v1/events/batch", ingestKey, map[string]any{"events": []any{
		milestone("tms-b1", "acme"), unknownType, milestone("tms-b3", "initech"), milestone("tms-b1", "acme"),
	}})
	require.Equal(t, http.StatusOK, status, "%v", body)
	items := body["data"].([]any)
	require.Len(t, items, 4)
	item := func(i int) map[string]any { return items[i].(map[string]any) }

	require.Equal(t, float64(0), item(0)["index"])
	require.Equal(t, float64(http.StatusAccepted), item(0)["status"])
	require.NotContains(t, item(0), "error")
	stored := item(0)["id"]

	require.Equal(t, float64(1), item(1)["index"])
	require.Equal(t, float64(http.StatusUnprocessableEntity), item(1)["status"])
	require.NotContains(t, item(1), "id")
	require.Equal(t, map[string]any{"code": "invalid_field", "field": "events[1].type",
		"message": `unknown event type "shipment.teleported"; see GET /v1/event-types`}, item(1)["error"])

	require.Equal(t, float64(http.StatusUnprocessableEntity), item(2)["status"])
	require.Equal(t, "events[2].parties[0].partner_id", item(2)["error"].(map[string]any)["field"])

	require.Equal(t, float64(http.StatusAccepted), item(3)["status"])
	require.Equal(t, stored, item(3)["id"], "the same source id twice in a batch is one event")
	require.Equal(t, true, item(3)["duplicate"])
	require.Equal(t, []string{stored.(string)}, a.queue.enqueued())

	status, body = a.do(t, "POST", "/v1/events/batch", ingestKey, map[string]any{"events": []any{}})
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, "events", errorOf(t, body)["field"])
}

// TestPostEventHostileValues posts amounts, places and vocabulary values
// that no event may carry: each is a 422 invalid_field naming the field,
// never a 5xx, and nothing is queued.
func TestPostEventHostileValues(t *testing.T) {
	a := newTestAPI(t)
	invoice := func(amount string) string {
		return `{"type":"shipment.invoice.issued","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"SHP-1"},` +
			`"parties":[{"partner_id":"acme","role":"consignee"}],` +
			`"data":{"invoice_number":"INV-1","amount":` + amount + `,"currency":"EUR"}}`
	}
	withShipment := func(k, v string) map[string]any {
		ev := milestone("", "acme")
		ev["shipment"].(map[string]any)[k] = v
		return ev
	}
	withRole := milestone("", "acme")
	withRole["parties"] = []map[string]any{{"partner_id": "acme", "role": "boss"}}
	withPlace := milestone("", "acme")
	withPlace["data"] = map[string]any{"location": "Rotterdam"}
	tests := []struct {
		name    string
		body    any
		field   string
		message string
	}{
		{"an object for an amount", invoice(`{"x":1}`), "data.amount", "must be a decimal"},
		{"an amount past any float", invoice(`1e400`), "data.amount", "1e400 has 401 digits written out; at most 28 are allowed"},
		{"an exponent past any bound", invoice(`-9e9999999999999999999`), "data.amount", "has too many digits written out"},
		{"too many digits", invoice(`"123456789012345678901234567890"`), "data.amount", "has 30 digits; at most 28 are allowed"},
		{"an amount in words", invoice(`"twelve"`), "data.amount", `"twelve" is not a decimal number`},
		{"an array for an amount", invoice(`[1,2]`), "data.amount", "not an array"},
		{"a boat", withShipment("mode", "boat"), "shipment.mode", "use one of ocean, air, road, rail, barge, courier, multimodal"},
		{"a boss", withRole, "parties[0].role", "use one of shipper, consignee"},
		{"a port by name", withShipment("origin", "Rotterdam"), "shipment.origin", "is not a UN/LOCODE"},
		{"a carrier by name", withShipment("carrier", "Maersk Line"), "shipment.carrier", "is not a carrier code"},
		{"a place by name", withPlace, "data.location", "is not a UN/LOCODE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.do(t, "POST", "/v1/events", ingestKey, tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
			e := errorOf(t, body)
			require.Equal(t, "invalid_field", e["code"])
			require.Equal(t, tt.field, e["field"], e["message"])
			require.Contains(t, e["message"], tt.message)
		})
	}
	require.Empty(t, a.queue.enqueued())
}
