package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestOrdered checks the queues of ordered endpoints on each backend:
// numbering as messages are stored, waiting, the head's moves on success,
// skip, retry and discard, and numbering by concurrent fan-outs.
func TestOrdered(t *testing.T) {
	exercise(t, []contractTest{
		{"Numbering", testOrderedNumbering},
		{"HeadMoves", testOrderedHeadMoves},
		{"Block", testOrderedBlock},
		{"RetryOfPassedMessage", testOrderedRetryOfPassedMessage},
		{"EarlierEvent", testOrderedEarlierEvent},
		{"ConcurrentFanOut", testOrderedConcurrentFanOut},
		{"ConcurrentRecordEnd", testOrderedConcurrentRecordEnd},
		{"Plans", testOrderedPlans},
	})
}

// shipmentEvents stores n events of shipment shp, ids <shp>_1 … <shp>_n,
// accepted one after the other, and returns them.
func shipmentEvents(t *testing.T, s *store.Store, shp string, n int) []dispatcher.Event {
	t.Helper()
	base := micro(time.Now())
	evs := make([]dispatcher.Event, n)
	for i := range evs {
		evs[i] = event(fmt.Sprintf("%s_%d", shp, i+1))
		evs[i].Shipment.ID = shp
		evs[i].CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
		insertEvent(t, s, evs[i])
	}
	return evs
}

// orderedMessage is message id of ev to ep, to be numbered.
func orderedMessage(id string, ev dispatcher.Event, ep subscriptions.Endpoint) dispatcher.Message {
	m := message(id, ev, ep)
	m.Ordered = true
	return m
}

// fanOutOrdered fans each of evs out, in order, to an ordered message to
// ep, id <prefix><i> from 1, and returns what each FanOut returned.
func fanOutOrdered(t *testing.T, s *store.Store, evs []dispatcher.Event, ep subscriptions.Endpoint, prefix string) [][]dispatcher.Message {
	t.Helper()
	var out [][]dispatcher.Message
	for i, ev := range evs {
		got, err := s.FanOut(t.Context(), ev.ID, []dispatcher.Message{orderedMessage(fmt.Sprintf("%s%d", prefix, i+1), ev, ep)})
		require.NoError(t, err)
		out = append(out, got)
	}
	return out
}

// stateOf returns the status and sequence of each message, by id.
func stateOf(t *testing.T, s *store.Store, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		m, err := s.Message(t.Context(), id)
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%s %s #%d", id, m.Status, m.Sequence))
	}
	return out
}

// succeed claims message id with attempts made and records a success
// that ends it, leasing the next message until lease (zero: none).
func succeed(t *testing.T, s *store.Store, id string, attempts int, lease time.Time) (dispatcher.Message, bool) {
	t.Helper()
	return end(t, s, id, attempts, 200, dispatcher.Outcome{Status: dispatcher.StatusSucceeded}, lease)
}

// end claims message id with attempts made, then records an attempt that
// got code with outcome o through RecordEnd.
func end(t *testing.T, s *store.Store, id string, attempts, code int, o dispatcher.Outcome, lease time.Time) (dispatcher.Message, bool) {
	t.Helper()
	_, ok, err := s.ClaimMessage(t.Context(), id, attempts, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok, "claim %s", id)
	a := fencedAttempt(fmt.Sprintf("att_%s_%d", id, attempts+1), id, attempts+1, code)
	if code >= 300 {
		a.ErrorClass, a.Error = dispatcher.ErrorHTTPStatus, "500 Internal Server Error"
	}
	m, err := s.Message(t.Context(), id)
	require.NoError(t, err)
	next, ok, err := s.RecordEnd(t.Context(), a, o, m, lease)
	require.NoError(t, err)
	return next, ok
}

