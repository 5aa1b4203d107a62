package main

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHubEndToEnd runs the hub's inbound path on the real server, on
// PostgreSQL and Redis and on SQLite and the in-process Redis, with real
// receivers that verify every signature: a shipment registered with its references and
// two parties; a carrier's DCSA notification, naming only the booking and
// the container, delivered to each party with its own role; a forged
// notification refused with nothing stored; a DCSA event for a container
// not registered kept unresolved until a shipment with it is; and a WMS's
// own JSON through a mapped source, its unknown code kept unmapped until
// the code table has it and the item is replayed.
func TestHubEndToEnd(t *testing.T) {
	onBothDatabases(t, checkHub)
}

// hub is a server with a registered shipment and its two parties'
// endpoints at a receiver; erp, a partner with access to all, hears every
// event, so that its delivery tells that the parties would have had theirs.
type hub struct {
	s   *server
	rcv *receiver
}

// parties are the paths of the parties' endpoints and their roles on the
// shipment SHP-H1.
var parties = map[string]string{"/acme": "shipper", "/globex": "consignee"}

func checkHub(t *testing.T, env map[string]string) {
	t.Helper()
	start := time.Now()
	h := &hub{s: startServer(t, "serve", env), rcv: newReceiver(t)}
	createPartners(t, h.s, "acme", "globex")
	require.Equal(t, http.StatusCreated, call(t, "POST", h.s.URL+"/v1/partners", adminKey, map[string]any{"id": "erp", "access": "all"}, nil))
	for _, p := range []string{"acme", "globex", "erp"} {
		createEndpoint(t, h.s, h.rcv, adminKey, p, "/"+p, map[string]any{"event_types": []string{"shipment.*"}})
	}
	require.Equal(t, http.StatusCreated, call(t, "PUT", h.s.URL+"/v1/shipments/SHP-H1", adminKey, map[string]any{
		"mode": "ocean", "origin": "CNSHA", "destination": "NLRTM",
		"references": map[string]any{"booking": "BK-HUB-1", "containers": []string{"APZU4812090"}, "purchase_orders": []string{"PO-4711"}},
		"parties":    []any{map[string]any{"partner_id": "acme", "role": "shipper"}, map[string]any{"partner_id": "globex", "role": "consignee"}},
	}, nil))

	carrier := h.createSource(t, map[string]any{"name": "Carrier", "format": "dcsa-tnt-2.2"})
	h.checkDCSANotification(t, carrier)
	h.checkForgedNotification(t, carrier)
	h.checkUnknownContainer(t, carrier)
	h.checkMappedSource(t)
	require.Empty(t, h.rcv.invalidSignatures(), "every delivery verified")
	t.Logf("hub end to end: %s", time.Since(start).Round(time.Millisecond))
}

// source is a source as created: its id and, for a DCSA source, secret.
type source struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

func (h *hub) createSource(t *testing.T, spec map[string]any) source {
	t.Helper()
	var src source
	require.Equal(t, http.StatusCreated, call(t, "POST", h.s.URL+"/v1/sources", adminKey, spec, &src))
	return src
}

// items returns the source's items, newest first, of status if it is not
// empty.
func (h *hub) items(t *testing.T, src source, status string) []sourceItemError {
	t.Helper()
	var out listOut[sourceItemError]
	url := h.s.URL + "/v1/sources/" + src.ID + "/items"
	if status != "" {
		url += "?status=" + status
	}
	require.Equal(t, http.StatusOK, call(t, "GET", url, adminKey, nil, &out))
	return out.Data
}

