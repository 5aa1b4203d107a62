package subscriptions

// This file holds the catalog's types for what ocean carriers report
// beyond milestones: the moves of a container (shipment.equipment.*) and
// the status of the shipment's documents (shipment.document.<status>),
// and the fields shipment.updated has for a carrier's new times at one
// call of the route.

import "fmt"

// updateProps are the fields of shipment.updated that say which call of
// the route new times are for, how firm they are and why they changed.
func updateProps() schema {
	return schema{
		"location":    location("The place the new times are for, when they are for one call of the route, such as a port of transhipment, rather than the shipment's origin and destination."),
		"time_basis":  oneOf("Whether the new times are an estimate (\"estimated\") or a schedule (\"planned\").", "estimated", "planned"),
		"reason":      text("Why the times changed, in the source's words, such as \"Bad weather\"."),
		"reason_code": text("Code of why the times changed, such as an SMDG delay reason code (WEA for weather)."),
	}
}

// withProps adds props to the properties of the object schema s and
// returns s.
func withProps(s schema, props schema) schema {
	have := s["properties"].(schema)
	for k, v := range props {
		have[k] = v
	}
	return s
}

// equipmentMoves are the shipment.equipment.* types: one per move of a
// container, named after the move.
var equipmentMoves = []struct{ name, description, example string }{
	{"gated_in", "The container entered a terminal, depot or other facility through its gate.",
		`{"container": "MSCU4829172", "empty": false, "location": {"code": "CNSHA", "name": "Yangshan Deep-Water Port", "facility": "SGH"},
			"seals": [{"number": "CN2291847", "source": "shipper", "type": "bolt"}]}`},
	{"gated_out", "The container left a terminal, depot or other facility through its gate.",
		`{"container": "MSCU4829172", "empty": true, "location": {"code": "CNSHA", "name": "Shanghai Waigaoqiao depot"}, "mode": "road"}`},
	{"loaded", "The container was loaded onto a vessel, barge, train or truck.",
		`{"container": "MSCU4829172", "empty": false, "location": {"code": "CNSHA", "facility": "SGH"}, "mode": "ocean",
			"vessel": "MSC OSCAR", "vessel_imo": "9703291", "voyage": "FE547W"}`},
	{"discharged", "The container was discharged from a vessel, barge, train or truck.",
		`{"container": "MSCU4829172", "empty": false, "location": {"code": "NLRTM", "facility": "ECTDE"}, "mode": "ocean",
			"vessel": "MSC OSCAR", "vessel_imo": "9703291", "voyage": "FE547W"}`},
	{"stuffed", "The cargo was packed into the container.",
		`{"container": "MSCU4829172", "empty": false, "location": {"code": "CNSHA", "name": "Hongda Electronics, Songjiang plant"},
			"seals": [{"number": "CN2291847", "source": "shipper", "type": "bolt"}]}`},
	{"stripped", "The cargo was unpacked from the container.",
		`{"container": "MSCU4829172", "empty": true, "location": {"code": "DEHAM", "name": "Nordlicht Handels GmbH, dock 4"}}`},
	{"picked_up", "The container was picked up by a truck, train or barge for its next leg.",
		`{"container": "MSCU4829172", "empty": false, "location": {"code": "NLRTM", "facility": "ECTDE"}, "mode": "road"}`},
	{"dropped_off", "The container was dropped off at a facility by a truck, train or barge.",
		`{"container": "MSCU4829172", "empty": true, "location": {"code": "DEHAM", "name": "Hamburg Altenwerder depot"}, "mode": "road"}`},
	{"inspected", "The container was inspected, by customs or another authority.",
		`{"container": "MSCU4829172", "empty": false, "location": {"code": "NLRTM", "facility": "ECTDE"},
			"seals": [{"number": "NL0048812", "source": "customs", "type": "wire"}]}`},
}

