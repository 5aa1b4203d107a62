package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

func (f *fakeStore) PutShipment(_ context.Context, s dispatcher.RegisteredShipment) (dispatcher.RegisteredShipment, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shipments == nil {
		f.shipments = map[string]dispatcher.RegisteredShipment{}
	}
	_, had := f.shipments[s.ID]
	f.shipments[s.ID] = s
	return s, !had, nil
}

func (f *fakeStore) Shipment(_ context.Context, id string) (dispatcher.RegisteredShipment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.shipments[id]
	if !ok {
		return s, subscriptions.ErrNotFound
	}
	return s, nil
}

func (f *fakeStore) ShipmentsByReference(_ context.Context, value string) ([]dispatcher.RegisteredShipment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dispatcher.RegisteredShipment
	for _, s := range f.shipments {
		if slices.ContainsFunc(s.References.List(), func(r subscriptions.Reference) bool { return r.Value == value }) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b dispatcher.RegisteredShipment) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeStore) ListEvents(_ context.Context, q dispatcher.EventQuery) ([]dispatcher.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventQueries = append(f.eventQueries, q)
	var out []dispatcher.Event
	for _, e := range f.events {
		if q.Status == "" || e.Status == q.Status {
			out = append(out, e)
		}
	}
	return out, nil
}

var booked = map[string]any{
	"mode": "ocean", "origin": "CNSHA", "destination": "NLRTM", "carrier": "MAEU",
	"parties":    []any{map[string]any{"partner_id": "acme", "role": "shipper"}, map[string]any{"partner_id": "globex", "role": "consignee"}},
	"references": map[string]any{"booking": "BK1", "containers": []any{"APZU4812090"}},
}

func TestPutShipment(t *testing.T) {
	a := newTestAPI(t)
	status, body := a.do(t, "PUT", "/v1/shipments/SHP-1", ingestKey, booked)
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, "SHP-1", body["id"])
	require.Equal(t, map[string]any{"booking": "BK1", "containers": []any{"APZU4812090"}}, body["references"])
	require.Len(t, body["parties"], 2)
	status, _ = a.do(t, "PUT", "/v1/shipments/SHP-1", adminKey, booked)
	require.Equal(t, http.StatusOK, status)

	status, _ = a.do(t, "PUT", "/v1/shipments/SHP-1", acmeKey, booked)
	require.Equal(t, http.StatusForbidden, status, "a partner key does not register shipments")

	for _, tc := range []struct {
		edit         func(map[string]any)
		field, match string
	}{
		{func(b map[string]any) { b["references"] = map[string]any{"po": "1"} }, "references.po", "use booking, bill_of_lading, containers"},
		{func(b map[string]any) { b["references"] = map[string]any{"containers": []any{"APZU4812091"}} }, "references.containers[0]", "ISO 6346 gives 0"},
		{func(b map[string]any) { b["mode"] = "boat" }, "mode", "not a transport mode"},
		{func(b map[string]any) { b["origin"] = "Shanghai" }, "origin", "UN/LOCODE"},
		{func(b map[string]any) { b["parties"] = []any{map[string]any{"partner_id": "acme", "role": "owner"}} }, "parties[0].role", "not a party role"},
		{func(b map[string]any) {
			b["parties"] = []any{map[string]any{"partner_id": "nobody", "role": "shipper"}}
		}, "parties[0].partner_id", "does not exist"},
		{func(b map[string]any) { b["color"] = "red" }, "color", "unknown field"},
	} {
		in := map[string]any{}
		for k, v := range booked {
			in[k] = v
		}
		tc.edit(in)
		status, body := a.do(t, "PUT", "/v1/shipments/SHP-2", adminKey, in)
		require.Equal(t, http.StatusUnprocessableEntity, status, body)
		e := body["error"].(map[string]any)
		require.Equal(t, tc.field, e["field"])
		require.Contains(t, e["message"], tc.match)
	}
	_, err := a.store.Shipment(t.Context(), "SHP-2")
	require.ErrorIs(t, err, subscriptions.ErrNotFound, "nothing stored from a refused PUT")
}

