package subscriptions

// This file holds the event type catalog's data: the schema builders and
// every type's schema, description and example.

import "strconv"

// schema is a JSON Schema under construction.
type schema = map[string]any

// object is an object schema that accepts fields beyond props, so that
// sources can send more than the catalog names and receivers ignore what
// they do not know.
func object(description string, props schema, required ...string) schema {
	s := schema{"type": "object", "description": description, "properties": props, "additionalProperties": true}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func text(description string) schema {
	return schema{"type": "string", "minLength": 1, "description": description}
}

func dateTime(description string) schema {
	return schema{"type": "string", "format": "date-time", "description": description}
}

func date(description string) schema {
	return schema{"type": "string", "format": "date", "description": description}
}

// webURL is an absolute http or https URL; other schemes are refused so
// that links shown to partners cannot run script.
func webURL(description string) schema {
	return schema{"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "description": description}
}

// decimal is an amount of money: a JSON number or a decimal string,
// delivered as a decimal string (decimal.go). The pattern states the
// string's form; NormalizeData checks both forms in full.
func decimal(description string) schema {
	return schema{"type": []string{"string", "number"}, "format": decimalFormat,
		"pattern":     `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`,
		"description": description + " A decimal: a JSON number, or a string such as \"2452.37\" (an optional \"-\", digits, an optional fraction after a \".\"), of at most " + strconv.Itoa(MaxDecimalDigits) + " digits; delivered as a string with the digits exactly as given."}
}

func oneOf(description string, values ...string) schema {
	return schema{"type": "string", "enum": values, "description": description}
}

func arrayOf(description string, items schema) schema {
	return schema{"type": "array", "items": items, "description": description}
}

func currency() schema {
	return schema{"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 currency code: three capital letters, such as EUR or USD."}
}

// locodePattern is the form of a UN/LOCODE (IsLocode).
const locodePattern = "^[A-Z]{2}[A-Z2-9]{3}$"

func locode(description string) schema {
	return schema{"type": "string", "pattern": locodePattern, "description": description}
}

// location is a place: an object with its UN/LOCODE, its name or both,
// or its UN/LOCODE alone as a string, which is delivered as the object
// {"code": …} (shape.go).
func location(description string) schema {
	s := object(description+" An object with the place's code and name, or its UN/LOCODE alone as a string such as \"NLRTM\", delivered as {\"code\": \"NLRTM\"}.", schema{
		"code":     locode("UN/LOCODE of the place: a two-letter country code and three letters or digits 2-9, such as NLRTM for Rotterdam."),
		"name":     text("Name of the place as a person would write it, such as \"Port of Rotterdam\" or a warehouse's name."),
		"facility": text("Code of the terminal, depot or other facility at the place, without the UN/LOCODE, as the source gives it, such as the SMDG terminal code \"ECTDE\"."),
	})
	s["type"] = []string{"object", "string"}
	s["pattern"] = locodePattern
	s["anyOf"] = []schema{{"required": []string{"code"}}, {"required": []string{"name"}}}
	return s
}

// transport holds the fields that say which vessel or flight carries the
// cargo.
func transport(props schema) schema {
	props["vessel"] = text("Name of the vessel carrying the cargo, for ocean and barge transport.")
	props["vessel_imo"] = schema{"type": "string", "pattern": "^[0-9]{7}$", "description": "IMO number of the vessel: seven digits, such as 9703291."}
	props["voyage"] = text("Voyage number of the vessel.")
	props["flight"] = text("Flight number, such as LH8400, for air transport.")
	return props
}

// dataNote ends the description of every shipment type's data.
const dataNote = " Deliveries add event_id, shipment and role to this object; sources leave those out."

func eventTypes() []typeDef {
	leg := object("One leg of the route.", transport(schema{
		"from": location("Where the leg starts."),
		"to":   location("Where the leg ends."),
		"mode": oneOf("How the cargo travels on this leg.", LegModes...),
		"etd":  dateTime("Estimated time of departure from the start of the leg."),
		"eta":  dateTime("Estimated time of arrival at the end of the leg."),
	}), "from", "to", "mode")
	plan := func(description string) schema {
		return object(description+dataNote, transport(schema{
			"etd":     dateTime("Estimated time of departure from the origin, RFC 3339."),
			"eta":     dateTime("Estimated time of arrival at the destination, RFC 3339."),
			"routing": arrayOf("The legs of the route, in order.", leg),
		}))
	}

	defs := []typeDef{
		{"shipment.created", "A source system created a shipment. data carries its first transport plan, as far as known.",
			plan("The first transport plan of the shipment; every field is optional."),
			`{
				"etd": "2026-11-20T08:00:00Z",
				"eta": "2026-12-24T07:00:00Z",
				"vessel": "MSC OSCAR",
				"voyage": "FE547W",
				"routing": [
					{"from": {"code": "CNSHA", "name": "Shanghai"}, "to": {"code": "NLRTM", "name": "Rotterdam"}, "mode": "ocean",
						"etd": "2026-11-20T08:00:00Z", "eta": "2026-12-21T14:00:00Z", "vessel": "MSC OSCAR", "voyage": "FE547W"},
					{"from": {"code": "NLRTM", "name": "Rotterdam"}, "to": {"code": "DEHAM", "name": "Hamburg"}, "mode": "rail",
						"etd": "2026-12-23T10:00:00Z", "eta": "2026-12-24T07:00:00Z"}
				]
			}`},
		{"shipment.updated", "The transport plan of a shipment changed: routing, estimated times, vessel, voyage or flight. data carries the new values of what changed.",
			withProps(plan("The new values of the fields that changed; every field is optional."), updateProps()),
			`{
				"eta": "2026-12-27T09:00:00Z",
				"vessel": "MSC MAYA",
				"voyage": "FE549W",
				"routing": [
					{"from": {"code": "CNSHA", "name": "Shanghai"}, "to": {"code": "NLRTM", "name": "Rotterdam"}, "mode": "ocean",
						"etd": "2026-11-24T06:00:00Z", "eta": "2026-12-24T18:00:00Z", "vessel": "MSC MAYA", "voyage": "FE549W"},
					{"from": {"code": "NLRTM", "name": "Rotterdam"}, "to": {"code": "DEHAM", "name": "Hamburg"}, "mode": "rail",
						"etd": "2026-12-26T10:00:00Z", "eta": "2026-12-27T09:00:00Z"}
				]
			}`},
		{"shipment.cancelled", "The shipment was cancelled and will not move.",
			object("Why the shipment was cancelled."+dataNote, schema{
				"reason": text("Why the shipment was cancelled, in words a person understands."),
			}),
			`{"reason": "The shipper withdrew purchase order PO-88412; booking cancelled with MSC before the container was released."}`},
		{"shipment.document.added", "A document was added to the shipment, such as a bill of lading or a commercial invoice.",
			object("The document that was added."+dataNote, schema{
				"type": oneOf("Kind of document.", "bill_of_lading", "commercial_invoice", "packing_list", "certificate_of_origin",
					"air_waybill", "customs_declaration", "proof_of_delivery", "other"),
				"number": text("Number of the document, such as the bill of lading number."),
				"url":    webURL("Where the document can be downloaded: an absolute http or https URL."),
			}, "type", "number", "url"),
			`{"type": "bill_of_lading", "number": "MEDUSH882417", "url": "https://docs.example.com/bl/MEDUSH882417.pdf"}`},
		{"shipment.charge.updated", "The charges of the shipment changed. data lists every charge as it now stands.",
			object("Every charge of the shipment as it now stands."+dataNote, schema{
				"charges": arrayOf("The charges; an empty list means no charges.", object("One charge.", schema{
					"code":        text("Charge code of the source system, such as FRT for freight or THC for terminal handling."),
					"description": text("What the charge is for."),
					"amount":      decimal("Amount in the currency, negative for a credit."),
					"currency":    currency(),
				}, "code", "amount", "currency")),
			}, "charges"),
			`{"charges": [
				{"code": "FRT", "description": "Ocean freight CNSHA-NLRTM, 1 x 40' HC", "amount": "1850.00", "currency": "USD"},
				{"code": "BAF", "description": "Bunker adjustment factor", "amount": "312.00", "currency": "USD"},
				{"code": "THC", "description": "Terminal handling at Rotterdam", "amount": "245.50", "currency": "EUR"},
				{"code": "DOC", "description": "Documentation fee", "amount": "45.00", "currency": "EUR"},
				{"code": "DEM", "description": "Demurrage waived by the carrier", "amount": "-120.00", "currency": "EUR"}
			]}`},
		{"shipment.invoice.issued", "An invoice for the shipment was issued.",
			object("The invoice."+dataNote, schema{
				"invoice_number": text("Number of the invoice."),
				"amount":         decimal("Total amount of the invoice in its currency."),
				"currency":       currency(),
				"due_date":       date("Date by which the invoice must be paid, such as 2026-11-30."),
				"url":            webURL("Where the invoice can be downloaded: an absolute http or https URL."),
			}, "invoice_number", "amount", "currency"),
			`{"invoice_number": "INV-2026-004812", "amount": "2452.37", "currency": "EUR", "due_date": "2026-12-31",
				"url": "https://docs.example.com/invoices/INV-2026-004812.pdf"}`},
		{"shiphook.endpoint.disabled", operationalPrefix + " when it disables an endpoint: after failing continuously for the auto-disable window, or at once after the endpoint answered 410 Gone.",
			object("The endpoint that was disabled and why.", schema{
				"endpoint_id":   text("Id of the endpoint."),
				"url":           webURL("URL of the endpoint."),
				"reason":        text("Why shiphook disabled it: \"failing\" after failing for the whole auto-disable window, \"gone\" after a 410 answer."),
				"failing_since": dateTime("When the endpoint began failing without a success since."),
			}, "endpoint_id", "reason"),
			`{"endpoint_id": "ep_01m2fnvy5r4tff59tdwh9edd1r", "url": "https://tms.partner.example.com/webhooks/shiphook",
				"reason": "failing", "failing_since": "2026-11-16T09:41:27Z"}`},
		{"shiphook.message.failed", operationalPrefix + " when a message used up its retry schedule without a successful attempt and will not be retried unless replayed.",
			object("The message that failed.", schema{
				"message_id":  text("Id of the message, the webhook-id of its deliveries."),
				"endpoint_id": text("Id of the endpoint it was sent to."),
				"event_type":  text("Type of the event the message carried."),
				"attempts":    schema{"type": "integer", "minimum": 1, "description": "How many attempts were made."},
				"last_status": schema{"type": "integer", "description": "HTTP status of the last attempt; 0 if no answer came."},
				"last_error":  text("What went wrong in the last attempt."),
			}, "message_id", "endpoint_id"),
			`{"message_id": "msg_01m7xnxtj01head8x4a1jh69re", "endpoint_id": "ep_01m2fnvy5r4tff59tdwh9edd1r",
				"event_type": "shipment.milestone.arrived", "attempts": 8, "last_status": 503,
				"last_error": "http_status: 503 Service Unavailable"}`},
	}

	milestones := []struct {
		name, description string
		locationOptional  bool
		extra             schema
		required          []string
		example           string
	}{
		{name: "booked", description: "The carrier confirmed the booking.", locationOptional: true,
			example: `{"location": {"code": "CNSHA", "name": "Shanghai"}, "description": "Booking confirmed by MSC, 1 x 40' HC",
				"vessel": "MSC OSCAR", "voyage": "FE547W"}`},
		{name: "picked_up", description: "The cargo was collected from the shipper.",
			example: `{"location": {"code": "CNSHA", "name": "Hongda Electronics, Songjiang plant"},
				"description": "Container MSCU4829172 loaded and collected by truck"}`},
		{name: "received", description: "The cargo was received at a warehouse, terminal or hub.",
			example: `{"location": {"code": "CNSHA", "name": "Yangshan Deep-Water Port, phase IV terminal"},
				"description": "Full container gated in at the terminal"}`},
		{name: "departed", description: "The cargo left a place aboard a vessel, aircraft, train or truck.",
			example: `{"location": {"code": "CNSHA", "name": "Shanghai"}, "description": "Vessel departed",
				"vessel": "MSC OSCAR", "voyage": "FE547W"}`},
		{name: "arrived", description: "The cargo arrived at a place aboard a vessel, aircraft, train or truck.",
			example: `{"location": {"code": "NLRTM", "name": "Rotterdam, Maasvlakte II"}, "description": "Vessel berthed at the port of discharge",
				"vessel": "MSC OSCAR", "voyage": "FE547W"}`},
		{name: "customs_hold", description: "Customs stopped the cargo, for an inspection or for documents.",
			example: `{"location": {"code": "NLRTM", "name": "Rotterdam"}, "description": "Selected by Dutch customs for a scan at the terminal"}`},
		{name: "customs_cleared", description: "Customs released the cargo.",
			example: `{"location": {"code": "NLRTM", "name": "Rotterdam"}, "description": "Import declaration accepted; goods released for free circulation"}`},
		{name: "out_for_delivery", description: "The cargo is on its way to the consignee for the last mile.",
			example: `{"location": {"code": "DEHAM", "name": "Hamburg-Billwerder rail terminal"}, "description": "Container loaded on truck for delivery to the consignee"}`},
		{name: "delivered", description: "The cargo was handed over to the consignee.", extra: schema{
			"signed_by":             text("Name of the person who signed for the cargo."),
			"proof_of_delivery_url": webURL("Where the proof of delivery can be downloaded: an absolute http or https URL."),
		}, example: `{"location": {"code": "DEHAM", "name": "Nordlicht Handels GmbH, dock 4"}, "description": "Delivered in good order",
			"signed_by": "K. Schneider", "proof_of_delivery_url": "https://docs.example.com/pod/MEDUSH882417.pdf"}`},
		{name: "exception", description: "Something went wrong with the shipment, such as damage, loss, a delay or a refused delivery; code and description say what.",
			locationOptional: true, extra: schema{
				"code":        text("Code of the exception in the source system, such as DAMAGED, DELAYED or REFUSED."),
				"description": text("What went wrong, in words a person understands."),
			}, required: []string{"code", "description"},
			example: `{"code": "DAMAGED", "description": "3 of 42 cartons crushed on arrival; photos taken and the carrier notified",
				"location": {"code": "USLAX", "name": "Los Angeles International Airport"}, "flight": "CX880"}`},
	}
	for _, m := range milestones {
		props := transport(schema{
			"location":    location("Where the milestone happened."),
			"description": text("The milestone in words a person understands, as the source system reports it."),
		})
		for k, v := range m.extra {
			props[k] = v
		}
		required := m.required
		if !m.locationOptional {
			required = append([]string{"location"}, required...)
		}
		defs = append(defs, typeDef{
			name:        "shipment.milestone." + m.name,
			description: m.description,
			data:        object("Where and how the milestone happened."+dataNote, props, required...),
			example:     m.example,
		})
	}
	return defs
}
