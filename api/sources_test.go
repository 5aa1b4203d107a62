package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// createSource creates a source as an admin and returns the answer.
func (a testAPI) createSource(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	status, out := a.do(t, "POST", "/v1/sources", adminKey, body)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	return out
}

// bindKey adds an ingest key bound to source id.
func (a testAPI) bindKey(key, id string) {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	a.store.keys[subscriptions.HashKey(key)] = subscriptions.APIKey{ID: "key_" + key, Role: subscriptions.RoleIngest, SourceID: id}
}

func TestSourcesCRUD(t *testing.T) {
	a := newTestAPI(t)
	plain := a.createSource(t, map[string]any{"name": "TMS", "format": "shiphook"})
	id := plain["id"].(string)
	require.True(t, strings.HasPrefix(id, "src_"), id)
	require.NotContains(t, plain, "secret")
	require.NotContains(t, plain, "mapping")

	dcsa := a.createSource(t, map[string]any{"name": "Carrier", "format": "dcsa-tnt-2.2"})
	secret, err := base64.StdEncoding.DecodeString(dcsa["secret"].(string))
	require.NoError(t, err)
	require.Len(t, secret, 32, "a DCSA source is made a secret of 32 random bytes")
	status, got := a.do(t, "GET", "/v1/sources/"+dcsa["id"].(string), adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, got, "secret", "only creation and GET …/secret show the secret")
	status, got = a.do(t, "GET", "/v1/sources/"+dcsa["id"].(string)+"/secret", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, dcsa["secret"], got["secret"])
	status, got = a.do(t, "GET", "/v1/sources/"+id+"/secret", adminKey, nil)
	requireError(t, status, got, http.StatusNotFound, "not_found", "")

	mapped := a.createSource(t, map[string]any{"format": "mapped", "mapping": map[string]any{
		"program": "{id: .msg_id, type: $codes.status[.status]}", "codes": map[string]any{"status": map[string]any{"A": "shipment.milestone.arrived"}},
	}})
	require.Equal(t, "{id: .msg_id, type: $codes.status[.status]}", mapped["mapping"].(map[string]any)["program"])

	status, got = a.do(t, "PATCH", "/v1/sources/"+id, adminKey, map[string]any{"name": "TMS west"})
	require.Equal(t, http.StatusOK, status, "%v", got)
	require.Equal(t, "TMS west", got["name"])
	status, got = a.do(t, "PATCH", "/v1/sources/"+id, adminKey, map[string]any{"format": "mapped"})
	requireError(t, status, got, http.StatusUnprocessableEntity, "invalid_field", "format")
	status, got = a.do(t, "PATCH", "/v1/sources/"+mapped["id"].(string), adminKey, map[string]any{"mapping": map[string]any{"program": "{id: .x"}})
	requireError(t, status, got, http.StatusBadRequest, "invalid_mapping", "mapping.program")

	status, list := a.do(t, "GET", "/v1/sources?limit=2", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, list["data"], 2)
	require.Equal(t, true, list["has_more"])

	status, _ = a.do(t, "DELETE", "/v1/sources/"+id, adminKey, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, got = a.do(t, "GET", "/v1/sources/"+id, adminKey, nil)
	requireError(t, status, got, http.StatusNotFound, "not_found", "")
	status, got = a.do(t, "DELETE", "/v1/sources/"+id, adminKey, nil)
	requireError(t, status, got, http.StatusNotFound, "not_found", "")
}

func TestSourceInputErrors(t *testing.T) {
	a := newTestAPI(t)
	for _, tc := range []struct {
		name        string
		body        any
		status      int
		code, field string
	}{
		{"no format", map[string]any{"name": "x"}, 422, "invalid_field", "format"},
		{"unknown format", map[string]any{"format": "edifact"}, 422, "invalid_field", "format"},
		{"mapped without mapping", map[string]any{"format": "mapped"}, 422, "invalid_field", "mapping"},
		{"mapping syntax error", map[string]any{"format": "mapped", "mapping": map[string]any{"program": "{id: .x"}}, 400, "invalid_mapping", "mapping.program"},
		{"empty program", map[string]any{"format": "mapped", "mapping": map[string]any{"program": " "}}, 422, "invalid_field", "mapping.program"},
		{"mapping on a shiphook source", map[string]any{"format": "shiphook", "mapping": map[string]any{"program": "."}}, 422, "invalid_field", "mapping"},
		{"secret on a shiphook source", map[string]any{"format": "shiphook", "secret": "c2VjcmV0c2VjcmV0c2VjcmV0"}, 422, "invalid_field", "secret"},
		{"secret not base64", map[string]any{"format": "dcsa-tnt-2.2", "secret": "not base64!"}, 422, "invalid_field", "secret"},
		{"unknown field", map[string]any{"format": "shiphook", "colour": "red"}, 422, "invalid_field", "colour"},
		{"id not in the alphabet", map[string]any{"id": "Maersk T&T", "format": "shiphook"}, 422, "invalid_field", "id"},
		{"not JSON", "{", 400, "invalid_json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.do(t, "POST", "/v1/sources", adminKey, tc.body)
			requireError(t, status, body, tc.status, tc.code, tc.field)
		})
	}
	status, body := a.do(t, "POST", "/v1/sources", acmeKey, map[string]any{"format": "shiphook"})
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
	status, body = a.do(t, "POST", "/v1/sources", adminKey, map[string]any{"id": "maersk", "format": "dcsa-tnt-2.2"})
	require.Equal(t, http.StatusCreated, status, "%v", body)
	require.Equal(t, "maersk", body["id"], "the id given is the source's")
	status, body = a.do(t, "POST", "/v1/sources", adminKey, map[string]any{"id": "maersk", "format": "shiphook"})
	require.Equal(t, http.StatusConflict, status, "an id taken: %v", body)
	status, body = a.do(t, "PATCH", "/v1/sources/maersk", adminKey, map[string]any{"id": "msc"})
	requireError(t, status, body, 422, "invalid_field", "id")
	status, body = a.do(t, "GET", "/v1/sources", ingestKey, nil)
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
}

