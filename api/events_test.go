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
