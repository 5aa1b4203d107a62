package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestAttempts checks recording attempts and reading them back, on each
// backend.
func TestAttempts(t *testing.T) {
	exercise(t, []contractTest{
		{"RecordAttempt", testRecordAttempt},
		{"RecordFence", testRecordFence},
		{"RecordFenceLater", testRecordFenceLater},
		{"RecordLeasePast", testRecordLeasePast},
		{"RecordFenceBatch", testRecordFenceBatch},
		{"ListAttempts", testListAttempts},
		{"SearchAttempts", testSearchAttempts},
	})
}

func testRecordAttempt(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	ep := endpoint("ep1", "acme")
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, ep)})
	require.NoError(t, err)
	_, ok, err := s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)

	next := micro(time.Now().Add(5 * time.Second))
	a := dispatcher.Attempt{
		ID: "att1", MessageID: "msg1", EndpointID: ep.ID, PartnerID: ep.PartnerID, Number: 1,
		Trigger: "scheduled", URL: ep.URL, StartedAt: micro(time.Now()), DurationMS: 120,
		StatusCode: 503, ResponseBody: "busy", ResponseHeaders: map[string]string{"Retry-After": "5"},
		ErrorClass: dispatcher.ErrorHTTPStatus, Error: "503 Service Unavailable",
	}
	require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}))
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusPending, m.Status)
	require.Equal(t, 1, m.Attempts)
	require.Equal(t, next, *m.NextAttemptAt)
	require.Nil(t, m.LeaseUntil)
	atts, err := s.ListAttempts(ctx, "msg1", subscriptions.Page{})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Attempt{a}, atts)

	// Number, endpoint and partner default to the message's.
	_, ok, err = s.ClaimMessage(ctx, "msg1", 1, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	b := dispatcher.Attempt{ID: "att2", MessageID: "msg1", Trigger: "scheduled", URL: ep.URL, StartedAt: micro(time.Now()), StatusCode: 200}
	require.NoError(t, s.RecordAttempt(ctx, b, dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
	m, err = s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusSucceeded, m.Status)
	require.Equal(t, 2, m.Attempts)
	require.Nil(t, m.NextAttemptAt)
	atts, err = s.ListAttempts(ctx, "msg1", subscriptions.Page{})
	require.NoError(t, err)
	require.Len(t, atts, 2)
	require.Equal(t, 2, atts[1].Number)
	require.Equal(t, "ep1", atts[1].EndpointID)
	require.Equal(t, "acme", atts[1].PartnerID)
	require.Nil(t, atts[1].ResponseHeaders)

	c := a
	c.ID, c.MessageID = "att3", "nothing"
	require.ErrorIs(t, s.RecordAttempt(ctx, c, dispatcher.Outcome{Status: dispatcher.StatusFailed}), subscriptions.ErrNotFound)
	_, err = s.Attempt(ctx, "att3")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// A repeated attempt id changes nothing.
	d := b
	d.ErrorClass = dispatcher.ErrorTimeout
	err = s.RecordAttempt(ctx, d, dispatcher.Outcome{Status: dispatcher.StatusFailed})
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	require.ErrorContains(t, err, "att2")
	again, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, m, again)
	require.ErrorIs(t, s.SetMessageStatus(ctx, "nothing", dispatcher.Outcome{Status: dispatcher.StatusFailed}), subscriptions.ErrNotFound)
	_, err = s.Message(ctx, "nothing")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testListAttempts(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)
	// Ids that sort in another order than the numbers.
	for n := 1; n <= 5; n++ {
		a := dispatcher.Attempt{ID: fmt.Sprintf("att%d", 10-n), MessageID: "msg1", Number: n, Trigger: "manual",
			URL: "https://example.com", StartedAt: micro(time.Now())}
		recordClaimed(t, s, a, dispatcher.Outcome{Status: dispatcher.StatusPending})
	}
	atts, err := s.ListAttempts(ctx, "msg1", subscriptions.Page{})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4, 5}, ids(atts, func(a dispatcher.Attempt) int { return a.Number }))

	atts, err = s.ListAttempts(ctx, "msg1", subscriptions.Page{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, ids(atts, func(a dispatcher.Attempt) int { return a.Number }))
	atts, err = s.ListAttempts(ctx, "msg1", subscriptions.Page{After: atts[1].ID, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []int{3, 4}, ids(atts, func(a dispatcher.Attempt) int { return a.Number }))

	atts, err = s.ListAttempts(ctx, "nothing", subscriptions.Page{})
	require.NoError(t, err)
	require.Empty(t, atts)
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, 5, m.Attempts)
}

