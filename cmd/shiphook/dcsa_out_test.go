package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/dcsaschema"
	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/sources"
)

// TestDCSAOutEndToEnd runs DCSA-format delivery on the real server, on
// PostgreSQL and Redis and on SQLite and the in-process Redis: a partner's
// dcsa-tnt-2.2 endpoint receives each event that has a DCSA form as a
// DCSA T&T 2.2 notification valid against the standard's event schemas,
// whose Notification-Signature verifies as a carrier's would and whose
// Standard Webhooks signature verifies too; an event without a DCSA form
// fails its message without a request; an endpoint that asks for types
// without one is refused, naming them.
func TestDCSAOutEndToEnd(t *testing.T) {
	schemas, err := dcsaschema.Load()
	require.NoError(t, err)
	onBothDatabases(t, func(t *testing.T, env map[string]string) {
		d := &dcsaOut{s: startServer(t, "serve", env), rcv: newReceiver(t), schemas: schemas}
		createPartners(t, d.s, "acme", "globex")
		d.checkRefused(t)
		d.ep = createEndpoint(t, d.s, d.rcv, adminKey, "acme", "/dcsa", map[string]any{"format": "dcsa-tnt-2.2",
			"event_types": []string{"shipment.milestone.departed", "shipment.milestone.booked", "shipment.updated", "shipment.equipment.*", "shipment.document.issued"}})
		d.posted = d.postShipmentEvents(t)
		d.relayCarrierEvent(t)
		d.checkPushed(t)
		d.checkFeed(t)
		d.checkFeedPages(t)
		d.checkFeedRefusals(t)
	})
}

type dcsaOut struct {
	s       *server
	rcv     *receiver
	schemas dcsaschema.Schemas
	ep      endpointOut
	// posted are the ids of the events posted, by what they are.
	posted map[string]string
	// pushed are the DCSA events the endpoint received, by eventID.
	pushed map[string]json.RawMessage
}

// checkRefused: a DCSA endpoint may not take types without a DCSA form,
// nor sign with a whsk_ key; the answer names the types at fault.
func (d *dcsaOut) checkRefused(t *testing.T) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message, Field string }
	}
	spec := map[string]any{"url": d.rcv.URL + "/refused", "format": "dcsa-tnt-2.2", "event_types": []string{"shipment.milestone.*"}}
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "POST", d.s.URL+"/v1/partners/acme/endpoints", adminKey, spec, &e))
	require.Equal(t, "invalid_field", e.Error.Code)
	require.Equal(t, "event_types", e.Error.Field)
	require.Contains(t, e.Error.Message, "shipment.milestone.delivered")
	require.Contains(t, e.Error.Message, "shipment.milestone.departed", "the accepted types are listed")

	spec = map[string]any{"url": d.rcv.URL + "/refused", "format": "dcsa-tnt-3"}
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "POST", d.s.URL+"/v1/partners/acme/endpoints", adminKey, spec, &e))
	require.Equal(t, "format", e.Error.Field)

	spec = map[string]any{"url": d.rcv.URL + "/refused", "format": "dcsa-tnt-2.2", "event_types": []string{"shipment.updated"}, "signature_scheme": "v1a"}
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "POST", d.s.URL+"/v1/partners/acme/endpoints", adminKey, spec, &e))
	require.Contains(t, e.Error.Message, "whsec_")
}

// dcsaShipment is the shipment of the events posted: acme is its
// shipper, globex no party.
var dcsaShipment = map[string]any{"id": "SHP-D1", "mode": "ocean", "origin": "CNSHA", "destination": "NLRTM",
	"references": map[string]any{"booking": "BK-D1", "bill_of_lading": "BL-D1", "containers": []string{"MSCU4829172"}, "purchase_orders": []string{"PO-D1"}}}

