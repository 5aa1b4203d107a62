package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

func TestDCSAFeed(t *testing.T) {
	exercise(t, []contractTest{
		{"events with a DCSA form join their parties' feeds", testFeedJoins},
		{"filters", testFeedFilters},
		{"pages follow the feed's order", testFeedPages},
		{"a resolved event joins the feeds of its parties", testFeedResolved},
		{"plan", testFeedPlan},
	})
}

// dcsaEvent is an event of type typ with data, of shipment SHP-1 (booking
// BK-1, bill of lading BL-1), whose parties are partners.
func dcsaEvent(id, typ, data string, partners ...string) dispatcher.Event {
	e := event(id)
	e.Type, e.Data, e.Parties = typ, json.RawMessage(data), nil
	e.Shipment = dispatcher.Shipment{ID: "SHP-1", Mode: "ocean", References: subscriptions.References{Booking: "BK-1", BillOfLading: "BL-1"}}
	for _, p := range partners {
		e.Parties = append(e.Parties, dispatcher.Party{PartnerID: p, Role: "shipper"})
	}
	return e
}

const (
	departed = `{"location": {"code": "CNSHA"}}`
	loaded   = `{"container": "MSCU4829172", "empty": false}`
	issued   = `{"type": "bill_of_lading", "number": "BL-1"}`
)

func dcsaFeedIDs(t *testing.T, s *store.Store, q dispatcher.DCSAFeedQuery) []string {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	entries, err := s.ListDCSAFeed(t.Context(), q)
	require.NoError(t, err)
	ids := []string{}
	for _, e := range entries {
		ids = append(ids, e.Event.ID)
	}
	return ids
}

func testFeedJoins(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	_, err := s.InsertEvents(ctx, []dispatcher.Event{
		dcsaEvent("e1", "shipment.milestone.departed", departed, "acme", "globex"),
		dcsaEvent("e2", "shipment.milestone.delivered", departed, "acme"),
		dcsaEvent("e3", "shipment.updated", `{"vessel": "MSC MAYA"}`, "acme"),
		dcsaEvent("e4", "shipment.equipment.loaded", loaded, "acme", "acme"),
	})
	require.NoError(t, err)
	insertEvent(t, s, dcsaEvent("e5", "shipment.document.issued", issued, "globex"))
	_, err = s.InsertEvents(ctx, []dispatcher.Event{dcsaEvent("e1", "shipment.milestone.departed", departed, "initech")})
	require.NoError(t, err)

	require.Equal(t, []string{"e1", "e4"}, dcsaFeedIDs(t, s, dispatcher.DCSAFeedQuery{PartnerID: "acme"}),
		"no row for a type without a DCSA form, nor for an event without one, nor twice for a partner named twice")
	require.Equal(t, []string{"e1", "e5"}, dcsaFeedIDs(t, s, dispatcher.DCSAFeedQuery{PartnerID: "globex"}))
	require.Empty(t, dcsaFeedIDs(t, s, dispatcher.DCSAFeedQuery{PartnerID: "initech"}), "a repeat of a stored event joins nothing")

	entries, err := s.ListDCSAFeed(ctx, dispatcher.DCSAFeedQuery{PartnerID: "acme", Limit: 1})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "shipment.milestone.departed", entries[0].Event.Type)
	require.JSONEq(t, departed, string(entries[0].Event.Data))
	require.False(t, entries[0].Event.CreatedAt.IsZero())
}

