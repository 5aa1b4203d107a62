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

// TestRetention checks purging old attempts and payloads, on each backend.
func TestRetention(t *testing.T) {
	exercise(t, []contractTest{
		{"PurgeAttempts", testPurgeAttempts},
		{"PurgePayloads", testPurgePayloads},
	})
}

func testPurgeAttempts(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
	require.NoError(t, err)
	base := micro(time.Now().Add(-10 * 24 * time.Hour))
	// att_00 … att_09 started a day apart, recorded out of order.
	for _, day := range []int{3, 7, 0, 9, 5, 1, 8, 2, 6, 4} {
		a := dispatcher.Attempt{ID: fmt.Sprintf("att_%02d", 9-day), MessageID: "msg1", Trigger: "scheduled",
			URL: "https://example.com", StartedAt: base.Add(time.Duration(day) * 24 * time.Hour)}
		require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending}))
	}
	msg, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	left := func() []string {
		t.Helper()
		as, err := s.SearchAttempts(ctx, dispatcher.AttemptQuery{})
		require.NoError(t, err)
		return ids(as, func(a dispatcher.Attempt) string { return a.ID })
	}

	// Those that started before day 6, three at a time, oldest first.
	cutoff := base.Add(6 * 24 * time.Hour)
	n, err := s.PurgeAttempts(ctx, cutoff, 3)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, []string{"att_06", "att_05", "att_04", "att_03", "att_02", "att_01", "att_00"}, left())
	n, err = s.PurgeAttempts(ctx, cutoff, 3)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = s.PurgeAttempts(ctx, cutoff, 3)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	require.Equal(t, []string{"att_03", "att_02", "att_01", "att_00"}, left())
	_, err = s.Attempt(ctx, "att_09")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// The message stays as it was.
	stored, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, msg, stored)
	require.Equal(t, 10, stored.Attempts)

	// Limit 0 is 50: all the rest.
	n, err = s.PurgeAttempts(ctx, time.Now(), 0)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Empty(t, left())
}

func testPurgePayloads(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	base := micro(time.Now().Add(-10 * 24 * time.Hour))
	msg, beforeAll := purgedPayloadsFixture(t, s, base)

	// Those created before day 5, two at a time, oldest first.
	cutoff := base.Add(5 * 24 * time.Hour)
	start := micro(time.Now())
	n, err := s.PurgePayloads(ctx, cutoff, 2)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"evt_08", "evt_09"}, purgedOf(t, s, beforeAll))
	for _, want := range []int{2, 1} {
		n, err = s.PurgePayloads(ctx, cutoff, 2)
		require.NoError(t, err)
		require.Equal(t, want, n)
	}
	n, err = s.PurgePayloads(ctx, cutoff, 2)
	require.NoError(t, err)
	require.Equal(t, 0, n, "purged events are not purged again")
	require.Equal(t, []string{"evt_05", "evt_06", "evt_07", "evt_08", "evt_09"}, purgedOf(t, s, beforeAll))

	checkPurgedEvents(t, s, beforeAll, start)
	stored, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, msg, stored, "messages stay")

	// Limit 0 is 50: all the rest.
	n, err = s.PurgePayloads(ctx, time.Now(), 0)
	require.NoError(t, err)
	require.Equal(t, 5, n)
}

// purgedPayloadsFixture stores evt_00 … evt_09, created a day apart from
// base on (evt_09 first), out of order, and a message of evt_09, msg1. It
// returns the message and the events, by id, as stored.
func purgedPayloadsFixture(t *testing.T, s *store.Store, base time.Time) (dispatcher.Message, map[string]dispatcher.Event) {
	t.Helper()
	ctx := t.Context()
	var evs []dispatcher.Event
	for _, day := range []int{3, 7, 0, 9, 5, 1, 8, 2, 6, 4} {
		e := event(fmt.Sprintf("evt_%02d", 9-day))
		e.CreatedAt = base.Add(time.Duration(day) * 24 * time.Hour)
		evs = append(evs, e)
	}
	_, err := s.InsertEvents(ctx, evs)
	require.NoError(t, err)
	_, err = s.FanOut(ctx, "evt_09", []dispatcher.Message{message("msg1", evs[2], endpoint("ep1", "acme"))})
	require.NoError(t, err)
	msg, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	beforeAll := map[string]dispatcher.Event{}
	for _, e := range evs {
		stored, err := s.Event(ctx, e.ID)
		require.NoError(t, err)
		require.Nil(t, stored.PurgedAt)
		beforeAll[e.ID] = stored
	}
	return msg, beforeAll
}

// purgedOf returns the ids of the events of beforeAll that are purged now,
// in order.
func purgedOf(t *testing.T, s *store.Store, beforeAll map[string]dispatcher.Event) []string {
	t.Helper()
	var out []string
	for id := range beforeAll {
		e, err := s.Event(t.Context(), id)
		require.NoError(t, err)
		if e.PurgedAt != nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// checkPurgedEvents checks that the events of beforeAll not purged are as
// they were, and that those purged, since start, keep all but their data,
// as Event and ListEvents return them.
func checkPurgedEvents(t *testing.T, s *store.Store, beforeAll map[string]dispatcher.Event, start time.Time) {
	t.Helper()
	ctx := t.Context()
	for id, before := range beforeAll {
		e, err := s.Event(ctx, id)
		require.NoError(t, err)
		if e.PurgedAt == nil {
			require.Equal(t, before, e)
			continue
		}
		require.False(t, e.PurgedAt.Before(start))
		require.False(t, e.PurgedAt.After(time.Now()))
		require.Equal(t, `{}`, string(e.Data))
		// The summary stays.
		want := before
		want.Data, want.PurgedAt = json.RawMessage(`{}`), e.PurgedAt
		require.Equal(t, want, e)
	}
	es, err := s.ListEvents(ctx, dispatcher.EventQuery{})
	require.NoError(t, err)
	for _, e := range es {
		require.Equal(t, slices.Contains(purgedOf(t, s, beforeAll), e.ID), e.PurgedAt != nil, e.ID)
	}
}
