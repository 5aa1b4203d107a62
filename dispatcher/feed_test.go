package dispatcher

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store/storetest"
)

func TestFeedEnvelope(t *testing.T) {
	occurred := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := Event{ID: "evt_1", Type: "shipment.milestone.departed", OccurredAt: occurred,
		Shipment: Shipment{ID: "SHP-1"}, Parties: []Party{{PartnerID: "acme", Role: "shipper"}},
		Data: json.RawMessage(`{"vessel":"Ever Given"}`)}
	purged := occurred.Add(time.Hour)
	for _, tc := range []struct {
		name string
		item FeedItem
		want string
	}{
		{"the webhook body with the message id", FeedItem{Message: Message{ID: "msg_1", PartnerID: "acme"}, Event: ev},
			`{"id":"msg_1","type":"shipment.milestone.departed","timestamp":"2026-03-01T12:00:00Z","data":{"event_id":"evt_1","shipment":{"id":"SHP-1"},"role":"shipper","vessel":"Ever Given"}}`},
		{"with a sequence", FeedItem{Message: Message{ID: "msg_1", PartnerID: "acme", Sequence: 7}, Event: ev},
			`{"id":"msg_1","sequence":7,"type":"shipment.milestone.departed","timestamp":"2026-03-01T12:00:00Z","data":{"event_id":"evt_1","shipment":{"id":"SHP-1"},"role":"shipper","vessel":"Ever Given"}}`},
		{"a purged payload, marked", FeedItem{Message: Message{ID: "msg_1", PartnerID: "erp"},
			Event: Event{ID: "evt_1", Type: ev.Type, OccurredAt: occurred, Shipment: ev.Shipment, Data: json.RawMessage(`{}`), PurgedAt: &purged}},
			`{"id":"msg_1","payload_purged":true,"type":"shipment.milestone.departed","timestamp":"2026-03-01T12:00:00Z","data":{"event_id":"evt_1","shipment":{"id":"SHP-1"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.item.Envelope()
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
			body, err := payload(tc.item.Event, tc.item.Message)
			require.NoError(t, err)
			var env, hook map[string]any
			require.NoError(t, json.Unmarshal(got, &env))
			require.NoError(t, json.Unmarshal(body, &hook))
			for k, v := range hook {
				require.Equal(t, v, env[k], "the envelope carries the webhook body's %s", k)
			}
		})
	}
}

// feedPages is a FeedStore whose feed is empty until filled.
type feedPages struct {
	mu    sync.Mutex
	items []FeedItem
	reads int
}

func (f *feedPages) ReadFeed(_ context.Context, q FeedQuery) (FeedPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return FeedPage{Items: f.items, Acknowledged: 1}, nil
}

func (f *feedPages) fill(items ...FeedItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = items
}

// TestFeedWait checks that a waiting read answers when the bell rings, in
// another process's bell through Redis, and looks again without one.
func TestFeedWait(t *testing.T) {
	opt, err := redis.ParseURL(storetest.Redis(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	here, there := NewFeedBell(rdb), NewFeedBell(rdb)
	t.Cleanup(here.Listen())

	t.Run("a ring from another process wakes the read", func(t *testing.T) {
		st := &feedPages{}
		done := make(chan FeedPage)
		go func() {
			page, err := Feed{Store: st, Bell: here}.Read(t.Context(), FeedQuery{EndpointID: "ep_1", Limit: 10}, 10*time.Second)
			require.NoError(t, err)
			done <- page
		}()
		time.Sleep(100 * time.Millisecond)
		st.fill(FeedItem{Position: 1})
		there.Ring("ep_2", "ep_1")
		select {
		case page := <-done:
			require.Len(t, page.Items, 1)
			require.Equal(t, 1, page.Acknowledged, "the acknowledgement of the first read is kept")
		case <-time.After(feedRecheck / 2):
			t.Fatal("the ring did not wake the read before its database re-check")
		}
	})
	t.Run("without a ring, the read looks again each feedRecheck", func(t *testing.T) {
		st := &feedPages{}
		done := make(chan FeedPage)
		go func() {
			page, err := Feed{Store: st, Bell: NewFeedBell(nil)}.Read(t.Context(), FeedQuery{EndpointID: "ep_1", Limit: 10}, 10*time.Second)
			require.NoError(t, err)
			done <- page
		}()
		time.Sleep(100 * time.Millisecond)
		st.fill(FeedItem{Position: 1})
		select {
		case page := <-done:
			require.Len(t, page.Items, 1)
		case <-time.After(3 * feedRecheck):
			t.Fatal("the read did not look again")
		}
	})
	t.Run("a read stops waiting when the process stops", func(t *testing.T) {
		stopping := make(chan struct{})
		done := make(chan FeedPage)
		go func() {
			page, err := Feed{Store: &feedPages{}, Bell: here, Stopping: stopping}.Read(t.Context(), FeedQuery{EndpointID: "ep_4", Limit: 10}, 30*time.Second)
			require.NoError(t, err)
			done <- page
		}()
		time.Sleep(50 * time.Millisecond)
		close(stopping)
		select {
		case page := <-done:
			require.Empty(t, page.Items)
		case <-time.After(feedRecheck / 2):
			t.Fatal("the read kept waiting")
		}
	})
	t.Run("an empty page once the wait is over", func(t *testing.T) {
		st := &feedPages{}
		page, err := Feed{Store: st, Bell: here}.Read(t.Context(), FeedQuery{EndpointID: "ep_3", Limit: 10}, 50*time.Millisecond)
		require.NoError(t, err)
		require.Empty(t, page.Items)
		require.GreaterOrEqual(t, st.reads, 2, "read once more at the end of the wait")
	})
}
