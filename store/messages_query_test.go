package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestMessageQueries checks the readers of messages: lists and their
// filters, look-ups by event, and the last attempt's result each returns, on
// each backend.
func TestMessageQueries(t *testing.T) {
	exercise(t, []contractTest{
		{"ListMessages", testListMessages},
		{"ListMessagesCombinations", testListMessagesCombinations},
		{"MessagesOfEvents", testMessagesOfEvents},
		{"MessageOf", testMessageOf},
		{"LastAttemptOfMessage", testLastAttemptOfMessage},
	})
}

func testListMessages(t *testing.T, db backend) {
	s, _ := db.setup(t)
	base := micro(time.Now().Add(-time.Hour))
	all := listedMessagesFixture(t, s, base)
	checkMessageFilters(t, s, all, base)
	checkMessagePages(t, s, all)
}

// queriedEvent stores event evt_<i>, every other one of type
// shipment.delivered, of shipment shp_<i%3>, and returns it with its
// messages to ep_a1, ep_a2 (of acme) and ep_b1 (of beta), msg_<i>_<j>,
// created i minutes after base and not stored yet.
func queriedEvent(t *testing.T, s *store.Store, base time.Time, i int) (dispatcher.Event, []dispatcher.Message) {
	t.Helper()
	eps := []subscriptions.Endpoint{endpoint("ep_a1", "acme"), endpoint("ep_a2", "acme"), endpoint("ep_b1", "beta")}
	e := event(fmt.Sprintf("evt_%02d", i))
	if i%2 == 1 {
		e.Type = "shipment.delivered"
	}
	e.Shipment.ID = fmt.Sprintf("shp_%d", i%3)
	e = insertEvent(t, s, e)
	var msgs []dispatcher.Message
	for j, ep := range eps {
		m := message(fmt.Sprintf("msg_%02d_%d", i, j), e, ep)
		m.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		m.UpdatedAt = m.CreatedAt
		msgs = append(msgs, m)
	}
	return e, msgs
}

// listedMessagesFixture stores the messages of 12 queried events: failed
// every fourth event from the first, held every fourth from the third,
// pending otherwise. It returns them newest first.
func listedMessagesFixture(t *testing.T, s *store.Store, base time.Time) []dispatcher.Message {
	t.Helper()
	var all []dispatcher.Message
	for i := range 12 {
		e, msgs := queriedEvent(t, s, base, i)
		for j := range msgs {
			m := &msgs[j]
			switch i % 4 {
			case 0:
				m.Status = dispatcher.StatusFailed
				m.NextAttemptAt = nil
			case 2:
				m.Status = dispatcher.StatusHeld
				m.NextAttemptAt = nil
			}
		}
		_, err := s.FanOut(t.Context(), e.ID, msgs)
		require.NoError(t, err)
		all = append(all, msgs...)
	}
	// Newest first.
	slices.Reverse(all)
	return all
}

