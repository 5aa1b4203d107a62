package dispatcher

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// fakeRegistry is a registry in memory: its shipments, found by id and by
// each reference.
type fakeRegistry struct {
	shipments []RegisteredShipment
	lookups   int
	merged    []RegisteredShipment
}

func (f *fakeRegistry) LookupShipments(_ context.Context, ids []string, refs []subscriptions.Reference) (ShipmentLookup, error) {
	f.lookups++
	out := ShipmentLookup{Shipments: map[string]RegisteredShipment{}, ByReference: map[subscriptions.Reference][]string{}}
	for _, s := range f.shipments {
		for _, id := range ids {
			if id == s.ID {
				out.Shipments[s.ID] = s
			}
		}
		for _, r := range refs {
			for _, have := range s.References.List() {
				if have == r {
					out.ByReference[r] = append(out.ByReference[r], s.ID)
					out.Shipments[s.ID] = s
				}
			}
		}
	}
	return out, nil
}

func (f *fakeRegistry) MergeShipments(_ context.Context, s []RegisteredShipment) error {
	f.merged = append(f.merged, s...)
	return nil
}

func registry() *fakeRegistry {
	return &fakeRegistry{shipments: []RegisteredShipment{
		{Shipment: Shipment{ID: "SHP-1", Mode: "ocean", Origin: "CNSHA", Destination: "NLRTM", Carrier: "MAEU",
			References: subscriptions.References{Booking: "BK1", Containers: []string{"APZU4812090"}, PurchaseOrders: []string{"PO-SHARED"}}},
			Parties: []Party{{PartnerID: "acme", Role: "shipper"}, {PartnerID: "globex", Role: "consignee"}}},
		{Shipment: Shipment{ID: "SHP-2", Mode: "air",
			References: subscriptions.References{Booking: "BK2", PurchaseOrders: []string{"PO-SHARED"}}},
			Parties: []Party{{PartnerID: "initech", Role: "shipper"}}},
	}}
}

func TestResolveShipments(t *testing.T) {
	byID := Event{Shipment: Shipment{ID: "SHP-1", Mode: "road"}, Parties: []Party{{PartnerID: "globex", Role: "agent"}, {PartnerID: "umbrella", Role: "carrier"}}}
	byBooking := Event{Shipment: Shipment{References: subscriptions.References{Booking: "BK1"}}, Parties: []Party{}}
	// One reference matches nothing, the other one shipment: resolved.
	partly := Event{Shipment: Shipment{References: subscriptions.References{Booking: "BK-404", PurchaseOrders: []string{"PO-SHARED"}, Containers: []string{"APZU4812090"}}}}
	nothing := Event{Shipment: Shipment{References: subscriptions.References{Containers: []string{"CSQU3054383"}}}}
	shared := Event{Shipment: Shipment{References: subscriptions.References{PurchaseOrders: []string{"PO-SHARED"}}}}
	crossed := Event{Shipment: Shipment{References: subscriptions.References{Booking: "BK2", Containers: []string{"APZU4812090"}}}}
	unknownID := Event{Shipment: Shipment{ID: "SHP-404"}, Parties: []Party{{PartnerID: "acme", Role: "shipper"}}}
	reg := registry()
	evs := []*Event{&byID, &byBooking, &partly, &nothing, &shared, &crossed, &unknownID}
	require.NoError(t, resolveShipments(t.Context(), reg, evs))
	require.Equal(t, 1, reg.lookups, "one look-up for the whole batch")

	require.Equal(t, Shipment{ID: "SHP-1", Mode: "road", Origin: "CNSHA", Destination: "NLRTM", Carrier: "MAEU",
		References: reg.shipments[0].References}, byID.Shipment, "what the event gives stays, the rest is filled in")
	require.Equal(t, []Party{{PartnerID: "acme", Role: "shipper"}, {PartnerID: "globex", Role: "consignee"}, {PartnerID: "umbrella", Role: "carrier"}},
		byID.Parties, "registered parties keep their role; the event's others are added")

	require.Nil(t, byBooking.Unresolved)
	require.Equal(t, "SHP-1", byBooking.Shipment.ID)
	require.Equal(t, "ocean", byBooking.Shipment.Mode)
	require.Equal(t, reg.shipments[0].Parties, byBooking.Parties)
	require.Equal(t, "SHP-1", partly.Shipment.ID)

	require.Equal(t, &Unresolved{Reason: ReasonNoMatch, References: nothing.Shipment.References}, nothing.Unresolved)
	require.Empty(t, nothing.Shipment.ID)
	require.Equal(t, &Unresolved{Reason: ReasonAmbiguous, References: shared.Shipment.References, Shipments: []string{"SHP-1", "SHP-2"}}, shared.Unresolved)
	require.Equal(t, ReasonAmbiguous, crossed.Unresolved.Reason)
	require.Equal(t, []string{"SHP-1", "SHP-2"}, crossed.Unresolved.Shipments)
	require.Empty(t, crossed.Shipment.ID)

	require.Equal(t, Shipment{ID: "SHP-404"}, unknownID.Shipment, "an id not registered is left as it is")
	require.Equal(t, []Party{{PartnerID: "acme", Role: "shipper"}}, unknownID.Parties)
}

