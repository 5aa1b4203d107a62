package dispatcher_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestLateAttemptDropped checks that an attempt whose answer comes after
// its claim's lease ran out and another claim took the message, made and
// recorded its own attempt, is dropped: the message keeps the other
// claim's outcome and is not put back for another attempt.
func TestLateAttemptDropped(t *testing.T) {
	ctx := t.Context()
	st, redisOpt, client, _ := workerDeps(t)
	ms, _ := storedEvent(t, st, "", "ep_1")
	// The first claim's lease is past already when its request is made.
	first, ok, err := st.ClaimMessage(ctx, ms[0].ID, 0, time.Now().Add(-time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	var other dispatcher.Attempt
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Meanwhile another claim takes the message and records attempt 1.
		_, ok, err := st.ClaimMessage(r.Context(), first.ID, 0, time.Now().Add(time.Minute))
		if err == nil && ok {
			other = dispatcher.Attempt{ID: subscriptions.NewID("att"), MessageID: first.ID, Number: 1, Trigger: "scheduled",
				URL: "https://example.com", StartedAt: time.Now().UTC(), StatusCode: http.StatusNoContent}
			err = st.RecordAttempt(r.Context(), other, dispatcher.Outcome{Status: dispatcher.StatusSucceeded})
		}
		if err != nil || !ok {
			http.Error(w, "the other claim failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	allow, err := subscriptions.ParseDestinations("127.0.0.1/32")
	require.NoError(t, err)
	w := dispatcher.NewWorker(dispatcher.Config{Store: st, Endpoints: st, Redis: redisOpt, Queue: dispatcher.NewQueue(client, time.Minute),
		Destinations: allow})
	ep := subscriptions.Endpoint{ID: "ep_1", PartnerID: "acme", URL: srv.URL, Secret: signing.NewSecret()}

	require.NoError(t, dispatcher.DeliverClaimed(ctx, w, ep, first))
	m, err := st.Message(ctx, first.ID)
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusSucceeded, m.Status)
	require.Equal(t, 1, m.Attempts)
	require.Equal(t, http.StatusNoContent, m.LastStatusCode)
	atts, err := st.ListAttempts(ctx, first.ID, subscriptions.Page{})
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Equal(t, other.ID, atts[0].ID)
}
