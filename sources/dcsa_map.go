package sources

// This file is the DCSA mapping table: what each DCSA Track & Trace 2.2
// event becomes. docs/dcsa.md states the same table for people; the two
// change together.

import (
	"slices"
	"strconv"
	"strings"

	"github.com/shiphook/shiphook/subscriptions"
)

// translated is what one DCSA event becomes, before its references.
type translated struct {
	typ        string
	occurredAt string
	data       any
}

// dcsaEventTypes maps each DCSA eventType to its translation.
var dcsaEventTypes = map[string]func(*dcsaEvent) (translated, error){
	"TRANSPORT": translateTransport,
	"EQUIPMENT": translateEquipment,
	"SHIPMENT":  translateShipment,
}

// classifiers are the eventClassifierCodes: actual, planned, estimated.
var classifiers = []string{"ACT", "PLN", "EST"}

func translateByType(e *dcsaEvent) (translated, error) {
	translate := dcsaEventTypes[e.EventType]
	if translate == nil {
		return translated{}, unknownCode("eventType", e.EventType, "TRANSPORT", "EQUIPMENT", "SHIPMENT")
	}
	if !slices.Contains(classifiers, e.EventClassifierCode) {
		return translated{}, unknownCode("eventClassifierCode", e.EventClassifierCode, classifiers...)
	}
	return translate(e)
}

// unknownCode is the error for a code outside what is translated.
func unknownCode(field, code string, accepted ...string) error {
	if code == "" {
		return subscriptions.Fieldf(field, "is required; use one of %s", strings.Join(accepted, ", "))
	}
	return subscriptions.Fieldf(field, "%q is not translated; use one of %s", code, strings.Join(accepted, ", "))
}

// --- TRANSPORT: a vessel (or train, truck, barge) at a transport call ---

// transportMilestones: an actual arrival or departure is a milestone.
var transportMilestones = map[string]string{
	"ARRI": "shipment.milestone.arrived",
	"DEPA": "shipment.milestone.departed",
}

// timeBases: a planned or estimated arrival or departure is not a
// milestone but a change of plan, shipment.updated, with the new time as
// its eta or etd.
var timeBases = map[string]string{"EST": "estimated", "PLN": "planned"}

type milestoneData struct {
	Location *place `json:"location,omitempty"`
	conveyance
	Description string `json:"description,omitempty"`
}

type updateData struct {
	ETD       string `json:"etd,omitempty"`
	ETA       string `json:"eta,omitempty"`
	TimeBasis string `json:"time_basis"`
	Location  *place `json:"location,omitempty"`
	conveyance
	Reason     string `json:"reason,omitempty"`
	ReasonCode string `json:"reason_code,omitempty"`
}

// translateTransport: ACT ARRI/DEPA is a milestone at the transport call,
// occurred at eventDateTime. EST and PLN are shipment.updated, occurred
// when the carrier made the estimate or plan (eventCreatedDateTime), with
// eventDateTime as the new eta (ARRI) or etd (DEPA).
func translateTransport(e *dcsaEvent) (translated, error) {
	code := e.TransportEventTypeCode
	milestone, ok := transportMilestones[code]
	if !ok {
		return translated{}, unknownCode("transportEventTypeCode", code, "ARRI", "DEPA")
	}
	if e.TransportCall == nil {
		return translated{}, subscriptions.Fieldf("transportCall", "is required: it says where the vessel called")
	}
	at, err := e.TransportCall.place("transportCall")
	if err != nil {
		return translated{}, err
	}
	if at == nil {
		return translated{}, subscriptions.Fieldf("transportCall.UNLocationCode", "is required, or a location with its UNLocationCode or locationName: it says where the vessel called")
	}
	vessel, err := e.TransportCall.conveyance("transportCall", code == "ARRI")
	if err != nil {
		return translated{}, err
	}
	when, err := dcsaTime("eventDateTime", e.EventDateTime)
	if err != nil {
		return translated{}, err
	}
	basis, planned := timeBases[e.EventClassifierCode]
	if !planned {
		return translated{milestone, when, milestoneData{Location: at, conveyance: vessel, Description: e.ChangeRemark}}, nil
	}
	made, err := dcsaTime("eventCreatedDateTime", e.EventCreatedDateTime)
	if err != nil {
		return translated{}, err
	}
	d := updateData{TimeBasis: basis, Location: at, conveyance: vessel, Reason: e.ChangeRemark, ReasonCode: e.DelayReasonCode}
	if code == "ARRI" {
		d.ETA = when
	} else {
		d.ETD = when
	}
	return translated{"shipment.updated", made, d}, nil
}