// itemsOf returns the "items" of a POST …/events answer.
func itemsOf(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	raw, ok := body["items"].([]any)
	require.True(t, ok, "%v", body)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

func TestPostShiphookSource(t *testing.T) {
	a := newTestAPI(t)
	id := a.createSource(t, map[string]any{"format": "shiphook"})["id"].(string)
	path := "/v1/sources/" + id + "/events"
	unknownType := milestone("tms-2", "acme")
	unknownType["type"] = "shipment.teleported"
	status, body := a.do(t, "POST", path, ingestKey, []any{milestone("tms-1", "acme"), unknownType, milestone("tms-3", "initech")})
	require.Equal(t, http.StatusOK, status, "%v", body)
	items := itemsOf(t, body)
	require.Len(t, items, 3)

	require.Equal(t, "accepted", items[0]["status"])
	evs := items[0]["events"].([]any)
	require.Len(t, evs, 1)
	evID := evs[0].(map[string]any)["id"].(string)
	require.Equal(t, []string{evID}, a.queue.enqueued(), "the accepted event's fan-out is queued")

	require.Equal(t, "rejected", items[1]["status"])
	require.Equal(t, map[string]any{"code": "invalid_field", "field": "events[0].type",
		"message": `unknown event type "shipment.teleported"; see GET /v1/event-types`}, items[1]["error"])
	require.Empty(t, items[1]["events"])
	require.Equal(t, "rejected", items[2]["status"])
	require.Equal(t, "events[0].parties[0].partner_id", items[2]["error"].(map[string]any)["field"])

	stored := a.store.storedItems()
	require.Len(t, stored, 3, "every item is kept, rejected ones too")
	var original map[string]any
	require.NoError(t, json.Unmarshal(stored[1].Original, &original))
	require.Equal(t, "shipment.teleported", original["type"], "the original is kept as sent")
	require.Len(t, a.store.storedEvents(), 1)

	// The event shows its item, original included, to an admin.
	status, ev := a.do(t, "GET", "/v1/events/"+evID, adminKey, nil)
	require.Equal(t, http.StatusOK, status, "%v", ev)
	item := ev["source_item"].(map[string]any)
	require.Equal(t, items[0]["item_id"], item["id"])
	require.Equal(t, "tms-1", item["original"].(map[string]any)["id"])

	// One object is one item; the same event again is a duplicate.
	status, body = a.do(t, "POST", path, adminKey, milestone("tms-1", "acme"))
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, []any{map[string]any{"id": evID, "duplicate": true}}, itemsOf(t, body)[0]["events"])
	require.Len(t, a.queue.enqueued(), 1, "a duplicate is not fanned out again")
}

