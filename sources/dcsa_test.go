package sources

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// The payloads below are shaped as the DCSA Track & Trace 2.2
// specification shapes events: its field names, enums and nesting, with
// values of a made-up shipment from Shanghai to Rotterdam.

const transportEvent = `{
	"eventID": "5e0c7a4e-2b8f-4f0e-9d1a-1f3b6c8a7d21",
	"eventCreatedDateTime": "2026-11-18T09:12:40Z",
	"eventType": "TRANSPORT",
	"eventClassifierCode": "ACT",
	"eventDateTime": "2026-11-20T08:05:00+08:00",
	"transportEventTypeCode": "DEPA",
	"delayReasonCode": "WEA",
	"changeRemark": "Typhoon warning in the East China Sea",
	"transportCall": {
		"transportCallID": "7f2c8e1a-4b1d-4c55-9a43-0c6f5e1d2b90",
		"carrierServiceCode": "AE7",
		"exportVoyageNumber": "447W",
		"importVoyageNumber": "446E",
		"transportCallSequenceNumber": 3,
		"UNLocationCode": "CNSHA",
		"facilityCode": "SGH",
		"facilityCodeListProvider": "SMDG",
		"facilityTypeCode": "POTE",
		"modeOfTransport": "VESSEL",
		"location": {"locationName": "Yangshan Deep-Water Port", "UNLocationCode": "CNSHA"},
		"vessel": {"vesselIMONumber": "9811000", "vesselName": "EVER GIVEN", "vesselFlag": "PA",
			"vesselCallSignNumber": "H3RC", "vesselOperatorCarrierCode": "EGLV", "vesselOperatorCarrierCodeListProvider": "SMDG"}
	},
	"documentReferences": [
		{"documentReferenceType": "BKG", "documentReferenceValue": "SHA4471203"},
		{"documentReferenceType": "TRD", "documentReferenceValue": "EGLV142600113377"}
	],
	"references": [
		{"referenceType": "PO", "referenceValue": "PO-88412"},
		{"referenceType": "CR", "referenceValue": "NORD-2026-117"}
	]
}`

const equipmentEvent = `{
	"eventID": "b3c1d2e4-6f7a-4b8c-9d0e-1a2b3c4d5e6f",
	"eventCreatedDateTime": "2026-11-19T16:40:02Z",
	"eventType": "EQUIPMENT",
	"eventClassifierCode": "ACT",
	"eventDateTime": "2026-11-19T23:41:00+0800",
	"equipmentEventTypeCode": "LOAD",
	"equipmentReference": "EGHU9034427",
	"ISOEquipmentCode": "45G1",
	"emptyIndicatorCode": "LADEN",
	"transportCall": {
		"transportCallID": "7f2c8e1a-4b1d-4c55-9a43-0c6f5e1d2b90",
		"exportVoyageNumber": "447W",
		"importVoyageNumber": "446E",
		"UNLocationCode": "CNSHA",
		"facilityCode": "SGH",
		"facilityCodeListProvider": "SMDG",
		"modeOfTransport": "VESSEL",
		"vessel": {"vesselIMONumber": "9811000", "vesselName": "EVER GIVEN"}
	},
	"documentReferences": [{"documentReferenceType": "BKG (Booking)", "documentReferenceValue": "SHA4471203"}],
	"references": [
		{"referenceType": "EQ", "referenceValue": "EGHU9034427"},
		{"referenceType": "SI", "referenceValue": "HONGDA-7781"}
	],
	"seals": [{"sealNumber": "EG2291847", "sealSource": "CAR", "sealType": "BLT"}]
}`

const shipmentEvent = `{
	"eventID": "0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70",
	"eventCreatedDateTime": "2026-11-21T10:02:11+01:00",
	"eventType": "SHIPMENT",
	"eventClassifierCode": "ACT",
	"eventDateTime": "2026-11-21T10:02:11+01:00",
	"shipmentEventTypeCode": "ISSU",
	"documentTypeCode": "TRD",
	"documentID": "EGLV142600113377",
	"references": [{"referenceType": "FF", "referenceValue": "KN-SHA-55120"}]
}`

