package store_test

import (
	"fmt"
	"regexp"
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

// TestHeldMessages checks holding messages behind an open breaker and waking
// them, and the indexes those read, on each backend.
func TestHeldMessages(t *testing.T) {
	exercise(t, []contractTest{
		{"HoldMessage", testHoldMessage},
		{"HeldEndpoints", testHeldEndpoints},
		{"WakeHeld", testWakeHeld},
		{"ConcurrentWakeHeld", testConcurrentWakeHeld},
		{"HeldPlans", testHeldPlans},
	})
}

func testHoldMessage(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	fannedOut(t, s, 4)
	// msg5: pending with a stale lease, which a hold clears.
	ev := insertEvent(t, s, event("evt_2"))
	stale := message("msg5", ev, endpoint("ep5", "acme"))
	lease := micro(time.Now().Add(-time.Minute))
	stale.LeaseUntil = &lease
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{stale})
	require.NoError(t, err)
	_, ok, err := s.ClaimMessage(ctx, "msg2", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.SetMessageStatus(ctx, "msg3", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
	before, err := s.Message(ctx, "msg1")
	require.NoError(t, err)

	start := micro(time.Now())
	ok, err = s.HoldMessage(ctx, "msg1", 1)
	require.NoError(t, err)
	require.False(t, ok, "a stale attempt count holds nothing")
	ok, err = s.HoldMessage(ctx, "msg1", 0)
	require.NoError(t, err)
	require.True(t, ok)
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusHeld, m.Status)
	require.Nil(t, m.NextAttemptAt)
	require.Nil(t, m.LeaseUntil)
	require.False(t, m.UpdatedAt.Before(start), "updated_at is now")
	want := before
	want.Status, want.NextAttemptAt, want.UpdatedAt = dispatcher.StatusHeld, nil, m.UpdatedAt
	require.Equal(t, want, m, "holding spends no attempt and keeps the rest")
	ok, err = s.HoldMessage(ctx, "msg5", 0)
	require.NoError(t, err)
	require.True(t, ok)
	m, err = s.Message(ctx, "msg5")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusHeld, m.Status)
	require.Nil(t, m.LeaseUntil)

	for id, why := range map[string]string{
		"msg1":    "a held message is not held again",
		"msg2":    "a message being delivered is not held",
		"msg3":    "a message that succeeded is not held",
		"nothing": "an unknown message is not held",
	} {
		ok, err := s.HoldMessage(ctx, id, 0)
		require.NoError(t, err, id)
		require.False(t, ok, why)
	}
	for id, st := range map[string]dispatcher.Status{"msg2": dispatcher.StatusDelivering, "msg3": dispatcher.StatusSucceeded} {
		m, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, st, m.Status, id)
	}

	// Held messages are never due, nor claimed or deferred: they
	// wait for WakeHeld. The pending msg4, and msg2 once its lease
	// runs out, show that DueMessages would return a message that
	// is.
	msgID := func(m dispatcher.Message) string { return m.ID }
	due, err := s.DueMessages(ctx, time.Now().Add(365*24*time.Hour), 100)
	require.NoError(t, err)
	require.Equal(t, []string{"msg4", "msg2"}, ids(due, msgID))
	pending, err := s.FanOut(ctx, "evt_1", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"msg4"}, ids(pending, msgID), "FanOut returns the pending messages, not the held")
	m, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, dispatcher.StatusHeld, m.Status)
	ok, err = s.DeferMessage(ctx, "msg1", 0, time.Now())
	require.NoError(t, err)
	require.False(t, ok)
}

