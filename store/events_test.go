package store_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestEvents checks storing events, with their messages or without, and
// reading them back, on each backend.
func TestEvents(t *testing.T) {
	exercise(t, []contractTest{
		{"InsertEvents", testInsertEvents},
		{"InsertEventsDuplicatesInBatch", testInsertEventsDuplicatesInBatch},
		{"InsertEventsManyStatements", testInsertEventsManyStatements},
		{"InsertEventsWithMessages", testInsertEventsWithMessages},
		{"EventRoundTrip", testEventRoundTrip},
		{"ListEvents", testListEvents},
	})
}

func testInsertEvents(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	a := event("evt_a")
	a.SourceID = "tms-1"
	b := event("evt_b")
	b.IdempotencyKey = "key-1"
	c := event("evt_c") // no source id, no key
	res, err := s.InsertEvents(ctx, []dispatcher.Event{a, b, c})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{{ID: "evt_a", Created: true}, {ID: "evt_b", Created: true}, {ID: "evt_c", Created: true}}, res)

	bySource := event("evt_d")
	bySource.SourceID = "tms-1"
	byKey := event("evt_e")
	byKey.IdempotencyKey = "key-1"
	fresh := event("evt_f") // no source id or key: never a duplicate
	first := event("evt_g")
	first.SourceID = "tms-2"
	second := event("evt_h")
	second.SourceID = "tms-2"
	keyFirst := event("evt_i")
	keyFirst.IdempotencyKey = "key-2"
	keySecond := event("evt_j")
	keySecond.IdempotencyKey = "key-2"
	sameID := event("evt_c")
	res, err = s.InsertEvents(ctx, []dispatcher.Event{bySource, byKey, fresh, first, second, keyFirst, keySecond, sameID})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{
		{ID: "evt_a"},
		{ID: "evt_b"},
		{ID: "evt_f", Created: true},
		{ID: "evt_g", Created: true},
		{ID: "evt_g"},
		{ID: "evt_i", Created: true},
		{ID: "evt_i"},
		{ID: "evt_c"},
	}, res)
	for _, id := range []string{"evt_d", "evt_e", "evt_h", "evt_j"} {
		_, err := s.Event(ctx, id)
		require.ErrorIs(t, err, subscriptions.ErrNotFound)
	}

	res, err = s.InsertEvents(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, res)
}

func testInsertEventsDuplicatesInBatch(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	withKeys := func(id, sourceID, key string) dispatcher.Event {
		e := event(id)
		e.SourceID, e.IdempotencyKey = sourceID, key
		return e
	}
	_, err := s.InsertEvents(ctx, []dispatcher.Event{withKeys("evt_w", "", "key-w"), withKeys("evt_z", "src-z", "")})
	require.NoError(t, err)

	res, err := s.InsertEvents(ctx, []dispatcher.Event{
		withKeys("evt_1", "src-1", "key-1"),
		withKeys("evt_2", "src-1", ""), // the source of evt_1
		withKeys("evt_3", "", "key-1"), // the key of evt_1
		withKeys("evt_4", "src-4", ""),
		withKeys("evt_5", "", "key-5"),
		withKeys("evt_6", "src-4", "key-5"), // both: the source decides
		withKeys("evt_7", "src-7", "key-w"), // the key of evt_w, stored before
		withKeys("evt_8", "src-7", ""),      // the source of evt_7, which was not stored
		withKeys("evt_a", "src-z", ""),      // the source of evt_z, stored before
		withKeys("evt_a", "src-a", ""),      // the id of the evt_a above, which was not stored
		withKeys("evt_b", "src-b", "key-b"),
		withKeys("evt_b", "src-b", "key-b"), // all the same
		withKeys("evt_c", "src-c", ""),
		withKeys("evt_c", "src-c2", "key-c2"), // the id of evt_c
	})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{
		{ID: "evt_1", Created: true},
		{ID: "evt_1"},
		{ID: "evt_1"},
		{ID: "evt_4", Created: true},
		{ID: "evt_5", Created: true},
		{ID: "evt_4"},
		{ID: "evt_w"},
		{ID: "evt_8", Created: true},
		{ID: "evt_z"},
		{ID: "evt_a", Created: true},
		{ID: "evt_b", Created: true},
		{ID: "evt_b"},
		{ID: "evt_c", Created: true},
		{ID: "evt_c"},
	}, res)
	for _, id := range []string{"evt_2", "evt_3", "evt_6", "evt_7"} {
		_, err := s.Event(ctx, id)
		require.ErrorIs(t, err, subscriptions.ErrNotFound)
	}
	for id, sourceID := range map[string]string{"evt_8": "src-7", "evt_a": "src-a", "evt_c": "src-c"} {
		got, err := s.Event(ctx, id)
		require.NoError(t, err)
		require.Equal(t, sourceID, got.SourceID, id)
	}

	// One event, stored or not.
	res, err = s.InsertEvents(ctx, []dispatcher.Event{withKeys("evt_9", "src-1", "")})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{{ID: "evt_1"}}, res)
	res, err = s.InsertEvents(ctx, []dispatcher.Event{withKeys("evt_9", "src-9", "")})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{{ID: "evt_9", Created: true}}, res)
}

