package sources

// This file holds a DCSA event as it is read and rendered (the fields
// translation uses, named as in the DCSA Track & Trace 2.2
// specification), and how its references, places and vessel are read
// into canonical terms.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shiphook/shiphook/subscriptions"
)

// dcsaEvent is a TRANSPORT, EQUIPMENT or SHIPMENT event, as it is read
// and as DCSAEvent renders it (outEvent), in the order the standard lists
// its fields; a field left empty is not rendered. Fields the translation
// does not use are left out; carrierBookingReference and
// transportDocumentReference are not in 2.2 events but are read when a
// publisher adds them (a rendered event never has them).
type dcsaEvent struct {
	EventID              string `json:"eventID"`
	EventCreatedDateTime string `json:"eventCreatedDateTime"`
	EventType            string `json:"eventType"`
	EventClassifierCode  string `json:"eventClassifierCode"`
	EventDateTime        string `json:"eventDateTime"`

	TransportEventTypeCode string `json:"transportEventTypeCode,omitempty"`
	DelayReasonCode        string `json:"delayReasonCode,omitempty"`
	ChangeRemark           string `json:"changeRemark,omitempty"`

	EquipmentEventTypeCode string        `json:"equipmentEventTypeCode,omitempty"`
	EquipmentReference     string        `json:"equipmentReference,omitempty"`
	ISOEquipmentCode       string        `json:"ISOEquipmentCode,omitempty"`
	EmptyIndicatorCode     string        `json:"emptyIndicatorCode,omitempty"`
	EventLocation          *dcsaLocation `json:"eventLocation,omitempty"`
	Seals                  []dcsaSeal    `json:"seals,omitempty"`

	ShipmentEventTypeCode string `json:"shipmentEventTypeCode,omitempty"`
	DocumentTypeCode      string `json:"documentTypeCode,omitempty"`
	DocumentID            string `json:"documentID,omitempty"`
	Reason                string `json:"reason,omitempty"`

	TransportCall              *dcsaTransport          `json:"transportCall,omitempty"`
	DocumentReferences         []dcsaDocumentReference `json:"documentReferences,omitempty"`
	References                 []dcsaReference         `json:"references,omitempty"`
	CarrierBookingReference    string                  `json:"carrierBookingReference,omitempty"`
	TransportDocumentReference string                  `json:"transportDocumentReference,omitempty"`
}

// dcsaTransport is a transport call, read and rendered; the standard
// requires transportCallID and modeOfTransport.
type dcsaTransport struct {
	TransportCallID     string        `json:"transportCallID"`
	ModeOfTransport     string        `json:"modeOfTransport"`
	UNLocationCode      string        `json:"UNLocationCode,omitempty"`
	FacilityCode        string        `json:"facilityCode,omitempty"`
	OtherFacility       string        `json:"otherFacility,omitempty"`
	ExportVoyageNumber  string        `json:"exportVoyageNumber,omitempty"`
	ImportVoyageNumber  string        `json:"importVoyageNumber,omitempty"`
	CarrierVoyageNumber string        `json:"carrierVoyageNumber,omitempty"`
	Location            *dcsaLocation `json:"location,omitempty"`
	Vessel              *dcsaVessel   `json:"vessel,omitempty"`
}

// dcsaLocation, dcsaVessel and dcsaSeal are read, and rendered by
// DCSAEvent (dcsa_out.go): their empty fields are left out.
type dcsaLocation struct {
	LocationName   string `json:"locationName,omitempty"`
	UNLocationCode string `json:"UNLocationCode,omitempty"`
	FacilityCode   string `json:"facilityCode,omitempty"`
}

type dcsaVessel struct {
	VesselIMONumber string `json:"vesselIMONumber"`
	VesselName      string `json:"vesselName,omitempty"`
}

type dcsaSeal struct {
	SealNumber string `json:"sealNumber"`
	SealSource string `json:"sealSource,omitempty"`
	SealType   string `json:"sealType,omitempty"`
}

type dcsaDocumentReference struct {
	DocumentReferenceType  string `json:"documentReferenceType"`
	DocumentReferenceValue string `json:"documentReferenceValue"`
}

type dcsaReference struct {
	ReferenceType  string `json:"referenceType"`
	ReferenceValue string `json:"referenceValue"`
}

