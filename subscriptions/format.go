package subscriptions

// This file holds an endpoint's format: the form its deliveries take.
// shiphook's own body is the default; a dcsa-tnt-2.2 endpoint receives
// each event as DCSA Track & Trace 2.2 shapes it (package sources renders
// it), and so takes only the types that have a DCSA form.

import (
	"slices"
	"strings"

	"github.com/shiphook/shiphook/signing"
)

// The formats an endpoint's deliveries take.
const (
	// FormatShiphook is shiphook's own body, {"type", "timestamp",
	// "data"}: the default, stored as "".
	FormatShiphook = "shiphook"
	// FormatDCSA is the DCSA Track & Trace 2.2 notification: an array
	// of one DCSA event, signed with Notification-Signature as well.
	FormatDCSA = "dcsa-tnt-2.2"
)

// Formats are the accepted values of an endpoint's format.
var Formats = []string{FormatShiphook, FormatDCSA}

// dcsaTypes are the event types that have a DCSA Track & Trace 2.2 form:
// the canonical types the DCSA source produces, and only those. Package
// sources renders them (sources.DCSAEvent) and its tests hold the two
// lists equal.
var dcsaTypes = func() []string {
	types := []string{"shipment.milestone.arrived", "shipment.milestone.booked", "shipment.milestone.departed", "shipment.updated"}
	for _, m := range equipmentMoves {
		types = append(types, "shipment.equipment."+m.name)
	}
	for _, s := range documentStatuses {
		types = append(types, "shipment.document."+s.name)
	}
	slices.Sort(types)
	return types
}()

// DCSATypes returns the event types that have a DCSA Track & Trace 2.2
// form, sorted: the types a dcsa-tnt-2.2 endpoint may take. The result is
// a copy.
func DCSATypes() []string { return slices.Clone(dcsaTypes) }

// HasDCSAForm reports whether events of type typ have a DCSA form.
func HasDCSAForm(typ string) bool {
	_, ok := slices.BinarySearch(dcsaTypes, typ)
	return ok
}

// checkFormat checks format, the value of an endpoint's format option,
// and returns it as stored: "" for shiphook's own.
func checkFormat(format string) (string, error) {
	switch format {
	case "", FormatShiphook:
		return "", nil
	case FormatDCSA:
		return format, nil
	}
	return "", Fieldf("format", "%q is not a format; use one of %s", format, strings.Join(Formats, ", "))
}

// checkFormatFits checks that e can be delivered in its format: a DCSA
// endpoint takes only types with a DCSA form, each of its patterns
// matching no other, and signs with an HMAC secret (whsec_), since a
// DCSA Notification-Signature is an HMAC-SHA256 of the body. Returns a
// *FieldError naming the types that have no DCSA form and listing those
// that do.
func checkFormatFits(e *Endpoint) error {
	if e.Format != FormatDCSA {
		return nil
	}
	if e.Scheme() != signing.V1 {
		return Fieldf("format", "a %s endpoint signs with a whsec_ secret (signature_scheme v1): DCSA's Notification-Signature is an HMAC-SHA256 of the body, which a whsk_ key cannot make", FormatDCSA)
	}
	patterns := e.EventTypes
	if len(patterns) == 0 {
		patterns = []string{"*"}
	}
	var without []string
	for _, p := range patterns {
		for _, t := range loadCatalog().sorted {
			name := t.typ.Name
			if p == "*" && strings.HasPrefix(name, "shiphook.") {
				continue // "*" leaves out shiphook's own events (Index.Match)
			}
			if TypeMatches(p, name) && !HasDCSAForm(name) && !slices.Contains(without, name) {
				without = append(without, name)
			}
		}
	}
	if len(without) == 0 {
		return nil
	}
	slices.Sort(without)
	field := "event_types"
	if len(e.EventTypes) == 0 {
		field = "format"
	}
	return Fieldf(field, "a %s endpoint takes only event types with a DCSA form, and these have none: %s; list the types it takes, from: %s",
		FormatDCSA, strings.Join(without, ", "), strings.Join(dcsaTypes, ", "))
}