func testInsertEventsManyStatements(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	// More than two statements' worth (400 events each).
	const n = 1000
	first := event("evt_0000")
	first.SourceID = "src-first"
	_, err := s.InsertEvents(ctx, []dispatcher.Event{first})
	require.NoError(t, err)

	evs := make([]dispatcher.Event, n)
	want := make([]dispatcher.Insert, n)
	for i := range evs {
		evs[i] = event(fmt.Sprintf("evt_%04d", i+1))
		evs[i].SourceID = fmt.Sprintf("src-%04d", i+1)
		evs[i].IdempotencyKey = fmt.Sprintf("key-%04d", i+1)
		want[i] = dispatcher.Insert{ID: evs[i].ID, Created: true}
	}
	// Repeats across statements, and of an event stored before.
	evs[900].SourceID, want[900] = evs[10].SourceID, dispatcher.Insert{ID: evs[10].ID}
	evs[399].SourceID, want[399] = first.SourceID, dispatcher.Insert{ID: first.ID}
	// The key of evs[399], which was not stored: stored.
	evs[450].IdempotencyKey = evs[399].IdempotencyKey
	evs[800].IdempotencyKey, want[800] = evs[399].IdempotencyKey, dispatcher.Insert{ID: evs[450].ID}
	res, err := s.InsertEvents(ctx, evs)
	require.NoError(t, err)
	require.Equal(t, want, res)
	all, err := s.ListEvents(ctx, dispatcher.EventQuery{Page: subscriptions.Page{Limit: 2 * n}})
	require.NoError(t, err)
	require.Len(t, all, 1+n-3)

	// An event without an id fails the batch before anything is stored.
	more := make([]dispatcher.Event, n)
	for i := range more {
		more[i] = event(fmt.Sprintf("evt_more_%04d", i))
	}
	more[n-1].ID = ""
	_, err = s.InsertEvents(ctx, more)
	require.Error(t, err)
	_, err = s.Event(ctx, more[0].ID)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testInsertEventsWithMessages(t *testing.T, db backend) {
	s, _ := db.setup(t)
	now := micro(time.Now())
	checkInsertWithMessages(t, s, now)
	checkInsertBatchWithMessages(t, s, now)
	many := checkInsertManyWithMessages(t, s, now)
	checkInsertFaultyMessages(t, s, now, many)
}

// fannedEvent is event id from sourceID, fanned out at now with a pending
// message, msg_<id>_<endpoint>, to each endpoint of acme given.
func fannedEvent(id, sourceID string, now time.Time, endpoints ...string) dispatcher.Event {
	e := event(id)
	e.SourceID, e.FannedOutAt = sourceID, &now
	for _, ep := range endpoints {
		e.Messages = append(e.Messages, message("msg_"+id+"_"+ep, e, endpoint(ep, "acme")))
	}
	return e
}

// storedMessagesOf returns the stored messages of the events ids, by id.
func storedMessagesOf(t *testing.T, s *store.Store, ids ...string) map[string]dispatcher.Message {
	t.Helper()
	ms, err := s.MessagesOfEvents(t.Context(), ids)
	require.NoError(t, err)
	out := map[string]dispatcher.Message{}
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

// checkInsertWithMessages stores evt_a, fanned out at now to ep1 (claimed)
// and ep2 (held), evt_b fanned out to none, and a repeat of evt_a's source
// with a message of its own, and checks that the messages of the first
// two are stored as given, the repeat's not, and that both count as
// fanned out.
func checkInsertWithMessages(t *testing.T, s *store.Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	lease := now.Add(time.Minute)
	// Stored with their events, as given; a repeat's are not.
	a := fannedEvent("evt_a", "src-a", now, "ep1", "ep2")
	a.Messages[0].Status, a.Messages[0].LeaseUntil = dispatcher.StatusDelivering, &lease
	a.Messages[1].Status, a.Messages[1].NextAttemptAt = dispatcher.StatusHeld, nil
	b := fannedEvent("evt_b", "", now) // matched no endpoint
	c := fannedEvent("evt_c", "src-a", now, "ep1")
	res, err := s.InsertEvents(ctx, []dispatcher.Event{a, b, c})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{{ID: "evt_a", Created: true}, {ID: "evt_b", Created: true}, {ID: "evt_a"}}, res)
	got := storedMessagesOf(t, s, "evt_a", "evt_b", "evt_c")
	require.Len(t, got, 2)
	require.Equal(t, dispatcher.StatusDelivering, got["msg_evt_a_ep1"].Status)
	require.Equal(t, lease, *got["msg_evt_a_ep1"].LeaseUntil)
	require.Equal(t, dispatcher.StatusHeld, got["msg_evt_a_ep2"].Status)
	require.Nil(t, got["msg_evt_a_ep2"].NextAttemptAt)
	for _, id := range []string{"evt_a", "evt_b"} {
		ev, err := s.Event(ctx, id)
		require.NoError(t, err)
		require.NotNil(t, ev.FannedOutAt, id)
	}
	unfanned, err := s.UnfannedEvents(ctx, now.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, unfanned)
	// A fan-out of the event again (by the reconciler, say) finds
	// no message of it pending: one is claimed, one held.
	due, err := s.FanOut(ctx, "evt_a", nil)
	require.NoError(t, err)
	require.Empty(t, due)
}

// checkInsertBatchWithMessages checks that single events with messages,
// stored at the same moment in one statement, a repeat of evt_a's source
// among them, each get the answer they would get alone.
func checkInsertBatchWithMessages(t *testing.T, s *store.Store, now time.Time) {
	t.Helper()
	// Single events stored at the same moment, in one statement.
	ins, errs := store.InsertEventBatch(t.Context(), s, []dispatcher.Event{
		fannedEvent("evt_d", "src-d", now, "ep1"), fannedEvent("evt_e", "src-a", now, "ep1"), fannedEvent("evt_f", "", now, "ep1", "ep2"),
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []dispatcher.Insert{{ID: "evt_d", Created: true}, {ID: "evt_a"}, {ID: "evt_f", Created: true}}, ins)
	require.Len(t, storedMessagesOf(t, s, "evt_d", "evt_e", "evt_f"), 3)
}

// checkInsertManyWithMessages stores more events than one statement takes
// (401 with three messages each, and a repeat of evt_d's source), and then
// three events with 400 messages each, and checks every message is stored.
// It returns the first events.
func checkInsertManyWithMessages(t *testing.T, s *store.Store, now time.Time) []dispatcher.Event {
	t.Helper()
	// More events than one statement takes (a transaction, then),
	// and many messages in one statement.
	var many, wide []dispatcher.Event
	var manyIDs []string
	for i := range 401 {
		many = append(many, fannedEvent(fmt.Sprintf("evt_many%03d", i), "", now, "ep1", "ep2", "ep3"))
		manyIDs = append(manyIDs, many[i].ID)
	}
	many = append(many, fannedEvent("evt_many_repeat", "src-d", now, "ep1"))
	for i := range 3 {
		var eps []string
		for j := range 400 {
			eps = append(eps, fmt.Sprintf("ep%03d", j))
		}
		wide = append(wide, fannedEvent(fmt.Sprintf("evt_wide%d", i), "", now, eps...))
	}
	for _, evs := range [][]dispatcher.Event{many, wide} {
		res, err := s.InsertEvents(t.Context(), evs)
		require.NoError(t, err)
		for i, r := range res {
			require.Equal(t, evs[i].ID != "evt_many_repeat", r.Created, evs[i].ID)
		}
	}
	require.Len(t, storedMessagesOf(t, s, append(manyIDs, "evt_many_repeat")...), 1203)
	require.Len(t, storedMessagesOf(t, s, "evt_wide0", "evt_wide1", "evt_wide2"), 1200)
	return many
}

// checkInsertFaultyMessages checks that a message that repeats an (event,
// endpoint), or is of another event, fails the call, alone or among the
// 401 stored events of many, and that nothing of it is stored.
func checkInsertFaultyMessages(t *testing.T, s *store.Store, now time.Time, many []dispatcher.Event) {
	t.Helper()
	ctx := t.Context()
	bad := fannedEvent("evt_bad", "", now, "ep1", "ep1")
	for _, evs := range [][]dispatcher.Event{{bad}, {bad, event("evt_bad_2")}, append(many[:401:401], bad)} {
		_, err := s.InsertEvents(ctx, evs)
		require.Error(t, err)
		_, err = s.Event(ctx, "evt_bad")
		require.ErrorIs(t, err, subscriptions.ErrNotFound)
	}
	other := fannedEvent("evt_other", "", now, "ep1")
	other.Messages[0].EventID = "evt_a"
	_, err := s.InsertEvents(ctx, []dispatcher.Event{other})
	require.ErrorContains(t, err, "is of event evt_a")
	require.Len(t, storedMessagesOf(t, s, "evt_bad", "evt_bad_2", "evt_other"), 0)
}

func testEventRoundTrip(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	e := event("evt_1")
	e.SourceID, e.IdempotencyKey = "src", "idem"
	e.Shipment = dispatcher.Shipment{ID: "shp_1", Mode: "ocean", Origin: "CNSHA", Destination: "NLRTM", Carrier: "MAEU",
		References: subscriptions.References{PurchaseOrders: []string{"4711"}, BillOfLading: "MAEU123"}}
	e.Parties = []dispatcher.Party{{PartnerID: "acme", Role: "consignee"}, {PartnerID: "beta", Role: "carrier"}}
	e.Data = json.RawMessage(`{"z": 1, "a": [1.50, 2e3, "ü"], "nested": {"k": null}}`)
	// A time zone and nanoseconds: stored to the microsecond, read as UTC.
	e.OccurredAt = time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))
	e.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	_, err := s.InsertEvents(ctx, []dispatcher.Event{e, event("evt_untraced")})
	require.NoError(t, err)

	got, err := s.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, time.UTC, got.OccurredAt.Location())
	require.True(t, got.OccurredAt.Equal(e.OccurredAt.Truncate(time.Microsecond)), got.OccurredAt)
	require.Equal(t, e.OccurredAt.UTC().Truncate(time.Microsecond), got.OccurredAt)
	require.JSONEq(t, string(e.Data), string(got.Data))
	require.Equal(t, string(e.Data), string(got.Data), "data is kept byte for byte")
	require.Equal(t, e.Shipment, got.Shipment)
	require.Equal(t, e.Parties, got.Parties)
	require.Equal(t, e.SourceID, got.SourceID)
	require.Equal(t, e.IdempotencyKey, got.IdempotencyKey)
	require.Equal(t, e.Type, got.Type)
	require.Equal(t, e.CreatedAt, got.CreatedAt)
	require.Nil(t, got.FannedOutAt)
	require.Equal(t, e.TraceParent, got.TraceParent)
	untraced, err := s.Event(ctx, "evt_untraced")
	require.NoError(t, err)
	require.Empty(t, untraced.TraceParent)

	_, err = s.Event(ctx, "nothing")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testListEvents(t *testing.T, db backend) {
	s, _ := db.setup(t)
	all := listedEventsFixture(t, s)
	checkEventFilters(t, s, all)
	checkEventPages(t, s, all)
	checkEventsDefaultLimit(t, s)
}