func equipmentTypes() []typeDef {
	seal := object("A seal on the container.", schema{
		"number": text("Number of the seal."),
		"source": oneOf("Who put the seal on.", "carrier", "shipper", "phytosanitary", "veterinary", "customs"),
		"type":   oneOf("Kind of seal.", "keyless_padlock", "bolt", "wire"),
	}, "number")
	data := object("The container and where it moved."+dataNote, transport(schema{
		"container": text("Number of the container, in the ISO 6346 form where it has one, such as MSCU4829172."),
		"empty":     schema{"type": "boolean", "description": "Whether the container was empty (true) or laden (false)."},
		"iso_type":  text("ISO 6346 size and type code of the container, such as 22GP or 45R1."),
		"seals":     arrayOf("The seals on the container.", seal),
		"location":  location("Where the container moved."),
		"mode":      oneOf("How the container travels on, or came, when it was loaded onto or discharged from a vessel, train, truck or barge.", LegModes...),
	}), "container", "empty")
	defs := make([]typeDef, 0, len(equipmentMoves))
	for _, m := range equipmentMoves {
		defs = append(defs, typeDef{"shipment.equipment." + m.name, m.description, data, m.example})
	}
	return defs
}

// DocumentKinds are the kinds of document whose status the
// shipment.document.<status> types report (data.type).
var DocumentKinds = []string{"booking_request", "booking", "shipping_instruction", "shipment_release", "bill_of_lading",
	"arrival_notice", "verified_gross_mass", "cargo_survey", "customs_inspection", "dangerous_goods_declaration", "out_of_gauge"}

// documentStatuses are the shipment.document.<status> types, with the
// kind and number of their examples.
var documentStatuses = []struct{ name, description, kind, number string }{
	{"requested", "A document was requested, such as a booking by its booking request.", "booking_request", "CBR-2026-114502"},
	{"submitted", "A document was submitted to the carrier, such as a shipping instruction.", "shipping_instruction", "SI-2026-0088127"},
	{"received", "The carrier received a document, such as a shipping instruction or a verified gross mass.", "verified_gross_mass", "VGM-MSCU4829172"},
	{"drafted", "A draft of a document was made, such as the draft bill of lading for the shipper to check.", "bill_of_lading", "MEDUSH882417"},
	{"pending_approval", "A document waits for approval, such as a draft bill of lading for the shipper's.", "bill_of_lading", "MEDUSH882417"},
	{"pending_update", "A document waits for an update, such as a shipping instruction the carrier found incomplete.", "shipping_instruction", "SI-2026-0088127"},
	{"approved", "A document was approved, such as a draft bill of lading by the shipper.", "bill_of_lading", "MEDUSH882417"},
	{"rejected", "A document was rejected, such as a booking the carrier cannot take.", "booking", "MEDU8824173"},
	{"confirmed", "A document was confirmed, such as a verified gross mass.", "verified_gross_mass", "VGM-MSCU4829172"},
	{"issued", "A document was issued, such as the bill of lading or the arrival notice.", "bill_of_lading", "MEDUSH882417"},
	{"surrendered", "A document was surrendered, such as the original bills of lading handed back to release the cargo.", "bill_of_lading", "MEDUSH882417"},
	{"voided", "A document was voided and no longer holds, such as a bill of lading replaced by another.", "bill_of_lading", "MEDUSH882417"},
	{"completed", "The process of a document was completed, such as a cargo survey.", "cargo_survey", "CS-2026-0412"},
	{"on_hold", "A document is on hold, such as a customs inspection stopping the release of the cargo.", "customs_inspection", "CUS-NLRTM-77120"},
	{"released", "A document was released, such as the shipment release that lets the consignee collect the cargo.", "shipment_release", "SRM-MEDUSH882417"},
}

func documentTypes() []typeDef {
	data := object("The document and its new status."+dataNote, schema{
		"type":   oneOf("Kind of document.", DocumentKinds...),
		"number": text("Reference of the document as the source gives it, such as the booking or bill of lading number."),
		"reason": text("Why the status changed, in the source's words."),
	}, "type", "number")
	defs := make([]typeDef, 0, len(documentStatuses))
	for _, s := range documentStatuses {
		example := fmt.Sprintf(`{"type": %q, "number": %q}`, s.kind, s.number)
		defs = append(defs, typeDef{"shipment.document." + s.name, s.description, data, example})
	}
	return defs
}
