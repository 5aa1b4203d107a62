package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRegistryEndToEnd registers a shipment, posts events that name it by
// a reference alone, and checks what real receivers get, on PostgreSQL
// and on SQLite: each party gets the event with its own role, an event
// whose reference matches nothing is kept unresolved (listed, delivered
// to the partner with access to all only) and reaches the parties once a
// shipment with that reference is registered, without a second delivery
// to the partner that had it.
func TestRegistryEndToEnd(t *testing.T) {
	onBothDatabases(t, checkRegistry)
}

// byEvent returns the deliveries at path of the event with id.
func byEvent(rcv *receiver, path, id string) []delivery {
	var out []delivery
	for _, d := range rcv.byPath(path) {
		if d.Data["event_id"] == id {
			out = append(out, d)
		}
	}
	return out
}

func checkRegistry(t *testing.T, env map[string]string) {
	t.Helper()
	s := startServer(t, "serve", env)
	createPartners(t, s, "acme", "globex")
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "erp", "access": "all"}, nil))
	rcv := newReceiver(t)
	for _, p := range []string{"acme", "globex", "erp"} {
		createEndpoint(t, s, rcv, adminKey, p, "/"+p, map[string]any{})
	}
	require.Equal(t, http.StatusCreated, call(t, "PUT", s.URL+"/v1/shipments/SHP-R1", adminKey, map[string]any{
		"mode": "ocean", "origin": "CNSHA", "destination": "NLRTM", "references": map[string]any{"booking": "BK-E2E-1"},
		"parties": []any{map[string]any{"partner_id": "acme", "role": "shipper"}, map[string]any{"partner_id": "globex", "role": "consignee"}},
	}, nil))

	arrived := func(refs map[string]any) map[string]any {
		return map[string]any{"type": "shipment.milestone.arrived", "occurred_at": "2026-11-26T14:05:00Z",
			"shipment": map[string]any{"references": refs}, "data": map[string]any{"location": "NLRTM"}}
	}
	var acc struct{ ID string }
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, arrived(map[string]any{"booking": "BK-E2E-1"}), &acc))
	for path, role := range map[string]string{"/acme": "shipper", "/globex": "consignee"} {
		require.Eventually(t, func() bool { return len(byEvent(rcv, path, acc.ID)) == 1 }, 10*time.Second, 20*time.Millisecond, path)
		d := byEvent(rcv, path, acc.ID)[0]
		require.Equal(t, role, d.Data["role"], path)
		require.Equal(t, "SHP-R1", d.Data["shipment"].(map[string]any)["id"])
		require.Equal(t, "ocean", d.Data["shipment"].(map[string]any)["mode"], "the registered attributes apply")
	}

	// An unknown container: unresolved, to erp alone, and listed.
	var lost struct{ ID string }
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, arrived(map[string]any{"containers": []string{"CSQU3054383"}}), &lost))
	require.Eventually(t, func() bool { return len(byEvent(rcv, "/erp", lost.ID)) == 1 }, 10*time.Second, 20*time.Millisecond)
	var unresolved listOut[map[string]any]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events?status=unresolved", adminKey, nil, &unresolved))
	require.Len(t, unresolved.Data, 1)
	require.Equal(t, lost.ID, unresolved.Data[0]["id"])
	require.Equal(t, "unresolved", unresolved.Data[0]["status"])
	require.Equal(t, map[string]any{"reason": "no_match", "references": map[string]any{"containers": []any{"CSQU3054383"}}},
		unresolved.Data[0]["unresolved"])
	require.Empty(t, byEvent(rcv, "/acme", lost.ID))
	require.Empty(t, byEvent(rcv, "/globex", lost.ID))

	// Registered: the parties get it within the reconciler's interval.
	require.Equal(t, http.StatusCreated, call(t, "PUT", s.URL+"/v1/shipments/SHP-R2", adminKey, map[string]any{
		"mode": "ocean", "references": map[string]any{"containers": []string{"CSQU3054383"}},
		"parties": []any{map[string]any{"partner_id": "acme", "role": "consignee"}, map[string]any{"partner_id": "globex", "role": "shipper"}},
	}, nil))
	for path, role := range map[string]string{"/acme": "consignee", "/globex": "shipper"} {
		require.Eventually(t, func() bool { return len(byEvent(rcv, path, lost.ID)) == 1 }, 10*time.Second, 20*time.Millisecond, path)
		d := byEvent(rcv, path, lost.ID)[0]
		require.Equal(t, role, d.Data["role"], path)
		require.Equal(t, "SHP-R2", d.Data["shipment"].(map[string]any)["id"])
	}
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events?status=unresolved", adminKey, nil, &unresolved))
	require.Empty(t, unresolved.Data)
	// A few more reconciler passes: still one delivery each.
	time.Sleep(time.Second)
	for _, path := range []string{"/acme", "/globex", "/erp"} {
		require.Len(t, byEvent(rcv, path, lost.ID), 1, path)
	}
	var got map[string]any
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events/"+lost.ID, adminKey, nil, &got))
	require.Equal(t, "resolved", got["status"])
	require.Equal(t, "SHP-R2", got["shipment"].(map[string]any)["id"])

	// The shipment's timeline holds the event, with its three deliveries.
	var timeline struct {
		Events []struct {
			ID         string           `json:"id"`
			Status     string           `json:"status"`
			Deliveries []map[string]any `json:"deliveries"`
		} `json:"events"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/shipments/SHP-R2/timeline", adminKey, nil, &timeline))
	require.Len(t, timeline.Events, 1)
	require.Equal(t, lost.ID, timeline.Events[0].ID)
	require.Equal(t, "resolved", timeline.Events[0].Status)
	require.Len(t, timeline.Events[0].Deliveries, 3)
	var msgs listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages?shipment_id=SHP-R2", adminKey, nil, &msgs))
	require.Len(t, msgs.Data, 3, "erp's message, made while the event was unresolved, is of the shipment too")
}
