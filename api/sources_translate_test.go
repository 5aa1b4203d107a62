package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// testedEvent returns the first event of the first item of a mapping
// test's answer.
func testedEvent(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	items := itemsOf(t, body)
	require.Len(t, items, 1)
	evs := items[0]["events"].([]any)
	require.Len(t, evs, 1, "%v", items[0])
	return evs[0].(map[string]any)
}

func TestMappedSourceTranslates(t *testing.T) {
	a := newTestAPI(t)
	id := a.createSource(t, map[string]any{"format": "mapped", "mapping": map[string]any{
		"program": "{id: .msg_id, type: $codes.status[.status], occurred_at: .ts, shipment: {references: {purchase_orders: [.order]}}, data: {}}",
		"codes":   map[string]any{"status": map[string]any{"DLV": "shipment.milestone.delivered"}},
	}})["id"].(string)
	payload := map[string]any{"msg_id": "wms-77", "status": "DLV", "ts": "2026-11-26T14:05:00Z", "order": "PO-4711"}
	status, body := a.do(t, "POST", "/v1/sources/"+id+"/mapping/test", adminKey, map[string]any{"payload": payload})
	require.Equal(t, http.StatusOK, status, "%v", body)
	ev := testedEvent(t, body)
	want := `{"id": "wms-77", "type": "shipment.milestone.delivered", "occurred_at": "2026-11-26T14:05:00Z",
		"shipment": {"references": {"purchase_orders": ["PO-4711"]}}, "data": {}}`
	got, err := json.Marshal(ev)
	require.NoError(t, err)
	require.JSONEq(t, want, string(got))
	require.Empty(t, a.store.storedItems(), "a test stores nothing")
}

func TestDCSASourceTranslates(t *testing.T) {
	a := newTestAPI(t)
	id := a.createSource(t, map[string]any{"format": "dcsa-tnt-2.2"})["id"].(string)
	status, body := a.do(t, "POST", "/v1/sources/"+id+"/mapping/test", adminKey, `{"payload": `+dcsaArrival+`}`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	ev := testedEvent(t, body)
	require.Equal(t, "dcsa:5e51e72c-d872-11ea-811c-0f8f10a32ea1", ev["id"], "the DCSA eventID, prefixed, is the event's id")
	require.Equal(t, "ABC709951", ev["shipment"].(map[string]any)["references"].(map[string]any)["booking"])
}