func TestResolveWithoutRegistry(t *testing.T) {
	ev := Event{Shipment: Shipment{References: subscriptions.References{Booking: "BK1"}}}
	require.NoError(t, resolveShipments(t.Context(), nil, []*Event{&ev}))
	require.Equal(t, ReasonNoMatch, ev.Unresolved.Reason)
}

func TestParseEventReferences(t *testing.T) {
	raw := postedEvent(t, "shipment.milestone.arrived", `{"location":{"code":"NLRTM"}}`, func(ev map[string]any) {
		ev["shipment"] = map[string]any{"references": map[string]any{"booking": "BK1", "containers": []string{"apzu4812090"}}}
	})
	ev, err := ParseEvent(raw, "")
	require.NoError(t, err)
	require.Equal(t, subscriptions.References{Booking: "BK1", Containers: []string{"APZU4812090"}}, ev.Shipment.References)

	for _, tc := range []struct {
		shipment     map[string]any
		field, match string
	}{
		{map[string]any{"mode": "ocean"}, "shipment.id", "shipment.id or shipment.references is required"},
		{map[string]any{"references": map[string]any{}}, "shipment.id", "shipment.id or shipment.references is required"},
		{map[string]any{"id": "S", "references": map[string]any{"po": "1"}}, "shipment.references.po", "use booking, bill_of_lading, containers, purchase_orders, customer_references"},
		{map[string]any{"references": map[string]any{"containers": []string{"APZU4812091"}}}, "shipment.references.containers[0]", "ISO 6346 gives 0"},
	} {
		raw := postedEvent(t, "shipment.milestone.arrived", `{"location":{"code":"NLRTM"}}`, func(ev map[string]any) { ev["shipment"] = tc.shipment })
		_, err := ParseEvent(raw, "")
		var fe *subscriptions.FieldError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, tc.field, fe.Field)
		require.Contains(t, fe.Message, tc.match)
	}
}

// fakeInserter keeps the events it is given.
type fakeInserter struct{ events []Event }

func (f *fakeInserter) InsertEvents(_ context.Context, evs []Event) ([]Insert, error) {
	out := make([]Insert, len(evs))
	for i, ev := range evs {
		f.events = append(f.events, ev)
		out[i] = Insert{ID: ev.ID, Created: true}
	}
	return out, nil
}

type noQueue struct{}

func (noQueue) EnqueueFanout(context.Context, ...string) error { return nil }

type allPartners struct{}

func (allPartners) MissingPartners(context.Context, []string) ([]string, error) { return nil, nil }

