package subscriptions

import (
	"slices"
	"strings"
)

// The standard vocabularies of shipment events: transport modes, party
// roles, UN/LOCODEs and carrier codes. Ingest refuses a value outside them
// (dispatcher.ParseEvent, NormalizeData) and so does an endpoint filter
// (Filter.Validate), with a *FieldError that lists what is accepted.

// Modes are the transport modes a shipment may have (shipment.mode):
// one per way of moving cargo, courier for express parcel services, and
// multimodal for a shipment carried by more than one mode.
var Modes = []string{"ocean", "air", "road", "rail", "barge", "courier", "multimodal"}

// LegModes are the modes of one leg of a route (data.routing[].mode): a
// leg moves by one mode, so the modes that name a service or a
// combination are not among them.
var LegModes = []string{"ocean", "air", "road", "rail", "barge"}

// Roles are the roles a partner may play on a shipment (parties[].role),
// after the parties of a bill of lading and of a trade: the shipper, the
// consignee and the notify party; the forwarder, the carrier, the customs
// broker and an agent acting for one of them; the buyer and the seller;
// and the warehouse that stores or handles the cargo.
var Roles = []string{"shipper", "consignee", "notify_party", "forwarder", "carrier", "customs_broker", "agent", "buyer", "seller", "warehouse"}

const (
	locodeForm  = "a UN/LOCODE: the two capital letters of the country and three capital letters or digits 2-9, such as NLRTM"
	carrierForm = "a carrier code: the SCAC (2 to 4 capital letters, such as MAEU) or the IATA airline designator (2 capital letters or digits, such as LH or 5X)"
)

// IsLocode reports whether s has the form of a UN/LOCODE: two letters A-Z
// of the country, then three letters A-Z or digits 2-9. It does not look
// the code up.
func IsLocode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := range 5 {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || i >= 2 && c >= '2' && c <= '9') {
			return false
		}
	}
	return true
}

// IsCarrier reports whether s has the form of a carrier code: a SCAC
// (Standard Carrier Alpha Code, 2 to 4 letters A-Z) or an IATA airline
// designator (2 letters A-Z or digits). It does not look the code up.
func IsCarrier(s string) bool {
	if len(s) < 2 || len(s) > 4 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || len(s) == 2 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CheckMode returns a *FieldError naming field unless s is one of Modes.
func CheckMode(field, s string) error { return checkVocab(field, s, "a transport mode", Modes) }

// CheckRole returns a *FieldError naming field unless s is one of Roles.
func CheckRole(field, s string) error { return checkVocab(field, s, "a party role", Roles) }

// CheckLocode returns a *FieldError naming field unless s has the form of
// a UN/LOCODE (IsLocode).
func CheckLocode(field, s string) error {
	if IsLocode(s) {
		return nil
	}
	return Fieldf(field, "%s is not %s", display(s), locodeForm)
}

// CheckCarrier returns a *FieldError naming field unless s has the form
// of a carrier code (IsCarrier).
func CheckCarrier(field, s string) error {
	if IsCarrier(s) {
		return nil
	}
	return Fieldf(field, "%s is not %s", display(s), carrierForm)
}

func checkVocab(field, s, what string, values []string) error {
	if slices.Contains(values, s) {
		return nil
	}
	return vocabError(field, s, what, values)
}

func vocabError(field, s, what string, values []string) error {
	return Fieldf(field, "%s is not %s; use one of %s", display(s), what, strings.Join(values, ", "))
}

// checkFilterValue checks value v of an endpoint filter's key as the
// vocabulary of that key says, ignoring case as matching does.
func checkFilterValue(field, key, v string) error {
	fold := func(x string) bool { return strings.EqualFold(x, v) }
	switch key {
	case "shipment.mode":
		if !slices.ContainsFunc(Modes, fold) {
			return vocabError(field, v, "a transport mode", Modes)
		}
	case "role":
		if !slices.ContainsFunc(Roles, fold) {
			return vocabError(field, v, "a party role", Roles)
		}
	case "shipment.origin", "shipment.destination":
		if !IsLocode(strings.ToUpper(v)) {
			return Fieldf(field, "%s is not %s", display(v), locodeForm)
		}
	case "shipment.carrier":
		if !IsCarrier(strings.ToUpper(v)) {
			return Fieldf(field, "%s is not %s", display(v), carrierForm)
		}
	}
	return nil
}
