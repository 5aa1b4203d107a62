package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

func TestLabels(t *testing.T) {
	exercise(t, []contractTest{
		{"EndpointsAndPartners", testEndpointLabels},
		{"LastErrors", testLastErrors},
		{"PartnersHealth", testPartnersHealth},
		{"Plans", testLabelPlans},
	})
}

// testEndpointLabels reads the labels of endpoints and the names of
// partners by id; those deleted, and unknown ids, are left out.
func testEndpointLabels(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	for _, p := range []string{"acme", "globex", "gone"} {
		require.NoError(t, s.CreatePartner(ctx, partner(p)))
	}
	hook := endpoint("ep_hook", "acme")
	hook.Description = "Acme TMS"
	pull := endpoint("ep_pull", "globex")
	pull.Kind, pull.URL = subscriptions.KindPull, ""
	for _, e := range []subscriptions.Endpoint{hook, pull, endpoint("ep_old", "acme")} {
		require.NoError(t, s.CreateEndpoint(ctx, e))
	}
	require.NoError(t, s.DeleteEndpoint(ctx, "ep_old"))
	require.NoError(t, s.DeletePartner(ctx, "gone"))

	labels, err := s.EndpointLabels(ctx, []string{"ep_hook", "ep_pull", "ep_old", "ep_hook", "ep_none", ""})
	require.NoError(t, err)
	require.Equal(t, map[string]subscriptions.EndpointLabel{
		"ep_hook": {ID: "ep_hook", PartnerID: "acme", Kind: subscriptions.KindWebhook, URL: hook.URL, Description: "Acme TMS"},
		"ep_pull": {ID: "ep_pull", PartnerID: "globex", Kind: subscriptions.KindPull},
	}, labels)

	names, err := s.PartnerNames(ctx, []string{"acme", "globex", "gone", "acme"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"acme": "Partner acme", "globex": "Partner globex"}, names)

	labels, err = s.EndpointLabels(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, labels)
}

// testLastErrors reads the error of each message's last attempt when it
// failed; a message whose last attempt succeeded, or that has none, is
// left out.
func testLastErrors(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	ev := insertEvent(t, s, event("evt_1"))
	ep := endpoint("ep1", "acme")
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_failed", ev, ep), message("msg_recovered", ev, endpoint("ep2", "acme")),
		message("msg_new", ev, endpoint("ep3", "acme"))})
	require.NoError(t, err)
	attempt := func(id, msg string, number, code int, class dispatcher.ErrorClass, text string) {
		a := fencedAttempt(id, msg, number, code)
		a.ErrorClass, a.Error = class, text
		recordClaimed(t, s, a, dispatcher.Outcome{Status: dispatcher.StatusPending})
	}
	attempt("att_1", "msg_failed", 1, 0, dispatcher.ErrorTimeout, "context deadline exceeded")
	attempt("att_2", "msg_failed", 2, 503, dispatcher.ErrorHTTPStatus, "HTTP 503 Service Unavailable")
	attempt("att_3", "msg_recovered", 1, 0, dispatcher.ErrorConnect, "connection refused")
	attempt("att_4", "msg_recovered", 2, 200, dispatcher.ErrorNone, "")

	got, err := s.LastErrors(ctx, []string{"msg_failed", "msg_recovered", "msg_new", "msg_none"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"msg_failed": "HTTP 503 Service Unavailable"}, got)
}

// testPartnersHealth sums up each partner's endpoints and finds its
// oldest message not yet delivered.
func testPartnersHealth(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	for _, p := range []string{"acme", "globex", "idle"} {
		require.NoError(t, s.CreatePartner(ctx, partner(p)))
	}
	since := micro(time.Now().Add(-time.Hour))
	failing, disabled := endpoint("ep_a1", "acme"), endpoint("ep_a3", "acme")
	failing.FailingSince = &since
	disabled.Disabled, disabled.DisabledReason = true, "manual"
	for _, e := range []subscriptions.Endpoint{failing, endpoint("ep_a2", "acme"), disabled, endpoint("ep_g1", "globex")} {
		require.NoError(t, s.CreateEndpoint(ctx, e))
	}
	old := micro(time.Now().Add(-30 * time.Minute))
	ev := insertEvent(t, s, event("evt_1"))
	pending, held, done := message("msg_1", ev, failing), message("msg_2", ev, endpoint("ep_a2", "acme")), message("msg_3", ev, endpoint("ep_g1", "globex"))
	pending.CreatedAt, held.Status, held.NextAttemptAt = old, dispatcher.StatusHeld, nil
	done.Status, done.NextAttemptAt = dispatcher.StatusSucceeded, nil
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{pending, held, done})
	require.NoError(t, err)

	got, err := s.PartnersHealth(ctx, []string{"acme", "globex", "idle", "none"})
	require.NoError(t, err)
	require.Equal(t, map[string]subscriptions.PartnerHealth{
		"acme":   {Endpoints: 3, EndpointsFailing: 1, EndpointsDisabled: 1, OldestPendingAt: &old},
		"globex": {Endpoints: 1},
		"idle":   {},
		"none":   {},
	}, got)
}

