package dispatcher

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// RegisteredShipment is a shipment as the registry holds it: its
// attributes and references, and its parties. Events that name it, by id
// or by any of its references, take its attributes and parties
// (resolve.go).
type RegisteredShipment struct {
	Shipment
	Parties   []Party   `json:"parties"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Registry keeps the registered shipments; Store is one.
type Registry interface {
	// PutShipment stores s whole: its attributes, references and parties
	// replace those registered. Returns the shipment as stored and
	// whether it was new.
	PutShipment(ctx context.Context, s RegisteredShipment) (RegisteredShipment, bool, error)
	// Shipment returns ErrNotFound.
	Shipment(ctx context.Context, id string) (RegisteredShipment, error)
	// ShipmentsByReference returns the shipments that have a reference
	// of any kind with this value, by id.
	ShipmentsByReference(ctx context.Context, value string) ([]RegisteredShipment, error)
	// LookupShipments returns, in one look-up, the registered shipments
	// among ids and, for each of refs, the ids of the shipments that have
	// it.
	LookupShipments(ctx context.Context, ids []string, refs []subscriptions.Reference) (ShipmentLookup, error)
	// MergeShipments registers what events say of their shipments: for a
	// shipment not registered, s as given; for one registered, the
	// attributes s gives replace its own, its references and parties are
	// added (a party registered keeps its role), nothing is removed.
	MergeShipments(ctx context.Context, s []RegisteredShipment) error
	// UnresolvedEvents returns up to limit unresolved events with an id
	// after after, in id order.
	UnresolvedEvents(ctx context.Context, after string, limit int) ([]Event, error)
	// ResolveEvents stores the shipment and parties of events resolved
	// since they were stored unresolved, makes them resolved and not
	// fanned out, so that their fan-out runs again. An event no longer
	// unresolved is left as it is. Returns the ids of those it changed.
	ResolveEvents(ctx context.Context, evs []Event) ([]string, error)
}

// ShipmentLookup is what LookupShipments found.
type ShipmentLookup struct {
	// Shipments are the registered shipments found, by id: those asked
	// for by id, and those the references named.
	Shipments map[string]RegisteredShipment
	// ByReference holds, for each reference that matched, the ids of its
	// shipments, in order.
	ByReference map[subscriptions.Reference][]string
}

// shipmentInput is a shipment as PUT /v1/shipments/{id} takes it.
type shipmentInput struct {
	Mode        string          `json:"mode"`
	Origin      string          `json:"origin"`
	Destination string          `json:"destination"`
	Carrier     string          `json:"carrier"`
	Parties     []Party         `json:"parties"`
	References  json.RawMessage `json:"references"`
}

// Merged is registered with what given, an event's word on the shipment,
// adds, as of now: the attributes given replace those registered, and its
// references and parties are added (a registered party keeps its role,
// as unionParties has it); nothing is removed.
func Merged(registered, given RegisteredShipment, now time.Time) RegisteredShipment {
	out := registered
	out.UpdatedAt = now
	for _, f := range []struct {
		to   *string
		from string
	}{{&out.Mode, given.Mode}, {&out.Origin, given.Origin}, {&out.Destination, given.Destination}, {&out.Carrier, given.Carrier}} {
		if f.from != "" {
			*f.to = f.from
		}
	}
	out.References = registered.References.Add(given.References)
	out.Parties = unionParties(registered.Parties, given.Parties)
	return out
}

// ParseShipment decodes and checks a shipment to register under id, as
// PUT /v1/shipments/{id} takes it: mode, origin, destination and carrier
// in the standard vocabularies, parties as an event's, references as
// subscriptions.ParseReferences checks them. Party existence is checked by
// the caller. Errors are a *subscriptions.FieldError, or a Malformed
// *subscriptions.Error.
func ParseShipment(id string, raw []byte) (RegisteredShipment, error) {
	var in shipmentInput
	if err := subscriptions.UnmarshalJSON(raw, &in); err != nil {
		return RegisteredShipment{}, err
	}
	s := RegisteredShipment{Shipment: Shipment{ID: id, Mode: in.Mode, Origin: in.Origin, Destination: in.Destination, Carrier: in.Carrier}}
	if strings.TrimSpace(id) == "" || len(id) > 200 {
		return RegisteredShipment{}, subscriptions.Fieldf("shipment_id", "must be 1 to 200 characters")
	}
	refs, err := subscriptions.ParseReferences("references", in.References)
	if err != nil {
		return RegisteredShipment{}, err
	}
	s.References = refs
	if err := checkAttributes("", s.Shipment); err != nil {
		return RegisteredShipment{}, err
	}
	if err := checkPartyList(in.Parties); err != nil {
		return RegisteredShipment{}, err
	}
	s.Parties = in.Parties
	if s.Parties == nil {
		s.Parties = []Party{}
	}
	return s, nil
}

// checkAttributes checks the attributes given of s against the standard
// vocabularies (an empty one is not given), naming each field after
// prefix: mode one of subscriptions.Modes, origin and destination
// UN/LOCODEs, the carrier a SCAC or IATA code.
func checkAttributes(prefix string, s Shipment) error {
	for _, c := range []struct {
		field, value string
		check        func(field, value string) error
	}{
		{"mode", s.Mode, subscriptions.CheckMode},
		{"origin", s.Origin, subscriptions.CheckLocode},
		{"destination", s.Destination, subscriptions.CheckLocode},
		{"carrier", s.Carrier, subscriptions.CheckCarrier},
	} {
		if c.value == "" {
			continue
		}
		if err := c.check(prefix+c.field, c.value); err != nil {
			return err
		}
	}
	return nil
}

// MissingParties returns a *subscriptions.FieldError naming the first
// party of s that does not exist, nil if all do.
func MissingParties(ctx context.Context, pc PartnerChecker, s RegisteredShipment) error {
	missing, err := checkParties(ctx, pc, []Event{{Parties: s.Parties}})
	if err != nil {
		return err
	}
	return missingParty(Event{Parties: s.Parties}, missing)
}
