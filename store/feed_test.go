package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

func TestFeeds(t *testing.T) {
	exercise(t, []contractTest{
		{"Numbering", testFeedNumbering},
		{"Acknowledgement", testFeedAcknowledgement},
		{"LateCommit", testFeedLateCommit},
		{"ConcurrentFanOuts", testFeedConcurrentFanOuts},
		{"BadCursor", testFeedBadCursor},
		{"Plans", testFeedPlans},
		{"EndpointKind", testEndpointKind},
		{"PurgedPayload", testFeedPurgedPayload},
		{"Sequence", testFeedSequence},
	})
}

// pullMessage is message for a pull endpoint, as fan-out makes it.
func pullMessage(id string, e dispatcher.Event, ep subscriptions.Endpoint) dispatcher.Message {
	m := message(id, e, ep)
	m.NextAttemptAt, m.Pull = nil, true
	return m
}

// readFeed reads ep's feed after after (nil: from the first unread).
func readFeed(t *testing.T, s *store.Store, ep string, after *int64, limit int) dispatcher.FeedPage {
	t.Helper()
	page, err := s.ReadFeed(t.Context(), dispatcher.FeedQuery{EndpointID: ep, After: after, Limit: limit})
	require.NoError(t, err)
	return page
}

func feedIDs(page dispatcher.FeedPage) []string {
	return ids(page.Items, func(it dispatcher.FeedItem) string { return it.ID })
}

func feedPositions(page dispatcher.FeedPage) []int64 {
	return ids(page.Items, func(it dispatcher.FeedItem) int64 { return it.Position })
}

// fanOutPull stores events evt_<from>… evt_<from+n-1>, each fanned out to
// the pull endpoint pull as pmsg_<i> and to the webhook endpoint hook as
// wmsg_<i>, and returns the pull messages' ids.
func fanOutPull(t *testing.T, s *store.Store, from, n int) []string {
	t.Helper()
	pull, hook := endpoint("pull", "acme"), endpoint("hook", "acme")
	var out []string
	for i := from; i < from+n; i++ {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%04d", i)))
		id := fmt.Sprintf("pmsg_%04d", i)
		_, err := s.FanOut(t.Context(), ev.ID, []dispatcher.Message{pullMessage(id, ev, pull), message(fmt.Sprintf("wmsg_%04d", i), ev, hook)})
		require.NoError(t, err)
		out = append(out, id)
	}
	return out
}

func testFeedNumbering(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	want := fanOutPull(t, s, 0, 5)

	// A pull message is pending with no next attempt; a webhook message
	// is stored as it always was.
	m, err := s.Message(ctx, want[0])
	require.NoError(t, err)
	require.Equal(t, dispatcher.StatusPending, m.Status)
	require.Nil(t, m.NextAttemptAt)
	require.True(t, m.Unread())
	w, err := s.Message(ctx, "wmsg_0000")
	require.NoError(t, err)
	require.NotNil(t, w.NextAttemptAt)
	require.False(t, w.Unread())
	due, err := s.DueMessages(ctx, time.Now().Add(time.Hour), 100)
	require.NoError(t, err)
	for _, d := range due {
		require.NotEqual(t, "pull", d.EndpointID, "a pull message is never due")
	}

	page := readFeed(t, s, "pull", nil, 3)
	require.Equal(t, want[:3], feedIDs(page))
	require.Equal(t, []int64{1, 2, 3}, feedPositions(page))
	require.Equal(t, int64(3), page.Next)
	require.Zero(t, page.Acknowledged)
	require.Equal(t, "evt_0000", page.Items[0].Event.ID)
	require.Equal(t, "shipment.created", page.Items[0].Event.Type)

	// Read again without a cursor: the same, nothing acknowledged.
	require.Equal(t, want[:3], feedIDs(readFeed(t, s, "pull", nil, 3)))
	// A larger page numbers the rest, in id order.
	page = readFeed(t, s, "pull", nil, 10)
	require.Equal(t, want, feedIDs(page))
	require.Equal(t, []int64{1, 2, 3, 4, 5}, feedPositions(page))
	// The webhook endpoint has no feed.
	require.Empty(t, readFeed(t, s, "hook", nil, 10).Items)
}