// sourceItemError is an item as listed, with its error.
type sourceItemError struct {
	sourceItemOut
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// notify posts the DCSA notification body to the source, signed with its
// secret, and returns the status.
func (h *hub) notify(t *testing.T, src source, secret, body string) int {
	t.Helper()
	return postSigned(t, h.s.URL+"/v1/sources/"+src.ID+"/events", dcsaSignature(secret, []byte(body)), body)
}

// awaitParties waits until each party's endpoint has the event with id,
// once, and checks that it shows the party its own role on shipment, as
// role gives it by path, and has type typ.
func (h *hub) awaitParties(t *testing.T, id, typ, shipment string, role map[string]string) {
	t.Helper()
	for path, r := range role {
		require.Eventually(t, func() bool { return len(byEvent(h.rcv, path, id)) > 0 }, 10*time.Second, 20*time.Millisecond,
			"%s gets %s (%s)", path, id, typ)
		got := byEvent(h.rcv, path, id)
		require.Len(t, got, 1, path)
		require.Equal(t, typ, got[0].Type, path)
		require.Equal(t, r, got[0].Data["role"], path)
		require.Equal(t, shipment, got[0].Data["shipment"].(map[string]any)["id"], path)
	}
}

// checkDCSANotification: a carrier's notification of three events, naming
// the booking or the container only, is answered 204, and each party gets
// the three canonical events with its own role.
func (h *hub) checkDCSANotification(t *testing.T, carrier source) {
	t.Helper()
	require.Equal(t, http.StatusNoContent, h.notify(t, carrier, carrier.Secret, hubNotification))
	items := h.items(t, carrier, "")
	require.Len(t, items, 3)
	for _, want := range []struct{ eventID, typ string }{
		{"6b7d1f0e-2c3a-4e5f-8a9b-0c1d2e3f4a51", "shipment.milestone.departed"},
		{"6b7d1f0e-2c3a-4e5f-8a9b-0c1d2e3f4a52", "shipment.equipment.loaded"},
		{"6b7d1f0e-2c3a-4e5f-8a9b-0c1d2e3f4a53", "shipment.milestone.arrived"},
	} {
		i := slices.IndexFunc(items, func(it sourceItemError) bool { return strings.Contains(string(it.Original), want.eventID) })
		require.GreaterOrEqual(t, i, 0, "an item keeps DCSA event %s as sent", want.eventID)
		require.Equal(t, "accepted", items[i].Status, want.typ)
		require.Len(t, items[i].EventIDs, 1, want.typ)
		h.awaitParties(t, items[i].EventIDs[0], want.typ, "SHP-H1", parties)
		if want.typ == "shipment.equipment.loaded" {
			require.Equal(t, "APZU4812090", byEvent(h.rcv, "/acme", items[i].EventIDs[0])[0].Data["container"])
		}
	}
	require.Len(t, h.items(t, carrier, "accepted"), 3)
}

// checkForgedNotification: a notification signed with another secret is
// refused, and neither an event nor an item is stored.
func (h *hub) checkForgedNotification(t *testing.T, carrier source) {
	t.Helper()
	var before, after listOut[map[string]any]
	require.Equal(t, http.StatusOK, call(t, "GET", h.s.URL+"/v1/events", adminKey, nil, &before))
	itemsBefore := h.items(t, carrier, "")
	forged := base64.StdEncoding.EncodeToString([]byte("a secret the carrier was never given"))
	require.Equal(t, http.StatusUnauthorized, h.notify(t, carrier, forged, unknownContainerNotification))
	require.Equal(t, http.StatusOK, call(t, "GET", h.s.URL+"/v1/events", adminKey, nil, &after))
	require.Equal(t, before.Data, after.Data, "a forged notification stores no event")
	require.Equal(t, itemsBefore, h.items(t, carrier, ""), "a forged notification stores no item")
}

// checkUnknownContainer: an event for a container no shipment has is kept
// unresolved (its item too), listed with the reference that failed, and
// delivered to no party; once a shipment with the container is
// registered, the parties get it and its item is accepted.
func (h *hub) checkUnknownContainer(t *testing.T, carrier source) {
	t.Helper()
	require.Equal(t, http.StatusNoContent, h.notify(t, carrier, carrier.Secret, unknownContainerNotification))
	items := h.items(t, carrier, "unresolved")
	require.Len(t, items, 1)
	require.Contains(t, string(items[0].Original), "MSKU9070323")
	require.Len(t, items[0].EventIDs, 1)
	id := items[0].EventIDs[0]

	var unresolved listOut[map[string]any]
	require.Equal(t, http.StatusOK, call(t, "GET", h.s.URL+"/v1/events?status=unresolved", adminKey, nil, &unresolved))
	require.Len(t, unresolved.Data, 1)
	require.Equal(t, id, unresolved.Data[0]["id"])
	require.Equal(t, map[string]any{"reason": "no_match", "references": map[string]any{"containers": []any{"MSKU9070323"}}},
		unresolved.Data[0]["unresolved"])
	require.Eventually(t, func() bool { return len(byEvent(h.rcv, "/erp", id)) == 1 }, 10*time.Second, 20*time.Millisecond,
		"the partner with access to all hears of it")
	for path := range parties {
		require.Empty(t, byEvent(h.rcv, path, id), "%s is no party to a shipment not registered", path)
	}

	require.Equal(t, http.StatusCreated, call(t, "PUT", h.s.URL+"/v1/shipments/SHP-H2", adminKey, map[string]any{
		"mode": "ocean", "references": map[string]any{"containers": []string{"MSKU9070323"}},
		"parties": []any{map[string]any{"partner_id": "acme", "role": "consignee"}, map[string]any{"partner_id": "globex", "role": "notify_party"}},
	}, nil))
	h.awaitParties(t, id, "shipment.equipment.discharged", "SHP-H2", map[string]string{"/acme": "consignee", "/globex": "notify_party"})
	require.Eventually(t, func() bool {
		got := h.items(t, carrier, "")
		return got[0].ID == items[0].ID && got[0].Status == "accepted"
	}, 10*time.Second, 50*time.Millisecond, "the item is accepted once its event is resolved")
	require.Empty(t, h.items(t, carrier, "unresolved"))
	require.Len(t, byEvent(h.rcv, "/erp", id), 1, "the partner that had it does not get it again")
}

// checkMappedSource: a WMS posts its own JSON to a mapped source; a status
// in the code table becomes the canonical event, delivered to the parties
// of the shipment with that purchase order; a status not in it keeps the
// payload unmapped, naming the code, until the table has it and the item
// is replayed.
func (h *hub) checkMappedSource(t *testing.T) {
	t.Helper()
	mapping := func(codes map[string]string) map[string]any {
		return map[string]any{"program": wmsProgram, "codes": map[string]any{"status": codes}}
	}
	wms := h.createSource(t, map[string]any{"name": "WMS", "format": "mapped",
		"mapping": mapping(map[string]string{"RCV": "shipment.milestone.received"})})
	var key struct{ Key string }
	require.Equal(t, http.StatusCreated, call(t, "POST", h.s.URL+"/v1/api-keys", adminKey, map[string]any{"role": "ingest", "source_id": wms.ID}, &key))
	url := h.s.URL + "/v1/sources/" + wms.ID + "/events"

	var ans itemsAnswer
	received := `{"msg_id":"W-1","status":"RCV","ts":"2026-11-30T08:00:00Z","order":"PO-4711","warehouse":"NLRTM"}`
	require.Equal(t, http.StatusOK, call(t, "POST", url, key.Key, received, &ans))
	require.Len(t, ans.Items, 1)
	require.Equal(t, "accepted", ans.Items[0].Status)
	h.awaitParties(t, ans.Items[0].Events[0].ID, "shipment.milestone.received", "SHP-H1", parties)

	dispatched := `{"msg_id":"W-2","status":"DSP","ts":"2026-11-30T15:00:00Z","order":"PO-4711","warehouse":"NLRTM"}`
	require.Equal(t, http.StatusOK, call(t, "POST", url, key.Key, dispatched, &ans))
	require.Len(t, ans.Items, 1)
	require.Equal(t, "unmapped", ans.Items[0].Status)
	require.Empty(t, ans.Items[0].Events)
	item := h.items(t, wms, "unmapped")
	require.Len(t, item, 1)
	require.Equal(t, "unknown_code", item[0].Error.Code)
	require.Contains(t, item[0].Error.Message, `"DSP"`)
	require.Empty(t, item[0].EventIDs, "nothing stored, so nothing delivered")

	require.Equal(t, http.StatusOK, call(t, "PATCH", h.s.URL+"/v1/sources/"+wms.ID, adminKey, map[string]any{
		"mapping": mapping(map[string]string{"RCV": "shipment.milestone.received", "DSP": "shipment.milestone.departed"}),
	}, nil))
	var replayed struct {
		Status string `json:"status"`
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	require.Equal(t, http.StatusOK, call(t, "POST", h.s.URL+"/v1/sources/"+wms.ID+"/items/"+item[0].ID+"/replay", adminKey, nil, &replayed))
	require.Equal(t, "accepted", replayed.Status)
	require.Len(t, replayed.Events, 1)
	h.awaitParties(t, replayed.Events[0].ID, "shipment.milestone.departed", "SHP-H1", parties)
	require.Empty(t, h.items(t, wms, "unmapped"))
}

// wmsProgram is the mapping of docs/mapped-sources.md.
const wmsProgram = `select(.status != "PING")
| {
    id: .msg_id,
    type: (.status | code("status")),
    occurred_at: .ts,
    shipment: {references: {purchase_orders: [.order]}},
    data: {location: {code: .warehouse}, description: "Received at the warehouse"}
  }`

// hubNotification is a DCSA 2.2 notification as a carrier sends it: the
// vessel left Shanghai (TRANSPORT DEPA ACT, naming the booking), the
// container was loaded (EQUIPMENT LOAD ACT, naming the container) and the
// vessel arrived at Rotterdam (TRANSPORT ARRI ACT, naming the booking).
const hubNotification = `[
{"eventID": "6b7d1f0e-2c3a-4e5f-8a9b-0c1d2e3f4a51", "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
 "eventCreatedDateTime": "2026-11-20T08:07:00+08:00", "eventDateTime": "2026-11-20T08:05:00+08:00",
 "transportEventTypeCode": "DEPA",
 "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "BK-HUB-1"}],
 "transportCall": {"transportCallID": "7f2c8e1a-4b1d-4c55-9a43-0c6f5e1d2b90", "carrierServiceCode": "AE7",
  "exportVoyageNumber": "447W", "importVoyageNumber": "446E", "transportCallSequenceNumber": 1,
  "UNLocationCode": "CNSHA", "modeOfTransport": "VESSEL", "location": {"UNLocationCode": "CNSHA"},
  "vessel": {"vesselIMONumber": "9811000", "vesselName": "EVER GIVEN", "vesselFlag": "PA"}}},
{"eventID": "6b7d1f0e-2c3a-4e5f-8a9b-0c1d2e3f4a52", "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
 "eventCreatedDateTime": "2026-11-19T23:45:00+08:00", "eventDateTime": "2026-11-19T23:41:00+08:00",
 "equipmentEventTypeCode": "LOAD", "equipmentReference": "APZU4812090", "ISOEquipmentCode": "45G1",
 "emptyIndicatorCode": "LADEN",
 "transportCall": {"transportCallID": "7f2c8e1a-4b1d-4c55-9a43-0c6f5e1d2b90", "exportVoyageNumber": "447W",
  "UNLocationCode": "CNSHA", "modeOfTransport": "VESSEL", "vessel": {"vesselIMONumber": "9811000", "vesselName": "EVER GIVEN"}}},
{"eventID": "6b7d1f0e-2c3a-4e5f-8a9b-0c1d2e3f4a53", "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
 "eventCreatedDateTime": "2026-12-18T14:10:00+01:00", "eventDateTime": "2026-12-18T14:05:00+01:00",
 "transportEventTypeCode": "ARRI",
 "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "BK-HUB-1"}],
 "transportCall": {"transportCallID": "9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "carrierServiceCode": "AE7",
  "exportVoyageNumber": "447W", "importVoyageNumber": "446E", "transportCallSequenceNumber": 2,
  "UNLocationCode": "NLRTM", "modeOfTransport": "VESSEL", "location": {"UNLocationCode": "NLRTM"},
  "vessel": {"vesselIMONumber": "9811000", "vesselName": "EVER GIVEN", "vesselFlag": "PA"}}}
]`

// unknownContainerNotification is a DCSA notification of a container no
// shipment has yet: discharged at Rotterdam (EQUIPMENT DISC ACT).
const unknownContainerNotification = `[
{"eventID": "6b7d1f0e-2c3a-4e5f-8a9b-0c1d2e3f4a54", "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
 "eventCreatedDateTime": "2026-12-18T16:02:00+01:00", "eventDateTime": "2026-12-18T16:00:00+01:00",
 "equipmentEventTypeCode": "DISC", "equipmentReference": "MSKU9070323", "emptyIndicatorCode": "LADEN",
 "transportCall": {"transportCallID": "9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "importVoyageNumber": "446E",
  "UNLocationCode": "NLRTM", "modeOfTransport": "VESSEL", "vessel": {"vesselIMONumber": "9811000", "vesselName": "EVER GIVEN"}}}
]`