// checkMessageFilters checks that ListMessages with each filter, and some
// together, lists the messages of all, newest first, that the filter
// keeps, and some.
func checkMessageFilters(t *testing.T, s *store.Store, all []dispatcher.Message, base time.Time) {
	t.Helper()
	list := func(q dispatcher.MessageQuery) []string {
		t.Helper()
		q.Limit = 100
		ms, err := s.ListMessages(t.Context(), q)
		require.NoError(t, err)
		return ids(ms, func(m dispatcher.Message) string { return m.ID })
	}
	since, until := base.Add(3*time.Minute), base.Add(7*time.Minute)
	for name, tc := range map[string]struct {
		q    dispatcher.MessageQuery
		keep func(m dispatcher.Message) bool
	}{
		"all":      {dispatcher.MessageQuery{}, func(dispatcher.Message) bool { return true }},
		"partner":  {dispatcher.MessageQuery{PartnerID: "acme"}, func(m dispatcher.Message) bool { return m.PartnerID == "acme" }},
		"endpoint": {dispatcher.MessageQuery{EndpointID: "ep_a2"}, func(m dispatcher.Message) bool { return m.EndpointID == "ep_a2" }},
		"type":     {dispatcher.MessageQuery{EventType: "shipment.delivered"}, func(m dispatcher.Message) bool { return m.EventType == "shipment.delivered" }},
		"shipment": {dispatcher.MessageQuery{ShipmentID: "shp_1"}, func(m dispatcher.Message) bool { return m.ShipmentID == "shp_1" }},
		"status":   {dispatcher.MessageQuery{Status: dispatcher.StatusFailed}, func(m dispatcher.Message) bool { return m.Status == dispatcher.StatusFailed }},
		"held":     {dispatcher.MessageQuery{Status: dispatcher.StatusHeld}, func(m dispatcher.Message) bool { return m.Status == dispatcher.StatusHeld }},
		"since":    {dispatcher.MessageQuery{Since: &since}, func(m dispatcher.Message) bool { return !m.CreatedAt.Before(since) }},
		"until":    {dispatcher.MessageQuery{Until: &until}, func(m dispatcher.Message) bool { return m.CreatedAt.Before(until) }},
		"endpoint held": {
			dispatcher.MessageQuery{EndpointID: "ep_a2", Status: dispatcher.StatusHeld},
			func(m dispatcher.Message) bool { return m.EndpointID == "ep_a2" && m.Status == dispatcher.StatusHeld },
		},
		"combined": {
			dispatcher.MessageQuery{PartnerID: "acme", Status: dispatcher.StatusPending, Since: &since, Until: &until},
			func(m dispatcher.Message) bool {
				return m.PartnerID == "acme" && m.Status == dispatcher.StatusPending && !m.CreatedAt.Before(since) && m.CreatedAt.Before(until)
			},
		},
	} {
		w := keepIDs(all, tc.keep, func(m dispatcher.Message) string { return m.ID })
		require.NotEmpty(t, w, name)
		require.Equal(t, w, list(tc.q), name)
	}
}

// checkMessagePages checks that ListMessages reads acme's messages of all
// in pages of 5, each older than the last, and that without a limit it
// lists all of them, whole and in UTC.
func checkMessagePages(t *testing.T, s *store.Store, all []dispatcher.Message) {
	t.Helper()
	ctx := t.Context()
	// Pages of 5, each older than the last.
	var paged []string
	q := dispatcher.MessageQuery{PartnerID: "acme"}
	q.Limit = 5
	for {
		ms, err := s.ListMessages(ctx, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(ms), 5)
		paged = append(paged, ids(ms, func(m dispatcher.Message) string { return m.ID })...)
		if len(ms) < 5 {
			break
		}
		q.After = ms[len(ms)-1].ID
	}
	acme := func(m dispatcher.Message) bool { return m.PartnerID == "acme" }
	require.Equal(t, keepIDs(all, acme, func(m dispatcher.Message) string { return m.ID }), paged)

	ms, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
	require.NoError(t, err)
	require.Len(t, ms, 36)
	require.Equal(t, all[0], ms[0])
	require.Equal(t, time.UTC, ms[0].CreatedAt.Location())
}

func testListMessagesCombinations(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	base := micro(time.Now().Add(-time.Hour))
	all := attemptedMessagesFixture(t, s, base)

	since, until := base.Add(2*time.Minute), base.Add(8*time.Minute)
	filters := []queryFilter[dispatcher.MessageQuery, dispatcher.Message]{
		{func(q *dispatcher.MessageQuery) { q.PartnerID = "acme" }, func(m dispatcher.Message) bool { return m.PartnerID == "acme" }},
		{func(q *dispatcher.MessageQuery) { q.EndpointID = "ep_a2" }, func(m dispatcher.Message) bool { return m.EndpointID == "ep_a2" }},
		{func(q *dispatcher.MessageQuery) { q.EventType = "shipment.delivered" }, func(m dispatcher.Message) bool { return m.EventType == "shipment.delivered" }},
		{func(q *dispatcher.MessageQuery) { q.ShipmentID = "shp_1" }, func(m dispatcher.Message) bool { return m.ShipmentID == "shp_1" }},
		{func(q *dispatcher.MessageQuery) { q.Status = dispatcher.StatusFailed }, func(m dispatcher.Message) bool { return m.Status == dispatcher.StatusFailed }},
		{func(q *dispatcher.MessageQuery) { q.ErrorClass = dispatcher.ErrorTimeout }, func(m dispatcher.Message) bool { return m.LastErrorClass == dispatcher.ErrorTimeout }},
		{func(q *dispatcher.MessageQuery) { q.Since = &since }, func(m dispatcher.Message) bool { return !m.CreatedAt.Before(since) }},
		{func(q *dispatcher.MessageQuery) { q.Until = &until }, func(m dispatcher.Message) bool { return m.CreatedAt.Before(until) }},
	}
	checkFilterCombinations(t, all, filters, func(m dispatcher.Message) string { return m.ID },
		func(q *dispatcher.MessageQuery, limit int, after string) { q.Limit, q.After = limit, after },
		func(q dispatcher.MessageQuery) ([]dispatcher.Message, error) { return s.ListMessages(ctx, q) })
}