func testFeedAcknowledgement(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	want := fanOutPull(t, s, 0, 5)
	first := readFeed(t, s, "pull", nil, 2)
	require.Equal(t, want[:2], feedIDs(first))

	at := time.Now()
	page, err := s.ReadFeed(ctx, dispatcher.FeedQuery{EndpointID: "pull", After: &first.Next, Limit: 2, At: at})
	require.NoError(t, err)
	require.Equal(t, 2, page.Acknowledged)
	require.Equal(t, want[2:4], feedIDs(page))
	for _, id := range want[:2] {
		m, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, dispatcher.StatusSucceeded, m.Status)
		require.Equal(t, 1, m.Attempts)
		atts, err := s.ListAttempts(ctx, id, subscriptions.Page{})
		require.NoError(t, err)
		require.Len(t, atts, 1)
		require.Equal(t, "read", atts[0].Trigger)
		require.Equal(t, 200, atts[0].StatusCode)
		require.Equal(t, 1, atts[0].Number)
		require.Equal(t, micro(at), atts[0].StartedAt)
	}
	for _, id := range want[2:] {
		m, err := s.Message(ctx, id)
		require.NoError(t, err)
		require.Equal(t, dispatcher.StatusPending, m.Status, "not acknowledged yet")
	}
	// The same cursor again acknowledges nothing more and gives the same page.
	again := readFeed(t, s, "pull", &first.Next, 2)
	require.Zero(t, again.Acknowledged)
	require.Equal(t, want[2:4], feedIDs(again))
	// Without a cursor: from the first unacknowledged.
	require.Equal(t, want[2:], feedIDs(readFeed(t, s, "pull", nil, 10)))
	// Re-reading from the start gives what was read before, acknowledged.
	zero := int64(0)
	require.Equal(t, want, feedIDs(readFeed(t, s, "pull", &zero, 10)))
	// Acknowledging the end leaves an empty page whose cursor stays.
	end := readFeed(t, s, "pull", &page.Next, 10)
	require.Equal(t, want[4:], feedIDs(end))
	last := readFeed(t, s, "pull", &end.Next, 10)
	require.Empty(t, last.Items)
	require.Equal(t, end.Next, last.Next)
	require.Equal(t, 1, last.Acknowledged)
}

// testFeedLateCommit stores a message whose id is older than one already
// numbered, as a fan-out that commits late does: it is numbered after it
// and read, never passed by.
func testFeedLateCommit(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	pull := endpoint("pull", "acme")
	late := insertEvent(t, s, event("evt_late"))
	early := insertEvent(t, s, event("evt_early"))
	_, err := s.FanOut(ctx, early.ID, []dispatcher.Message{pullMessage("pmsg_2", early, pull)})
	require.NoError(t, err)
	page := readFeed(t, s, "pull", nil, 10)
	require.Equal(t, []string{"pmsg_2"}, feedIDs(page))

	_, err = s.FanOut(ctx, late.ID, []dispatcher.Message{pullMessage("pmsg_1", late, pull)})
	require.NoError(t, err)
	next := readFeed(t, s, "pull", &page.Next, 10)
	require.Equal(t, []string{"pmsg_1"}, feedIDs(next), "a message with an older id that committed later is read next")
	require.Equal(t, []int64{2}, feedPositions(next))
}