func testSearchAttempts(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	base := micro(time.Now().Add(-time.Hour))
	all := searchedAttemptsFixture(t, s, base)
	checkWholeAttempts(t, s, all)

	since, until := base.Add(5*time.Minute), base.Add(20*time.Minute)
	filters := []queryFilter[dispatcher.AttemptQuery, dispatcher.Attempt]{
		{func(q *dispatcher.AttemptQuery) { q.PartnerID = "acme" }, func(a dispatcher.Attempt) bool { return a.PartnerID == "acme" }},
		{func(q *dispatcher.AttemptQuery) { q.EndpointID = "ep_a2" }, func(a dispatcher.Attempt) bool { return a.EndpointID == "ep_a2" }},
		{func(q *dispatcher.AttemptQuery) { q.MessageID = "msg_1_1" }, func(a dispatcher.Attempt) bool { return a.MessageID == "msg_1_1" }},
		{func(q *dispatcher.AttemptQuery) { q.ErrorClass = dispatcher.ErrorTimeout }, func(a dispatcher.Attempt) bool { return a.ErrorClass == dispatcher.ErrorTimeout }},
		{func(q *dispatcher.AttemptQuery) { q.Failed = true }, func(a dispatcher.Attempt) bool { return a.ErrorClass != dispatcher.ErrorNone }},
		{func(q *dispatcher.AttemptQuery) { q.Since = &since }, func(a dispatcher.Attempt) bool { return !a.StartedAt.Before(since) }},
		{func(q *dispatcher.AttemptQuery) { q.Until = &until }, func(a dispatcher.Attempt) bool { return a.StartedAt.Before(until) }},
	}
	checkFilterCombinations(t, all, filters, func(a dispatcher.Attempt) string { return a.ID },
		func(q *dispatcher.AttemptQuery, limit int, after string) { q.Limit, q.After = limit, after },
		func(q dispatcher.AttemptQuery) ([]dispatcher.Attempt, error) { return s.SearchAttempts(ctx, q) })
}

// searchedAttemptsFixture fans two events out to ep_a1, ep_a2 (of acme)
// and ep_b1 (of beta) and records 30 attempts of their messages, in turn,
// started in an order of their own from base on, with an error class in
// turn. It returns the attempts, their ids descending.
func searchedAttemptsFixture(t *testing.T, s *store.Store, base time.Time) []dispatcher.Attempt {
	t.Helper()
	ctx := t.Context()
	eps := []subscriptions.Endpoint{endpoint("ep_a1", "acme"), endpoint("ep_a2", "acme"), endpoint("ep_b1", "beta")}
	var msgs []dispatcher.Message
	for i := range 2 {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
		var evMsgs []dispatcher.Message
		for j, ep := range eps {
			evMsgs = append(evMsgs, message(fmt.Sprintf("msg_%d_%d", i, j), ev, ep))
		}
		_, err := s.FanOut(ctx, ev.ID, evMsgs)
		require.NoError(t, err)
		msgs = append(msgs, evMsgs...)
	}
	classes := []dispatcher.ErrorClass{dispatcher.ErrorNone, dispatcher.ErrorTimeout, dispatcher.ErrorHTTPStatus, dispatcher.ErrorNone, dispatcher.ErrorConnect, dispatcher.ErrorTimeout}
	var all []dispatcher.Attempt
	for i := range 30 {
		m := msgs[i%len(msgs)]
		a := dispatcher.Attempt{
			// Ids that sort neither in the order of recording nor in
			// that of StartedAt.
			ID: fmt.Sprintf("att_%02d", (i*7)%30), MessageID: m.ID, EndpointID: m.EndpointID, PartnerID: m.PartnerID,
			Number: i/len(msgs) + 1, Trigger: "scheduled", URL: "https://example.com/" + m.EndpointID,
			StartedAt: base.Add(time.Duration((i*11)%30) * time.Minute), DurationMS: int64(i), StatusCode: 200,
			ErrorClass: classes[i%len(classes)],
		}
		if a.ErrorClass != dispatcher.ErrorNone {
			a.StatusCode, a.Error = 0, "failed"
		}
		recordClaimed(t, s, a, dispatcher.Outcome{Status: dispatcher.StatusPending})
		all = append(all, a)
	}
	slices.SortFunc(all, func(a, b dispatcher.Attempt) int { return strings.Compare(b.ID, a.ID) })
	return all
}

