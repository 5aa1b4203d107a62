package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
)

// TestBacklog checks the backlog that the metrics sample, on each backend.
func TestBacklog(t *testing.T) {
	exercise(t, []contractTest{
		{"Backlog", testBacklog},
	})
}

func testBacklog(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	b, err := s.Backlog(ctx)
	require.NoError(t, err)
	require.Equal(t, dispatcher.Backlog{}, b, "an empty database")

	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	for _, id := range []string{"ep1", "ep2"} {
		require.NoError(t, s.CreateEndpoint(ctx, endpoint(id, "acme")))
	}
	_, err = s.DisableEndpoint(ctx, "ep2", "gone")
	require.NoError(t, err)

	now := micro(time.Now())
	overdue, later, lease := now.Add(-90*time.Second), now.Add(time.Hour), now.Add(time.Minute)
	ep := endpoint("ep1", "acme")
	for id, set := range map[string]func(m *dispatcher.Message){
		"overdue":    func(m *dispatcher.Message) { m.NextAttemptAt = &overdue },
		"later":      func(m *dispatcher.Message) { m.NextAttemptAt = &later },
		"held":       func(m *dispatcher.Message) { m.Status, m.NextAttemptAt = dispatcher.StatusHeld, nil },
		"delivering": func(m *dispatcher.Message) { m.Status, m.LeaseUntil = dispatcher.StatusDelivering, &lease },
		"failed":     func(*dispatcher.Message) {},
		"succeeded":  func(*dispatcher.Message) {},
	} {
		ev := insertEvent(t, s, event("evt_"+id))
		m := message("msg_"+id, ev, ep)
		set(&m)
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
		require.NoError(t, err)
	}
	for id, status := range map[string]dispatcher.Status{"msg_failed": dispatcher.StatusFailed, "msg_succeeded": dispatcher.StatusSucceeded} {
		require.NoError(t, s.SetMessageStatus(ctx, id, dispatcher.Outcome{Status: status}))
	}

	b, err = s.Backlog(ctx)
	require.NoError(t, err)
	require.Equal(t, dispatcher.Backlog{Pending: 2, Held: 1, Delivering: 1, Failed: 1, OldestDue: &overdue, DisabledEndpoints: 1}, b)
}

// TestBacklogPlan checks that SQLite reads the backlog's counts from the
// partial indexes of their statuses, and the earliest due time from
// messages_due, never the whole table.
func TestBacklogPlan(t *testing.T) {
	s, err := store.Open(t.Context(), storetest.SQLite(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.Migrate(t.Context()))
	plan, err := store.BacklogPlan(t.Context(), s)
	require.NoError(t, err)
	for _, index := range []string{"messages_due", "messages_held", "messages_leases", "messages_failed"} {
		require.Contains(t, plan, "INDEX "+index, plan)
	}
	require.NotContains(t, plan, "SCAN messages;", plan)
	require.NotContains(t, plan, "TEMP B-TREE", plan)
	t.Log(plan)
}