func TestGetShipmentVisibility(t *testing.T) {
	a := newTestAPI(t)
	status, _ := a.do(t, "PUT", "/v1/shipments/SHP-1", adminKey, booked)
	require.Equal(t, http.StatusCreated, status)
	status, _ = a.do(t, "PUT", "/v1/shipments/SHP-OTHER", adminKey, map[string]any{
		"references": map[string]any{"booking": "BK1"}, "parties": []any{map[string]any{"partner_id": "globex", "role": "shipper"}}})
	require.Equal(t, http.StatusCreated, status)

	status, body := a.do(t, "GET", "/v1/shipments/SHP-1", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["parties"], 2)
	status, body = a.do(t, "GET", "/v1/shipments/SHP-1", acmeKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []any{map[string]any{"partner_id": "acme", "role": "shipper"}}, body["parties"], "a partner sees itself as the only party")

	// Not a party: the same 404 as a shipment that does not exist.
	status, notParty := a.do(t, "GET", "/v1/shipments/SHP-OTHER", acmeKey, nil)
	require.Equal(t, http.StatusNotFound, status)
	status, missing := a.do(t, "GET", "/v1/shipments/SHP-404", acmeKey, nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "shipment SHP-OTHER not found", notParty["error"].(map[string]any)["message"])
	require.Equal(t, "shipment SHP-404 not found", missing["error"].(map[string]any)["message"])

	// By reference: the admin finds both with the booking BK1, acme only its own.
	status, body = a.do(t, "GET", "/v1/shipments?reference=BK1", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["data"], 2)
	status, body = a.do(t, "GET", "/v1/shipments?reference=APZU4812090", acmeKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "SHP-1", body["data"].([]any)[0].(map[string]any)["id"])
	status, body = a.do(t, "GET", "/v1/shipments?reference=BK1", acmeKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["data"], 1)
	status, _ = a.do(t, "GET", "/v1/shipments?reference=NOPE", adminKey, nil)
	require.Equal(t, http.StatusNotFound, status)
	status, body = a.do(t, "GET", "/v1/shipments", adminKey, nil)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, "reference", body["error"].(map[string]any)["field"])
}

func TestListUnresolvedEvents(t *testing.T) {
	a := newTestAPI(t)
	status, body := a.do(t, "POST", "/v1/events", ingestKey, map[string]any{
		"type": "shipment.milestone.arrived", "occurred_at": "2026-11-26T14:05:00Z",
		"shipment": map[string]any{"references": map[string]any{"containers": []any{"APZU4812090"}}},
		"data":     map[string]any{"location": map[string]any{"code": "NLRTM"}},
	})
	require.Equal(t, http.StatusAccepted, status, body)
	status, body = a.do(t, "GET", "/v1/events?status=unresolved", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, dispatcher.EventUnresolved, a.store.eventQueries[0].Status)
	ev := body["data"].([]any)[0].(map[string]any)
	require.Equal(t, "unresolved", ev["status"])
	require.Equal(t, map[string]any{"reason": "no_match", "references": map[string]any{"containers": []any{"APZU4812090"}}}, ev["unresolved"])
	status, body = a.do(t, "GET", "/v1/events?status=lost", adminKey, nil)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, "status", body["error"].(map[string]any)["field"])

	status, body = a.do(t, "POST", "/v1/events", ingestKey, map[string]any{
		"type": "shipment.milestone.arrived", "occurred_at": "2026-11-26T14:05:00Z", "shipment": map[string]any{"mode": "ocean"},
		"data": map[string]any{"location": map[string]any{"code": "NLRTM"}},
	})
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, "shipment.id or shipment.references is required", body["error"].(map[string]any)["message"])
}