// checkWholeAttempts checks that SearchAttempts returns all, whole, as
// Attempt returns each, and 50 at most without a limit.
func checkWholeAttempts(t *testing.T, s *store.Store, all []dispatcher.Attempt) {
	t.Helper()
	ctx := t.Context()
	// Whole attempts, and Attempt returns the same.
	got, err := s.SearchAttempts(ctx, dispatcher.AttemptQuery{Page: subscriptions.Page{Limit: 100}})
	require.NoError(t, err)
	require.Equal(t, all, got)
	for _, a := range all[:5] {
		one, err := s.Attempt(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, a, one)
	}
	_, err = s.Attempt(ctx, "att_none")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	// Limit 0 is 50 (here all 30).
	got, err = s.SearchAttempts(ctx, dispatcher.AttemptQuery{})
	require.NoError(t, err)
	require.Len(t, got, 30)
}

// recordClaimed claims a's message with a.Number-1 attempts made, for a
// minute, and records a with o through the claim.
func recordClaimed(t *testing.T, s *store.Store, a dispatcher.Attempt, o dispatcher.Outcome) {
	t.Helper()
	_, ok, err := s.ClaimMessage(t.Context(), a.MessageID, a.Number-1, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok, "claim %s with %d attempts made", a.MessageID, a.Number-1)
	require.NoError(t, s.RecordAttempt(t.Context(), a, o))
}

// fencedAttempt is attempt number of message msg, made now, that got
// status code (0: it timed out).
func fencedAttempt(id, msg string, number, code int) dispatcher.Attempt {
	a := dispatcher.Attempt{ID: id, MessageID: msg, Number: number, Trigger: "scheduled", URL: "https://example.com/hook",
		StartedAt: micro(time.Now()), DurationMS: 5, StatusCode: code}
	if code == 0 {
		a.DurationMS, a.ErrorClass, a.Error = 2012, dispatcher.ErrorTimeout, "context deadline exceeded"
	}
	return a
}

// claimTwice fans msg1 out and claims it twice with no attempt made: first
// with a lease already past, as a worker whose answer came too late had,
// then for a minute.
func claimTwice(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)
	for _, lease := range []time.Time{time.Now().Add(-time.Second), time.Now().Add(time.Minute)} {
		_, ok, err := s.ClaimMessage(ctx, "msg1", 0, lease)
		require.NoError(t, err)
		require.True(t, ok)
	}
}

// checkFenced checks that msg1 holds only the attempts of ids, numbered
// from 1, and that its state is theirs: count, status, last status code.
func checkFenced(t *testing.T, s *store.Store, status dispatcher.Status, code int, ids ...string) {
	t.Helper()
	m, err := s.Message(t.Context(), "msg1")
	require.NoError(t, err)
	require.Equal(t, status, m.Status)
	require.Equal(t, len(ids), m.Attempts)
	require.Equal(t, code, m.LastStatusCode)
	atts, err := s.ListAttempts(t.Context(), "msg1", subscriptions.Page{})
	require.NoError(t, err)
	var numbers, want []int
	for i, a := range atts {
		numbers, want = append(numbers, a.Number), append(want, i+1)
	}
	require.Equal(t, want, numbers)
	require.Equal(t, ids, idsOf(atts))
}

func idsOf(atts []dispatcher.Attempt) []string {
	return ids(atts, func(a dispatcher.Attempt) string { return a.ID })
}