func TestIngestResolves(t *testing.T) {
	ins, reg := &fakeInserter{}, registry()
	in := Ingest{Store: ins, Partners: allPartners{}, Queue: noQueue{}, Registry: reg}
	ctx := t.Context()
	byRef := func(refs map[string]any) func(ev map[string]any) {
		return func(ev map[string]any) { ev["shipment"] = map[string]any{"references": refs}; ev["parties"] = []any{} }
	}
	_, err := in.Post(ctx, postedEvent(t, "shipment.milestone.arrived", `{"location":{"code":"NLRTM"}}`, byRef(map[string]any{"booking": "BK1"})), "")
	require.NoError(t, err)
	_, err = in.Post(ctx, postedEvent(t, "shipment.milestone.arrived", `{"location":{"code":"NLRTM"}}`, byRef(map[string]any{"booking": "BK-404"})), "")
	require.NoError(t, err)
	require.Len(t, ins.events, 2)
	require.Equal(t, "SHP-1", ins.events[0].Shipment.ID)
	require.Equal(t, reg.shipments[0].Parties, ins.events[0].Parties)
	require.Equal(t, ReasonNoMatch, ins.events[1].Unresolved.Reason)

	// shipment.created with an id registers what it says, batch or not.
	res, err := in.Batch(ctx, []byte(`{"events":[`+string(postedEvent(t, "shipment.created", `{}`, nil))+`,`+
		string(postedEvent(t, "shipment.milestone.arrived", `{"location":{"code":"NLRTM"}}`, byRef(map[string]any{"booking": "BK2"})))+`]}`))
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	require.Equal(t, 3, reg.lookups, "one look-up per request, a batch included")
	require.Len(t, reg.merged, 1)
	require.Equal(t, "SHP-1", reg.merged[0].ID)
	require.Equal(t, "SHP-2", ins.events[3].Shipment.ID)
}

// fakeItemSaver keeps the items and events it is given.
type fakeItemSaver struct {
	fakeInserter
	items []SourceItem
}

func (f *fakeItemSaver) SaveSourceItems(ctx context.Context, items []SourceItem, evs []Event) ([]Insert, error) {
	f.items = append(f.items, items...)
	return f.InsertEvents(ctx, evs)
}

// TestItemsUnresolved checks that an item whose events were stored but
// one of which names no registered shipment is unresolved, as stored and
// as answered, and that one whose events all resolved is accepted.
func TestItemsUnresolved(t *testing.T) {
	saver := &fakeItemSaver{}
	in := Ingest{Store: saver, ItemStore: saver, Partners: allPartners{}, Queue: noQueue{}, Registry: registry()}
	byRef := func(id string, refs map[string]any) json.RawMessage {
		return postedEvent(t, "shipment.milestone.arrived", `{"location":{"code":"NLRTM"}}`, func(ev map[string]any) {
			ev["id"], ev["shipment"], ev["parties"] = id, map[string]any{"references": refs}, []any{}
		})
	}
	known, unknown := map[string]any{"booking": "BK1"}, map[string]any{"containers": []string{"CSQU3054383"}}
	res, err := in.Items(t.Context(), "src_1", []sources.Item{
		{Original: json.RawMessage(`1`), Events: []json.RawMessage{byRef("e1", known)}},
		{Original: json.RawMessage(`2`), Events: []json.RawMessage{byRef("e2", unknown)}},
		{Original: json.RawMessage(`3`), Events: []json.RawMessage{byRef("e3", known), byRef("e4", unknown)}},
	})
	require.NoError(t, err)
	want := []ItemStatus{ItemAccepted, ItemUnresolved, ItemUnresolved}
	for i, r := range res {
		require.Equal(t, want[i], r.Item.Status, "item %d", i)
		require.Equal(t, want[i], saver.items[i].Status, "item %d as stored", i)
		require.Nil(t, r.Item.Error, "an unresolved item is no error")
	}
	require.Len(t, saver.events, 4, "the events of an unresolved item are stored")
	require.Equal(t, "SHP-1", saver.events[0].Shipment.ID)
	require.Equal(t, ReasonNoMatch, saver.events[1].Unresolved.Reason)
}
