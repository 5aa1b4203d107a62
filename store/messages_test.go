package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestMessages checks the changes of a message's state: claims, statuses,
// deferrals, due messages, resumes and retries, on each backend.
func TestMessages(t *testing.T) {
	exercise(t, []contractTest{
		{"ClaimMessage", testClaimMessage},
		{"ConcurrentClaim", testConcurrentClaim},
		{"SetMessageStatus", testSetMessageStatus},
		{"DeferMessage", testDeferMessage},
		{"DueMessages", testDueMessages},
		{"ResumeMessages", testResumeMessages},
		{"RetryMessage", testRetryMessage},
	})
}

func testClaimMessage(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)

	lease := micro(time.Now().Add(time.Minute))
	m, ok, err := s.ClaimMessage(ctx, "msg1", 0, lease)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, dispatcher.StatusDelivering, m.Status)
	require.Equal(t, lease, *m.LeaseUntil)

	m, ok, err = s.ClaimMessage(ctx, "msg1", 0, lease)
	require.NoError(t, err)
	require.False(t, ok, "claimed twice")
	require.Equal(t, dispatcher.StatusDelivering, m.Status)

	// A lease that has run out can be claimed again.
	require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusPending}))
	_, ok, err = s.ClaimMessage(ctx, "msg1", 1, lease)
	require.NoError(t, err)
	require.False(t, ok, "wrong attempt count")
	_, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(-time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	m, ok, err = s.ClaimMessage(ctx, "msg1", 0, lease)
	require.NoError(t, err)
	require.True(t, ok, "expired lease")
	require.Equal(t, lease, *m.LeaseUntil)

	require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
	_, ok, err = s.ClaimMessage(ctx, "msg1", 0, lease)
	require.NoError(t, err)
	require.False(t, ok)

	_, _, err = s.ClaimMessage(ctx, "nothing", 0, lease)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testConcurrentClaim(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
		errs []error
	)
	for range 10 {
		wg.Go(func() {
			_, ok, err := s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				wins++
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 1, wins)
}

func testSetMessageStatus(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)
	_, ok, err := s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusDisabled}))
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusDisabled, m.Status)
	require.Nil(t, m.NextAttemptAt)
	require.Nil(t, m.LeaseUntil)
	require.Zero(t, m.Attempts)

	next := micro(time.Now().Add(time.Hour))
	require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}))
	m, err = s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusPending, m.Status)
	require.Equal(t, next, *m.NextAttemptAt)

	// Held: no next attempt, even if the outcome names one, and
	// no lease; set directly or by an attempt.
	_, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusHeld, NextAttemptAt: &next}))
	m, err = s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusHeld, m.Status)
	require.Nil(t, m.NextAttemptAt)
	require.Nil(t, m.LeaseUntil)
	require.Zero(t, m.Attempts)
	a := dispatcher.Attempt{ID: "att1", MessageID: "msg1", Trigger: "scheduled", URL: "https://example.com/hook",
		StartedAt: micro(time.Now()), StatusCode: 503, ErrorClass: dispatcher.ErrorHTTPStatus}
	require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusHeld, NextAttemptAt: &next}))
	m, err = s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusHeld, m.Status)
	require.Nil(t, m.NextAttemptAt)
	require.Equal(t, 1, m.Attempts)
}

func testDeferMessage(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)
	later := micro(time.Now().Add(time.Minute))
	ok, err := s.DeferMessage(ctx, "msg1", 1, later)
	require.NoError(t, err)
	require.False(t, ok, "a stale attempt count defers nothing")
	ok, err = s.DeferMessage(ctx, "msg1", 0, later)
	require.NoError(t, err)
	require.True(t, ok)
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusPending, m.Status)
	require.Equal(t, later, *m.NextAttemptAt)
	require.Zero(t, m.Attempts, "deferring spends no attempt")
	_, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.DeferMessage(ctx, "msg1", 0, later)
	require.NoError(t, err)
	require.False(t, ok, "a message being delivered is not deferred")
}