func TestSourceItemsAndReplay(t *testing.T) {
	a := newTestAPI(t)
	id := a.createSource(t, map[string]any{"format": "shiphook"})["id"].(string)
	status, body := a.do(t, "POST", "/v1/sources/"+id+"/events", ingestKey, []any{milestone("tms-1", "acme"), milestone("tms-2", "initech")})
	require.Equal(t, http.StatusOK, status, "%v", body)
	rejected := itemsOf(t, body)[1]["item_id"].(string)

	status, list := a.do(t, "GET", "/v1/sources/"+id+"/items?status=rejected", adminKey, nil)
	require.Equal(t, http.StatusOK, status, "%v", list)
	data := list["data"].([]any)
	require.Len(t, data, 1)
	require.Equal(t, rejected, data[0].(map[string]any)["id"])
	require.Equal(t, "tms-2", data[0].(map[string]any)["original"].(map[string]any)["id"])
	status, list = a.do(t, "GET", "/v1/sources/"+id+"/items?limit=1", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, list["has_more"])
	status, list = a.do(t, "GET", "/v1/sources/"+id+"/items?status=lost", adminKey, nil)
	requireError(t, status, list, http.StatusUnprocessableEntity, "invalid_field", "status")
	status, list = a.do(t, "GET", "/v1/sources/src_none/items", adminKey, nil)
	requireError(t, status, list, http.StatusNotFound, "not_found", "")

	// Once the missing partner exists, a replay accepts the item.
	a.store.mu.Lock()
	a.store.partners["initech"] = subscriptions.Partner{ID: "initech", Access: subscriptions.AccessParty}
	a.store.mu.Unlock()
	status, body = a.do(t, "POST", "/v1/sources/"+id+"/items/"+rejected+"/replay", adminKey, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "accepted", body["status"])
	require.Equal(t, rejected, body["item_id"])
	require.Len(t, a.queue.enqueued(), 2)
	status, body = a.do(t, "POST", "/v1/sources/"+id+"/items/"+rejected+"/replay", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, body["events"].([]any)[0].(map[string]any)["duplicate"], "a second replay duplicates nothing")
	require.Len(t, a.queue.enqueued(), 2)
	status, item := a.do(t, "GET", "/v1/sources/"+id+"/items/"+rejected, adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "accepted", item["status"])
	require.NotContains(t, item, "error")

	other := a.createSource(t, map[string]any{"format": "shiphook"})["id"].(string)
	status, body = a.do(t, "POST", "/v1/sources/"+other+"/items/"+rejected+"/replay", adminKey, nil)
	requireError(t, status, body, http.StatusNotFound, "not_found", "")
}

func TestSourceAuth(t *testing.T) {
	a := newTestAPI(t)
	id := a.createSource(t, map[string]any{"format": "shiphook"})["id"].(string)
	other := a.createSource(t, map[string]any{"format": "shiphook"})["id"].(string)
	a.bindKey("shk_bound", id)
	path := "/v1/sources/" + id + "/events"

	status, body := a.do(t, "POST", path, "", milestone("tms-1", "acme"))
	requireError(t, status, body, http.StatusUnauthorized, "unauthorized", "")
	status, body = a.do(t, "POST", path, acmeKey, milestone("tms-1", "acme"))
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
	status, body = a.do(t, "POST", "/v1/sources/"+other+"/events", "shk_bound", milestone("tms-1", "acme"))
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
	status, body = a.do(t, "POST", "/v1/events", "shk_bound", milestone("tms-1", "acme"))
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
	status, body = a.do(t, "POST", "/v1/events/batch", "shk_bound", map[string]any{"events": []any{milestone("tms-1", "acme")}})
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
	status, body = a.do(t, "PUT", "/v1/shipments/SHP-1", "shk_bound", map[string]any{"mode": "ocean"})
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
	require.Empty(t, a.store.storedItems())
	require.Empty(t, a.store.storedEvents())

	status, body = a.do(t, "POST", path, "shk_bound", milestone("tms-1", "acme"))
	require.Equal(t, http.StatusOK, status, "%v", body)
	status, body = a.do(t, "POST", "/v1/sources/src_none/events", ingestKey, milestone("tms-1", "acme"))
	requireError(t, status, body, http.StatusNotFound, "not_found", "")
}