// postShipmentEvents posts one event of each DCSA event shape, and a
// shipment.updated with no new time, which has no DCSA form.
func (d *dcsaOut) postShipmentEvents(t *testing.T) map[string]string {
	t.Helper()
	at := time.Date(2026, 11, 20, 8, 5, 0, 0, time.UTC)
	events := map[string]map[string]any{
		"departed": {"type": "shipment.milestone.departed", "data": map[string]any{"location": map[string]any{"code": "CNSHA", "name": "Yangshan", "facility": "SGH"},
			"vessel": "MSC OSCAR", "vessel_imo": "9703291", "voyage": "FE547W", "description": "Vessel departed"}},
		"eta": {"type": "shipment.updated", "data": map[string]any{"eta": "2026-12-21T14:00:00+01:00", "time_basis": "estimated",
			"location": map[string]any{"code": "NLRTM"}, "reason": "Bad weather", "reason_code": "WEA"}},
		"no time": {"type": "shipment.updated", "data": map[string]any{"vessel": "MSC MAYA"}},
		"loaded": {"type": "shipment.equipment.loaded", "data": map[string]any{"container": "MSCU4829172", "empty": false,
			"location": map[string]any{"code": "CNSHA", "facility": "SGH"}, "mode": "ocean", "vessel": "MSC OSCAR", "vessel_imo": "9703291", "voyage": "FE547W",
			"seals": []any{map[string]any{"number": "CN2291847", "source": "shipper", "type": "bolt"}}}},
		"issued": {"type": "shipment.document.issued", "data": map[string]any{"type": "bill_of_lading", "number": "BL-D1"}},
		"booked": {"type": "shipment.milestone.booked", "data": map[string]any{"description": "Booking confirmed"}},
	}
	ids := map[string]string{}
	for name, ev := range events {
		ev["occurred_at"] = at.Format(time.RFC3339)
		ev["shipment"] = dcsaShipment
		ev["parties"] = []any{map[string]any{"partner_id": "acme", "role": "shipper"}}
		var acc struct{ ID string }
		require.Equal(t, http.StatusAccepted, call(t, "POST", d.s.URL+"/v1/events", adminKey, ev, &acc), name)
		ids[name] = acc.ID
	}
	return ids
}

// relayedEventID is the eventID of a carrier's DCSA event that shiphook
// takes in through a DCSA source and gives out again.
const relayedEventID = "0f8e7d6c-5b4a-4392-8170-6e5d4c3b2a19"

// relayCarrierEvent: a carrier's DCSA notification of a departure of
// booking BK-D2, registered with acme as its shipper, comes in through a
// DCSA source.
func (d *dcsaOut) relayCarrierEvent(t *testing.T) {
	t.Helper()
	require.Equal(t, http.StatusCreated, call(t, "PUT", d.s.URL+"/v1/shipments/SHP-D2", adminKey, map[string]any{
		"mode": "ocean", "references": map[string]any{"booking": "BK-D2"},
		"parties": []any{map[string]any{"partner_id": "acme", "role": "shipper"}},
	}, nil))
	var src source
	require.Equal(t, http.StatusCreated, call(t, "POST", d.s.URL+"/v1/sources", adminKey, map[string]any{"name": "Carrier", "format": "dcsa-tnt-2.2"}, &src))
	body := `[{"eventID": "` + relayedEventID + `", "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
		"eventCreatedDateTime": "2026-11-21T10:07:00+08:00", "eventDateTime": "2026-11-21T10:05:00+08:00", "transportEventTypeCode": "DEPA",
		"documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "BK-D2"}],
		"transportCall": {"transportCallID": "7f2c8e1a-4b1d-4c55-9a43-0c6f5e1d2b90", "UNLocationCode": "CNNGB", "modeOfTransport": "VESSEL"}}]`
	require.Equal(t, http.StatusNoContent, postSigned(t, d.s.URL+"/v1/sources/"+src.ID+"/events", dcsaSignature(src.Secret, []byte(body)), body))
}

