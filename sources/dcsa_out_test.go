package sources

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/dcsaschema"
	"github.com/shiphook/shiphook/subscriptions"
)

// canonicalOf reads a translated canonical event as DCSAEvent takes it.
func canonicalOf(t *testing.T, raw json.RawMessage) Canonical {
	t.Helper()
	var ev struct {
		ID         string    `json:"id"`
		Type       string    `json:"type"`
		OccurredAt time.Time `json:"occurred_at"`
		Shipment   struct {
			References subscriptions.References `json:"references"`
		} `json:"shipment"`
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(raw, &ev))
	// Ingest keeps the source's id apart and gives the event its own.
	return Canonical{ID: "evt_" + ev.ID, SourceID: ev.ID, Type: ev.Type, OccurredAt: ev.OccurredAt, CreatedAt: ev.OccurredAt.Add(time.Minute),
		References: ev.Shipment.References, Data: ev.Data}
}

// translateRow translates the one DCSA event raw.
func translateRow(t *testing.T, raw []byte) json.RawMessage {
	t.Helper()
	items, err := TranslateDCSA(raw)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.NoError(t, items[0].Err, "%s", raw)
	return items[0].Events[0]
}

// dcsaFields are the fields a round trip keeps as they were.
type dcsaFields struct {
	EventID                string
	EventType              string
	EventClassifierCode    string
	TransportEventTypeCode string
	EquipmentEventTypeCode string
	ShipmentEventTypeCode  string
	DocumentTypeCode       string
	DocumentID             string
	EquipmentReference     string
	EmptyIndicatorCode     string
	EventDateTime          string
	EventCreatedDateTime   string
}

func fieldsOf(t *testing.T, raw []byte) dcsaFields {
	t.Helper()
	var f dcsaFields
	require.NoError(t, json.Unmarshal(raw, &f))
	return f
}

func sameInstant(t *testing.T, want, got, field string) {
	t.Helper()
	w, err := time.Parse(time.RFC3339, normalizedTime(t, want))
	require.NoError(t, err)
	g, err := time.Parse(time.RFC3339, got)
	require.NoError(t, err)
	require.True(t, w.Equal(g), "%s: %s went out as %s", field, want, got)
}

func normalizedTime(t *testing.T, s string) string {
	t.Helper()
	out, err := dcsaTime("time", s)
	require.NoError(t, err)
	return out
}

// roundTripRows are the rows of docs/dcsa.md, each as a DCSA event.
func roundTripRows(t *testing.T) map[string][]byte {
	rows := map[string][]byte{}
	for _, c := range [][2]string{{"ACT", "ARRI"}, {"ACT", "DEPA"}, {"EST", "ARRI"}, {"PLN", "ARRI"}, {"EST", "DEPA"}, {"PLN", "DEPA"}} {
		rows["TRANSPORT "+c[0]+" "+c[1]] = edit(t, transportEvent, "eventClassifierCode", c[0], "transportEventTypeCode", c[1])
	}
	for code := range equipmentTypes {
		rows["EQUIPMENT "+code] = edit(t, equipmentEvent, "equipmentEventTypeCode", code)
	}
	for code := range documentStatuses {
		rows["SHIPMENT "+code] = edit(t, shipmentEvent, "shipmentEventTypeCode", code)
	}
	rows["SHIPMENT BKG CONF"] = edit(t, shipmentEvent, "shipmentEventTypeCode", "CONF", "documentTypeCode", "BKG", "documentID", "SHA4471203")
	for code := range documentKinds {
		rows["SHIPMENT "+code+" ISSU"] = edit(t, shipmentEvent, "documentTypeCode", code)
	}
	rows["EQUIPMENT without a transport call, on its event location"] = edit(t, equipmentEvent, "transportCall", deleted,
		"eventLocation", map[string]any{"locationName": "Yangshan Deep-Water Port", "UNLocationCode": "CNSHA", "facilityCode": "SGH"})
	return rows
}