// listedEventsFixture stores 30 events, evt_00 onwards, of nine types
// and four shipments in turn, and returns them newest first.
func listedEventsFixture(t *testing.T, s *store.Store) []dispatcher.Event {
	t.Helper()
	types := []string{
		"shipment.created", "shipment.milestone.departed", "shipment.delivered",
		"shipment.milestone.arrived", "shipment.milestone", "shipment",
		// Just below and above "shipment." in byte order.
		"shipment-x.created", "shipment/x", "shipmentx.created",
	}
	var all []dispatcher.Event
	for i := range 30 {
		e := event(fmt.Sprintf("evt_%02d", i))
		e.Type = types[i%len(types)]
		e.Shipment.ID = fmt.Sprintf("shp_%d", i%4)
		all = append(all, e)
	}
	_, err := s.InsertEvents(t.Context(), all)
	require.NoError(t, err)
	// Newest first.
	slices.Reverse(all)
	return all
}

// listEvents returns the ids of the events ListEvents lists for q, at most
// 100.
func listEvents(t *testing.T, s *store.Store, q dispatcher.EventQuery) []string {
	t.Helper()
	q.Limit = 100
	es, err := s.ListEvents(t.Context(), q)
	require.NoError(t, err)
	return ids(es, func(e dispatcher.Event) string { return e.ID })
}