// checkPushed: six notifications arrive, each an array of the one DCSA
// event of a posted or relayed event, valid, signed both ways, the
// relayed one with the carrier's eventID; the event without a DCSA form
// fails its message.
func (d *dcsaOut) checkPushed(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return len(d.rcv.byPath("/dcsa")) >= 6 }, 20*time.Second, 20*time.Millisecond)
	key, err := signing.SecretKey(d.ep.Secret)
	require.NoError(t, err)
	byEventID := map[string]json.RawMessage{}
	for _, got := range d.rcv.byPath("/dcsa") {
		events, err := d.schemas.Events(got.Body)
		require.NoError(t, err, "%s", got.Body)
		require.Len(t, events, 1)
		require.True(t, sources.VerifyDCSASignature(key, got.Body, got.Header.Get("Notification-Signature")), "Notification-Signature verifies")
		require.NotEmpty(t, got.Header.Get("webhook-signature"))
		require.Equal(t, "2.2.0", got.Header.Get("API-Version"))
		require.Equal(t, sources.DCSASubscriptionID(d.ep.ID), got.Header.Get("Subscription-ID"))
		var ev struct{ EventID string }
		require.NoError(t, json.Unmarshal(events[0], &ev))
		byEventID[ev.EventID] = events[0]
	}
	require.Empty(t, d.rcv.invalidSignatures(), "every Standard Webhooks signature verified")
	d.pushed = byEventID
	want := map[string]string{"departed": `"transportEventTypeCode":"DEPA"`, "eta": `"eventClassifierCode":"EST"`,
		"loaded": `"equipmentEventTypeCode":"LOAD"`, "issued": `"shipmentEventTypeCode":"ISSU"`, "booked": `"documentTypeCode":"BKG"`,
		"relayed": `"UNLocationCode":"CNNGB"`}
	require.Len(t, byEventID, len(want), "one notification per event with a DCSA form")
	for name, fragment := range want {
		ev, ok := byEventID[d.dcsaIDs(name)[0]]
		require.True(t, ok, "%s arrives with the eventID derived from its id, or the carrier's", name)
		require.Contains(t, string(ev), fragment, name)
	}
	var ms listOut[messageOut]
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, call(t, "GET", d.s.URL+"/v1/partners/acme/messages?status=failed", adminKey, nil, &ms))
		return len(ms.Data) == 1
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, d.posted["no time"], ms.Data[0].EventID)
	var m struct {
		LastErrorClass string `json:"last_error_class"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", d.s.URL+"/v1/messages/"+ms.Data[0].ID, adminKey, nil, &m))
	require.Equal(t, "no_dcsa_form", m.LastErrorClass)
	d.checkAttemptShown(t)
}

// checkAttemptShown: an attempt to a DCSA endpoint shows the DCSA body
// that was sent, its signatures withheld.
func (d *dcsaOut) checkAttemptShown(t *testing.T) {
	t.Helper()
	var ms listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", d.s.URL+"/v1/partners/acme/messages?status=succeeded&limit=1", adminKey, nil, &ms))
	require.Len(t, ms.Data, 1)
	var as listOut[struct{ ID string }]
	require.Equal(t, http.StatusOK, call(t, "GET", d.s.URL+"/v1/messages/"+ms.Data[0].ID+"/attempts", adminKey, nil, &as))
	require.NotEmpty(t, as.Data)
	var detail struct {
		Request struct {
			Headers map[string]string
			Body    string
		}
	}
	require.Equal(t, http.StatusOK, call(t, "GET", d.s.URL+"/v1/attempts/"+as.Data[0].ID, adminKey, nil, &detail))
	_, err := d.schemas.Events([]byte(detail.Request.Body))
	require.NoError(t, err, detail.Request.Body)
	require.Contains(t, detail.Request.Headers["Notification-Signature"], "not shown")
	require.NotContains(t, detail.Request.Headers["Notification-Signature"], "sha256=")
}
