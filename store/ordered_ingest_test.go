package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestOrderedAtIngest checks InsertEvents with messages to an ordered
// endpoint (fan-out at ingest) on each backend: PostgreSQL numbers them
// in the statement that stores their events, in the order the events
// were accepted; an event whose shipment has an event not fanned out
// yet, and every such event on SQLite, is stored without its messages,
// not fanned out, for a queued fan-out.
func TestOrderedAtIngest(t *testing.T) {
	exercise(t, []contractTest{
		{"Numbering", testOrderedAtIngestNumbering},
		{"EarlierEventNotFannedOut", testOrderedAtIngestEarlierEvent},
	})
}

// fannedOutHere is event id of shipment shp, fanned out at ingest to
// ordered (message o<id>, stored claimed) and plain (message p<id>).
func fannedOutHere(id, shp string, ordered, plain subscriptions.Endpoint) dispatcher.Event {
	ev := event(id)
	ev.Shipment.ID = shp
	now, lease := micro(time.Now()), micro(time.Now().Add(time.Minute))
	ev.FannedOutAt = &now
	o := orderedMessage("o"+id, ev, ordered)
	o.Status, o.NextAttemptAt, o.LeaseUntil = dispatcher.StatusDelivering, nil, &lease
	ev.Messages = []dispatcher.Message{o, message("p"+id, ev, plain)}
	return ev
}

func testOrderedAtIngestNumbering(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ordered, plain := endpoint("ep1", "acme"), endpoint("ep2", "acme")
	one := func(ev dispatcher.Event) dispatcher.Insert {
		res, err := s.InsertEvents(ctx, []dispatcher.Event{ev})
		require.NoError(t, err)
		return res[0]
	}
	first := one(fannedOutHere("e1", "SHP-I", ordered, plain))
	if db == "sqlite" {
		require.Equal(t, dispatcher.Insert{ID: "e1", Created: true, Unfanned: true}, first)
		ev, err := s.Event(ctx, "e1")
		require.NoError(t, err)
		require.Nil(t, ev.FannedOutAt, "left for a queued fan-out")
		_, err = s.Message(ctx, "pe1")
		require.ErrorIs(t, err, subscriptions.ErrNotFound, "no message of it is stored")
		// Without an ordered message, an event is stored with its messages.
		ev = fannedOutHere("e2", "SHP-I", ordered, plain)
		ev.Messages = ev.Messages[1:]
		require.Equal(t, dispatcher.Insert{ID: "e2", Created: true}, one(ev))
		require.Equal(t, []string{"pe2 pending #0"}, stateOf(t, s, "pe2"))
		return
	}
	require.Equal(t, dispatcher.Insert{ID: "e1", Created: true, Sequences: map[string]int64{"oe1": 1}}, first)
	second := one(fannedOutHere("e2", "SHP-I", ordered, plain))
	require.Equal(t, dispatcher.Insert{ID: "e2", Created: true, Sequences: map[string]int64{"oe2": 2}, Waiting: []string{"oe2"}}, second)
	// A repeat is not stored and takes no number.
	again := fannedOutHere("e2", "SHP-I", ordered, plain)
	again.Messages[0].ID, again.Messages[1].ID = "oe2x", "pe2x"
	require.Equal(t, dispatcher.Insert{ID: "e2"}, one(again))
	// Events stored together are numbered in the order given, each
	// shipment in its own queue.
	var batch []dispatcher.Event
	for i, shp := range []string{"SHP-I", "SHP-J", "SHP-I", "SHP-J"} {
		batch = append(batch, fannedOutHere(fmt.Sprintf("b%d", i+1), shp, ordered, plain))
	}
	// One with a DCSA form, so that its feed rows go in the statement too.
	b2 := dcsaEvent("b2", "shipment.milestone.departed", departed, "acme")
	b2.Shipment.ID, b2.FannedOutAt, b2.Messages = "SHP-J", batch[1].FannedOutAt, batch[1].Messages
	for i := range b2.Messages {
		b2.Messages[i].EventType = b2.Type
	}
	batch[1] = b2
	res, err := s.InsertEvents(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{
		{ID: "b1", Created: true, Sequences: map[string]int64{"ob1": 3}, Waiting: []string{"ob1"}},
		{ID: "b2", Created: true, Sequences: map[string]int64{"ob2": 1}},
		{ID: "b3", Created: true, Sequences: map[string]int64{"ob3": 4}, Waiting: []string{"ob3"}},
		{ID: "b4", Created: true, Sequences: map[string]int64{"ob4": 2}, Waiting: []string{"ob4"}},
	}, res)
	require.Equal(t, []string{"b2"}, dcsaFeedIDs(t, s, dispatcher.DCSAFeedQuery{PartnerID: "acme"}), "b2's feed row is stored with it")
	require.Equal(t, []string{"oe1 delivering #1", "oe2 waiting #2", "ob1 waiting #3", "ob3 waiting #4",
		"ob2 delivering #1", "ob4 waiting #2", "pe2 pending #0"},
		stateOf(t, s, "oe1", "oe2", "ob1", "ob3", "ob2", "ob4", "pe2"))
	waiting, err := s.Message(ctx, "oe2")
	require.NoError(t, err)
	require.Nil(t, waiting.LeaseUntil, "a waiting message is not claimed")
	// The head, stored claimed, ends; the queue goes on through the
	// numbers given at ingest.
	head, err := s.Message(ctx, "oe1")
	require.NoError(t, err)
	next, ok, err := s.RecordEnd(ctx, fencedAttempt("att_oe1_1", "oe1", 1, 200),
		dispatcher.Outcome{Status: dispatcher.StatusSucceeded}, head, time.Time{})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "oe2", next.ID)
}

func testOrderedAtIngestEarlierEvent(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ordered, plain := endpoint("ep1", "acme"), endpoint("ep2", "acme")
	earlier := event("e0")
	earlier.Shipment.ID = "SHP-K"
	insertEvent(t, s, earlier) // not fanned out
	res, err := s.InsertEvents(ctx, []dispatcher.Event{fannedOutHere("e1", "SHP-K", ordered, plain),
		fannedOutHere("e2", "SHP-L", ordered, plain)})
	require.NoError(t, err)
	want := []dispatcher.Insert{{ID: "e1", Created: true, Unfanned: true},
		{ID: "e2", Created: true, Sequences: map[string]int64{"oe2": 1}}}
	if db == "sqlite" {
		want[1] = dispatcher.Insert{ID: "e2", Created: true, Unfanned: true}
	}
	require.Equal(t, want, res)
	ev, err := s.Event(ctx, "e1")
	require.NoError(t, err)
	require.Nil(t, ev.FannedOutAt, "left for a queued fan-out, after e0's")
	_, err = s.Message(ctx, "oe1")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// The queued fan-outs then number them in the order accepted.
	fanOutOrdered(t, s, []dispatcher.Event{earlier}, ordered, "q")
	_, err = s.FanOut(ctx, "e1", []dispatcher.Message{orderedMessage("oe1", ev, ordered)})
	require.NoError(t, err)
	require.Equal(t, []string{"q1 pending #1", "oe1 waiting #2"}, stateOf(t, s, "q1", "oe1"))
}