// trim removes the spaces around every string the translation uses.
func (e *dcsaEvent) trim() {
	for _, s := range []*string{&e.EventID, &e.EventCreatedDateTime, &e.EventType, &e.EventClassifierCode, &e.EventDateTime,
		&e.TransportEventTypeCode, &e.DelayReasonCode, &e.ChangeRemark, &e.EquipmentEventTypeCode, &e.EquipmentReference,
		&e.ISOEquipmentCode, &e.EmptyIndicatorCode, &e.ShipmentEventTypeCode, &e.DocumentTypeCode, &e.DocumentID, &e.Reason,
		&e.CarrierBookingReference, &e.TransportDocumentReference} {
		*s = strings.TrimSpace(*s)
	}
	if t := e.TransportCall; t != nil {
		for _, s := range []*string{&t.UNLocationCode, &t.FacilityCode, &t.OtherFacility, &t.ModeOfTransport,
			&t.ExportVoyageNumber, &t.ImportVoyageNumber, &t.CarrierVoyageNumber} {
			*s = strings.TrimSpace(*s)
		}
		t.Location.trim()
		if v := t.Vessel; v != nil {
			v.VesselIMONumber, v.VesselName = strings.TrimSpace(v.VesselIMONumber), strings.TrimSpace(v.VesselName)
		}
	}
	e.EventLocation.trim()
}

func (l *dcsaLocation) trim() {
	if l != nil {
		l.LocationName, l.UNLocationCode, l.FacilityCode = strings.TrimSpace(l.LocationName), strings.TrimSpace(l.UNLocationCode), strings.TrimSpace(l.FacilityCode)
	}
}

// references is shipment.references of a canonical event: the keys by
// which ingest finds the registered shipment.
type references struct {
	Booking            string   `json:"booking,omitempty"`
	BillOfLading       string   `json:"bill_of_lading,omitempty"`
	Containers         []string `json:"containers,omitempty"`
	PurchaseOrders     []string `json:"purchase_orders,omitempty"`
	CustomerReferences []string `json:"customer_references,omitempty"`
}

func (r *references) empty() bool {
	return r.Booking == "" && r.BillOfLading == "" && len(r.Containers)+len(r.PurchaseOrders)+len(r.CustomerReferences) == 0
}

// documentReferenceKeys maps a documentReferenceType, or the documentTypeCode
// of a SHIPMENT event, to the reference it sets. The 2.2 specification
// spells the types both "BKG" and "BKG (Booking)".
var documentReferenceKeys = map[string]func(*references) *string{
	"BKG": func(r *references) *string { return &r.Booking },
	"TRD": func(r *references) *string { return &r.BillOfLading },
}

// referenceLists maps a referenceType of the references list to the list
// of shipment.references its value joins. The shipper's (SI), the
// forwarder's (FF) and the consignee's (AAO) references are customer
// references like CR: each is a number a customer tracks the shipment by.
var referenceLists = map[string]func(*references) *[]string{
	"PO":  func(r *references) *[]string { return &r.PurchaseOrders },
	"CR":  func(r *references) *[]string { return &r.CustomerReferences },
	"SI":  func(r *references) *[]string { return &r.CustomerReferences },
	"FF":  func(r *references) *[]string { return &r.CustomerReferences },
	"AAO": func(r *references) *[]string { return &r.CustomerReferences },
	"EQ":  func(r *references) *[]string { return &r.Containers },
}