// TestDCSARoundTrip: for each row of the mapping, DCSA → canonical →
// DCSA gives back the event's id, classifier, type codes, document,
// container and times; its references, place, vessel and voyage come
// back as the same canonical event; and what goes out is a valid DCSA
// T&T 2.2 event.
func TestDCSARoundTrip(t *testing.T) {
	schemas, err := dcsaschema.Load()
	require.NoError(t, err)
	var types []string
	for name, in := range roundTripRows(t) {
		t.Run(name, func(t *testing.T) {
			first := translateRow(t, in)
			c := canonicalOf(t, first)
			out, ok := DCSAEvent(c)
			require.True(t, ok, "%s has a DCSA form", c.Type)
			require.NoError(t, schemas.Event(out), "%s", out)
			if !slices.Contains(types, c.Type) {
				types = append(types, c.Type)
			}

			f, ok := DCSAFactsOf(c)
			require.True(t, ok)
			of := fieldsOf(t, out)
			require.Equal(t, of.EventType, f.EventType)
			require.Equal(t, of.TransportEventTypeCode+of.EquipmentEventTypeCode+of.ShipmentEventTypeCode, f.TypeCode)
			require.Equal(t, of.EquipmentReference, f.EquipmentReference)
			require.Equal(t, of.EventCreatedDateTime, dcsaStamp(f.Created), "the facts the feed filters on are the event's")

			was, got := fieldsOf(t, in), fieldsOf(t, out)
			sameInstant(t, was.EventDateTime, got.EventDateTime, "eventDateTime")
			if was.EventClassifierCode != "ACT" || was.EventType == "SHIPMENT" {
				sameInstant(t, was.EventCreatedDateTime, got.EventCreatedDateTime, "eventCreatedDateTime")
			}
			was.EventDateTime, was.EventCreatedDateTime, got.EventDateTime, got.EventCreatedDateTime = "", "", "", ""
			require.Equal(t, was, got)

			again := canonicalOf(t, translateRow(t, out))
			require.Equal(t, c.Type, again.Type)
			require.True(t, c.OccurredAt.Equal(again.OccurredAt))
			require.Equal(t, c.References, again.References)
			require.JSONEq(t, string(c.Data), string(again.Data))
		})
	}
	slices.Sort(types)
	require.Equal(t, subscriptions.DCSATypes(), types, "the rows cover exactly the types subscriptions lets a DCSA endpoint take")
}

func TestDCSAEventIDIsStable(t *testing.T) {
	require.Equal(t, "5e0c7a4e-2b8f-4f0e-9d1a-1f3b6c8a7d21", DCSAEventID("evt_01", "dcsa:5E0C7A4E-2B8F-4F0E-9D1A-1F3B6C8A7D21"),
		"an event from a DCSA source keeps its eventID")
	a, b := DCSAEventID("evt_01", ""), DCSAEventID("evt_02", "tms-7")
	require.Equal(t, a, DCSAEventID("evt_01", ""))
	require.Equal(t, a, DCSAEventID("evt_01", "tms-7"), "derived from shiphook's id, not another source's")
	require.NotEqual(t, a, b)
	require.True(t, isUUID(a), a)
	require.Equal(t, byte('8'), a[14], "a version 8 UUID")
	require.Equal(t, a, DCSAEventID("evt_01", "dcsa:not-a-uuid"))
}

func TestDCSAEventTimesToTheMicrosecond(t *testing.T) {
	at := time.Date(2026, 11, 20, 8, 5, 0, 123456789, time.FixedZone("", 8*3600))
	ev := Canonical{ID: "e1", Type: "shipment.milestone.departed", OccurredAt: at, CreatedAt: at,
		Data: json.RawMessage(`{"location": {"code": "CNSHA"}}`)}
	out, ok := DCSAEvent(ev)
	require.True(t, ok)
	require.Equal(t, "2026-11-20T00:05:00.123456Z", fieldOf(t, out, "eventDateTime"), "as the store keeps it")
	ev.OccurredAt, ev.CreatedAt = at.Truncate(time.Microsecond).UTC(), at.Truncate(time.Microsecond).UTC()
	again, _ := DCSAEvent(ev)
	require.Equal(t, string(out), string(again))
}