func testHeldEndpoints(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	got, err := s.HeldEndpoints(ctx)
	require.NoError(t, err)
	require.Empty(t, got)

	// Per event, a message to each endpoint: all of ep_c's and
	// ep_a's held, one of EP_Z's (byte order puts it first), none
	// of ep_b's. They are held in each of the three ways.
	eps := []subscriptions.Endpoint{endpoint("ep_c", "acme"), endpoint("ep_b", "acme"), endpoint("EP_Z", "beta"),
		endpoint("ep_a", "acme")}
	for i := range 4 {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
		var msgs []dispatcher.Message
		for _, ep := range eps {
			m := message(fmt.Sprintf("msg_%d_%s", i, ep.ID), ev, ep)
			if ep.ID == "ep_c" {
				m.Status, m.NextAttemptAt = dispatcher.StatusHeld, nil
			}
			msgs = append(msgs, m)
		}
		_, err := s.FanOut(ctx, ev.ID, msgs)
		require.NoError(t, err)
		ok, err := s.HoldMessage(ctx, fmt.Sprintf("msg_%d_ep_a", i), 0)
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.NoError(t, s.SetMessageStatus(ctx, "msg_2_EP_Z", dispatcher.Outcome{Status: dispatcher.StatusHeld}))
	// Messages of other states, and failed ones of another
	// endpoint, do not count.
	require.NoError(t, s.SetMessageStatus(ctx, "msg_1_ep_b", dispatcher.Outcome{Status: dispatcher.StatusFailed}))
	require.NoError(t, s.SetMessageStatus(ctx, "msg_3_ep_b", dispatcher.Outcome{Status: dispatcher.StatusDisabled}))

	got, err = s.HeldEndpoints(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"EP_Z", "ep_a", "ep_c"}, got)

	// An endpoint leaves once its held messages are woken.
	at := micro(time.Now())
	woken, err := s.WakeHeld(ctx, "EP_Z", "", 10, at)
	require.NoError(t, err)
	require.Len(t, woken, 1)
	got, err = s.HeldEndpoints(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"ep_a", "ep_c"}, got)
	woken, err = s.WakeHeld(ctx, "ep_c", "", 2, at)
	require.NoError(t, err)
	require.Len(t, woken, 2)
	got, err = s.HeldEndpoints(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"ep_a", "ep_c"}, got, "ep_c still has two held")
	for _, ep := range []string{"ep_c", "ep_a"} {
		_, err := s.WakeHeld(ctx, ep, "", 10, at)
		require.NoError(t, err)
	}
	got, err = s.HeldEndpoints(ctx)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testWakeHeld(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	before := heldMessagesFixture(t, s)
	held1, held2 := heldOf(before, "ep1"), heldOf(before, "ep2")
	require.Len(t, held1, 7)
	require.Len(t, held2, 11)

	// ep1's, in pages of 3, claimed.
	at := micro(time.Now().Add(10 * time.Second))
	woken, sizes := checkWakeInPages(t, s, "ep1", at)
	require.Equal(t, []int{3, 3, 1, 0}, sizes)
	require.Equal(t, held1, woken, "in id order, each once")

	// Everything else is as it was, ep2's held messages included;
	// the woken keep their attempt counts and last results.
	for _, m := range before {
		stored, err := s.Message(ctx, m.ID)
		require.NoError(t, err)
		if slices.Contains(held1, m.ID) {
			m.Status, m.LeaseUntil, m.UpdatedAt = dispatcher.StatusDelivering, &at, stored.UpdatedAt
		}
		require.Equal(t, m, stored)
	}
	due, err := s.DueMessages(ctx, at.Add(time.Microsecond), 100)
	require.NoError(t, err)
	for _, id := range held1 {
		require.Contains(t, ids(due, func(m dispatcher.Message) string { return m.ID }), id)
	}

	checkWakeRest(t, s, held2, at)
}

// heldMessagesFixture stores 11 events, each with a message of ep1 in a
// status of its own (7 of them held) and a held message of ep2, and
// returns the messages as the store lists them.
func heldMessagesFixture(t *testing.T, s *store.Store) []dispatcher.Message {
	t.Helper()
	ctx := t.Context()
	ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "beta")
	lease := micro(time.Now().Add(time.Minute))
	statuses := []dispatcher.Status{
		dispatcher.StatusHeld, dispatcher.StatusPending, dispatcher.StatusHeld, dispatcher.StatusFailed,
		dispatcher.StatusHeld, dispatcher.StatusHeld, dispatcher.StatusSucceeded, dispatcher.StatusHeld,
		dispatcher.StatusDisabled, dispatcher.StatusHeld, dispatcher.StatusHeld,
	}
	// Per event: ep1's message in the status given, and a held
	// message of ep2. Ids in an order of their own, not that of
	// creation.
	for i, st := range statuses {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%02d", i)))
		m := message(fmt.Sprintf("msg_%02d_ep1", (i*7)%len(statuses)), ev, ep1)
		m.Status, m.Attempts = st, i%3
		m.LastStatusCode, m.LastErrorClass = 503, dispatcher.ErrorHTTPStatus
		if st != dispatcher.StatusPending {
			m.NextAttemptAt = nil
		}
		if i == 0 {
			m.LeaseUntil = &lease // a stale lease, replaced on waking
		}
		other := message(fmt.Sprintf("msg_%02d_ep2", i), ev, ep2)
		other.Status, other.NextAttemptAt = dispatcher.StatusHeld, nil
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m, other})
		require.NoError(t, err)
	}
	before, err := s.ListMessages(ctx, dispatcher.MessageQuery{Page: subscriptions.Page{Limit: 100}})
	require.NoError(t, err)
	return before
}