// edit returns the JSON object raw with field path (dotted) set to value,
// or removed when value is the deleted marker.
func edit(t *testing.T, raw string, edits ...any) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &m))
	for i := 0; i < len(edits); i += 2 {
		path := strings.Split(edits[i].(string), ".")
		obj := m
		for _, p := range path[:len(path)-1] {
			obj = obj[p].(map[string]any)
		}
		if edits[i+1] == deleted {
			delete(obj, path[len(path)-1])
		} else {
			obj[path[len(path)-1]] = edits[i+1]
		}
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

type deletedMarker struct{}

var deleted = deletedMarker{}

// event is a translated canonical event, read back.
type event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	Shipment   json.RawMessage `json:"shipment"`
	Data       json.RawMessage `json:"data"`
}

// translateOne translates a notification of the one event raw and returns
// the canonical event it became, after checking it as ingest would: its
// data valid for its type and already in the delivered form, its
// occurred_at RFC 3339, its id the DCSA eventID.
func translateOne(t *testing.T, raw []byte) event {
	t.Helper()
	items, err := TranslateDCSA(append(append([]byte("[\n"), raw...), "\n]"...))
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.NoError(t, items[0].Err)
	require.JSONEq(t, string(raw), string(items[0].Original))
	require.Len(t, items[0].Events, 1)
	var ev event
	require.NoError(t, json.Unmarshal(items[0].Events[0], &ev))
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(items[0].Events[0], &top))
	require.ElementsMatch(t, []string{"id", "type", "occurred_at", "shipment", "data"}, keys(top))
	normalized, err := subscriptions.NormalizeData(ev.Type, ev.Data)
	require.NoError(t, err, "%s: %s", ev.Type, ev.Data)
	require.Equal(t, string(normalized), string(ev.Data))
	_, err = time.Parse(time.RFC3339, ev.OccurredAt)
	require.NoError(t, err)
	var in struct{ EventID string }
	require.NoError(t, json.Unmarshal(raw, &in))
	require.Equal(t, "dcsa:"+in.EventID, ev.ID)
	return ev
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDCSATransportEvents(t *testing.T) {
	refs := `{"references": {"booking": "SHA4471203", "bill_of_lading": "EGLV142600113377",
		"purchase_orders": ["PO-88412"], "customer_references": ["NORD-2026-117"]}}`
	at := `{"code": "CNSHA", "name": "Yangshan Deep-Water Port", "facility": "SGH"}`
	tests := []struct {
		name, classifier, code string
		typ, occurredAt, data  string
	}{
		{"actual arrival is a milestone, on the import voyage", "ACT", "ARRI", "shipment.milestone.arrived", "2026-11-20T08:05:00+08:00",
			`{"location": ` + at + `, "vessel": "EVER GIVEN", "vessel_imo": "9811000", "voyage": "446E", "description": "Typhoon warning in the East China Sea"}`},
		{"actual departure is a milestone, on the export voyage", "ACT", "DEPA", "shipment.milestone.departed", "2026-11-20T08:05:00+08:00",
			`{"location": ` + at + `, "vessel": "EVER GIVEN", "vessel_imo": "9811000", "voyage": "447W", "description": "Typhoon warning in the East China Sea"}`},
		{"estimated arrival is a new eta, made when the event was created", "EST", "ARRI", "shipment.updated", "2026-11-18T09:12:40Z",
			`{"eta": "2026-11-20T08:05:00+08:00", "time_basis": "estimated", "location": ` + at + `, "vessel": "EVER GIVEN", "vessel_imo": "9811000",
				"voyage": "446E", "reason": "Typhoon warning in the East China Sea", "reason_code": "WEA"}`},
		{"planned arrival is a new planned eta", "PLN", "ARRI", "shipment.updated", "2026-11-18T09:12:40Z",
			`{"eta": "2026-11-20T08:05:00+08:00", "time_basis": "planned", "location": ` + at + `, "vessel": "EVER GIVEN", "vessel_imo": "9811000",
				"voyage": "446E", "reason": "Typhoon warning in the East China Sea", "reason_code": "WEA"}`},
		{"estimated departure is a new etd", "EST", "DEPA", "shipment.updated", "2026-11-18T09:12:40Z",
			`{"etd": "2026-11-20T08:05:00+08:00", "time_basis": "estimated", "location": ` + at + `, "vessel": "EVER GIVEN", "vessel_imo": "9811000",
				"voyage": "447W", "reason": "Typhoon warning in the East China Sea", "reason_code": "WEA"}`},
		{"planned departure is a new planned etd", "PLN", "DEPA", "shipment.updated", "2026-11-18T09:12:40Z",
			`{"etd": "2026-11-20T08:05:00+08:00", "time_basis": "planned", "location": ` + at + `, "vessel": "EVER GIVEN", "vessel_imo": "9811000",
				"voyage": "447W", "reason": "Typhoon warning in the East China Sea", "reason_code": "WEA"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := translateOne(t, edit(t, transportEvent, "eventClassifierCode", tt.classifier, "transportEventTypeCode", tt.code))
			require.Equal(t, tt.typ, ev.Type)
			require.Equal(t, tt.occurredAt, ev.OccurredAt)
			require.JSONEq(t, refs, string(ev.Shipment))
			require.JSONEq(t, tt.data, string(ev.Data))
		})
	}
}

func TestDCSATransportCallPlace(t *testing.T) {
	// Without a UN/LOCODE of its own the call's location gives it; without
	// a location name, the other facility names the place.
	ev := translateOne(t, edit(t, transportEvent, "transportCall.UNLocationCode", deleted, "transportCall.facilityCode", deleted,
		"transportCall.otherFacility", "Waigaoqiao phase 5", "transportCall.location", map[string]any{"UNLocationCode": "CNSHA", "facilityCode": "WGQ5"}))
	require.JSONEq(t, `{"code": "CNSHA", "name": "Waigaoqiao phase 5", "facility": "WGQ5"}`, gjson(t, ev.Data, "location"))

	// A call of a train with no vessel and no voyage.
	ev = translateOne(t, edit(t, transportEvent, "transportCall", map[string]any{
		"transportCallID": "c1", "modeOfTransport": "RAIL", "UNLocationCode": "DEDUI"}))
	require.JSONEq(t, `{"location": {"code": "DEDUI"}, "description": "Typhoon warning in the East China Sea"}`, string(ev.Data))
}

func TestDCSAEquipmentEvents(t *testing.T) {
	tests := []struct{ code, typ, voyage string }{
		{"GTIN", "shipment.equipment.gated_in", "447W"},
		{"GTOT", "shipment.equipment.gated_out", "447W"},
		{"LOAD", "shipment.equipment.loaded", "447W"},
		{"DISC", "shipment.equipment.discharged", "446E"},
		{"STUF", "shipment.equipment.stuffed", "447W"},
		{"STRP", "shipment.equipment.stripped", "447W"},
		{"PICK", "shipment.equipment.picked_up", "447W"},
		{"DROP", "shipment.equipment.dropped_off", "447W"},
		{"INSP", "shipment.equipment.inspected", "447W"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			ev := translateOne(t, edit(t, equipmentEvent, "equipmentEventTypeCode", tt.code))
			require.Equal(t, tt.typ, ev.Type)
			require.Equal(t, "2026-11-19T23:41:00+08:00", ev.OccurredAt, "an offset without its colon is read")
			require.JSONEq(t, `{"references": {"booking": "SHA4471203", "containers": ["EGHU9034427"], "customer_references": ["HONGDA-7781"]}}`, string(ev.Shipment))
			require.JSONEq(t, `{"container": "EGHU9034427", "empty": false, "iso_type": "45G1",
				"seals": [{"number": "EG2291847", "source": "carrier", "type": "bolt"}],
				"location": {"code": "CNSHA", "facility": "SGH"}, "mode": "ocean",
				"vessel": "EVER GIVEN", "vessel_imo": "9811000", "voyage": "`+tt.voyage+`"}`, string(ev.Data))
		})
	}
}

func TestDCSAEquipmentAtADepot(t *testing.T) {
	// An empty container gated out of a depot: its eventLocation, no
	// transport call, seals in every source and type.
	ev := translateOne(t, edit(t, equipmentEvent,
		"equipmentEventTypeCode", "GTOT", "emptyIndicatorCode", "EMPTY", "transportCall", deleted,
		"eventLocation", map[string]any{"locationName": "Waigaoqiao empty depot", "UNLocationCode": "CNSHA", "facilityCode": "WGQD",
			"address": map[string]any{"street": "Zhouhai Road", "city": "Shanghai", "country": "China"}},
		"seals", []any{
			map[string]any{"sealNumber": "S1", "sealSource": "SHI", "sealType": "KLP"},
			map[string]any{"sealNumber": "S2", "sealSource": "PHY", "sealType": "WIR"},
			map[string]any{"sealNumber": "S3", "sealSource": "VET"},
			map[string]any{"sealNumber": "S4", "sealSource": "CUS", "sealType": "BLT"},
			map[string]any{"sealNumber": "S5"},
		}))
	require.Equal(t, "shipment.equipment.gated_out", ev.Type)
	require.JSONEq(t, `{"container": "EGHU9034427", "empty": true, "iso_type": "45G1",
		"seals": [{"number": "S1", "source": "shipper", "type": "keyless_padlock"}, {"number": "S2", "source": "phytosanitary", "type": "wire"},
			{"number": "S3", "source": "veterinary"}, {"number": "S4", "source": "customs", "type": "bolt"}, {"number": "S5"}],
		"location": {"code": "CNSHA", "name": "Waigaoqiao empty depot", "facility": "WGQD"}}`, string(ev.Data))
}

func TestDCSAEquipmentModes(t *testing.T) {
	for dcsa, mode := range map[string]string{"VESSEL": "ocean", "RAIL": "rail", "TRUCK": "road", "BARGE": "barge"} {
		ev := translateOne(t, edit(t, equipmentEvent, "transportCall.modeOfTransport", dcsa))
		require.Equal(t, mode, gjsonString(t, ev.Data, "mode"), dcsa)
	}
}

func TestDCSAShipmentEvents(t *testing.T) {
	t.Run("TRD ISSU: the bill of lading was issued", func(t *testing.T) {
		ev := translateOne(t, []byte(shipmentEvent))
		require.Equal(t, "shipment.document.issued", ev.Type)
		require.Equal(t, "2026-11-21T10:02:11+01:00", ev.OccurredAt)
		require.JSONEq(t, `{"references": {"bill_of_lading": "EGLV142600113377", "customer_references": ["KN-SHA-55120"]}}`, string(ev.Shipment))
		require.JSONEq(t, `{"type": "bill_of_lading", "number": "EGLV142600113377"}`, string(ev.Data))
	})
	t.Run("BKG CONF: the booking was confirmed", func(t *testing.T) {
		ev := translateOne(t, edit(t, shipmentEvent, "documentTypeCode", "BKG", "shipmentEventTypeCode", "CONF", "documentID", "SHA4471203"))
		require.Equal(t, "shipment.milestone.booked", ev.Type)
		require.JSONEq(t, `{"references": {"booking": "SHA4471203", "customer_references": ["KN-SHA-55120"]}}`, string(ev.Shipment))
		require.JSONEq(t, `{"description": "Booking SHA4471203 confirmed by the carrier"}`, string(ev.Data))

		ev = translateOne(t, edit(t, shipmentEvent, "documentTypeCode", "BKG", "shipmentEventTypeCode", "CONF", "documentID", "SHA4471203",
			"reason", "Confirmed on EVER GIVEN 447W"))
		require.JSONEq(t, `{"description": "Confirmed on EVER GIVEN 447W"}`, string(ev.Data))
	})
	t.Run("BKG REJE: the booking was rejected, with the carrier's reason", func(t *testing.T) {
		ev := translateOne(t, edit(t, shipmentEvent, "documentTypeCode", "BKG", "shipmentEventTypeCode", "REJE", "documentID", "SHA4471203",
			"reason", "No reefer plugs left on the vessel"))
		require.Equal(t, "shipment.document.rejected", ev.Type)
		require.JSONEq(t, `{"type": "booking", "number": "SHA4471203", "reason": "No reefer plugs left on the vessel"}`, string(ev.Data))
	})
}

// TestDCSADocumentStatuses covers every shipmentEventTypeCode, each with
// a documentTypeCode whose events it is sent for.
func TestDCSADocumentStatuses(t *testing.T) {
	tests := []struct{ status, document, typ string }{
		{"RECE", "SHI", "shipment.document.received"},
		{"DRFT", "TRD", "shipment.document.drafted"},
		{"PENA", "TRD", "shipment.document.pending_approval"},
		{"PENU", "SHI", "shipment.document.pending_update"},
		{"REJE", "SHI", "shipment.document.rejected"},
		{"APPR", "TRD", "shipment.document.approved"},
		{"ISSU", "ARN", "shipment.document.issued"},
		{"SURR", "TRD", "shipment.document.surrendered"},
		{"SUBM", "VGM", "shipment.document.submitted"},
		{"VOID", "TRD", "shipment.document.voided"},
		{"CONF", "VGM", "shipment.document.confirmed"},
		{"REQS", "CBR", "shipment.document.requested"},
		{"CMPL", "CAS", "shipment.document.completed"},
		{"HOLD", "CUS", "shipment.document.on_hold"},
		{"RELS", "SRM", "shipment.document.released"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			ev := translateOne(t, edit(t, shipmentEvent, "shipmentEventTypeCode", tt.status, "documentTypeCode", tt.document, "documentID", "DOC-1"))
			require.Equal(t, tt.typ, ev.Type)
			require.Equal(t, documentKinds[tt.document], gjsonString(t, ev.Data, "type"))
			refs := `{"customer_references": ["KN-SHA-55120"]}`
			if tt.document == "TRD" {
				refs = `{"bill_of_lading": "DOC-1", "customer_references": ["KN-SHA-55120"]}`
			}
			require.JSONEq(t, `{"references": `+refs+`}`, string(ev.Shipment))
		})
	}
}

// TestDCSADocumentKinds covers every documentTypeCode.
func TestDCSADocumentKinds(t *testing.T) {
	tests := []struct{ document, kind string }{
		{"CBR", "booking_request"}, {"BKG", "booking"}, {"SHI", "shipping_instruction"}, {"SRM", "shipment_release"},
		{"TRD", "bill_of_lading"}, {"ARN", "arrival_notice"}, {"VGM", "verified_gross_mass"}, {"CAS", "cargo_survey"},
		{"CUS", "customs_inspection"}, {"DGD", "dangerous_goods_declaration"}, {"OOG", "out_of_gauge"},
	}
	require.Len(t, tests, len(documentKinds))
	for _, tt := range tests {
		t.Run(tt.document, func(t *testing.T) {
			ev := translateOne(t, edit(t, shipmentEvent, "documentTypeCode", tt.document, "documentID", "DOC-7"))
			require.Equal(t, "shipment.document.issued", ev.Type)
			require.JSONEq(t, `{"type": "`+tt.kind+`", "number": "DOC-7"}`, string(ev.Data))
		})
	}
}

func TestDCSAReferences(t *testing.T) {
	ev := translateOne(t, edit(t, equipmentEvent,
		"carrierBookingReference", "TOP-BKG", "transportDocumentReference", "TOP-TRD",
		"documentReferences", []any{
			map[string]any{"documentReferenceType": "BKG", "documentReferenceValue": "SHA4471203"},
			map[string]any{"documentReferenceType": "TRD (Transport Document)", "documentReferenceValue": "EGLV142600113377"},
		},
		"references", []any{
			map[string]any{"referenceType": "EQ", "referenceValue": "EGHU9034427"},
			map[string]any{"referenceType": "EQ", "referenceValue": "EGHU9034432"},
			map[string]any{"referenceType": "PO", "referenceValue": "PO-1"},
			map[string]any{"referenceType": "PO", "referenceValue": " PO-1 "},
			map[string]any{"referenceType": "CR", "referenceValue": "CR-1"},
			map[string]any{"referenceType": "SI", "referenceValue": "SI-1"},
			map[string]any{"referenceType": "FF", "referenceValue": "FF-1"},
			map[string]any{"referenceType": "AAO", "referenceValue": "AAO-1"},
		}))
	require.JSONEq(t, `{"references": {"booking": "TOP-BKG", "bill_of_lading": "TOP-TRD",
		"containers": ["EGHU9034427", "EGHU9034432"], "purchase_orders": ["PO-1"],
		"customer_references": ["CR-1", "SI-1", "FF-1", "AAO-1"]}}`, string(ev.Shipment))
}

// gjson returns the member key of the JSON object raw.
func gjson(t *testing.T, raw json.RawMessage, key string) string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return string(m[key])
}

func gjsonString(t *testing.T, raw json.RawMessage, key string) string {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal([]byte(gjson(t, raw, key)), &s))
	return s
}