// eventsKept returns the ids of the events among all that keep holds, in
// order.
func eventsKept(all []dispatcher.Event, keep func(e dispatcher.Event) bool) []string {
	return keepIDs(all, keep, func(e dispatcher.Event) string { return e.ID })
}

// typeMatches keeps the events that an endpoint with event type pattern
// gets.
func typeMatches(pattern string) func(e dispatcher.Event) bool {
	return func(e dispatcher.Event) bool { return subscriptions.TypeMatches(pattern, e.Type) }
}

// checkEventFilters checks that ListEvents with each filter, wildcards
// included, and both together, lists the events of all, newest first,
// that the filter keeps.
func checkEventFilters(t *testing.T, s *store.Store, all []dispatcher.Event) {
	t.Helper()
	// Wildcards select what an endpoint with that event type gets.
	for _, tc := range []struct {
		q    dispatcher.EventQuery
		keep func(e dispatcher.Event) bool
		n    int
	}{
		{dispatcher.EventQuery{}, func(dispatcher.Event) bool { return true }, 30},
		{dispatcher.EventQuery{Type: "*"}, func(dispatcher.Event) bool { return true }, 30},
		{dispatcher.EventQuery{Type: "shipment.milestone"}, typeMatches("shipment.milestone"), 3},
		{dispatcher.EventQuery{Type: "shipment"}, typeMatches("shipment"), 3},
		{dispatcher.EventQuery{Type: "shipment.*"}, typeMatches("shipment.*"), 18},
		{dispatcher.EventQuery{Type: "shipment.milestone.*"}, typeMatches("shipment.milestone.*"), 7},
		{dispatcher.EventQuery{Type: "shipment.nothing.*"}, typeMatches("shipment.nothing.*"), 0},
		{dispatcher.EventQuery{Type: "shipment.unknown"}, typeMatches("shipment.unknown"), 0},
		{dispatcher.EventQuery{ShipmentID: "shp_1"}, func(e dispatcher.Event) bool { return e.Shipment.ID == "shp_1" }, 8},
		{
			dispatcher.EventQuery{Type: "shipment.milestone.*", ShipmentID: "shp_3"},
			func(e dispatcher.Event) bool {
				return e.Shipment.ID == "shp_3" && subscriptions.TypeMatches("shipment.milestone.*", e.Type)
			},
			2,
		},
	} {
		w := eventsKept(all, tc.keep)
		require.Len(t, w, tc.n, "%+v", tc.q)
		require.Equal(t, w, listEvents(t, s, tc.q), "%+v", tc.q)
	}
}

