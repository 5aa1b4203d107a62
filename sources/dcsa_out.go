package sources

// This file is the DCSA mapping the other way: a canonical event that has
// a DCSA Track & Trace 2.2 form (subscriptions.HasDCSAForm) rendered as
// the DCSA event a carrier would have sent, for endpoints of format
// dcsa-tnt-2.2 and for GET /dcsa/tnt/v2/events. It inverts the tables of
// dcsa_map.go, so that a DCSA event read in and rendered out comes back
// with the same classifier, type codes, references, place and times.
// docs/dcsa.md states the outbound table too.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// Canonical is what DCSAEvent reads of a canonical event.
type Canonical struct {
	// ID is shiphook's id of the event; SourceID the id its source gave
	// it, "dcsa:<eventID>" for one from a DCSA source.
	ID, SourceID string
	Type         string
	// OccurredAt is the event's occurred_at; CreatedAt, when shiphook
	// took it in (the eventCreatedDateTime of an actual transport or
	// equipment event; OccurredAt when zero).
	OccurredAt time.Time
	CreatedAt  time.Time
	// Mode is the shipment's mode (ocean, rail, road, barge, air); empty
	// is taken as ocean.
	Mode       string
	References subscriptions.References
	Data       json.RawMessage
}

// DCSAEvent returns ev as a DCSA Track & Trace 2.2 event (a
// TransportEvent, EquipmentEvent or ShipmentEvent), and whether it has
// one: its type must have a DCSA form (subscriptions.HasDCSAForm), and
// its data what that form needs. A shipment.updated needs an eta or an
// etd; shipment.milestone.booked a booking reference; nothing of a
// shipment that travels by air has a DCSA form.
//
// The eventID is DCSAEventID(ev.ID, ev.SourceID): stable, so an event
// delivered again or listed again carries the same id.
func DCSAEvent(ev Canonical) (json.RawMessage, bool) {
	out, ok := render(ev, false)
	if !ok {
		return nil, false
	}
	raw, err := json.Marshal(out)
	return raw, err == nil
}

// DCSAFacts are what GET /dcsa/tnt/v2/events filters the DCSA event of a
// canonical event by, without rendering it.
type DCSAFacts struct {
	// EventType is TRANSPORT, EQUIPMENT or SHIPMENT; TypeCode its
	// transportEventTypeCode, equipmentEventTypeCode or
	// shipmentEventTypeCode.
	EventType, TypeCode string
	// EquipmentReference is an EQUIPMENT event's container.
	EquipmentReference string
	// Created is its eventCreatedDateTime.
	Created time.Time
}

// DCSAFactsOf returns the facts of the DCSA event of ev, and whether it
// has one (as DCSAEvent).
func DCSAFactsOf(ev Canonical) (DCSAFacts, bool) {
	out, ok := render(ev, true)
	if !ok {
		return DCSAFacts{}, false
	}
	f := DCSAFacts{EventType: out.EventType, EquipmentReference: out.EquipmentReference}
	f.TypeCode = out.TransportEventTypeCode + out.EquipmentEventTypeCode + out.ShipmentEventTypeCode
	f.Created, _ = time.Parse(time.RFC3339Nano, out.EventCreatedDateTime)
	return f, true
}

// render is DCSAEvent before encoding; factsOnly leaves out what
// DCSAFacts does not hold (the ids and the references), which ingest
// need not pay for.
func render(ev Canonical, factsOnly bool) (*outEvent, bool) {
	mode, ok := dcsaModes[ev.Mode]
	if !ok || !subscriptions.HasDCSAForm(ev.Type) {
		return nil, false
	}
	var d outData
	if len(ev.Data) > 0 && json.Unmarshal(ev.Data, &d) != nil {
		return nil, false
	}
	created := ev.CreatedAt
	if created.IsZero() {
		created = ev.OccurredAt
	}
	out := &outEvent{dcsaEvent: dcsaEvent{EventCreatedDateTime: dcsaStamp(created), EventClassifierCode: "ACT",
		EventDateTime: dcsaStamp(ev.OccurredAt)}, factsOnly: factsOnly}
	switch {
	case strings.HasPrefix(ev.Type, "shipment.equipment."):
		ok = out.equipment(ev.Type, &d, mode)
	case strings.HasPrefix(ev.Type, "shipment.document."), ev.Type == "shipment.milestone.booked":
		out.EventCreatedDateTime = out.EventDateTime // the standard has them equal for shipment events
		ok = out.shipment(ev, &d)
	default:
		ok = out.transport(ev, &d, mode)
	}
	if !ok {
		return nil, false
	}
	if !factsOnly {
		out.EventID = DCSAEventID(ev.ID, ev.SourceID)
		out.references(ev.References)
	}
	return out, true
}

// DCSAEventID returns the DCSA eventID of the canonical event id, whose
// source gave it sourceID: the DCSA event's own eventID when the event
// came from a DCSA source (sourceID "dcsa:<eventID>") and that is a UUID,
// else a UUID derived from id (the first 16 bytes of an HMAC-SHA256 of
// it, with the version and variant bits of a version 8 UUID). The same
// event always gives the same eventID.
func DCSAEventID(id, sourceID string) string {
	if orig, ok := strings.CutPrefix(sourceID, DCSAIDPrefix); ok && isUUID(orig) {
		return strings.ToLower(orig)
	}
	return derivedUUID("event", id)
}

// DCSASubscriptionID returns the Subscription-ID a DCSA notification to
// the endpoint endpointID carries: a UUID derived from the endpoint's id,
// the same for every notification to it, as a DCSA subscription's is.
func DCSASubscriptionID(endpointID string) string { return derivedUUID("subscription", endpointID) }

// derivedUUID returns a version 8 UUID made from kind and key.
func derivedUUID(kind, key string) string {
	mac := hmac.New(sha256.New, []byte("shiphook dcsa "+kind))
	mac.Write([]byte(key))
	b := mac.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}

// dcsaStamp writes t as DCSA's date-times are written, RFC 3339, in UTC
// and to the microsecond that the store keeps: an event read from the
// database and the same event held in memory give the same text.
func dcsaStamp(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

// dcsaModes maps a shipment's mode to a transport call's modeOfTransport;
// air has none.
var dcsaModes = map[string]string{"": "VESSEL", "ocean": "VESSEL", "rail": "RAIL", "road": "TRUCK", "barge": "BARGE"}

// outData is the data of every canonical type with a DCSA form.
type outData struct {
	Location    *place `json:"location"`
	Vessel      string `json:"vessel"`
	VesselIMO   string `json:"vessel_imo"`
	Voyage      string `json:"voyage"`
	Description string `json:"description"`
	// shipment.updated
	ETA        string `json:"eta"`
	ETD        string `json:"etd"`
	TimeBasis  string `json:"time_basis"`
	Reason     string `json:"reason"`
	ReasonCode string `json:"reason_code"`
	// shipment.equipment.*
	Container string `json:"container"`
	Empty     bool   `json:"empty"`
	ISOType   string `json:"iso_type"`
	Seals     []seal `json:"seals"`
	Mode      string `json:"mode"`
	// shipment.document.*
	Type   string `json:"type"`
	Number string `json:"number"`
}