func TestSourceHostileBodies(t *testing.T) {
	a := newTestAPI(t)
	id := a.createSource(t, map[string]any{"format": "shiphook"})["id"].(string)
	path := "/v1/sources/" + id + "/events"
	many := make([]any, 501)
	for i := range many {
		many[i] = map[string]any{}
	}
	for _, tc := range []struct {
		name        string
		body        any
		status      int
		code, field string
	}{
		{"not JSON", "<xml/>", 400, "invalid_json", ""},
		{"a string", `"event"`, 400, "invalid_json", ""},
		{"empty", "", 400, "invalid_json", ""},
		{"empty array", "[]", 422, "invalid_field", "body"},
		{"too many items", many, 422, "invalid_field", "body"},
		{"not UTF-8", "{\"id\": \"\xff\"}", 400, "invalid_body", ""},
		{"huge", `["` + strings.Repeat("x", dispatcher.MaxBatchBody) + `"]`, 413, "body_too_large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.do(t, "POST", path, ingestKey, tc.body)
			requireError(t, status, body, tc.status, tc.code, tc.field)
		})
	}
	require.Empty(t, a.store.storedItems(), "a body that cannot be read stores nothing")

	// Elements that are not events are items of their own, rejected.
	status, body := a.do(t, "POST", path, ingestKey, `[1, "x", {"type": 3}]`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	for _, it := range itemsOf(t, body) {
		require.Equal(t, "rejected", it["status"], "%v", it)
	}
}

