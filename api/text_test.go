package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// postedEvent is a valid event as posted, with old replaced by new.
func postedEvent(old, new string) string {
	const event = `{"id":"tms-1","type":"shipment.milestone.departed","occurred_at":"2026-11-26T14:05:00Z",` +
		`"shipment":{"id":"SHP-1"},"parties":[{"partner_id":"acme","role":"consignee"}],"data":{"location":{"code":"CNSHA"},"note":"ok"}}`
	return strings.Replace(event, old, new, 1)
}

// TestTextNoStoreCanKeep sends NUL and invalid UTF-8 wherever a string is
// stored or looked up: each is answered 4xx naming the input, before any
// store is asked.
func TestTextNoStoreCanKeep(t *testing.T) {
	a := newTestAPI(t)
	for _, tc := range []struct {
		name, method, path, key, idempotencyKey, body string
		status                                        int
		code, field                                   string
	}{
		{"NUL in an event's id", "POST", "/v1/events", ingestKey, "", postedEvent(`"tms-1"`, `"tms-\u0000"`), 422, "invalid_field", "id"},
		{"NUL in shipment.id", "POST", "/v1/events", ingestKey, "", postedEvent(`"SHP-1"`, `"SHP\u0000"`), 422, "invalid_field", "shipment.id"},
		{"NUL in a party", "POST", "/v1/events", ingestKey, "", postedEvent(`"acme"`, `"acme\u0000"`), 422, "invalid_field", "parties[0].partner_id"},
		{"NUL in data", "POST", "/v1/events", ingestKey, "", postedEvent(`"ok"`, `"o\u0000k"`), 422, "invalid_field", "data.note"},
		{"NUL deep in data", "POST", "/v1/events", ingestKey, "", postedEvent(`"ok"`, `[{"a":"\\\u0000"}]`), 422, "invalid_field", "data.note[0].a"},
		{"NUL in a key of data", "POST", "/v1/events", ingestKey, "", postedEvent(`"note"`, `"no\u0000te"`), 422, "invalid_field", "data.no\x00te"},
		{"invalid UTF-8 in an event's id", "POST", "/v1/events", ingestKey, "", postedEvent(`"tms-1"`, "\"tms-\xff\""), 422, "invalid_field", "id"},
		{"invalid UTF-8 in data", "POST", "/v1/events", ingestKey, "", postedEvent(`"ok"`, "\"o\xc3k\""), 422, "invalid_field", "data.note"},
		{"a raw NUL byte in a string", "POST", "/v1/events", ingestKey, "", postedEvent(`"ok"`, "\"o\x00k\""), 400, "invalid_json", ""},
		{"a raw NUL byte outside strings", "POST", "/v1/events", ingestKey, "", "\x00" + postedEvent("", ""), 400, "invalid_json", ""},
		{"invalid UTF-8 outside strings", "POST", "/v1/events", ingestKey, "", postedEvent("", "") + "\xff", 400, "invalid_json", ""},
		{"invalid UTF-8 Idempotency-Key", "POST", "/v1/events", ingestKey, "key-\xff", postedEvent("", ""), 422, "invalid_field", "Idempotency-Key"},
		{"NUL in a partner name", "POST", "/v1/partners", adminKey, "", `{"name":"Ac\u0000me"}`, 422, "invalid_field", "name"},
		{"invalid UTF-8 in a partner name", "PATCH", "/v1/partners/acme", adminKey, "", "{\"name\":\"Ac\xffme\"}", 422, "invalid_field", "name"},
		{"NUL in an endpoint description", "POST", "/v1/partners/acme/endpoints", adminKey, "", `{"url":"https://example.com/hook","description":"\u0000"}`, 422, "invalid_field", "description"},
		{"NUL in an API key name", "POST", "/v1/api-keys", adminKey, "", `{"name":"ci\u0000","role":"admin"}`, 422, "invalid_field", "name"},
		{"%ff in a message id", "GET", "/v1/messages/%ff", adminKey, "", "", 422, "invalid_field", "message_id"},
		{"%00 in a message id", "GET", "/v1/messages/msg%00/attempts", acmeKey, "", "", 422, "invalid_field", "message_id"},
		{"%ff in a shipment id", "GET", "/v1/shipments/%ff/timeline", acmeKey, "", "", 422, "invalid_field", "shipment_id"},
		{"%00 in a partner id", "GET", "/v1/partners/%00", adminKey, "", "", 422, "invalid_field", "partner_id"},
		{"%00 in an endpoint id", "GET", "/v1/partners/acme/endpoints/ep%00", acmeKey, "", "", 422, "invalid_field", "endpoint_id"},
		{"%ff in an event id", "GET", "/v1/events/%ff", adminKey, "", "", 422, "invalid_field", "event_id"},
		{"%00 in a cursor", "GET", "/v1/partners?cursor=%00", adminKey, "", "", 422, "invalid_field", "cursor"},
		{"%ff in ?type=", "GET", "/v1/events?type=%ff", adminKey, "", "", 422, "invalid_field", "type"},
		{"%00 in ?shipment_id=", "GET", "/v1/events?shipment_id=%00", adminKey, "", "", 422, "invalid_field", "shipment_id"},
		{"%ff in ?endpoint_id=", "GET", "/v1/messages?endpoint_id=%ff", adminKey, "", "", 422, "invalid_field", "endpoint_id"},
		{"%00 in ?partner_id=", "GET", "/v1/messages?partner_id=%00", adminKey, "", "", 422, "invalid_field", "partner_id"},
		{"%ff in ?event_type=", "GET", "/v1/partners/acme/messages?event_type=%ff", acmeKey, "", "", 422, "invalid_field", "event_type"},
		{"%00 in ?message_id=", "GET", "/v1/attempts?message_id=%00", adminKey, "", "", 422, "invalid_field", "message_id"},
		{"the second of a repeated parameter", "GET", "/v1/messages?status=failed&status=%ff", adminKey, "", "", 422, "invalid_field", "status"},
		{"a path id before a filter", "GET", "/v1/partners/%ff/messages?shipment_id=%00", adminKey, "", "", 422, "invalid_field", "partner_id"},
		{"authentication first", "GET", "/v1/messages/%ff", "", "", "", 401, "unauthorized", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			if tc.idempotencyKey != "" {
				req.Header.Set("Idempotency-Key", tc.idempotencyKey)
			}
			status, body := a.send(t, req)
			requireError(t, status, body, tc.status, tc.code, tc.field)
		})
	}
	require.Empty(t, a.store.events, "no event was stored")
	require.Empty(t, a.store.queries, "no list was asked of the store")
}