// checkEventPages checks that ListEvents reads the events of all of type
// shipment.* in pages of 4, each older than the last, and from a cursor
// only older events; and that it lists events whole, as Event returns
// them.
func checkEventPages(t *testing.T, s *store.Store, all []dispatcher.Event) {
	t.Helper()
	ctx := t.Context()
	// Pages of 4, each older than the last.
	var paged []string
	q := dispatcher.EventQuery{Type: "shipment.*"}
	q.Limit = 4
	for range 10 {
		es, err := s.ListEvents(ctx, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(es), 4)
		paged = append(paged, ids(es, func(e dispatcher.Event) string { return e.ID })...)
		if len(es) < 4 {
			break
		}
		q.After = es[len(es)-1].ID
	}
	require.Equal(t, eventsKept(all, typeMatches("shipment.*")), paged)
	q = dispatcher.EventQuery{ShipmentID: "shp_2"}
	q.After = "evt_14"
	require.Equal(t, []string{"evt_10", "evt_06", "evt_02"}, listEvents(t, s, q))

	// Whole events, as Event returns them.
	es, err := s.ListEvents(ctx, dispatcher.EventQuery{Type: "shipment.delivered"})
	require.NoError(t, err)
	require.NotEmpty(t, es)
	for _, e := range es {
		stored, err := s.Event(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, stored, e)
	}
}

// checkEventsDefaultLimit stores 30 more events, evt_x00 onwards, and
// checks that ListEvents without a limit lists 50, newest first.
func checkEventsDefaultLimit(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	// Limit 0 is 50.
	var more []dispatcher.Event
	for i := range 30 {
		more = append(more, event(fmt.Sprintf("evt_x%02d", i)))
	}
	_, err := s.InsertEvents(ctx, more)
	require.NoError(t, err)
	es, err := s.ListEvents(ctx, dispatcher.EventQuery{})
	require.NoError(t, err)
	require.Len(t, es, 50)
	require.Equal(t, "evt_x29", es[0].ID)
}
