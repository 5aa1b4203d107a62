package store_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestFanOut checks fanning events out to messages, concurrent fan-outs
// included, and finding the events not fanned out, on each backend.
func TestFanOut(t *testing.T) {
	exercise(t, []contractTest{
		{"FanOut", testFanOut},
		{"FanOutAgain", testFanOutAgain},
		{"FanOutClaimed", testFanOutClaimed},
		{"ConcurrentFanOut", testConcurrentFanOut},
		{"FanOutFirst", testFanOutFirst},
		{"FanOutManyMessages", testFanOutManyMessages},
		{"ConcurrentFanOutMixed", testConcurrentFanOutMixed},
		{"UnfannedEvents", testUnfannedEvents},
		{"MarkFirstByPrimaryKey", testMarkFirstByPrimaryKey},
	})
}

func testFanOut(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	e1, e2, e3 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta")
	msgs := []dispatcher.Message{message("msg3", ev, e3), message("msg1", ev, e1), message("msg2", ev, e2)}
	got, err := s.FanOut(ctx, ev.ID, msgs)
	require.NoError(t, err)
	require.Equal(t, []string{"msg1", "msg2", "msg3"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
	want := msgs[1]
	require.Equal(t, want, got[0])

	stored, err := s.Event(ctx, ev.ID)
	require.NoError(t, err)
	require.NotNil(t, stored.FannedOutAt)
	fannedAt := *stored.FannedOutAt

	// Again, with new message ids for the same endpoints: the first
	// messages stay; one that is no longer pending is not returned.
	require.NoError(t, s.SetMessageStatus(ctx, "msg3", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
	again := []dispatcher.Message{message("msgX", ev, e1), message("msgY", ev, e2), message("msgZ", ev, e3)}
	got, err = s.FanOut(ctx, ev.ID, again)
	require.NoError(t, err)
	require.Equal(t, []string{"msg1", "msg2"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
	all, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	stored, err = s.Event(ctx, ev.ID)
	require.NoError(t, err)
	require.Equal(t, fannedAt, *stored.FannedOutAt, "fanned_out_at is set once")

	// No messages: the event is still marked.
	lonely := insertEvent(t, s, event("evt_2"))
	got, err = s.FanOut(ctx, lonely.ID, nil)
	require.NoError(t, err)
	require.Empty(t, got)
	stored, err = s.Event(ctx, lonely.ID)
	require.NoError(t, err)
	require.NotNil(t, stored.FannedOutAt)

	_, err = s.FanOut(ctx, "evt_none", nil)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// A pending message without a next attempt time is due at once.
	third := insertEvent(t, s, event("evt_3"))
	m := message("msg4", third, e1)
	m.NextAttemptAt = nil
	got, err = s.FanOut(ctx, third.ID, []dispatcher.Message{m})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.NotNil(t, got[0].NextAttemptAt)
	require.Equal(t, m.CreatedAt, *got[0].NextAttemptAt)
}

func testFanOutAgain(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	e1, e2, e3, e4 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta"), endpoint("ep4", "beta")
	got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_b", ev, e2), message("msg_d", ev, e4)})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_b", "msg_d"}, ids(got, func(m dispatcher.Message) string { return m.ID }))

	// Only new messages, of an event fanned out before (as a replay
	// to one more endpoint makes): the old ones come back too.
	got, err = s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_c", ev, e3)})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_b", "msg_c", "msg_d"}, ids(got, func(m dispatcher.Message) string { return m.ID }))

	// Some new and some not: every pending one, in id order.
	require.NoError(t, s.SetMessageStatus(ctx, "msg_d", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
	got, err = s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_x", ev, e2), message("msg_a", ev, e1)})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_a", "msg_b", "msg_c"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
	stored, err := s.Message(ctx, "msg_b")
	require.NoError(t, err)
	require.Equal(t, stored, got[1])
	_, err = s.Message(ctx, "msg_x")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// A first fan-out: two messages to one endpoint keep the first,
	// and a message that is not pending is not returned.
	fresh := insertEvent(t, s, event("evt_2"))
	done := message("msg_f3", fresh, e3)
	done.Status = dispatcher.StatusSucceeded
	got, err = s.FanOut(ctx, fresh.ID, []dispatcher.Message{
		message("msg_f2", fresh, e2), done, message("msg_f1", fresh, e1),
	})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_f1", "msg_f2"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
	stored, err = s.Message(ctx, "msg_f1")
	require.NoError(t, err)
	require.Equal(t, stored, got[0])

	// A message id that another event's message holds.
	other := insertEvent(t, s, event("evt_3"))
	_, err = s.FanOut(ctx, other.ID, []dispatcher.Message{message("msg_a", other, e1)})
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	unmarked, err := s.Event(ctx, other.ID)
	require.NoError(t, err)
	require.Nil(t, unmarked.FannedOutAt, "a failed fan-out leaves the event unmarked")
}

func testFanOutClaimed(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	e1, e2, e3 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta")
	msgIDs := func(got []dispatcher.Message) []string {
		return ids(got, func(m dispatcher.Message) string { return m.ID })
	}
	claimed := func(id string, ev dispatcher.Event, ep subscriptions.Endpoint) dispatcher.Message {
		m := message(id, ev, ep)
		lease := micro(time.Now().Add(time.Minute))
		m.Status, m.LeaseUntil = dispatcher.StatusDelivering, &lease
		return m
	}

	// A first fan-out returns the messages it stored claimed,
	// as stored, with the pending ones.
	ev := insertEvent(t, s, event("evt_1"))
	mine := claimed("msg_1a", ev, e1)
	got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_1b", ev, e2), mine})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_1a", "msg_1b"}, msgIDs(got))
	require.Equal(t, mine, got[0])

	// Nobody else can claim it while its lease holds.
	_, ok, err := s.ClaimMessage(ctx, mine.ID, 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.False(t, ok)

	// Another fan-out of the event returns the pending ones
	// only: the claimed message is not its own. Nor is one it
	// tried to store for an endpoint that has one.
	got, err = s.FanOut(ctx, ev.ID, []dispatcher.Message{claimed("msg_1c", ev, e1), claimed("msg_1d", ev, e3)})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_1b", "msg_1d"}, msgIDs(got), "its own new claimed message, and the pending one")
	_, err = s.Message(ctx, "msg_1c")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	got, err = s.FanOut(ctx, ev.ID, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"msg_1b"}, msgIDs(got))

	// The same when the event was marked before any message
	// existed.
	at := micro(time.Now().Add(-time.Hour))
	pre := event("evt_2")
	pre.FannedOutAt = &at
	insertEvent(t, s, pre)
	got, err = s.FanOut(ctx, pre.ID, []dispatcher.Message{claimed("msg_2a", pre, e1)})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_2a"}, msgIDs(got))
}

func testConcurrentFanOut(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	var (
		wg   sync.WaitGroup
		got  = make([][]string, 8)
		errs = make([]error, 8)
	)
	for i := range got {
		wg.Go(func() {
			// Each to its own endpoint and to a shared one.
			msgs := []dispatcher.Message{
				message(fmt.Sprintf("msg_%d", i), ev, endpoint(fmt.Sprintf("ep%d", i), "acme")),
				message(fmt.Sprintf("msg_shared_%d", i), ev, endpoint("ep_shared", "acme")),
			}
			pending, err := s.FanOut(ctx, ev.ID, msgs)
			got[i], errs[i] = ids(pending, func(m dispatcher.Message) string { return m.ID }), err
		})
	}
	wg.Wait()
	all, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
	require.NoError(t, err)
	require.Len(t, all, len(got)+1)
	for i := range got {
		require.NoError(t, errs[i])
		// Everything stored before it, and its own messages.
		require.Contains(t, got[i], fmt.Sprintf("msg_%d", i))
		require.True(t, slices.IsSorted(got[i]), got[i])
		require.Len(t, slices.DeleteFunc(slices.Clone(got[i]), func(id string) bool {
			return !strings.HasPrefix(id, "msg_shared_")
		}), 1, got[i])
	}
}

func testFanOutFirst(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	e1, e2, e3 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta")
	msgIDs := func(got []dispatcher.Message) []string {
		return ids(got, func(m dispatcher.Message) string { return m.ID })
	}

	// Every column is stored as given, and comes back as stored.
	ev := insertEvent(t, s, event("evt_1"))
	retried := message("msg_1a", ev, e1)
	lease := retried.CreatedAt.Add(time.Minute)
	retried.Attempts, retried.LeaseUntil = 3, &lease
	retried.LastStatusCode, retried.LastErrorClass = 503, dispatcher.ErrorClass("http_5xx")
	retried.UpdatedAt = retried.CreatedAt.Add(time.Second)
	failed := message("msg_1b", ev, e2)
	failed.Status, failed.NextAttemptAt = dispatcher.StatusFailed, nil
	got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{failed, retried})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Message{retried}, got)
	stored, err := s.Message(ctx, failed.ID)
	require.NoError(t, err)
	require.Equal(t, failed, stored)

	// Two messages to one endpoint: one is stored, and returned.
	dup := insertEvent(t, s, event("evt_2"))
	got, err = s.FanOut(ctx, dup.ID, []dispatcher.Message{message("msg_2a", dup, e1), message("msg_2b", dup, e1)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	all, err := s.MessagesOfEvents(ctx, []string{dup.ID})
	require.NoError(t, err)
	require.Equal(t, got, all)

	// No message pending: none returned, all stored, the event
	// marked; a later fan-out returns them once they are.
	quiet := insertEvent(t, s, event("evt_3"))
	done := message("msg_3a", quiet, e1)
	done.Status = dispatcher.StatusSucceeded
	got, err = s.FanOut(ctx, quiet.ID, []dispatcher.Message{done})
	require.NoError(t, err)
	require.Empty(t, got)
	marked, err := s.Event(ctx, quiet.ID)
	require.NoError(t, err)
	require.NotNil(t, marked.FannedOutAt)
	_, err = s.RetryMessage(ctx, done.ID, time.Now())
	require.NoError(t, err)
	got, err = s.FanOut(ctx, quiet.ID, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"msg_3a"}, msgIDs(got))

	// An event stored as fanned out, without messages: a fan-out
	// stores them and keeps the time.
	at := micro(time.Now().Add(-time.Hour))
	pre := event("evt_4")
	pre.FannedOutAt = &at
	insertEvent(t, s, pre)
	got, err = s.FanOut(ctx, pre.ID, []dispatcher.Message{message("msg_4b", pre, e2), message("msg_4a", pre, e1)})
	require.NoError(t, err)
	require.Equal(t, []string{"msg_4a", "msg_4b"}, msgIDs(got))
	marked, err = s.Event(ctx, pre.ID)
	require.NoError(t, err)
	require.Equal(t, at, *marked.FannedOutAt)

	checkFanOutStoresNothing(t, s, e1, e2, e3)
}

// checkFanOutStoresNothing checks that a fan-out of a missing event, or
// one with a message id that a message of evt_1 holds, msg_1a, among
// others, stores nothing, and leaves the event unmarked.
func checkFanOutStoresNothing(t *testing.T, s *store.Store, e1, e2, e3 subscriptions.Endpoint) {
	t.Helper()
	ctx := t.Context()
	// A missing event: nothing is stored.
	_, err := s.FanOut(ctx, "evt_none", []dispatcher.Message{message("msg_none", event("evt_none"), e1)})
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	_, err = s.Message(ctx, "msg_none")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// A message id that another event's message holds, among
	// others: nothing is stored and the event stays unmarked.
	clash := insertEvent(t, s, event("evt_5"))
	_, err = s.FanOut(ctx, clash.ID, []dispatcher.Message{
		message("msg_5a", clash, e1), message("msg_1a", clash, e2), message("msg_5c", clash, e3),
	})
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	unmarked, err := s.Event(ctx, clash.ID)
	require.NoError(t, err)
	require.Nil(t, unmarked.FannedOutAt)
	all, err := s.MessagesOfEvents(ctx, []string{clash.ID})
	require.NoError(t, err)
	require.Empty(t, all)
}

func testFanOutManyMessages(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	// Around the size of one INSERT (100 messages).
	for _, n := range []int{100, 101, 250} {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", n)))
		var msgs []dispatcher.Message
		for i := range n {
			// Endpoint order differs from id order.
			ep := endpoint(fmt.Sprintf("ep%03d", n-i), "acme")
			msgs = append(msgs, message(fmt.Sprintf("msg_%d_%03d", n, i), ev, ep))
		}
		got, err := s.FanOut(ctx, ev.ID, msgs)
		require.NoError(t, err)
		require.Equal(t, ids(msgs, func(m dispatcher.Message) string { return m.ID }),
			ids(got, func(m dispatcher.Message) string { return m.ID }))
		require.Equal(t, msgs, got)
		marked, err := s.Event(ctx, ev.ID)
		require.NoError(t, err)
		require.NotNil(t, marked.FannedOutAt)

		// Again, with other ids: the stored ones come back.
		again := slices.Clone(msgs)
		for i := range again {
			again[i].ID += "_again"
		}
		got, err = s.FanOut(ctx, ev.ID, again)
		require.NoError(t, err)
		require.Equal(t, msgs, got)
	}

	// A message id conflict past the first INSERT: nothing is
	// stored and the event stays unmarked.
	clash := insertEvent(t, s, event("evt_clash"))
	var msgs []dispatcher.Message
	for i := range 150 {
		msgs = append(msgs, message(fmt.Sprintf("msg_clash_%03d", i), clash, endpoint(fmt.Sprintf("ep%03d", i), "acme")))
	}
	msgs[120].ID = "msg_250_000"
	_, err := s.FanOut(ctx, clash.ID, msgs)
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	unmarked, err := s.Event(ctx, clash.ID)
	require.NoError(t, err)
	require.Nil(t, unmarked.FannedOutAt)
	stored, err := s.MessagesOfEvents(ctx, []string{clash.ID})
	require.NoError(t, err)
	require.Empty(t, stored)
}

func testConcurrentFanOutMixed(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	const shared = 120
	var (
		wg   sync.WaitGroup
		got  = make([][]string, 8)
		errs = make([]error, 8)
	)
	for i := range got {
		wg.Go(func() {
			// Each to its own endpoint and to shared ones: few, or
			// more than one INSERT holds.
			msgs := []dispatcher.Message{message(fmt.Sprintf("msg_%d", i), ev, endpoint(fmt.Sprintf("ep%d", i), "acme"))}
			n := 2
			if i%2 == 1 {
				n = shared
			}
			for j := range n {
				msgs = append(msgs, message(fmt.Sprintf("msg_shared_%d_%03d", i, j), ev,
					endpoint(fmt.Sprintf("ep_shared_%03d", j), "acme")))
			}
			pending, err := s.FanOut(ctx, ev.ID, msgs)
			got[i], errs[i] = ids(pending, func(m dispatcher.Message) string { return m.ID }), err
		})
	}
	wg.Wait()
	all, err := s.MessagesOfEvents(ctx, []string{ev.ID})
	require.NoError(t, err)
	require.Len(t, all, len(got)+shared)
	for i := range got {
		require.NoError(t, errs[i])
		// Everything stored before it, and its own messages.
		require.Contains(t, got[i], fmt.Sprintf("msg_%d", i))
		require.True(t, slices.IsSorted(got[i]), got[i])
		require.GreaterOrEqual(t, len(got[i]), 3, got[i])
	}
}

func testUnfannedEvents(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	base := micro(time.Now().Add(-time.Hour))
	var evs []dispatcher.Event
	for i := range 5 {
		e := event(fmt.Sprintf("evt_%d", i))
		e.CreatedAt = base.Add(time.Duration(5-i) * time.Minute) // evt_4 is oldest
		evs = append(evs, e)
	}
	_, err := s.InsertEvents(ctx, evs)
	require.NoError(t, err)
	_, err = s.FanOut(ctx, "evt_2", nil)
	require.NoError(t, err)

	got, err := s.UnfannedEvents(ctx, time.Now(), 10)
	require.NoError(t, err)
	require.Equal(t, []string{"evt_4", "evt_3", "evt_1", "evt_0"}, got)
	got, err = s.UnfannedEvents(ctx, time.Now(), 2)
	require.NoError(t, err)
	require.Equal(t, []string{"evt_4", "evt_3"}, got)
	got, err = s.UnfannedEvents(ctx, base.Add(2*time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []string{"evt_4"}, got)
}

func testMarkFirstByPrimaryKey(t *testing.T, db backend) {
	// Statistics taken while every event was fanned out, then a
	// burst of events waiting: marking one must still find it by
	// primary key, not read through every waiting event.
	if db != "postgres" {
		t.Skip("the plan checked is PostgreSQL's")
	}
	s, ctx := db.setup(t)
	batch := func(from, n int) []dispatcher.Event {
		evs := make([]dispatcher.Event, n)
		for i := range evs {
			evs[i] = event(fmt.Sprintf("evt_%05d", from+i))
		}
		return evs
	}
	_, err := s.InsertEvents(ctx, batch(0, 200))
	require.NoError(t, err)
	for i := range 200 {
		_, err := s.FanOut(ctx, fmt.Sprintf("evt_%05d", i), nil)
		require.NoError(t, err)
	}
	require.NoError(t, store.Analyze(ctx, s))
	for from := 200; from < 5200; from += 500 {
		_, err := s.InsertEvents(ctx, batch(from, 500))
		require.NoError(t, err)
	}
	plan, err := store.MarkFirstPlan(ctx, s, "evt_03000")
	require.NoError(t, err)
	require.Contains(t, plan, "events_pkey", plan)
}