func testOrderedNumbering(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ordered, plain := endpoint("ep1", "acme"), endpoint("ep2", "acme")
	evs := shipmentEvents(t, s, "SHP-A", 3)
	for i, ev := range evs {
		got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{
			orderedMessage(fmt.Sprintf("a%d", i+1), ev, ordered), message(fmt.Sprintf("p%d", i+1), ev, plain)})
		require.NoError(t, err)
		due := ids(got, func(m dispatcher.Message) string { return m.ID })
		if i == 0 {
			require.Equal(t, []string{"a1", "p1"}, due, "the first of the queue is its head, due now")
			require.Equal(t, int64(1), got[0].Sequence)
		} else {
			require.Equal(t, []string{fmt.Sprintf("p%d", i+1)}, due, "later ones wait; unordered ones do not")
		}
	}
	require.Equal(t, []string{"a1 pending #1", "a2 waiting #2", "a3 waiting #3", "p2 pending #0"}, stateOf(t, s, "a1", "a2", "a3", "p2"))
	waiting, err := s.Message(ctx, "a2")
	require.NoError(t, err)
	require.Nil(t, waiting.NextAttemptAt, "a waiting message has no next attempt")
	require.Nil(t, waiting.LeaseUntil)

	// Only the head is due; the reconciler never sees a waiting message.
	due, err := s.DueMessages(ctx, time.Now().Add(time.Hour), 100)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a1", "p1", "p2", "p3"}, ids(due, func(m dispatcher.Message) string { return m.ID }))

	// Another shipment has a queue of its own, from 1; so has the same
	// shipment at another ordered endpoint.
	other := shipmentEvents(t, s, "SHP-B", 1)
	fanOutOrdered(t, s, other, ordered, "b")
	fanOutOrdered(t, s, evs[:1], endpoint("ep3", "acme"), "c")
	require.Equal(t, []string{"b1 pending #1", "c1 pending #1"}, stateOf(t, s, "b1", "c1"))

	// A message stored claimed stays claimed only as its queue's head.
	claimed := shipmentEvents(t, s, "SHP-C", 2)
	for i, ev := range claimed {
		m := orderedMessage(fmt.Sprintf("d%d", i+1), ev, ordered)
		lease := time.Now().Add(time.Minute)
		m.Status, m.NextAttemptAt, m.LeaseUntil = dispatcher.StatusDelivering, nil, &lease
		got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
		require.NoError(t, err)
		require.Len(t, got, 1-i)
	}
	require.Equal(t, []string{"d1 delivering #1", "d2 waiting #2"}, stateOf(t, s, "d1", "d2"))

	// Fanned out again, the event keeps its message and its number.
	_, err = s.FanOut(ctx, evs[1].ID, []dispatcher.Message{orderedMessage("again", evs[1], ordered)})
	require.NoError(t, err)
	require.Equal(t, []string{"a2 waiting #2"}, stateOf(t, s, "a2"))
	_, err = s.Message(ctx, "again")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	fanOutOrdered(t, s, shipmentEvents(t, s, "SHP-A4", 1), ordered, "x")
	require.Equal(t, []string{"x1 pending #1"}, stateOf(t, s, "x1"))
}

