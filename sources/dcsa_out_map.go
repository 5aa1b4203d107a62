package sources

// This file holds a DCSA event as it is rendered, and how each canonical
// type fills it: the inverse of the tables in dcsa_map.go.

import (
	"slices"
	"strings"

	"github.com/shiphook/shiphook/subscriptions"
)

// outEvent is a dcsaEvent as DCSAEvent renders it; only the fields of
// its eventType are set.
type outEvent struct {
	dcsaEvent
	// factsOnly: only what DCSAFacts holds is filled in.
	factsOnly bool
}

// inverse returns m with keys and values swapped.
func inverse(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	transportCodes = inverse(transportMilestones)
	classifierOf   = inverse(timeBases)
	equipmentCodes = inverse(equipmentTypes)
	modeCodes      = inverse(modesOfTransport)
	sealSourceOf   = inverse(sealSources)
	sealTypeOf     = inverse(sealTypes)
	documentCodes  = inverse(documentKinds)
	statusCodes    = inverse(documentStatuses)
)

// transport fills a TRANSPORT event: an arrival or departure milestone
// is ACT at occurred_at; a shipment.updated with an eta (ARRI, else with
// an etd, DEPA) is EST or PLN by its time_basis (EST when it has none),
// made at occurred_at, for the eta or etd.
func (o *outEvent) transport(ev Canonical, d *outData, mode string) bool {
	o.EventType = "TRANSPORT"
	arriving := false
	if ev.Type == "shipment.updated" {
		when := d.ETA
		o.TransportEventTypeCode, arriving = "ARRI", true
		if when == "" {
			when, o.TransportEventTypeCode, arriving = d.ETD, "DEPA", false
		}
		if when == "" {
			return false
		}
		o.EventClassifierCode = classifierOf[d.TimeBasis]
		if o.EventClassifierCode == "" {
			o.EventClassifierCode = "EST"
		}
		o.EventCreatedDateTime, o.EventDateTime = dcsaStamp(ev.OccurredAt), when
		o.ChangeRemark, o.DelayReasonCode = d.Reason, d.ReasonCode
	} else {
		o.TransportEventTypeCode = transportCodes[ev.Type]
		arriving = o.TransportEventTypeCode == "ARRI"
		o.ChangeRemark = d.Description
	}
	if !o.factsOnly {
		o.TransportCall = transportCall(d, mode, arriving)
		o.TransportCall.placeAt(d.Location)
	}
	return true
}

// transportCall returns the call of d's vessel and voyage; its id is
// derived from what names the call, so that the arrival and departure
// of one call share it.
func transportCall(d *outData, mode string, arriving bool) *dcsaTransport {
	t := &dcsaTransport{ModeOfTransport: mode}
	if arriving {
		t.ImportVoyageNumber = d.Voyage
	} else {
		t.ExportVoyageNumber = d.Voyage
	}
	if d.VesselIMO != "" {
		t.Vessel = &dcsaVessel{VesselIMONumber: d.VesselIMO, VesselName: d.Vessel}
	}
	key := []string{mode, d.VesselIMO, d.Vessel, d.Voyage}
	if p := d.Location; p != nil {
		key = append(key, p.Code, p.Facility, p.Name)
	}
	t.TransportCallID = derivedUUID("transport call", strings.Join(key, "\x00"))
	return t
}

// placeAt puts p on the transport call: its UN/LOCODE and facility code
// on the call, its name as the call's location.
func (t *dcsaTransport) placeAt(p *place) {
	if p == nil {
		return
	}
	t.UNLocationCode, t.FacilityCode = p.Code, p.Facility
	if p.Name != "" {
		t.Location = &dcsaLocation{LocationName: p.Name, UNLocationCode: p.Code}
	}
}

// equipment fills an EQUIPMENT event: an actual container move at its
// location, with a transport call when the move names a mode, vessel or
// voyage. A seal without its type is left out: the standard requires
// sealType.
func (o *outEvent) equipment(typ string, d *outData, mode string) bool {
	o.EventType, o.EquipmentEventTypeCode = "EQUIPMENT", equipmentCodes[typ]
	if d.Container == "" {
		return false
	}
	o.EquipmentReference, o.ISOEquipmentCode = d.Container, d.ISOType
	o.EmptyIndicatorCode = "LADEN"
	if d.Empty {
		o.EmptyIndicatorCode = "EMPTY"
	}
	if p := d.Location; p != nil {
		o.EventLocation = &dcsaLocation{LocationName: p.Name, UNLocationCode: p.Code, FacilityCode: p.Facility}
	}
	for _, s := range d.Seals {
		if code := sealTypeOf[s.Type]; code != "" {
			o.Seals = append(o.Seals, dcsaSeal{SealNumber: s.Number, SealSource: sealSourceOf[s.Source], SealType: code})
		}
	}
	if !o.factsOnly && (d.Mode != "" || d.Vessel != "" || d.VesselIMO != "" || d.Voyage != "") {
		if m := modeCodes[d.Mode]; m != "" {
			mode = m
		}
		o.TransportCall = transportCall(d, mode, o.EquipmentEventTypeCode == "DISC")
	}
	return true
}

// shipment fills a SHIPMENT event: the status of a document, or a
// confirmed booking (BKG CONF) whose documentID is the booking.
func (o *outEvent) shipment(ev Canonical, d *outData) bool {
	o.EventType = "SHIPMENT"
	if ev.Type == "shipment.milestone.booked" {
		o.ShipmentEventTypeCode, o.DocumentTypeCode, o.DocumentID, o.Reason = "CONF", "BKG", ev.References.Booking, d.Description
		return o.DocumentID != ""
	}
	o.ShipmentEventTypeCode = statusCodes[strings.TrimPrefix(ev.Type, "shipment.document.")]
	o.DocumentTypeCode, o.DocumentID, o.Reason = documentCodes[d.Type], d.Number, d.Reason
	return o.ShipmentEventTypeCode != "" && o.DocumentTypeCode != "" && o.DocumentID != ""
}

// references renders shipment.references: the booking and the bill of
// lading as documentReferences, the containers (EQ), purchase orders (PO)
// and customer references (CR) as references. A customer reference
// read in as the shipper's, forwarder's or consignee's goes out as CR:
// the canonical event keeps no difference between them.
func (o *outEvent) references(r subscriptions.References) {
	if r.Booking != "" {
		o.DocumentReferences = append(o.DocumentReferences, dcsaDocumentReference{"BKG (Booking)", r.Booking})
	}
	if r.BillOfLading != "" {
		o.DocumentReferences = append(o.DocumentReferences, dcsaDocumentReference{"TRD (Transport Document)", r.BillOfLading})
	}
	for _, list := range []struct {
		code   string
		values []string
	}{{"EQ", r.Containers}, {"PO", r.PurchaseOrders}, {"CR", r.CustomerReferences}} {
		for _, v := range list.values {
			if list.code == "EQ" && v == o.EquipmentReference {
				continue
			}
			if !slices.Contains(o.References, dcsaReference{list.code, v}) {
				o.References = append(o.References, dcsaReference{list.code, v})
			}
		}
	}
}