// sign returns the Notification-Signature of body under the base64 secret.
func sign(t *testing.T, secret string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(secret)
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// dcsaArrival is a DCSA 2.2 TransportEvent: the vessel arrived (ARRI, ACT).
const dcsaArrival = `[{"eventID": "5e51e72c-d872-11ea-811c-0f8f10a32ea1", "eventType": "TRANSPORT",
  "eventClassifierCode": "ACT", "eventDateTime": "2026-11-26T14:05:00Z", "eventCreatedDateTime": "2026-11-26T14:06:00Z",
  "transportEventTypeCode": "ARRI",
  "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "ABC709951"}],
  "transportCall": {"transportCallID": "123e4567-e89b-12d3-a456-426614174000", "carrierServiceCode": "FE1",
    "exportVoyageNumber": "2103S", "importVoyageNumber": "2103N", "transportCallSequenceNumber": 2,
    "UNLocationCode": "NLRTM", "modeOfTransport": "VESSEL",
    "location": {"UNLocationCode": "NLRTM"},
    "vessel": {"vesselIMONumber": "9321483", "vesselName": "Emma Maersk", "vesselFlag": "DK"}}}]`

// postDCSA posts body, signed under the base64 secret, to a DCSA source's
// path and returns the status and the answer's body.
func postDCSA(t *testing.T, a testAPI, path, secret, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Notification-Signature", sign(t, secret, []byte(body)))
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func TestPostDCSASource(t *testing.T) {
	a := newTestAPI(t)
	src := a.createSource(t, map[string]any{"format": "dcsa-tnt-2.2"})
	path := "/v1/sources/" + src["id"].(string) + "/events"
	post := func(signature string) (int, map[string]any) {
		req := httptest.NewRequest("POST", path, strings.NewReader(dcsaArrival))
		if signature != "" {
			req.Header.Set("Notification-Signature", signature)
		}
		return a.send(t, req)
	}
	forged := sign(t, "c29tZW9uZSBlbHNlJ3Mgc2VjcmV0IGtleQ==", []byte(dcsaArrival))
	for name, sig := range map[string]string{"missing": "", "forged": forged, "not hex": "sha256=zz", "no prefix": strings.TrimPrefix(sign(t, src["secret"].(string), []byte(dcsaArrival)), "sha256=")} {
		status, body := post(sig)
		requireError(t, status, body, http.StatusUnauthorized, "invalid_signature", "")
		require.Empty(t, a.store.storedItems(), name)
	}
	// The signature covers the body: the same signature over another body
	// is refused.
	req := httptest.NewRequest("POST", path, strings.NewReader(dcsaArrival+" "))
	req.Header.Set("Notification-Signature", sign(t, src["secret"].(string), []byte(dcsaArrival)))
	status, body := a.send(t, req)
	requireError(t, status, body, http.StatusUnauthorized, "invalid_signature", "")

	status, raw := postDCSA(t, a, path, src["secret"].(string), dcsaArrival)
	require.Equal(t, http.StatusNoContent, status, "the DCSA callback's answer: %s", raw)
	require.Empty(t, raw)
	stored := a.store.storedItems()
	require.Len(t, stored, 1)
	require.Contains(t, string(stored[0].Original), "5e51e72c-d872-11ea-811c-0f8f10a32ea1", "the DCSA event is kept as sent")

	// An event that cannot be translated is kept with its error, and the
	// notification is answered 204 all the same.
	operations := `[{"eventID": "0f1c6a44-9d3a-4a4e-9f9b-2a9a3f0e2b11", "eventType": "OPERATIONS",
	  "eventClassifierCode": "ACT", "eventDateTime": "2026-11-26T14:05:00Z"}]`
	status, raw = postDCSA(t, a, path, src["secret"].(string), operations)
	require.Equal(t, http.StatusNoContent, status, raw)
	stored = a.store.storedItems()
	require.Len(t, stored, 2)
	require.Equal(t, dispatcher.ItemUnmapped, stored[1].Status)
	require.NotNil(t, stored[1].Error)

	// The callback check: HEAD without a key.
	status, _ = a.do(t, "HEAD", path, "", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = a.do(t, "HEAD", "/v1/sources/src_none/events", "", nil)
	require.Equal(t, http.StatusNotFound, status)
}

func TestTestMapping(t *testing.T) {
	a := newTestAPI(t)
	id := a.createSource(t, map[string]any{"format": "shiphook"})["id"].(string)
	unknownType := milestone("tms-2", "acme")
	unknownType["type"] = "shipment.teleported"
	status, body := a.do(t, "POST", "/v1/sources/"+id+"/mapping/test", adminKey, map[string]any{"payload": []any{milestone("tms-1", "acme"), unknownType}})
	require.Equal(t, http.StatusOK, status, "%v", body)
	items := itemsOf(t, body)
	require.Equal(t, "accepted", items[0]["status"])
	require.Equal(t, "tms-1", items[0]["events"].([]any)[0].(map[string]any)["id"])
	require.Equal(t, "rejected", items[1]["status"])
	require.Equal(t, "events[0].type", items[1]["error"].(map[string]any)["field"])
	require.Empty(t, a.store.storedItems(), "a test stores nothing")
	require.Empty(t, a.store.storedEvents())
	require.Empty(t, a.queue.enqueued())

	status, body = a.do(t, "POST", "/v1/sources/"+id+"/mapping/test", adminKey, map[string]any{"payload": map[string]any{}, "mapping": map[string]any{"program": "."}})
	requireError(t, status, body, http.StatusUnprocessableEntity, "invalid_field", "mapping")
	status, body = a.do(t, "POST", "/v1/sources/"+id+"/mapping/test", adminKey, map[string]any{})
	requireError(t, status, body, http.StatusUnprocessableEntity, "invalid_field", "payload")
	mapped := a.createSource(t, map[string]any{"format": "mapped", "mapping": map[string]any{"program": "."}})["id"].(string)
	status, body = a.do(t, "POST", "/v1/sources/"+mapped+"/mapping/test", adminKey, map[string]any{"payload": map[string]any{}, "mapping": map[string]any{"program": "{"}})
	requireError(t, status, body, http.StatusBadRequest, "invalid_mapping", "mapping.program")
	status, body = a.do(t, "POST", "/v1/sources/"+mapped+"/mapping/test", acmeKey, map[string]any{"payload": map[string]any{}})
	requireError(t, status, body, http.StatusForbidden, "forbidden", "")
}