func testFeedFilters(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	evs := []dispatcher.Event{
		dcsaEvent("t1", "shipment.milestone.departed", departed, "acme"),
		dcsaEvent("t2", "shipment.updated", `{"eta": "2026-12-21T14:00:00Z", "time_basis": "estimated"}`, "acme"),
		dcsaEvent("q1", "shipment.equipment.loaded", loaded, "acme"),
		dcsaEvent("s1", "shipment.document.issued", issued, "acme"),
	}
	for i := range evs {
		evs[i].OccurredAt = at.Add(time.Duration(i) * time.Hour)
		evs[i].CreatedAt = evs[i].OccurredAt
	}
	evs[3].Shipment.References = subscriptions.References{Booking: "BK-2"}
	_, err := s.InsertEvents(ctx, evs)
	require.NoError(t, err)
	from, to := at.Add(time.Hour), at.Add(2*time.Hour)
	for _, tc := range []struct {
		q    dispatcher.DCSAFeedQuery
		want []string
	}{
		{dispatcher.DCSAFeedQuery{EventTypes: []string{"TRANSPORT"}}, []string{"t1", "t2"}},
		{dispatcher.DCSAFeedQuery{EventTypes: []string{"SHIPMENT", "EQUIPMENT"}}, []string{"q1", "s1"}},
		{dispatcher.DCSAFeedQuery{TransportCodes: []string{"ARRI"}}, []string{"t2"}},
		{dispatcher.DCSAFeedQuery{EquipmentCodes: []string{"LOAD", "DISC"}}, []string{"q1"}},
		{dispatcher.DCSAFeedQuery{ShipmentCodes: []string{"ISSU"}}, []string{"s1"}},
		{dispatcher.DCSAFeedQuery{ShipmentCodes: []string{"ISSU"}, EquipmentCodes: []string{"LOAD"}}, []string{}},
		{dispatcher.DCSAFeedQuery{Booking: "BK-2"}, []string{"s1"}},
		{dispatcher.DCSAFeedQuery{BillOfLading: "BL-1"}, []string{"t1", "t2", "q1"}},
		{dispatcher.DCSAFeedQuery{Equipment: "MSCU4829172"}, []string{"q1"}},
		{dispatcher.DCSAFeedQuery{CreatedFrom: &from, CreatedTo: &to}, []string{"t2", "q1"}},
	} {
		tc.q.PartnerID = "acme"
		// Stored together, they joined the feed at the same moment.
		require.ElementsMatch(t, tc.want, dcsaFeedIDs(t, s, tc.q), "%+v", tc.q)
	}
}

func testFeedPages(t *testing.T, db backend) {
	s, _ := db.setup(t)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("p%d", i)
		insertEvent(t, s, dcsaEvent(id, "shipment.milestone.departed", departed, "acme"))
		want = append(want, id)
	}
	var got []string
	q := dispatcher.DCSAFeedQuery{PartnerID: "acme", Limit: 3}
	for {
		entries, err := s.ListDCSAFeed(t.Context(), q)
		require.NoError(t, err)
		for _, e := range entries {
			got = append(got, e.Event.ID)
		}
		if len(entries) < q.Limit {
			break
		}
		place := entries[len(entries)-1].Place
		q.After = &place
	}
	require.Equal(t, want, got, "oldest first, each once")
}

func testFeedResolved(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	e := dcsaEvent("u1", "shipment.milestone.departed", departed)
	e.Shipment.ID = ""
	e.Unresolved = &dispatcher.Unresolved{Reason: dispatcher.ReasonNoMatch, References: e.Shipment.References}
	insertEvent(t, s, e)
	require.Empty(t, dcsaFeedIDs(t, s, dispatcher.DCSAFeedQuery{PartnerID: "acme"}))
	e.Unresolved, e.Shipment.ID = nil, "SHP-1"
	e.Parties = []dispatcher.Party{{PartnerID: "acme", Role: "consignee"}}
	ids, err := s.ResolveEvents(ctx, []dispatcher.Event{e})
	require.NoError(t, err)
	require.Equal(t, []string{"u1"}, ids)
	require.Equal(t, []string{"u1"}, dcsaFeedIDs(t, s, dispatcher.DCSAFeedQuery{PartnerID: "acme"}))
}

// testFeedPlan: a page of a partner's feed is one range of
// dcsa_feed_partner, in its order, whatever the other partners have,
// with each event read by its primary key. PostgreSQL plans by its
// statistics: it gets 20,000 events over 20 partners.
func testFeedPlan(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	after := &dispatcher.DCSAFeedPlace{AddedAt: time.Now(), EventID: "f0100"}
	if db == "postgres" {
		var evs []dispatcher.Event
		for i := range 20000 {
			evs = append(evs, dcsaEvent(fmt.Sprintf("f%04d", i), "shipment.milestone.departed", departed, fmt.Sprintf("p%02d", i%20)))
		}
		_, err := s.InsertEvents(ctx, evs)
		require.NoError(t, err)
		require.NoError(t, store.Analyze(ctx, s))
	}
	for _, q := range []dispatcher.DCSAFeedQuery{
		{PartnerID: "p01", Limit: 100},
		{PartnerID: "p01", Limit: 100, After: after, EventTypes: []string{"TRANSPORT"}, Booking: "BK-1"},
	} {
		plan, err := store.DCSAFeedPlan(ctx, s, q)
		require.NoError(t, err)
		if db == "sqlite" {
			require.Contains(t, plan, "INDEX dcsa_feed_partner (partner_id=?", "%+v", q)
			require.Contains(t, plan, "USING INDEX sqlite_autoindex_events_1 (id=?)")
			require.NotContains(t, plan, "TEMP B-TREE")
			continue
		}
		require.Contains(t, plan, "dcsa_feed_partner", "%+v", q)
		require.NotContains(t, plan, "Seq Scan")
		require.NotContains(t, plan, "Sort")
	}
}