// heldOf returns the ids of the held messages of endpoint ep among ms, in
// id order.
func heldOf(ms []dispatcher.Message, ep string) []string {
	var out []string
	for _, m := range ms {
		if m.EndpointID == ep && m.Status == dispatcher.StatusHeld {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return out
}

// checkWakeInPages wakes the held messages of ep three at a time from a
// cursor, claimed until at, and checks each page as returned and as
// stored. It returns the ids woken, in order, and the size of each page.
func checkWakeInPages(t *testing.T, s *store.Store, ep string, at time.Time) (woken []string, sizes []int) {
	t.Helper()
	ctx := t.Context()
	start := micro(time.Now())
	var cursor string
	for range 10 {
		ms, err := s.WakeHeld(ctx, ep, cursor, 3, at)
		require.NoError(t, err)
		sizes = append(sizes, len(ms))
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			require.Equal(t, dispatcher.StatusDelivering, m.Status)
			require.Equal(t, &at, m.LeaseUntil)
			require.Nil(t, m.NextAttemptAt)
			require.False(t, m.UpdatedAt.Before(start), "updated_at is now")
			stored, err := s.Message(ctx, m.ID)
			require.NoError(t, err)
			require.Equal(t, m, stored)
		}
		woken = append(woken, ids(ms, func(m dispatcher.Message) string { return m.ID })...)
		cursor = ms[len(ms)-1].ID
	}
	return woken, sizes
}

// checkWakeRest checks, once ep1's held messages are woken, that they are
// not woken again; wakes held2, ep2's held messages, from a cursor and then
// the rest with the default limit; and checks that then no message is held
// and an endpoint without messages wakes none.
func checkWakeRest(t *testing.T, s *store.Store, held2 []string, at time.Time) {
	t.Helper()
	ctx := t.Context()
	// Woken messages are not woken again.
	ms, err := s.WakeHeld(ctx, "ep1", "", 100, at)
	require.NoError(t, err)
	require.Empty(t, ms)

	// ep2's from a cursor: only ids after it; then the rest, with
	// the default limit.
	ms, err = s.WakeHeld(ctx, "ep2", held2[4], 100, at)
	require.NoError(t, err)
	require.Equal(t, held2[5:], ids(ms, func(m dispatcher.Message) string { return m.ID }))
	ms, err = s.WakeHeld(ctx, "ep2", "", 0, at)
	require.NoError(t, err)
	require.Equal(t, held2[:5], ids(ms, func(m dispatcher.Message) string { return m.ID }))
	left, err := s.ListMessages(ctx, dispatcher.MessageQuery{Status: dispatcher.StatusHeld})
	require.NoError(t, err)
	require.Empty(t, left)

	ms, err = s.WakeHeld(ctx, "nobody", "", 10, at)
	require.NoError(t, err)
	require.Empty(t, ms)
}

func testConcurrentWakeHeld(t *testing.T, db backend) {
	// Workers waking one endpoint at once, each from the start:
	// every held message is woken, and returned, exactly once.
	s, ctx := db.setup(t)
	ep := endpoint("ep1", "acme")
	const n = 120
	evs := insertEvents(t, s, n)
	var held []string
	for _, ev := range evs {
		m := message(strings.Replace(ev.ID, "evt", "msg", 1), ev, ep)
		m.Status, m.NextAttemptAt = dispatcher.StatusHeld, nil
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
		require.NoError(t, err)
		held = append(held, m.ID)
	}

	at := micro(time.Now())
	const workers = 8
	woken := make([][]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range n {
				ms, err := s.WakeHeld(ctx, "ep1", "", 7, at)
				if err != nil {
					errs[w] = err
					return
				}
				woken[w] = append(woken[w], ids(ms, func(m dispatcher.Message) string { return m.ID })...)
				if len(ms) > 0 {
					continue
				}
				// Empty: the others took this batch, or none is left.
				left, err := s.ListMessages(ctx, dispatcher.MessageQuery{EndpointID: "ep1", Status: dispatcher.StatusHeld,
					Page: subscriptions.Page{Limit: 1}})
				if err != nil || len(left) == 0 {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	var all []string
	for w := range workers {
		require.NoError(t, errs[w])
		all = append(all, woken[w]...)
	}
	slices.Sort(all)
	require.Equal(t, held, all)
}

func testHeldPlans(t *testing.T, db backend) {
	// HeldEndpoints descends messages_held once per endpoint, and
	// WakeHeld reads one range of it from the cursor, however
	// many messages are held. PostgreSQL plans by its
	// statistics: it gets 4,000 messages, three quarters of them
	// held over three endpoints, with statistics taken either
	// with them held or before any was (as when a backlog
	// begins, which made the planner read and sort every held
	// message from messages_status while the predicate of
	// messages_held was status = 'held').
	for _, analyzedHeld := range []bool{true, false} {
		t.Run(fmt.Sprintf("analyzed held %t", analyzedHeld), func(t *testing.T) {
			s, _ := db.setup(t)
			if db == "postgres" {
				heldPlansFixture(t, s, analyzedHeld)
			}
			checkHeldPlans(t, s, string(db))
		})
	}
}

// heldPlansFixture stores 1,000 events, each with a message to four
// endpoints, those of the first three held and the fourth's succeeded. The
// statistics are taken with them held if analyzedHeld, or else while they
// were still pending.
func heldPlansFixture(t *testing.T, s *store.Store, analyzedHeld bool) {
	t.Helper()
	ctx := t.Context()
	evs := insertEvents(t, s, 1000)
	eps := []subscriptions.Endpoint{endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "acme"),
		endpoint("ep4", "acme")}
	var toHold []string
	for _, ev := range evs {
		var msgs []dispatcher.Message
		for i, ep := range eps {
			m := message(fmt.Sprintf("msg_%s_%d", ev.ID, i), ev, ep)
			switch {
			case i == 3:
				m.Status, m.NextAttemptAt = dispatcher.StatusSucceeded, nil
			case analyzedHeld:
				m.Status, m.NextAttemptAt = dispatcher.StatusHeld, nil
			default:
				toHold = append(toHold, m.ID)
			}
			msgs = append(msgs, m)
		}
		_, err := s.FanOut(ctx, ev.ID, msgs)
		require.NoError(t, err)
	}
	require.NoError(t, store.Analyze(ctx, s))
	if len(toHold) > 0 {
		moved, err := store.HoldMany(ctx, s, toHold, make([]int, len(toHold)), slices.Repeat([]bool{true}, len(toHold)), time.Time{})
		require.NoError(t, err)
		require.NotContains(t, moved, false)
	}
}

// checkHeldPlans checks that HeldEndpoints and WakeHeld read messages_held
// as they should (see the HeldPlans test).
func checkHeldPlans(t *testing.T, s *store.Store, backend string) {
	t.Helper()
	ctx := t.Context()
	endpoints, err := store.HeldEndpointsPlan(ctx, s)
	require.NoError(t, err)
	if backend == "sqlite" {
		// The first endpoint, then each next one.
		require.Equal(t, 2, strings.Count(endpoints, "USING INDEX messages_held"), endpoints)
		require.Contains(t, endpoints, "SCAN messages USING INDEX messages_held;", endpoints)
		require.Contains(t, endpoints, "SEARCH m USING INDEX messages_held (endpoint_id>?)", endpoints)
		wake, err := store.WakeHeldPlan(ctx, s, "ep1", "", false)
		require.NoError(t, err)
		require.Contains(t, wake, "SEARCH messages USING INDEX messages_held ((endpoint_id,id)>(?,?) AND endpoint_id<?)", wake)
		require.NotContains(t, wake, "SCAN messages", wake)
		require.NotContains(t, wake, "TEMP B-TREE", wake)
		return
	}
	// The first endpoint, then a descent for each of the three (the last
	// finding none after ep3).
	require.Len(t, regexp.MustCompile(`Scan using messages_held on`).FindAllString(endpoints, -1), 2, endpoints)
	require.Contains(t, endpoints, "Index Cond: (endpoint_id > held_1.endpoint_id)", endpoints)
	require.Regexp(t, `Scan using messages_held on messages m +\(cost[^;]*loops=3\)`, endpoints)
	require.NotContains(t, endpoints, "Seq Scan", endpoints)
	require.NotContains(t, endpoints, "messages_status", endpoints)
	// From the start of an endpoint, and past its end: either way one range
	// of messages_held, stopped after the batch.
	for _, tc := range []struct {
		endpoint, after string
		generic         bool
	}{{"ep2", "", false}, {"ep1", "msg_zzz", false}, {"ep2", "", true}} {
		wake, err := store.WakeHeldPlan(ctx, s, tc.endpoint, tc.after, tc.generic)
		require.NoError(t, err)
		require.Regexp(t, `Scan using messages_held on messages messages_1`, wake)
		// The batch is then looked up by id.
		require.Regexp(t, `Index Scan using messages_pkey on messages +\(`, wake)
		require.NotContains(t, wake, "messages_status", wake)
		require.Regexp(t, `Index Cond: \(\(ROW\(endpoint_id, id\) > ROW\([^)]*\)\) AND \(endpoint_id <= [^)]*\)\)`, wake)
		require.NotContains(t, wake, "Seq Scan", wake)
		require.NotContains(t, wake, "Sort", wake)
	}
}