// testFeedConcurrentFanOuts fans events out to a pull endpoint from many
// goroutines while a reader reads and acknowledges: every message is read
// once, in position order, none passed by.
func testFeedConcurrentFanOuts(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	pull := endpoint("pull", "acme")
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ev := event(fmt.Sprintf("evt_%d_%03d", w, i))
				ev.Messages = []dispatcher.Message{pullMessage(fmt.Sprintf("pmsg_%d_%03d", w, i), ev, pull)}
				if i%2 == 0 { // half stored with their event, half by FanOut
					if _, err := s.InsertEvents(ctx, []dispatcher.Event{ev}); err != nil {
						t.Error(err)
					}
					continue
				}
				msgs := ev.Messages
				ev.Messages = nil
				if _, err := s.InsertEvents(ctx, []dispatcher.Event{ev}); err != nil {
					t.Error(err)
					continue
				}
				if _, err := s.FanOut(ctx, ev.ID, msgs); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]int{}
	var cursor *int64
	var lastPos int64
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		page := readFeed(t, s, "pull", cursor, 7)
		for _, it := range page.Items {
			require.Equal(t, lastPos+1, it.Position, "positions follow one another")
			lastPos = it.Position
			seen[it.ID]++
		}
		next := page.Next
		cursor = &next
		if finished && len(page.Items) == 0 {
			break
		}
		// A reader polls; one that never pauses keeps SQLite's one writer
		// busy with its reads (each a write), and the writers time out.
		time.Sleep(5 * time.Millisecond)
	}
	require.Len(t, seen, writers*each)
	for id, n := range seen {
		require.Equal(t, 1, n, "message %s read once", id)
	}
	unread, err := s.ListMessages(ctx, dispatcher.MessageQuery{EndpointID: "pull", Status: dispatcher.StatusPending, Page: subscriptions.Page{Limit: 250}})
	require.NoError(t, err)
	require.Empty(t, unread, "every message read was acknowledged by the next read")
}

func testFeedBadCursor(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	fanOutPull(t, s, 0, 2)
	readFeed(t, s, "pull", nil, 10)
	for _, after := range []int64{3, -1} {
		_, err := s.ReadFeed(ctx, dispatcher.FeedQuery{EndpointID: "pull", After: &after, Limit: 10})
		var de *subscriptions.Error
		require.True(t, errors.As(err, &de), "after %d: %v", after, err)
		require.Equal(t, "invalid_cursor", de.Code)
	}
	// Nothing was acknowledged by the bad reads.
	require.Len(t, readFeed(t, s, "pull", nil, 10).Items, 2)
}

// testFeedPlans checks that a feed's queries read the indexes made for
// them, with a webhook endpoint's many messages beside a pull endpoint's.
func testFeedPlans(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	hook := endpoint("hook", "acme")
	pulls := []subscriptions.Endpoint{endpoint("pull", "acme"), endpoint("pull2", "acme"), endpoint("pull3", "acme"), endpoint("pull4", "acme")}
	for from := 0; from < 4000; from += 500 {
		var evs []dispatcher.Event
		for i := from; i < from+500; i++ {
			ev := event(fmt.Sprintf("evt_%04d", i))
			ev.Messages = []dispatcher.Message{message(fmt.Sprintf("wmsg_%04d", i), ev, hook),
				pullMessage(fmt.Sprintf("pmsg_%04d", i), ev, pulls[i%len(pulls)])}
			evs = append(evs, ev)
		}
		_, err := s.InsertEvents(ctx, evs)
		require.NoError(t, err)
	}
	for _, ep := range pulls {
		page := readFeed(t, s, ep.ID, nil, 500)
		readFeed(t, s, ep.ID, &page.Next, 300)
	}
	require.NoError(t, store.Analyze(ctx, s))
	plans, err := store.FeedPlans(ctx, s, "pull")
	require.NoError(t, err)
	for name, plan := range plans {
		t.Logf("%s: %s", name, plan)
	}
	want := map[string][]string{
		"postgres": {"acknowledge", "feed_entries_pkey", "number", "messages_unread", "number", "feed_entries_pkey",
			"page", "feed_entries_pkey", "unread", "messages_unread"},
		"sqlite": {"acknowledge", "sqlite_autoindex_feed_entries", "number", "messages_unread", "number", "sqlite_autoindex_feed_entries",
			"page", "sqlite_autoindex_feed_entries", "unread", "messages_unread"},
	}[string(db)]
	for i := 0; i < len(want); i += 2 {
		require.Contains(t, plans[want[i]], want[i+1], "%s: %s", want[i], plans[want[i]])
	}
	require.NotContains(t, plans["page"], "TEMP B-TREE")
	for _, plan := range plans {
		require.NotContains(t, plan, "Seq Scan")
		require.NotContains(t, plan, "SCAN ")
	}
}

