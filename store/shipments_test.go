package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

func TestShipments(t *testing.T) {
	exercise(t, []contractTest{
		{"PutShipment", testPutShipment},
		{"LookupShipments", testLookupShipments},
		{"LookupShipmentsTogether", testLookupShipmentsTogether},
		{"MergeShipments", testMergeShipments},
		{"UnresolvedEvents", testUnresolvedEvents},
		{"ReferencesPlan", testReferencesPlan},
	})
}

func shipment(id string, refs subscriptions.References, parties ...dispatcher.Party) dispatcher.RegisteredShipment {
	if parties == nil {
		parties = []dispatcher.Party{}
	}
	return dispatcher.RegisteredShipment{Shipment: dispatcher.Shipment{ID: id, Mode: "ocean", Origin: "CNSHA", Destination: "NLRTM",
		Carrier: "MAEU", References: refs}, Parties: parties}
}

func testPutShipment(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	put := shipment("SHP-1", subscriptions.References{Booking: "BK1", Containers: []string{"APZU4812090", "CSQU3054383"}},
		dispatcher.Party{PartnerID: "acme", Role: "shipper"}, dispatcher.Party{PartnerID: "globex", Role: "consignee"})
	got, created, err := s.PutShipment(ctx, put)
	require.NoError(t, err)
	require.True(t, created)
	read, err := s.Shipment(ctx, "SHP-1")
	require.NoError(t, err)
	require.Equal(t, got, read)
	require.Equal(t, put.Shipment, read.Shipment)
	require.Equal(t, put.Parties, read.Parties)

	// A second PUT replaces everything: the container left out no longer
	// finds it, the party left out is gone, the creation time stays.
	time.Sleep(2 * time.Millisecond)
	again := shipment("SHP-1", subscriptions.References{Booking: "BK1", Containers: []string{"APZU4812090"}},
		dispatcher.Party{PartnerID: "acme", Role: "shipper"})
	again.Mode = "air"
	got2, created, err := s.PutShipment(ctx, again)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, got.CreatedAt, got2.CreatedAt)
	require.True(t, got2.UpdatedAt.After(got.UpdatedAt))
	read, err = s.Shipment(ctx, "SHP-1")
	require.NoError(t, err)
	require.Equal(t, "air", read.Mode)
	require.Equal(t, []dispatcher.Party{{PartnerID: "acme", Role: "shipper"}}, read.Parties)
	found, err := s.ShipmentsByReference(ctx, "CSQU3054383")
	require.NoError(t, err)
	require.Empty(t, found)
	found, err = s.ShipmentsByReference(ctx, "APZU4812090")
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, "SHP-1", found[0].ID)

	_, err = s.Shipment(ctx, "SHP-404")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testLookupShipments(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	for _, sh := range []dispatcher.RegisteredShipment{
		shipment("SHP-1", subscriptions.References{Booking: "BK1", PurchaseOrders: []string{"PO-1", "PO-SHARED"}}),
		shipment("SHP-2", subscriptions.References{Booking: "BK2", PurchaseOrders: []string{"PO-SHARED"}}),
		// The same value as another kind: a booking "PO-1" is not the
		// purchase order PO-1.
		shipment("SHP-3", subscriptions.References{Booking: "PO-1"}),
	} {
		_, _, err := s.PutShipment(ctx, sh)
		require.NoError(t, err)
	}
	po1 := subscriptions.Reference{Kind: subscriptions.RefPurchaseOrder, Value: "PO-1"}
	shared := subscriptions.Reference{Kind: subscriptions.RefPurchaseOrder, Value: "PO-SHARED"}
	unknown := subscriptions.Reference{Kind: subscriptions.RefBooking, Value: "BK-404"}
	got, err := s.LookupShipments(ctx, []string{"SHP-3", "SHP-404"}, []subscriptions.Reference{po1, shared, unknown})
	require.NoError(t, err)
	require.Equal(t, map[subscriptions.Reference][]string{po1: {"SHP-1"}, shared: {"SHP-1", "SHP-2"}}, got.ByReference)
	require.ElementsMatch(t, []string{"SHP-1", "SHP-2", "SHP-3"}, keys(got.Shipments))
	require.Equal(t, "BK2", got.Shipments["SHP-2"].References.Booking)

	// By value, of any kind.
	found, err := s.ShipmentsByReference(ctx, "PO-1")
	require.NoError(t, err)
	require.Equal(t, []string{"SHP-1", "SHP-3"}, []string{found[0].ID, found[1].ID})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func testMergeShipments(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	_, _, err := s.PutShipment(ctx, shipment("SHP-1", subscriptions.References{Booking: "BK1"},
		dispatcher.Party{PartnerID: "acme", Role: "shipper"}))
	require.NoError(t, err)
	err = s.MergeShipments(ctx, []dispatcher.RegisteredShipment{
		{Shipment: dispatcher.Shipment{ID: "SHP-1", Destination: "DEHAM", References: subscriptions.References{Containers: []string{"APZU4812090"}}},
			Parties: []dispatcher.Party{{PartnerID: "acme", Role: "consignee"}, {PartnerID: "globex", Role: "carrier"}}},
		{Shipment: dispatcher.Shipment{ID: "SHP-NEW", Mode: "road"}, Parties: []dispatcher.Party{{PartnerID: "globex", Role: "carrier"}}},
	})
	require.NoError(t, err)
	got, err := s.Shipment(ctx, "SHP-1")
	require.NoError(t, err)
	require.Equal(t, "DEHAM", got.Destination, "an attribute given replaces")
	require.Equal(t, "CNSHA", got.Origin, "an attribute not given stays")
	require.Equal(t, subscriptions.References{Booking: "BK1", Containers: []string{"APZU4812090"}}, got.References)
	require.Equal(t, []dispatcher.Party{{PartnerID: "acme", Role: "shipper"}, {PartnerID: "globex", Role: "carrier"}}, got.Parties,
		"parties are added, a registered one keeps its role")
	found, err := s.ShipmentsByReference(ctx, "APZU4812090")
	require.NoError(t, err)
	require.Len(t, found, 1)
	got, err = s.Shipment(ctx, "SHP-NEW")
	require.NoError(t, err)
	require.Equal(t, "road", got.Mode)
}

func testUnresolvedEvents(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	resolved := insertEvent(t, s, event("evt_1"))
	refs := subscriptions.References{Containers: []string{"APZU4812090"}}
	un := event("evt_2")
	un.Shipment = dispatcher.Shipment{References: refs}
	un.Parties = []dispatcher.Party{}
	un.Unresolved = &dispatcher.Unresolved{Reason: dispatcher.ReasonNoMatch, References: refs}
	now := time.Now()
	un.FannedOutAt = &now
	insertEvent(t, s, un)

	got, err := s.Event(ctx, "evt_2")
	require.NoError(t, err)
	require.Equal(t, un.Unresolved, got.Unresolved)
	require.Equal(t, dispatcher.EventUnresolved, got.Status)
	list, err := s.ListEvents(ctx, dispatcher.EventQuery{Status: dispatcher.EventUnresolved})
	require.NoError(t, err)
	require.Equal(t, []string{"evt_2"}, eventIDs(list))
	list, err = s.ListEvents(ctx, dispatcher.EventQuery{Status: dispatcher.EventResolved})
	require.NoError(t, err)
	require.Equal(t, []string{resolved.ID}, eventIDs(list))

	batch, err := s.UnresolvedEvents(ctx, "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"evt_2"}, eventIDs(batch))
	batch, err = s.UnresolvedEvents(ctx, "evt_2", 10)
	require.NoError(t, err)
	require.Empty(t, batch)

	got.Unresolved, got.Shipment.ID = nil, "SHP-1"
	got.Parties = []dispatcher.Party{{PartnerID: "acme", Role: "consignee"}}
	changed, err := s.ResolveEvents(ctx, []dispatcher.Event{got})
	require.NoError(t, err)
	require.Equal(t, []string{"evt_2"}, changed)
	read, err := s.Event(ctx, "evt_2")
	require.NoError(t, err)
	require.Nil(t, read.Unresolved)
	require.Equal(t, "SHP-1", read.Shipment.ID)
	require.Equal(t, got.Parties, read.Parties)
	require.Nil(t, read.FannedOutAt, "its fan-out runs again")
	unfanned, err := s.UnfannedEvents(ctx, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	require.Contains(t, unfanned, "evt_2")
	list, err = s.ListEvents(ctx, dispatcher.EventQuery{ShipmentID: "SHP-1"})
	require.NoError(t, err)
	require.Equal(t, []string{"evt_2"}, eventIDs(list))

	changed, err = s.ResolveEvents(ctx, []dispatcher.Event{got})
	require.NoError(t, err)
	require.Empty(t, changed, "resolved once")
}

func eventIDs(evs []dispatcher.Event) []string {
	return ids(evs, func(e dispatcher.Event) string { return e.ID })
}

// testReferencesPlan checks that resolving references is an index search
// of shipment_references, not a scan, with enough shipments that
// PostgreSQL's planner would rather scan than use a useless index.
func testReferencesPlan(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, store.Exec(ctx, s, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
		INSERT INTO shipments (id, created_at, updated_at) SELECT 'SHP-' || i, 0, 0 FROM n`))
	require.NoError(t, store.Exec(ctx, s, `INSERT INTO shipment_references (value, kind, shipment_id)
		SELECT 'BK' || substr(id, 5), 'booking', id FROM shipments`))
	require.NoError(t, store.Exec(ctx, s, `ANALYZE`))
	plan, err := store.ReferencesPlan(ctx, s, []subscriptions.Reference{{Kind: "booking", Value: "BK17"}, {Kind: "containers", Value: "APZU4812090"}})
	require.NoError(t, err)
	t.Log(plan)
	if db == "sqlite" {
		require.Contains(t, plan, "SEARCH shipment_references USING")
		require.NotContains(t, plan, "SCAN shipment_references")
		return
	}
	require.Contains(t, plan, "shipment_references_pkey")
	require.NotContains(t, plan, "Seq Scan")
}

// testLookupShipmentsTogether makes many look-ups at once, as concurrent
// posts do, so that the batcher runs them together: each still finds its
// own shipment, by id and by reference, and none finds one not
// registered.
func testLookupShipmentsTogether(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	const n = 40
	for i := range n / 2 {
		_, _, err := s.PutShipment(ctx, shipment(fmt.Sprintf("SHP-%d", i), subscriptions.References{Booking: fmt.Sprintf("BK-%d", i)}))
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			id, ref := fmt.Sprintf("SHP-%d", i), subscriptions.Reference{Kind: "booking", Value: fmt.Sprintf("BK-%d", i)}
			got, err := s.LookupShipments(ctx, []string{id}, []subscriptions.Reference{ref})
			if err != nil {
				errs <- err
				return
			}
			_, byID := got.Shipments[id]
			if registered := i < n/2; byID != registered || (len(got.ByReference[ref]) == 1) != registered {
				errs <- fmt.Errorf("look-up %d: found by id %v, by reference %v; registered %v", i, byID, got.ByReference[ref], registered)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
