package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestHealth checks the health of an endpoint, as its attempts give it, on
// each backend.
func TestHealth(t *testing.T) {
	exercise(t, []contractTest{
		{"EndpointHealth", testEndpointHealth},
	})
}

func testEndpointHealth(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	now := micro(time.Now())
	stored := healthFixture(t, s, now)
	ago := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	failure := func(id string) *dispatcher.Attempt { a := stored[id]; return &a }

	for _, tc := range []struct {
		ep   string
		want dispatcher.Health
	}{
		{"ep1", dispatcher.Health{
			AttemptsHour: 4, SucceededHour: 1, AttemptsDay: 7, SucceededDay: 2,
			ConsecutiveFailures: 3, LastSuccessAt: ago(40 * time.Minute), LastFailure: failure("att_f"),
		}},
		{"ep2", dispatcher.Health{
			AttemptsDay: 1, ConsecutiveFailures: 2, LastFailure: failure("att_g"),
		}},
		{"ep3", dispatcher.Health{
			AttemptsHour: 1, SucceededHour: 1, AttemptsDay: 2, SucceededDay: 2, LastSuccessAt: ago(time.Minute),
		}},
		{"ep4", dispatcher.Health{}},
		{"nobody", dispatcher.Health{}},
	} {
		h, err := s.EndpointHealth(ctx, tc.ep, now)
		require.NoError(t, err, tc.ep)
		require.Equal(t, tc.want, h, tc.ep)
	}

	// Later, the success after the old now ends ep1's run of
	// failures, and the day's first attempt has left the day.
	later := now.Add(15 * time.Minute)
	h, err := s.EndpointHealth(ctx, "ep1", later)
	require.NoError(t, err)
	require.Equal(t, dispatcher.Health{
		AttemptsHour: 5, SucceededHour: 2, AttemptsDay: 7, SucceededDay: 3,
		LastSuccessAt: ago(-10 * time.Minute), LastFailure: failure("att_f"),
	}, h)
	// As of long ago, only the oldest attempt had been made.
	h, err = s.EndpointHealth(ctx, "ep1", now.Add(-28*time.Hour))
	require.NoError(t, err)
	require.Equal(t, dispatcher.Health{
		AttemptsHour: 0, AttemptsDay: 1, SucceededDay: 1, LastSuccessAt: ago(30 * time.Hour),
	}, h)
}

// healthFixture fans evt_1 out to ep1 … ep4 of acme and records attempts of
// the messages of ep1, ep2 and ep3, started at times around now, and
// returns them by id as stored.
func healthFixture(t *testing.T, s *store.Store, now time.Time) map[string]dispatcher.Attempt {
	t.Helper()
	ctx := t.Context()
	ev := insertEvent(t, s, event("evt_1"))
	eps := []subscriptions.Endpoint{endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "acme"), endpoint("ep4", "acme")}
	var msgs []dispatcher.Message
	for _, ep := range eps {
		msgs = append(msgs, message("msg_"+ep.ID, ev, ep))
	}
	_, err := s.FanOut(ctx, ev.ID, msgs)
	require.NoError(t, err)

	type at struct {
		ep  string
		ago time.Duration // before now
		ok  bool
	}
	// Recorded out of time order, with ids that sort neither way.
	attempts := map[string]at{
		// ep1: successes and failures, some outside the day, the
		// last success within the hour, three failures after it,
		// and a success after now, which does not count yet.
		"att_k": {"ep1", 30 * time.Hour, true},
		"att_c": {"ep1", 26 * time.Hour, false},
		"att_h": {"ep1", 24 * time.Hour, false}, // the day's first microsecond
		"att_a": {"ep1", 10 * time.Hour, true},
		"att_m": {"ep1", 5 * time.Hour, false},
		"att_e": {"ep1", 40 * time.Minute, true},
		"att_j": {"ep1", 30 * time.Minute, false},
		"att_b": {"ep1", 20 * time.Minute, false},
		"att_f": {"ep1", 5 * time.Minute, false},
		"att_d": {"ep1", -10 * time.Minute, true},
		// ep2: never succeeded.
		"att_l": {"ep2", 72 * time.Hour, false},
		"att_g": {"ep2", 2 * time.Hour, false},
		// ep3: never failed.
		"att_i": {"ep3", 90 * time.Minute, true},
		"att_n": {"ep3", time.Minute, true},
	}
	stored := map[string]dispatcher.Attempt{}
	for id, a := range attempts {
		att := dispatcher.Attempt{ID: id, MessageID: "msg_" + a.ep, EndpointID: a.ep, PartnerID: "acme",
			Trigger: "scheduled", URL: "https://example.com/hooks/" + a.ep, StartedAt: now.Add(-a.ago),
			DurationMS: 80, StatusCode: 200}
		if !a.ok {
			att.StatusCode, att.ResponseBody = 500, "oops"
			att.ResponseHeaders = map[string]string{"Content-Type": "text/plain"}
			att.ErrorClass, att.Error = dispatcher.ErrorHTTPStatus, "500 Internal Server Error"
		}
		require.NoError(t, s.RecordAttempt(ctx, att, dispatcher.Outcome{Status: dispatcher.StatusPending}))
		atts, err := s.ListAttempts(ctx, att.MessageID, subscriptions.Page{Limit: 100})
		require.NoError(t, err)
		i := slices.IndexFunc(atts, func(a dispatcher.Attempt) bool { return a.ID == id })
		require.GreaterOrEqual(t, i, 0)
		stored[id] = atts[i]
	}
	return stored
}