// testEndpointKind stores a pull endpoint: its kind is read back by every
// read of endpoints, and no update changes it.
func testEndpointKind(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	pull := endpoint("pull", "acme")
	pull.Kind, pull.URL = subscriptions.KindPull, ""
	require.NoError(t, s.CreateEndpoint(ctx, pull))
	require.NoError(t, s.CreateEndpoint(ctx, endpoint("hook", "acme")))
	got, err := s.Endpoint(ctx, "pull")
	require.NoError(t, err)
	require.Equal(t, subscriptions.KindPull, got.Kind)
	got.Kind, got.Description = subscriptions.KindWebhook, "changed"
	require.NoError(t, s.UpdateEndpoint(ctx, got))
	got, err = s.Endpoint(ctx, "pull")
	require.NoError(t, err)
	require.Equal(t, subscriptions.KindPull, got.Kind, "the kind never changes")
	require.Equal(t, "changed", got.Description)
	_, eps, err := s.PartnerEndpoints(ctx, "acme")
	require.NoError(t, err)
	kinds := map[string]subscriptions.EndpointKind{}
	for _, e := range eps {
		kinds[e.ID] = e.Kind
	}
	require.Equal(t, map[string]subscriptions.EndpointKind{"pull": subscriptions.KindPull, "hook": subscriptions.KindWebhook}, kinds)
}

// testFeedPurgedPayload reads a message whose event's payload retention
// emptied: the message is still in the feed, its event marked purged.
func testFeedPurgedPayload(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	want := fanOutPull(t, s, 0, 2)
	n, err := s.PurgePayloads(ctx, time.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	page := readFeed(t, s, "pull", nil, 10)
	require.Equal(t, want, feedIDs(page))
	for _, it := range page.Items {
		require.NotNil(t, it.Event.PurgedAt, "message %s", it.ID)
		env, err := it.Envelope()
		require.NoError(t, err)
		require.Contains(t, string(env), `"payload_purged":true`)
	}
}

// testFeedSequence checks that a pull endpoint ordered by shipment gives
// each message, as it numbers it into the feed, the next sequence of its
// shipment, and that an unordered one gives none.
func testFeedSequence(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	pull, plain := endpoint("pull", "acme"), endpoint("plain", "acme")
	for i, shp := range []string{"A", "B", "A", "A", "B", "A"} {
		e := event(fmt.Sprintf("evt_%d", i))
		e.Shipment.ID = "SHP-" + shp
		ev := insertEvent(t, s, e)
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{pullMessage(fmt.Sprintf("pmsg_%d", i), ev, pull),
			pullMessage(fmt.Sprintf("qmsg_%d", i), ev, plain)})
		require.NoError(t, err)
	}
	sequences := func(page dispatcher.FeedPage) []string {
		return ids(page.Items, func(it dispatcher.FeedItem) string { return fmt.Sprintf("%s#%d", it.ShipmentID, it.Sequence) })
	}
	page, err := s.ReadFeed(ctx, dispatcher.FeedQuery{EndpointID: "pull", Limit: 4, Ordered: true})
	require.NoError(t, err)
	require.Equal(t, []string{"SHP-A#1", "SHP-B#1", "SHP-A#2", "SHP-A#3"}, sequences(page))
	page, err = s.ReadFeed(ctx, dispatcher.FeedQuery{EndpointID: "pull", After: &page.Next, Limit: 4, Ordered: true})
	require.NoError(t, err)
	require.Equal(t, []string{"SHP-B#2", "SHP-A#4"}, sequences(page), "numbers go on from the page before")
	again, err := s.ReadFeed(ctx, dispatcher.FeedQuery{EndpointID: "pull", Limit: 4, Ordered: true})
	require.NoError(t, err)
	require.Equal(t, sequences(page), sequences(again), "a message read again keeps its sequence")
	m, err := s.Message(ctx, "pmsg_5")
	require.NoError(t, err)
	require.EqualValues(t, 4, m.Sequence, "the log shows it")

	page, err = s.ReadFeed(ctx, dispatcher.FeedQuery{EndpointID: "plain", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"SHP-A#0", "SHP-B#0", "SHP-A#0", "SHP-A#0", "SHP-B#0", "SHP-A#0"}, sequences(page))
}