// attemptedMessagesFixture stores the messages of 10 queried events and
// records an attempt of each but every seventh, with an error class and a
// status in turn, and returns them, with the status and error class of
// their last attempt, newest first.
func attemptedMessagesFixture(t *testing.T, s *store.Store, base time.Time) []dispatcher.Message {
	t.Helper()
	ctx := t.Context()
	classes := []dispatcher.ErrorClass{dispatcher.ErrorNone, dispatcher.ErrorTimeout, dispatcher.ErrorHTTPStatus, dispatcher.ErrorNone, dispatcher.ErrorConnect}
	var all []dispatcher.Message
	n := 0
	for i := range 10 {
		e, msgs := queriedEvent(t, s, base, i)
		_, err := s.FanOut(ctx, e.ID, msgs)
		require.NoError(t, err)
		for k := range msgs {
			m := &msgs[k]
			n++
			class := classes[n%len(classes)]
			status := dispatcher.StatusPending
			switch {
			case n%4 == 0:
				status = dispatcher.StatusFailed
			case class == dispatcher.ErrorNone && n%3 == 0:
				status = dispatcher.StatusSucceeded
			}
			if n%7 == 0 {
				continue // no attempt yet
			}
			a := dispatcher.Attempt{ID: fmt.Sprintf("att_%03d", n), MessageID: m.ID, Trigger: "scheduled",
				URL: "https://example.com", StartedAt: m.CreatedAt, StatusCode: 500, ErrorClass: class}
			if class == dispatcher.ErrorNone {
				a.StatusCode = 200
			}
			require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: status}))
			m.Status, m.LastErrorClass = status, class
		}
		all = append(all, msgs...)
	}
	slices.Reverse(all)
	return all
}

func testMessagesOfEvents(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	e1, e2 := endpoint("ep1", "acme"), endpoint("ep2", "beta")
	var evs []dispatcher.Event
	for i := range 3 {
		evs = append(evs, insertEvent(t, s, event(fmt.Sprintf("evt_%d", i))))
	}
	// Ids that sort neither by event nor by endpoint.
	for i, ev := range evs {
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{
			message(fmt.Sprintf("msg_%d", 5-i), ev, e1),
			message(fmt.Sprintf("msg_%d", i), ev, e2),
		})
		require.NoError(t, err)
	}
	of := func(eventIDs ...string) []string {
		t.Helper()
		ms, err := s.MessagesOfEvents(ctx, eventIDs)
		require.NoError(t, err)
		for _, m := range ms {
			stored, err := s.Message(ctx, m.ID)
			require.NoError(t, err)
			require.Equal(t, stored, m)
		}
		return ids(ms, func(m dispatcher.Message) string { return m.ID })
	}
	require.Equal(t, []string{"msg_0", "msg_1", "msg_2", "msg_3", "msg_4", "msg_5"}, of("evt_0", "evt_1", "evt_2"))
	require.Equal(t, []string{"msg_0", "msg_2", "msg_3", "msg_5"}, of("evt_2", "evt_0", "evt_0", "evt_none"))
	require.Empty(t, of("evt_none"))
	require.Empty(t, of())

	// More events than one statement reads: several reads, the
	// last one partial, merged in id order.
	store.SetEventsBatch(s, 4)
	var many []dispatcher.Event
	for i := range 11 {
		many = append(many, event(fmt.Sprintf("evt_m%02d", i)))
	}
	_, err := s.InsertEvents(ctx, many)
	require.NoError(t, err)
	var want, eventIDs []string
	for i, ev := range many {
		id, other := fmt.Sprintf("msg_m%02d", (i*7)%len(many)), fmt.Sprintf("msg_n%02d", 10-i)
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message(id, ev, e1), message(other, ev, e2)})
		require.NoError(t, err)
		want = append(want, id, other)
		eventIDs = append(eventIDs, ev.ID, ev.ID)
	}
	want = append(want, "msg_0", "msg_5") // evt_0's
	slices.Sort(want)
	slices.Reverse(eventIDs)
	require.Equal(t, want, of(append(eventIDs, "evt_0", "evt_none")...))
}

