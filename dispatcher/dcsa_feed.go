package dispatcher

import "time"

// DCSAFeedQuery asks for one page of a partner's DCSA feed: the events
// with a DCSA form whose parties include the partner, oldest first in the
// order they joined the feed, as GET /dcsa/tnt/v2/events filters them.
// Empty fields do not filter.
type DCSAFeedQuery struct {
	PartnerID string
	// EventTypes: TRANSPORT, EQUIPMENT, SHIPMENT (any of them).
	EventTypes []string
	// Each of these, when given, takes only events of its eventType with
	// one of its codes: DCSA's shipmentEventTypeCode=DRFT and
	// equipmentEventTypeCode=GTIN together find nothing.
	TransportCodes, EquipmentCodes, ShipmentCodes []string
	// Booking, BillOfLading: the shipment's references; Equipment: an
	// EQUIPMENT event's equipmentReference.
	Booking, BillOfLading, Equipment string
	// CreatedFrom and CreatedTo bound the DCSA event's
	// eventCreatedDateTime, both included.
	CreatedFrom, CreatedTo *time.Time
	// After, when set, starts the page after that place of the feed.
	After *DCSAFeedPlace
	// Limit is the most entries returned (at least 1).
	Limit int
}

// DCSAFeedPlace is a place in a partner's feed: when the event joined
// it, and its id.
type DCSAFeedPlace struct {
	AddedAt time.Time
	EventID string
}

// DCSAFeedEntry is one event of a partner's feed and its place there.
type DCSAFeedEntry struct {
	Event Event
	Place DCSAFeedPlace
}