// testLabelPlans checks that the reads of labels go through the indexes
// made for them, with a history of delivered messages and their attempts
// beside a small backlog: never a scan of a table.
func testLabelPlans(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	var (
		eps  []subscriptions.Endpoint
		msgs []string
	)
	for i := range 20 {
		p := fmt.Sprintf("p%02d", i)
		require.NoError(t, s.CreatePartner(ctx, partner(p)))
		for j := range 10 {
			ep := endpoint(fmt.Sprintf("ep_%02d_%d", i, j), p)
			require.NoError(t, s.CreateEndpoint(ctx, ep))
			eps = append(eps, ep)
		}
	}
	for from := 0; from < 2000; from += 500 {
		var (
			evs []dispatcher.Event
			as  []dispatcher.Attempt
			os  []dispatcher.Outcome
		)
		for i := from; i < from+500; i++ {
			ev := event(fmt.Sprintf("evt_%04d", i))
			m := message(fmt.Sprintf("msg_%04d", i), ev, eps[i%len(eps)])
			if i%100 != 0 {
				m.Status, m.NextAttemptAt = dispatcher.StatusSucceeded, nil
			}
			ev.Messages = []dispatcher.Message{m}
			evs = append(evs, ev)
			a := fencedAttempt(fmt.Sprintf("att_%04d", i), m.ID, 0, 200)
			as, os = append(as, a), append(os, dispatcher.Outcome{Status: m.Status})
			msgs = append(msgs, m.ID)
		}
		_, err := s.InsertEvents(ctx, evs)
		require.NoError(t, err)
		for _, err := range store.RecordBatch(ctx, s, as, os) {
			require.NoError(t, err)
		}
	}
	if db == "postgres" {
		// As autovacuum would; nothing runs ANALYZE on SQLite.
		require.NoError(t, store.Analyze(ctx, s))
	}
	plans, err := store.LabelPlans(ctx, s, []string{"ep_01_1", "ep_02_2"}, []string{"p01", "p02"}, msgs[:3])
	require.NoError(t, err)
	for name, plan := range plans {
		t.Logf("%s: %s", name, plan)
	}
	// PostgreSQL reads the few pages of endpoints and partners here
	// whole, as it should; their plans are checked on SQLite, which has
	// no statistics to tell it so.
	want := map[string]map[string]string{
		"postgres": {"last errors": "attempts_message"},
		"sqlite": {"endpoints": "sqlite_autoindex_endpoints_1", "partners": "sqlite_autoindex_partners_1", "last errors": "attempts_message",
			"endpoint count": "endpoints_partner", "oldest pending": "messages_due"},
	}[string(db)]
	for name, index := range want {
		require.Contains(t, plans[name], index, "%s: %s", name, plans[name])
	}
	for name, plan := range plans {
		if name == "oldest pending" && db == "sqlite" {
			// Each branch reads a partial index of the backlog whole.
			for _, index := range []string{"messages_due", "messages_held", "messages_leases"} {
				require.Contains(t, plan, "SCAN messages USING INDEX "+index, plan)
			}
			require.NotContains(t, plan, "SCAN messages;", plan)
			continue
		}
		require.NotContains(t, plan, "Seq Scan on messages", name)
		require.NotContains(t, plan, "Seq Scan on attempts", name)
		if db == "sqlite" {
			require.NotContains(t, plan, "SCAN ", name)
		}
	}
}