func testDueMessages(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	now := micro(time.Now())
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	var msgs []dispatcher.Message
	for i, next := range []time.Duration{-3 * time.Minute, -time.Minute, time.Minute, -5 * time.Minute, -2 * time.Minute, -4 * time.Minute} {
		m := message(fmt.Sprintf("msg%d", i), ev, endpoint(fmt.Sprintf("ep%d", i), "acme"))
		m.NextAttemptAt = at(next)
		msgs = append(msgs, m)
	}
	_, err := s.FanOut(ctx, ev.ID, msgs)
	require.NoError(t, err)
	// msg3: delivering, lease ran out 30 s ago (due at -30s).
	_, ok, err := s.ClaimMessage(ctx, "msg3", 0, *at(-30 * time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	// msg4: delivering, lease still running.
	_, ok, err = s.ClaimMessage(ctx, "msg4", 0, *at(90 * time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	// msg5: done.
	require.NoError(t, s.SetMessageStatus(ctx, "msg5", dispatcher.Outcome{Status: dispatcher.StatusFailed}))

	got, err := s.DueMessages(ctx, now, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"msg0", "msg1", "msg3"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
	got, err = s.DueMessages(ctx, now, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"msg0", "msg1"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
	got, err = s.DueMessages(ctx, now.Add(2*time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []string{"msg0", "msg1", "msg3", "msg2", "msg4"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
}

func testResumeMessages(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
	lease := micro(time.Now().Add(time.Minute))
	// Per event: ep1's message in the status given, and a disabled
	// message of ep2.
	for i, st := range []dispatcher.Status{
		dispatcher.StatusDisabled, dispatcher.StatusPending, dispatcher.StatusDisabled,
		dispatcher.StatusFailed, dispatcher.StatusSucceeded, dispatcher.StatusDelivering,
		dispatcher.StatusDisabled,
	} {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
		// Ids that do not sort in the order the messages were made.
		m := message(fmt.Sprintf("msg_%d_ep1", 7-i), ev, ep1)
		m.Status, m.Attempts = st, i
		if st != dispatcher.StatusPending {
			m.NextAttemptAt = nil
		}
		if st == dispatcher.StatusDelivering || i == 6 {
			m.LeaseUntil = &lease // a stale lease on the last disabled one
		}
		other := message(fmt.Sprintf("msg_%d_ep2", i), ev, ep2)
		other.Status, other.NextAttemptAt = dispatcher.StatusDisabled, nil
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m, other})
		require.NoError(t, err)
	}
	before, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
	require.NoError(t, err)
	require.Len(t, before, 14)

	at := micro(time.Now().Add(10 * time.Second))
	start := micro(time.Now())
	got, err := s.ResumeMessages(ctx, "ep1", at)
	require.NoError(t, err)
	resumed := []string{"msg_1_ep1", "msg_5_ep1", "msg_7_ep1"}
	require.Equal(t, resumed, ids(got, func(m dispatcher.Message) string { return m.ID }))
	for _, m := range got {
		require.Equal(t, dispatcher.StatusPending, m.Status)
		require.Equal(t, &at, m.NextAttemptAt)
		require.Nil(t, m.LeaseUntil)
		require.False(t, m.UpdatedAt.Before(start), "updated_at is now")
		stored, err := s.Message(ctx, m.ID)
		require.NoError(t, err)
		require.Equal(t, m, stored)
	}
	// Everything else is as it was, ep2's disabled messages included.
	for _, m := range before {
		if slices.Contains(resumed, m.ID) {
			want := m
			want.Status, want.NextAttemptAt, want.LeaseUntil = dispatcher.StatusPending, &at, nil
			stored, err := s.Message(ctx, m.ID)
			require.NoError(t, err)
			want.UpdatedAt = stored.UpdatedAt
			require.Equal(t, want, stored, "attempts and the rest are kept")
			continue
		}
		stored, err := s.Message(ctx, m.ID)
		require.NoError(t, err)
		require.Equal(t, m, stored)
	}
	// Due at at.
	due, err := s.DueMessages(ctx, at.Add(time.Microsecond), 100)
	require.NoError(t, err)
	for _, id := range resumed {
		require.Contains(t, ids(due, func(m dispatcher.Message) string { return m.ID }), id)
	}

	got, err = s.ResumeMessages(ctx, "ep1", at)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = s.ResumeMessages(ctx, "nobody", at)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testRetryMessage(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ep := endpoint("ep1", "acme")
	statuses := []dispatcher.Status{dispatcher.StatusFailed, dispatcher.StatusSucceeded, dispatcher.StatusDisabled, dispatcher.StatusPending}
	for i, st := range statuses {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
		m := message(fmt.Sprintf("msg_%d", i), ev, ep)
		m.Status, m.Attempts = st, 3
		m.LastStatusCode, m.LastErrorClass = 500, dispatcher.ErrorHTTPStatus
		if st != dispatcher.StatusPending {
			m.NextAttemptAt = nil
		}
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
		require.NoError(t, err)
	}
	at := micro(time.Now().Add(time.Second))
	for i := range statuses {
		id := fmt.Sprintf("msg_%d", i)
		before, err := s.Message(ctx, id)
		require.NoError(t, err)
		start := micro(time.Now())
		got, err := s.RetryMessage(ctx, id, at)
		require.NoError(t, err, statuses[i])
		want := before
		want.Status, want.NextAttemptAt, want.LeaseUntil = dispatcher.StatusPending, &at, nil
		want.UpdatedAt = got.UpdatedAt
		require.Equal(t, want, got, "attempts and the last result are kept")
		require.False(t, got.UpdatedAt.Before(start))
		stored, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, got, stored)
	}

	// Delivering with a live lease: an attempt is under way.
	_, ok, err := s.ClaimMessage(ctx, "msg_0", 3, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	before, err := s.Message(ctx, "msg_0")
	require.NoError(t, err)
	_, err = s.RetryMessage(ctx, "msg_0", at)
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	require.ErrorContains(t, err, "msg_0")
	after, err := s.Message(ctx, "msg_0")
	require.NoError(t, err)
	require.Equal(t, before, after)

	// Delivering with a lease run out: the attempt is presumed lost.
	_, ok, err = s.ClaimMessage(ctx, "msg_1", 3, time.Now().Add(-time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	got, err := s.RetryMessage(ctx, "msg_1", at)
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusPending, got.Status)
	require.Nil(t, got.LeaseUntil)

	_, err = s.RetryMessage(ctx, "nothing", at)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}
