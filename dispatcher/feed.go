package dispatcher

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// A pull endpoint's messages are not sent: they wait in its feed, pending
// with no next attempt, so that nothing that schedules deliveries (the
// Queue, the reconciler's DueMessages, the deliverer, the breaker, the
// waker) ever takes one up. The partner reads them in order, by cursor,
// and reading acknowledges: a read after cursor c makes every unread
// message at or before c succeeded, the read being its attempt.
//
// Each message has a **feed position**, 1, 2, 3… in its endpoint's feed,
// given by a read under the feed's row lock to messages already
// committed, in id order (Store.ReadFeed). A message that commits late,
// after a read passed its id, is numbered after the messages that read
// numbered: a cursor never passes a message by.

// FeedQuery asks for a page of a pull endpoint's feed.
type FeedQuery struct {
	EndpointID string
	// After, when set, is the cursor: the read acknowledges every message
	// at or before that position, and reads those after it. Nil reads
	// from the first unacknowledged message and acknowledges nothing.
	After *int64
	// Limit is the most messages in the page, 1–500.
	Limit int
	// Ordered says the endpoint is ordered by shipment: each message gets
	// its sequence among its shipment's messages as it gets its position.
	Ordered bool
	// At is when the read happens: the acknowledged messages' attempt.
	At time.Time
}

// FeedItem is a message of a feed with its position and its event.
type FeedItem struct {
	Message
	Position int64
	Event    Event
}

// FeedPage is one page of a feed.
type FeedPage struct {
	Items []FeedItem
	// Next is the position of the page's last item; the position read
	// after when the page is empty.
	Next int64
	// Acknowledged counts the messages this read acknowledged.
	Acknowledged int
}

// FeedHealth is how far a pull endpoint's partner is behind in reading
// its feed.
type FeedHealth struct {
	// Unread counts the messages not yet acknowledged.
	Unread int `json:"unread"`
	// OldestUnreadAt is when the oldest of them was made; nil when none.
	OldestUnreadAt *time.Time `json:"oldest_unread_at"`
	// LastReadAt is when the feed was last read, LastAckedAt when a read
	// last acknowledged (gave a cursor); nil if never.
	LastReadAt  *time.Time `json:"last_read_at"`
	LastAckedAt *time.Time `json:"last_acknowledged_at"`
	// AckedPosition is the highest position acknowledged, LastPosition the
	// highest given to a message (0: none).
	AckedPosition int64 `json:"acknowledged_position"`
	LastPosition  int64 `json:"last_position"`
}

// FeedStore is what reading a feed needs of the Store.
type FeedStore interface {
	// ReadFeed acknowledges and reads one page of a pull endpoint's feed,
	// in one transaction. Returns an *subscriptions.Error of kind
	// Malformed, code invalid_cursor, for a cursor past the feed's end.
	ReadFeed(ctx context.Context, q FeedQuery) (FeedPage, error)
}

// feedRecheck is how often a waiting read looks at the database again,
// should a ring of the FeedBell be lost.
const feedRecheck = time.Second

// Feed reads pull endpoints' feeds, waiting for a message if asked to.
type Feed struct {
	Store FeedStore
	// Bell wakes a waiting read when a message for its endpoint is stored.
	Bell *FeedBell
	// Stopping, once closed, ends every wait: the process is shutting
	// down. Nil: never.
	Stopping <-chan struct{}
}

// Read reads one page of q's feed. If the page is empty, it waits up to
// wait for a message to be stored for the endpoint and reads again; the
// read's acknowledgement is made once, by the first read. It returns the
// empty page when wait passes, ctx ends or f is Stopping.
func (f Feed) Read(ctx context.Context, q FeedQuery, wait time.Duration) (FeedPage, error) {
	deadline := time.Now().Add(wait)
	acked := -1
	for {
		woken := f.Bell.Next(q.EndpointID)
		if q.At.IsZero() || acked >= 0 {
			q.At = time.Now()
		}
		page, err := f.Store.ReadFeed(ctx, q)
		if err != nil {
			return FeedPage{}, err
		}
		if acked < 0 {
			acked = page.Acknowledged
		}
		page.Acknowledged = acked
		left := time.Until(deadline)
		if len(page.Items) > 0 || left <= 0 {
			return page, nil
		}
		timer := time.NewTimer(min(left, feedRecheck))
		select {
		case <-woken:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return page, nil
		case <-f.Stopping:
			timer.Stop()
			return page, nil
		}
		timer.Stop()
	}
}

// Envelope returns what a feed gives for it: the body a webhook would
// carry (payload: type, timestamp, data) with the message id first, as
// "id" (a webhook's webhook-id), then "sequence" where the message has
// one, and "payload_purged": true if retention emptied the event's data.
func (it FeedItem) Envelope() ([]byte, error) {
	body, err := payload(it.Event, it.Message)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", it.ID, err)
	}
	var b bytes.Buffer
	b.Grow(len(body) + 80)
	b.WriteString(`{"id":`)
	writeJSONString(&b, it.ID)
	if it.Event.PurgedAt != nil {
		b.WriteString(`,"payload_purged":true`)
	}
	b.WriteByte(',')
	b.Write(body[1:])
	return b.Bytes(), nil
}