// TestEscapedBackslashIsText checks that "\\u0000", a backslash followed by
// "u0000", is storable text and kept as posted.
func TestEscapedBackslashIsText(t *testing.T) {
	a := newTestAPI(t)
	status, body := a.send(t, ingestRequest("/v1/events", postedEvent(`"ok"`, `"C:\\u0000"`)))
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	require.Len(t, a.store.events, 1)
	require.JSONEq(t, `{"location":{"code":"CNSHA"},"note":"C:\\u0000"}`, string(a.store.events[0].Data))
}

// TestBatchRefusesTextPerEvent checks that an event of a batch holding text
// no store can keep fails alone, its field named from the batch.
func TestBatchRefusesTextPerEvent(t *testing.T) {
	a := newTestAPI(t)
	batch := `{"events":[` + postedEvent("", "") + `,` + postedEvent(`"ok"`, `"\u0000"`) + `,` + postedEvent(`"tms-1"`, "\"tms-\xff\"") + `]}`
	status, body := a.send(t, ingestRequest("/v1/events/batch", batch))
	require.Equal(t, http.StatusOK, status, "%v", body)
	items := body["data"].([]any)
	require.Len(t, items, 3)
	require.Equal(t, float64(http.StatusAccepted), items[0].(map[string]any)["status"])
	for i, field := range map[int]string{1: "events[1].data.note", 2: "events[2].id"} {
		item := items[i].(map[string]any)
		require.Equal(t, float64(http.StatusUnprocessableEntity), item["status"], "%v", item)
		require.Equal(t, field, item["error"].(map[string]any)["field"])
	}
	require.Len(t, a.store.events, 1, "the good event is stored")
}

// ingestRequest is a POST of body to path with the ingest key.
func ingestRequest(path, body string) *http.Request {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ingestKey)
	return req
}