func testMessageOf(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	other := insertEvent(t, s, event("evt_2"))
	e1, e2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, e1), message("msg2", ev, e2)})
	require.NoError(t, err)
	_, err = s.FanOut(ctx, other.ID, []dispatcher.Message{message("msg3", other, e1)})
	require.NoError(t, err)

	m, err := s.MessageOf(ctx, "evt_1", "ep2")
	require.NoError(t, err)
	stored, err := s.Message(ctx, "msg2")
	require.NoError(t, err)
	require.Equal(t, stored, m)
	m, err = s.MessageOf(ctx, "evt_2", "ep1")
	require.NoError(t, err)
	require.Equal(t, "msg3", m.ID)

	_, err = s.MessageOf(ctx, "evt_2", "ep2")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	_, err = s.MessageOf(ctx, "evt_none", "ep1")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testLastAttemptOfMessage(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	ep := endpoint("ep1", "acme")
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, ep)})
	require.NoError(t, err)
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Zero(t, m.LastStatusCode)
	require.Equal(t, dispatcher.ErrorNone, m.LastErrorClass)

	attempt := func(id string, code int, class dispatcher.ErrorClass, o dispatcher.Outcome) {
		t.Helper()
		a := dispatcher.Attempt{ID: id, MessageID: "msg1", Trigger: "scheduled", URL: ep.URL, StartedAt: micro(time.Now()),
			StatusCode: code, ErrorClass: class}
		require.NoError(t, s.RecordAttempt(ctx, a, o))
	}
	next := micro(time.Now().Add(-time.Second))
	pending := dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}

	attempt("att1", 503, dispatcher.ErrorHTTPStatus, pending)
	checkLastResult(t, s, 503, dispatcher.ErrorHTTPStatus)
	due, err := s.DueMessages(ctx, time.Now(), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, 503, due[0].LastStatusCode)
	claimed, ok, err := s.ClaimMessage(ctx, "msg1", 1, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, dispatcher.ErrorHTTPStatus, claimed.LastErrorClass)

	// No response at all: no status code.
	attempt("att2", 0, dispatcher.ErrorConnect, pending)
	checkLastResult(t, s, 0, dispatcher.ErrorConnect)
	// Other status changes keep it.
	require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusDisabled}))
	checkLastResult(t, s, 0, dispatcher.ErrorConnect)
	attempt("att3", 204, dispatcher.ErrorNone, dispatcher.Outcome{Status: dispatcher.StatusSucceeded})
	checkLastResult(t, s, 204, dispatcher.ErrorNone)

	// FanOut stores what it is given.
	ev2 := insertEvent(t, s, event("evt_2"))
	m = message("msg2", ev2, ep)
	m.LastStatusCode, m.LastErrorClass = 410, dispatcher.ErrorHTTPStatus
	_, err = s.FanOut(ctx, ev2.ID, []dispatcher.Message{m})
	require.NoError(t, err)
	got, err := s.Message(ctx, "msg2")
	require.NoError(t, err)
	require.Equal(t, m, got)
}

// checkLastResult checks that every reader of messages returns msg1, the
// only message of evt_1 and ep1, with the status code and error class of
// its last attempt.
func checkLastResult(t *testing.T, s *store.Store, code int, class dispatcher.ErrorClass) {
	t.Helper()
	ctx := t.Context()
	readers := map[string]func() dispatcher.Message{
		"Message": func() dispatcher.Message {
			m, err := s.Message(ctx, "msg1")
			require.NoError(t, err)
			return m
		},
		"MessageOf": func() dispatcher.Message {
			m, err := s.MessageOf(ctx, "evt_1", "ep1")
			require.NoError(t, err)
			return m
		},
		"MessagesOfEvents": func() dispatcher.Message {
			ms, err := s.MessagesOfEvents(ctx, []string{"evt_1"})
			require.NoError(t, err)
			require.Len(t, ms, 1)
			return ms[0]
		},
		"ListMessages": func() dispatcher.Message {
			ms, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
			require.NoError(t, err)
			require.Len(t, ms, 1)
			return ms[0]
		},
	}
	for name, read := range readers {
		m := read()
		require.Equal(t, code, m.LastStatusCode, name)
		require.Equal(t, class, m.LastErrorClass, name)
	}
}