func testOrderedHeadMoves(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ep := endpoint("ep1", "acme")
	evs := shipmentEvents(t, s, "SHP-A", 4)
	fanOutOrdered(t, s, evs[:3], ep, "a")

	// A success moves the head: the next is pending, due now.
	next, ok := succeed(t, s, "a1", 0, time.Time{})
	require.True(t, ok)
	require.Equal(t, "a2", next.ID)
	require.Equal(t, dispatcher.StatusPending, next.Status)
	require.Equal(t, int64(2), next.Sequence)
	require.NotNil(t, next.NextAttemptAt)
	require.WithinDuration(t, time.Now(), *next.NextAttemptAt, time.Minute)

	// A failure that skips moves it too; the next can be claimed as it is
	// promoted.
	lease := time.Now().Add(time.Minute)
	next, ok = end(t, s, "a2", 0, 500, dispatcher.Outcome{Status: dispatcher.StatusFailed}, lease)
	require.True(t, ok)
	require.Equal(t, "a3", next.ID)
	require.Equal(t, dispatcher.StatusDelivering, next.Status)
	require.Equal(t, micro(lease), *next.LeaseUntil)
	require.Equal(t, []string{"a1 succeeded #1", "a2 failed #2", "a3 delivering #3"}, stateOf(t, s, "a1", "a2", "a3"))

	// The last one leaves the queue empty: nothing to promote, and the
	// next message stored is the head at once.
	a := fencedAttempt("att_a3", "a3", 1, 200)
	a3, err := s.Message(ctx, "a3")
	require.NoError(t, err)
	_, ok, err = s.RecordEnd(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusSucceeded}, a3, time.Time{})
	require.NoError(t, err)
	require.False(t, ok)
	got := fanOutOrdered(t, s, evs[3:], ep, "b")
	require.Equal(t, []string{"b1"}, ids(got[0], func(m dispatcher.Message) string { return m.ID }))
	require.Equal(t, []string{"b1 pending #4"}, stateOf(t, s, "b1"))

	// A record fenced out moves nothing.
	_, _, err = s.RecordEnd(ctx, fencedAttempt("att_late", "a3", 1, 200), dispatcher.Outcome{Status: dispatcher.StatusSucceeded}, a3, time.Time{})
	require.ErrorIs(t, err, dispatcher.ErrClaimLost)
	_, _, err = s.RecordEnd(ctx, fencedAttempt("att_none", "nope", 1, 200), dispatcher.Outcome{Status: dispatcher.StatusSucceeded}, a3, time.Time{})
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testOrderedBlock(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	evs := shipmentEvents(t, s, "SHP-A", 3)
	fanOutOrdered(t, s, evs, endpoint("ep1", "acme"), "a")

	// With on_failure block, a failed head is recorded by RecordAttempt:
	// the queue stops.
	recordClaimed(t, s, fencedAttempt("att1", "a1", 1, 0), dispatcher.Outcome{Status: dispatcher.StatusFailed})
	require.Equal(t, []string{"a1 failed #1", "a2 waiting #2"}, stateOf(t, s, "a1", "a2"))

	// A waiting message can be neither retried nor discarded.
	_, err := s.RetryMessage(ctx, "a2", time.Now())
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	_, _, err = s.DiscardMessage(ctx, "a2")
	require.ErrorIs(t, err, subscriptions.ErrConflict)

	// Retried, the failed head succeeds: the queue goes on.
	_, err = s.RetryMessage(ctx, "a1", time.Now())
	require.NoError(t, err)
	next, ok := succeed(t, s, "a1", 1, time.Time{})
	require.True(t, ok)
	require.Equal(t, "a2", next.ID)

	// Failed, then discarded: the queue goes on too.
	recordClaimed(t, s, fencedAttempt("att2", "a2", 1, 0), dispatcher.Outcome{Status: dispatcher.StatusFailed})
	require.Equal(t, []string{"a3 waiting #3"}, stateOf(t, s, "a3"))
	m, promoted, err := s.DiscardMessage(ctx, "a2")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusDiscarded, m.Status)
	require.NotNil(t, promoted)
	require.Equal(t, "a3", promoted.ID)
	require.Equal(t, dispatcher.StatusPending, promoted.Status)
	require.Equal(t, []string{"a2 discarded #2", "a3 pending #3"}, stateOf(t, s, "a2", "a3"))

	// A pending head may be discarded; the queue is then empty.
	_, promoted, err = s.DiscardMessage(ctx, "a3")
	require.NoError(t, err)
	require.Nil(t, promoted)
	_, _, err = s.DiscardMessage(ctx, "a3")
	require.ErrorIs(t, err, subscriptions.ErrConflict, "discarded already")
	_, _, err = s.DiscardMessage(ctx, "a1")
	require.ErrorIs(t, err, subscriptions.ErrConflict, "succeeded")
	_, _, err = s.DiscardMessage(ctx, "nope")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// An unordered message is discarded alone.
	plainEv := insertEvent(t, s, event("evt_plain"))
	_, err = s.FanOut(ctx, plainEv.ID, []dispatcher.Message{message("p1", plainEv, endpoint("ep2", "acme"))})
	require.NoError(t, err)
	_, promoted, err = s.DiscardMessage(ctx, "p1")
	require.NoError(t, err)
	require.Nil(t, promoted)
}

