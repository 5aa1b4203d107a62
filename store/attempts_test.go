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
	for _, n := range []int{3, 1, 4, 2, 5} {
		a := dispatcher.Attempt{ID: fmt.Sprintf("att%d", 10-n), MessageID: "msg1", Number: n, Trigger: "manual",
			URL: "https://example.com", StartedAt: micro(time.Now())}
		require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending}))
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
		require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending}))
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