// --- EQUIPMENT: a container moved ---

// equipmentTypes maps each equipmentEventTypeCode to its canonical type.
var equipmentTypes = map[string]string{
	"GTIN": "shipment.equipment.gated_in",
	"GTOT": "shipment.equipment.gated_out",
	"LOAD": "shipment.equipment.loaded",
	"DISC": "shipment.equipment.discharged",
	"STUF": "shipment.equipment.stuffed",
	"STRP": "shipment.equipment.stripped",
	"PICK": "shipment.equipment.picked_up",
	"DROP": "shipment.equipment.dropped_off",
	"INSP": "shipment.equipment.inspected",
}

// equipmentUntranslated are the 2.2 codes with no canonical type: a
// resealed container would need a change of seals, and "removed" says
// too little of what happened to be delivered as a move.
var equipmentUntranslated = map[string]string{"RSEA": "resealed", "RMVD": "removed"}

// emptyIndicators: whether the container was empty.
var emptyIndicators = map[string]bool{"EMPTY": true, "LADEN": false}

// modesOfTransport maps the modeOfTransport of a transport call to the
// mode a container moves on.
var modesOfTransport = map[string]string{"VESSEL": "ocean", "RAIL": "rail", "TRUCK": "road", "BARGE": "barge"}

// sealSources and sealTypes map a seal's codes to the catalog's words.
var (
	sealSources = map[string]string{"CAR": "carrier", "SHI": "shipper", "PHY": "phytosanitary", "VET": "veterinary", "CUS": "customs"}
	sealTypes   = map[string]string{"KLP": "keyless_padlock", "BLT": "bolt", "WIR": "wire"}
)

type equipmentData struct {
	Container string `json:"container"`
	Empty     bool   `json:"empty"`
	ISOType   string `json:"iso_type,omitempty"`
	Seals     []seal `json:"seals,omitempty"`
	Location  *place `json:"location,omitempty"`
	Mode      string `json:"mode,omitempty"`
	conveyance
}

type seal struct {
	Number string `json:"number"`
	Source string `json:"source,omitempty"`
	Type   string `json:"type,omitempty"`
}

// translateEquipment: an actual container move is shipment.equipment.*,
// occurred at eventDateTime, at its eventLocation or else its transport
// call, with the vessel and mode of the transport call if it has one.
// An estimated or planned move has no canonical type.
func translateEquipment(e *dcsaEvent) (translated, error) {
	code := e.EquipmentEventTypeCode
	typ, ok := equipmentTypes[code]
	switch {
	case equipmentUntranslated[code] != "":
		return translated{}, subscriptions.Fieldf("equipmentEventTypeCode", "%q (%s) has no canonical event type and is not translated", code, equipmentUntranslated[code])
	case !ok:
		return translated{}, unknownCode("equipmentEventTypeCode", code, "GTIN", "GTOT", "LOAD", "DISC", "STUF", "STRP", "PICK", "DROP", "INSP")
	case e.EventClassifierCode != "ACT":
		return translated{}, subscriptions.Fieldf("eventClassifierCode", "%q: only actual (ACT) container moves are translated; an estimated or planned move has no canonical event type", e.EventClassifierCode)
	case e.EquipmentReference == "":
		return translated{}, subscriptions.Fieldf("equipmentReference", "is required: the number of the container")
	}
	empty, ok := emptyIndicators[e.EmptyIndicatorCode]
	if !ok {
		return translated{}, unknownCode("emptyIndicatorCode", e.EmptyIndicatorCode, "EMPTY", "LADEN")
	}
	d := equipmentData{Container: e.EquipmentReference, Empty: empty, ISOType: e.ISOEquipmentCode}
	var err error
	if d.Seals, err = seals(e.Seals); err != nil {
		return translated{}, err
	}
	if d.Location, err = e.EventLocation.place("eventLocation"); err != nil {
		return translated{}, err
	}
	if t := e.TransportCall; t != nil {
		if err := t.equipment(&d, code == "DISC"); err != nil {
			return translated{}, err
		}
	}
	when, err := dcsaTime("eventDateTime", e.EventDateTime)
	if err != nil {
		return translated{}, err
	}
	return translated{typ, when, d}, nil
}

// equipment adds what the transport call says to a container move: the
// place, when the event has no eventLocation, the mode and the vessel.
func (t *dcsaTransport) equipment(d *equipmentData, arriving bool) error {
	var err error
	if d.Location == nil {
		if d.Location, err = t.place("transportCall"); err != nil {
			return err
		}
	}
	if t.ModeOfTransport != "" {
		if d.Mode = modesOfTransport[t.ModeOfTransport]; d.Mode == "" {
			return unknownCode("transportCall.modeOfTransport", t.ModeOfTransport, "VESSEL", "RAIL", "TRUCK", "BARGE")
		}
	}
	d.conveyance, err = t.conveyance("transportCall", arriving)
	return err
}