func testRecordFence(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	claimTwice(t, s)
	// The second claim's attempt is recorded; the first's, late, is not.
	ok := dispatcher.Outcome{Status: dispatcher.StatusSucceeded}
	require.NoError(t, s.RecordAttempt(ctx, fencedAttempt("att_second", "msg1", 1, 204), ok))
	next := micro(time.Now().Add(5 * time.Second))
	retry := dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}
	err := s.RecordAttempt(ctx, fencedAttempt("att_first", "msg1", 1, 0), retry)
	require.ErrorIs(t, err, dispatcher.ErrClaimLost)
	require.ErrorContains(t, err, "msg1")
	checkFenced(t, s, dispatcher.StatusSucceeded, 204, "att_second")
	_, err = s.Attempt(ctx, "att_first")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	// A message no claim holds takes no record naming a claim.
	require.ErrorIs(t, s.RecordAttempt(ctx, fencedAttempt("att_other", "msg1", 2, 204), ok), dispatcher.ErrClaimLost)
	require.ErrorIs(t, s.RecordAttempt(ctx, fencedAttempt("att_none", "nothing", 1, 204), ok), subscriptions.ErrNotFound)
	checkFenced(t, s, dispatcher.StatusSucceeded, 204, "att_second")
}

func testRecordFenceLater(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	claimTwice(t, s)
	// The second claim's attempt fails and a third claim holds the message
	// for attempt 2 when the first claim's answer comes.
	next := micro(time.Now().Add(-time.Second))
	retry := dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}
	require.NoError(t, s.RecordAttempt(ctx, fencedAttempt("att_second", "msg1", 1, 503), retry))
	_, ok, err := s.ClaimMessage(ctx, "msg1", 1, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	succeeded := dispatcher.Outcome{Status: dispatcher.StatusSucceeded}
	require.ErrorIs(t, s.RecordAttempt(ctx, fencedAttempt("att_first", "msg1", 1, 204), succeeded), dispatcher.ErrClaimLost)
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusDelivering, m.Status, "the third claim still holds the message")
	require.NotNil(t, m.LeaseUntil)
	require.NoError(t, s.RecordAttempt(ctx, fencedAttempt("att_third", "msg1", 2, 204), succeeded))
	checkFenced(t, s, dispatcher.StatusSucceeded, 204, "att_second", "att_third")
}

func testRecordLeasePast(t *testing.T, db backend) {
	// A claim whose lease ran out, and that no other claim took over,
	// still records its attempt.
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)
	_, ok, err := s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(-time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.RecordAttempt(ctx, fencedAttempt("att_first", "msg1", 1, 204), dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
	checkFenced(t, s, dispatcher.StatusSucceeded, 204, "att_first")
}

func testRecordFenceBatch(t *testing.T, db backend) {
	// In one batch, the records of two claims of one message: the first
	// given lands, the second is fenced out; each caller learns which.
	s, ctx := db.setup(t)
	claimTwice(t, s)
	next := micro(time.Now().Add(5 * time.Second))
	errs := store.RecordBatch(ctx, s,
		[]dispatcher.Attempt{fencedAttempt("att_second", "msg1", 1, 204), fencedAttempt("att_none", "nothing", 1, 204),
			fencedAttempt("att_first", "msg1", 1, 0)},
		[]dispatcher.Outcome{{Status: dispatcher.StatusSucceeded}, {Status: dispatcher.StatusSucceeded},
			{Status: dispatcher.StatusPending, NextAttemptAt: &next}})
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], subscriptions.ErrNotFound)
	require.ErrorIs(t, errs[2], dispatcher.ErrClaimLost)
	checkFenced(t, s, dispatcher.StatusSucceeded, 204, "att_second")
	// Late, alone in its batch.
	errs = store.RecordBatch(ctx, s, []dispatcher.Attempt{fencedAttempt("att_late", "msg1", 1, 0), fencedAttempt("att_none", "nothing", 1, 204)},
		[]dispatcher.Outcome{{Status: dispatcher.StatusPending, NextAttemptAt: &next}, {Status: dispatcher.StatusSucceeded}})
	require.ErrorIs(t, errs[0], dispatcher.ErrClaimLost)
	require.ErrorIs(t, errs[1], subscriptions.ErrNotFound)
	checkFenced(t, s, dispatcher.StatusSucceeded, 204, "att_second")
}