// references reads the event's references into shipment.references. Of
// several bookings or bills of lading the first is kept: the top-level
// field, then the SHIPMENT event's own document, then documentReferences
// in order. Lists keep each value once, in order.
func (e *dcsaEvent) references() (references, error) {
	r := references{Booking: e.CarrierBookingReference, BillOfLading: e.TransportDocumentReference}
	if key := documentReferenceKeys[e.DocumentTypeCode]; e.EventType == "SHIPMENT" && key != nil {
		keepFirst(key(&r), e.DocumentID)
	}
	for i, d := range e.DocumentReferences {
		field := fmt.Sprintf("documentReferences[%d]", i)
		code, _, _ := strings.Cut(strings.TrimSpace(d.DocumentReferenceType), " ")
		key := documentReferenceKeys[code]
		if key == nil {
			return r, subscriptions.Fieldf(field+".documentReferenceType", "%q is not a document reference type; use BKG or TRD", d.DocumentReferenceType)
		}
		v := strings.TrimSpace(d.DocumentReferenceValue)
		if v == "" {
			return r, subscriptions.Fieldf(field+".documentReferenceValue", "is required")
		}
		keepFirst(key(&r), v)
	}
	if e.EquipmentReference != "" {
		r.Containers = append(r.Containers, e.EquipmentReference)
	}
	for i, ref := range e.References {
		field := fmt.Sprintf("references[%d]", i)
		list := referenceLists[strings.TrimSpace(ref.ReferenceType)]
		if list == nil {
			return r, subscriptions.Fieldf(field+".referenceType", "%q is not a DCSA reference type; use one of FF, SI, PO, CR, AAO, EQ", ref.ReferenceType)
		}
		v := strings.TrimSpace(ref.ReferenceValue)
		if v == "" {
			return r, subscriptions.Fieldf(field+".referenceValue", "is required")
		}
		if l := list(&r); !slices.Contains(*l, v) {
			*l = append(*l, v)
		}
	}
	return r, nil
}

func keepFirst(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// place is a canonical location.
type place struct {
	Code     string `json:"code,omitempty"`
	Name     string `json:"name,omitempty"`
	Facility string `json:"facility,omitempty"`
}

// place returns the place of a location named field, or nil when it has
// neither a UN/LOCODE nor a name.
func (l *dcsaLocation) place(field string) (*place, error) {
	if l == nil {
		return nil, nil
	}
	p := &place{Code: l.UNLocationCode, Name: l.LocationName, Facility: l.FacilityCode}
	return p.checked(field + ".UNLocationCode")
}

// place returns where the transport call named field was: its
// UN/LOCODE, else its location's; its location's name, else its other
// facility; its facility code, else its location's. Nil when it has
// neither a code nor a name.
func (t *dcsaTransport) place(field string) (*place, error) {
	p, codeField := &place{Code: t.UNLocationCode, Name: t.OtherFacility, Facility: t.FacilityCode}, field+".UNLocationCode"
	if l := t.Location; l != nil {
		if p.Code == "" {
			p.Code, codeField = l.UNLocationCode, field+".location.UNLocationCode"
		}
		if l.LocationName != "" {
			p.Name = l.LocationName
		}
		keepFirst(&p.Facility, l.FacilityCode)
	}
	return p.checked(codeField)
}

func (p *place) checked(codeField string) (*place, error) {
	if p.Code != "" && !subscriptions.IsLocode(p.Code) {
		return nil, subscriptions.Fieldf(codeField, "%q is not a UN/LOCODE: two capital letters of the country and three capital letters or digits 2-9, such as NLRTM", p.Code)
	}
	if p.Code == "" && p.Name == "" {
		return nil, nil
	}
	return p, nil
}

// conveyance is the vessel and voyage of a canonical event's data.
type conveyance struct {
	Vessel    string `json:"vessel,omitempty"`
	VesselIMO string `json:"vessel_imo,omitempty"`
	Voyage    string `json:"voyage,omitempty"`
}

// conveyance returns the vessel of the transport call named field and its
// voyage: the import voyage when arriving, the export voyage otherwise,
// each falling back to the other and to the deprecated carrier voyage.
func (t *dcsaTransport) conveyance(field string, arriving bool) (conveyance, error) {
	voyages := []string{t.ExportVoyageNumber, t.ImportVoyageNumber, t.CarrierVoyageNumber}
	if arriving {
		voyages[0], voyages[1] = voyages[1], voyages[0]
	}
	var c conveyance
	for _, v := range voyages {
		keepFirst(&c.Voyage, v)
	}
	if v := t.Vessel; v != nil {
		c.Vessel, c.VesselIMO = v.VesselName, v.VesselIMONumber
		if c.VesselIMO != "" && !isIMO(c.VesselIMO) {
			return c, subscriptions.Fieldf(field+".vessel.vesselIMONumber", "%q is not an IMO number: seven digits, such as 9321483", c.VesselIMO)
		}
	}
	return c, nil
}

func isIMO(s string) bool {
	return len(s) == 7 && strings.Trim(s, "0123456789") == ""
}