func testOrderedRetryOfPassedMessage(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	evs := shipmentEvents(t, s, "SHP-A", 3)
	fanOutOrdered(t, s, evs, endpoint("ep1", "acme"), "a")
	next, ok := succeed(t, s, "a1", 0, time.Time{})
	require.True(t, ok)
	require.Equal(t, "a2", next.ID)

	// a1 sent again by hand: its success does not move the head, which is
	// a2's.
	_, err := s.RetryMessage(ctx, "a1", time.Now())
	require.NoError(t, err)
	_, ok = succeed(t, s, "a1", 1, time.Time{})
	require.False(t, ok)
	require.Equal(t, []string{"a2 pending #2", "a3 waiting #3"}, stateOf(t, s, "a2", "a3"))
	next, ok = succeed(t, s, "a2", 0, time.Time{})
	require.True(t, ok)
	require.Equal(t, "a3", next.ID)
}

func testOrderedEarlierEvent(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ep := endpoint("ep1", "acme")
	evs := shipmentEvents(t, s, "SHP-A", 2)

	// The later event waits for the earlier to be fanned out first.
	_, err := s.FanOut(ctx, evs[1].ID, []dispatcher.Message{orderedMessage("a2", evs[1], ep)})
	require.ErrorIs(t, err, dispatcher.ErrEarlierEvent)
	stored, err := s.Event(ctx, evs[1].ID)
	require.NoError(t, err)
	require.Nil(t, stored.FannedOutAt, "nothing was stored")
	_, err = s.Message(ctx, "a2")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// An unordered fan-out does not wait.
	_, err = s.FanOut(ctx, evs[1].ID, []dispatcher.Message{message("p2", evs[1], endpoint("ep2", "acme"))})
	require.NoError(t, err)

	fanOutOrdered(t, s, evs[:1], ep, "a")
	_, err = s.FanOut(ctx, evs[1].ID, []dispatcher.Message{orderedMessage("a2", evs[1], ep)})
	require.NoError(t, err)
	require.Equal(t, []string{"a1 pending #1", "a2 waiting #2"}, stateOf(t, s, "a1", "a2"))
}