func TestDCSAEventWithoutAForm(t *testing.T) {
	at := time.Date(2026, 11, 20, 8, 5, 0, 0, time.UTC)
	refs := subscriptions.References{Booking: "SHA4471203"}
	for _, tc := range []struct {
		name string
		ev   Canonical
	}{
		{"a type without one", Canonical{ID: "e1", Type: "shipment.milestone.delivered", OccurredAt: at, References: refs,
			Data: json.RawMessage(`{"location": {"code": "DEHAM"}}`)}},
		{"a change of plan with no new time", Canonical{ID: "e2", Type: "shipment.updated", OccurredAt: at, References: refs,
			Data: json.RawMessage(`{"vessel": "EVER GIVEN"}`)}},
		{"a shipment by air", Canonical{ID: "e3", Type: "shipment.milestone.departed", Mode: "air", OccurredAt: at, References: refs,
			Data: json.RawMessage(`{"location": {"code": "HKHKG"}}`)}},
		{"a booking confirmed without its booking reference", Canonical{ID: "e4", Type: "shipment.milestone.booked", OccurredAt: at,
			Data: json.RawMessage(`{"description": "Booking confirmed"}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := DCSAEvent(tc.ev)
			require.False(t, ok)
		})
	}
}

func TestDCSAEventOfAnEventFromElsewhere(t *testing.T) {
	schemas, err := dcsaschema.Load()
	require.NoError(t, err)
	ev := Canonical{ID: "evt_7Hk2", Type: "shipment.milestone.departed", Mode: "rail",
		OccurredAt: time.Date(2026, 11, 20, 8, 5, 0, 0, time.UTC), CreatedAt: time.Date(2026, 11, 20, 8, 6, 0, 0, time.UTC),
		References: subscriptions.References{BillOfLading: "MEDUSH882417", Containers: []string{"MSCU4829172"}, CustomerReferences: []string{"NORD-1"}},
		Data:       json.RawMessage(`{"location": {"code": "NLRTM", "name": "Rotterdam rail terminal"}, "description": "Train left"}`)}
	out, ok := DCSAEvent(ev)
	require.True(t, ok)
	require.NoError(t, schemas.Event(out), "%s", out)
	require.JSONEq(t, `{
		"eventID": "`+DCSAEventID("evt_7Hk2", "")+`",
		"eventCreatedDateTime": "2026-11-20T08:06:00Z", "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
		"eventDateTime": "2026-11-20T08:05:00Z", "transportEventTypeCode": "DEPA", "changeRemark": "Train left",
		"transportCall": {"transportCallID": "`+fieldOf(t, out, "transportCall", "transportCallID")+`", "modeOfTransport": "RAIL",
			"UNLocationCode": "NLRTM", "location": {"locationName": "Rotterdam rail terminal", "UNLocationCode": "NLRTM"}},
		"documentReferences": [{"documentReferenceType": "TRD (Transport Document)", "documentReferenceValue": "MEDUSH882417"}],
		"references": [{"referenceType": "EQ", "referenceValue": "MSCU4829172"}, {"referenceType": "CR", "referenceValue": "NORD-1"}]
	}`, string(out))
}

func fieldOf(t *testing.T, raw []byte, path ...string) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v))
	for _, p := range path {
		v = v.(map[string]any)[p]
	}
	return v.(string)
}

// BenchmarkDCSAFacts is what storing an event with a DCSA form adds to
// ingest in shiphook's process: the facts its feed rows hold.
func BenchmarkDCSAFacts(b *testing.B) {
	ev := Canonical{ID: "evt_01JEXAMPLE", Type: "shipment.milestone.departed", OccurredAt: time.Now(), CreatedAt: time.Now(),
		Data: json.RawMessage(`{"location":{"code":"CNSHA","name":"Shanghai"},"vessel":"MSC OSCAR","voyage":"FE547W","sent_at_ns":"1"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := DCSAFactsOf(ev); !ok {
			b.Fatal("no DCSA form")
		}
	}
}