func seals(in []dcsaSeal) ([]seal, error) {
	var out []seal
	for i, s := range in {
		field := "seals[" + strconv.Itoa(i) + "]"
		number := strings.TrimSpace(s.SealNumber)
		if number == "" {
			return nil, subscriptions.Fieldf(field+".sealNumber", "is required")
		}
		src, typ := strings.TrimSpace(s.SealSource), strings.TrimSpace(s.SealType)
		if src != "" && sealSources[src] == "" {
			return nil, unknownCode(field+".sealSource", src, "CAR", "SHI", "PHY", "VET", "CUS")
		}
		if typ != "" && sealTypes[typ] == "" {
			return nil, unknownCode(field+".sealType", typ, "KLP", "BLT", "WIR")
		}
		out = append(out, seal{Number: number, Source: sealSources[src], Type: sealTypes[typ]})
	}
	return out, nil
}

// --- SHIPMENT: the status of a document ---

// documentKinds maps a documentTypeCode to the kind of document of
// shipment.document.* (subscriptions.DocumentKinds).
var documentKinds = map[string]string{
	"CBR": "booking_request",
	"BKG": "booking",
	"SHI": "shipping_instruction",
	"SRM": "shipment_release",
	"TRD": "bill_of_lading",
	"ARN": "arrival_notice",
	"VGM": "verified_gross_mass",
	"CAS": "cargo_survey",
	"CUS": "customs_inspection",
	"DGD": "dangerous_goods_declaration",
	"OOG": "out_of_gauge",
}

// documentStatuses maps a shipmentEventTypeCode to the status that ends
// the type: shipment.document.<status>.
var documentStatuses = map[string]string{
	"RECE": "received",
	"DRFT": "drafted",
	"PENA": "pending_approval",
	"PENU": "pending_update",
	"REJE": "rejected",
	"APPR": "approved",
	"ISSU": "issued",
	"SURR": "surrendered",
	"SUBM": "submitted",
	"VOID": "voided",
	"CONF": "confirmed",
	"REQS": "requested",
	"CMPL": "completed",
	"HOLD": "on_hold",
	"RELS": "released",
}

// shipmentMilestones are the shipment events that are a milestone of the
// shipment rather than the status of a document, by documentTypeCode and
// shipmentEventTypeCode: a confirmed booking.
var shipmentMilestones = map[[2]string]string{
	{"BKG", "CONF"}: "shipment.milestone.booked",
}

type documentData struct {
	Type   string `json:"type"`
	Number string `json:"number"`
	Reason string `json:"reason,omitempty"`
}

type bookedData struct {
	Description string `json:"description"`
}

// translateShipment: an actual shipment event is shipment.document.<status>
// of its document, or a milestone (shipmentMilestones), occurred at
// eventDateTime.
func translateShipment(e *dcsaEvent) (translated, error) {
	kind, ok := documentKinds[e.DocumentTypeCode]
	if !ok {
		return translated{}, unknownCode("documentTypeCode", e.DocumentTypeCode, sortedKeys(documentKinds)...)
	}
	status, ok := documentStatuses[e.ShipmentEventTypeCode]
	switch {
	case !ok:
		return translated{}, unknownCode("shipmentEventTypeCode", e.ShipmentEventTypeCode, sortedKeys(documentStatuses)...)
	case e.EventClassifierCode != "ACT":
		return translated{}, subscriptions.Fieldf("eventClassifierCode", "%q: only actual (ACT) shipment events are translated", e.EventClassifierCode)
	case e.DocumentID == "":
		return translated{}, subscriptions.Fieldf("documentID", "is required: the reference of the %s", strings.ReplaceAll(kind, "_", " "))
	}
	when, err := dcsaTime("eventDateTime", e.EventDateTime)
	if err != nil {
		return translated{}, err
	}
	if typ := shipmentMilestones[[2]string{e.DocumentTypeCode, e.ShipmentEventTypeCode}]; typ != "" {
		description := e.Reason
		if description == "" {
			description = "Booking " + e.DocumentID + " confirmed by the carrier"
		}
		return translated{typ, when, bookedData{Description: description}}, nil
	}
	return translated{"shipment.document." + status, when, documentData{Type: kind, Number: e.DocumentID, Reason: e.Reason}}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