// testOrderedConcurrentFanOut fans the events of one shipment out at
// once, to two ordered endpoints, each fan-out trying again while an
// earlier event waits: every message gets a number of its own, in the
// order the events were accepted.
func testOrderedConcurrentFanOut(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	const n = 12
	evs := shipmentEvents(t, s, "SHP-A", n)
	eps := []subscriptions.Endpoint{endpoint("ep1", "acme"), endpoint("ep2", "acme")}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, i := range rotated(n) {
		ev := evs[i]
		wg.Go(func() {
			msgs := []dispatcher.Message{orderedMessage(fmt.Sprintf("a%02d", i+1), ev, eps[0]), orderedMessage(fmt.Sprintf("b%02d", i+1), ev, eps[1])}
			for {
				_, err := s.FanOut(ctx, ev.ID, msgs)
				if !errors.Is(err, dispatcher.ErrEarlierEvent) {
					errs <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, prefix := range []string{"a", "b"} {
		for i := range n {
			m, err := s.Message(ctx, fmt.Sprintf("%s%02d", prefix, i+1))
			require.NoError(t, err)
			require.Equal(t, int64(i+1), m.Sequence, "%s: numbered in the order the events were accepted", m.ID)
			want := dispatcher.StatusWaiting
			if i == 0 {
				want = dispatcher.StatusPending
			}
			require.Equal(t, want, m.Status, m.ID)
		}
	}
}

// testOrderedConcurrentRecordEnd ends the heads of many queues at once,
// as deliveries finishing together do (their records share batches), some
// twice (a late record fenced out): each queue's next message is promoted
// once, claimed, and the queue's third still waits.
func testOrderedConcurrentRecordEnd(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	const queues = 30
	ep := endpoint("ep1", "acme")
	for q := range queues {
		fanOutOrdered(t, s, shipmentEvents(t, s, fmt.Sprintf("SHP-%02d", q), 3), ep, fmt.Sprintf("q%02d-", q))
		_, ok, err := s.ClaimMessage(ctx, fmt.Sprintf("q%02d-1", q), 0, time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		promoted = map[string]int{}
		lease    = time.Now().Add(time.Minute)
	)
	for q := range queues * 2 {
		id := fmt.Sprintf("q%02d-1", q%queues)
		wg.Go(func() {
			m, err := s.Message(ctx, id)
			if err != nil {
				t.Error(err)
				return
			}
			a := fencedAttempt(fmt.Sprintf("att_%s_%d", id, q), id, 1, 200)
			next, ok, err := s.RecordEnd(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusSucceeded}, m, lease)
			if err != nil && !errors.Is(err, dispatcher.ErrClaimLost) {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				promoted[next.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, promoted, queues)
	for q := range queues {
		require.Equal(t, 1, promoted[fmt.Sprintf("q%02d-2", q)])
		require.Equal(t, []string{
			fmt.Sprintf("q%02d-1 succeeded #1", q), fmt.Sprintf("q%02d-2 delivering #2", q), fmt.Sprintf("q%02d-3 waiting #3", q),
		}, stateOf(t, s, fmt.Sprintf("q%02d-1", q), fmt.Sprintf("q%02d-2", q), fmt.Sprintf("q%02d-3", q)))
	}
}

// rotated returns 0 … n-1 starting from the middle, so that later events
// are fanned out first.
func rotated(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = (i + n/2) % n
	}
	slices.Reverse(order)
	return order
}

// testOrderedPlans checks that FanOut's check for earlier events, and
// InsertEvents' on PostgreSQL, read events_unfanned_shipment and that the promotion of a queue's next
// message reads messages_ordered, also with statistics taken while every
// event was fanned out, then a burst of events waiting (as in
// testMarkFirstByPrimaryKey).
func testOrderedPlans(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	batch := func(from, n int) []dispatcher.Event {
		evs := make([]dispatcher.Event, n)
		for i := range evs {
			evs[i] = event(fmt.Sprintf("evt_%05d", from+i))
			evs[i].Shipment.ID = fmt.Sprintf("SHP-%d", (from+i)%100)
		}
		return evs
	}
	const fanned = 1500
	_, err := s.InsertEvents(ctx, batch(0, fanned))
	require.NoError(t, err)
	for i := range fanned {
		_, err := s.FanOut(ctx, fmt.Sprintf("evt_%05d", i), []dispatcher.Message{
			orderedMessage(fmt.Sprintf("msg_%05d", i), dispatcher.Event{ID: fmt.Sprintf("evt_%05d", i), Shipment: dispatcher.Shipment{ID: fmt.Sprintf("SHP-%d", i%100)}},
				endpoint("ep1", "acme"))})
		require.NoError(t, err)
	}
	require.NoError(t, store.Analyze(ctx, s))
	for from := fanned; from < fanned+3000; from += 500 {
		_, err := s.InsertEvents(ctx, batch(from, 500))
		require.NoError(t, err)
	}
	for _, generic := range []bool{false, true} {
		earlier, promote, err := store.OrderedPlans(ctx, s, "evt_04000", "SHP-0", generic)
		require.NoError(t, err)
		require.Contains(t, earlier, "events_unfanned_shipment", "generic %v: %s", generic, earlier)
		require.Contains(t, promote, "messages_ordered", "generic %v: %s", generic, promote)
		if db == "sqlite" {
			break // no generic plans
		}
	}
	if db == "postgres" {
		// Numbering at ingest (PostgreSQL only) looks for the shipments'
		// events not fanned out the same way.
		plan, err := store.UnfannedShipmentsPlan(ctx, s, []string{"SHP-0", "SHP-1"})
		require.NoError(t, err)
		require.Contains(t, plan, "events_unfanned_shipment", plan)
	}
}
