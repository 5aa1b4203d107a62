package dispatcher

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/shiphook/shiphook/subscriptions"
)

// shipmentLookup is what resolving events needs of the registry.
type shipmentLookup interface {
	LookupShipments(ctx context.Context, ids []string, refs []subscriptions.Reference) (ShipmentLookup, error)
}

// resolveShipments applies the registry to evs, in place, with one
// look-up for them all; every ingest path calls it once per request, and
// the reconciler once per pass.
//
//   - An event with a shipment id that is registered takes the registered
//     attributes (and references) it leaves empty, and the union of the
//     parties: those registered, with their registered role, then the
//     event's others. One whose id is not registered is left as it is.
//   - An event with references alone is resolved if exactly one shipment
//     has every one of its references that matches anything: it then gets
//     that shipment's id, and is filled in as above. Otherwise it is made
//     unresolved: ReasonNoMatch if no reference matched, ReasonAmbiguous
//     if they name several shipments.
//
// A nil reg resolves nothing: events with references alone are unresolved.
func resolveShipments(ctx context.Context, reg shipmentLookup, evs []*Event) error {
	var (
		ids  []string
		refs []subscriptions.Reference
	)
	for _, ev := range evs {
		if ev.Shipment.ID != "" {
			ids = append(ids, ev.Shipment.ID)
		} else {
			refs = append(refs, ev.Shipment.References.List()...)
		}
	}
	if len(ids)+len(refs) == 0 {
		return nil
	}
	var found ShipmentLookup
	if reg != nil {
		var err error
		if found, err = reg.LookupShipments(ctx, ids, dedupe(refs)); err != nil {
			return fmt.Errorf("look up shipments: %w", err)
		}
	}
	for _, ev := range evs {
		ev.Unresolved, ev.Status = nil, EventResolved
		if ev.Shipment.ID == "" {
			id, un := match(ev.Shipment.References, found.ByReference)
			if un != nil {
				ev.Unresolved, ev.Status = un, EventUnresolved
				continue
			}
			ev.Shipment.ID = id
		}
		if s, ok := found.Shipments[ev.Shipment.ID]; ok {
			fill(ev, s)
		}
	}
	return nil
}

// match returns the one shipment that has every reference of refs that
// matches some shipment, or why there is none.
func match(refs subscriptions.References, byRef map[subscriptions.Reference][]string) (string, *Unresolved) {
	var (
		candidates []string
		matched    []subscriptions.Reference
		all        []string
	)
	for _, r := range refs.List() {
		ids := byRef[r]
		if len(ids) == 0 {
			continue
		}
		if matched == nil {
			candidates = slices.Clone(ids)
		} else {
			candidates = slices.DeleteFunc(candidates, func(id string) bool { return !slices.Contains(ids, id) })
		}
		matched = append(matched, r)
		for _, id := range ids {
			if !slices.Contains(all, id) {
				all = append(all, id)
			}
		}
	}
	switch {
	case matched == nil:
		return "", &Unresolved{Reason: ReasonNoMatch, References: refs}
	case len(candidates) == 1:
		return candidates[0], nil
	}
	slices.Sort(all)
	return "", &Unresolved{Reason: ReasonAmbiguous, References: subscriptions.ReferencesOf(matched), Shipments: all}
}

// fill gives ev what the registered shipment s knows and ev leaves out.
func fill(ev *Event, s RegisteredShipment) {
	sh := &ev.Shipment
	fillString(&sh.Mode, s.Mode)
	fillString(&sh.Origin, s.Origin)
	fillString(&sh.Destination, s.Destination)
	fillString(&sh.Carrier, s.Carrier)
	if sh.References.IsZero() {
		sh.References = s.References
	}
	ev.Parties = unionParties(s.Parties, ev.Parties)
}

func fillString(to *string, from string) {
	if *to == "" {
		*to = from
	}
}

// unionParties returns the parties of registered, with their roles, then
// those of given that registered does not name.
func unionParties(registered, given []Party) []Party {
	out := slices.Clone(registered)
	for _, p := range given {
		if !slices.ContainsFunc(registered, func(r Party) bool { return r.PartnerID == p.PartnerID }) {
			out = append(out, p)
		}
	}
	if out == nil {
		out = []Party{}
	}
	return out
}

func dedupe(refs []subscriptions.Reference) []subscriptions.Reference {
	slices.SortFunc(refs, func(a, b subscriptions.Reference) int {
		return cmp.Or(cmp.Compare(a.Value, b.Value), cmp.Compare(a.Kind, b.Kind))
	})
	return slices.Compact(refs)
}

// registrations returns what the events of types shipment.created and
// shipment.updated with a shipment id say of their shipments, for
// Registry.MergeShipments.
func registrations(evs []*Event) []RegisteredShipment {
	var out []RegisteredShipment
	for _, ev := range evs {
		if ev.Shipment.ID == "" || ev.Type != "shipment.created" && ev.Type != "shipment.updated" {
			continue
		}
		out = append(out, RegisteredShipment{Shipment: ev.Shipment, Parties: ev.Parties, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt})
	}
	return out
}
