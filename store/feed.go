package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the feeds of pull endpoints in dispatcher.Store:
// numbering their messages, acknowledging them by reading, and their
// health.

// unreadMessage is the predicate of a feed's unread messages, written in
// every query that reads them so that both databases use messages_unread.
const unreadMessage = `status = 'pending' AND next_attempt_at IS NULL`

// The queries of a feed; their plans are checked (feed_test.go).
var (
	// feedAckQuery acknowledges the unread messages of a feed (endpoint)
	// after one position and at or before another: the positions by the
	// primary key of feed_entries, each message by its own.
	feedAckQuery = `UPDATE messages SET status = 'succeeded', attempts = attempts + 1,
		last_status_code = 200, last_error_class = '', updated_at = ?
		WHERE id IN (SELECT message_id FROM feed_entries WHERE endpoint_id = ? AND position > ? AND position <= ?)
		AND ` + unreadMessage + `
		RETURNING id, partner_id, attempts`
	// feedUnnumberedQuery selects the ids of at most a number of unread
	// messages of a feed (endpoint) that have no position, in id order,
	// from messages_unread. An unread message that has a position has one
	// after the feed's acknowledged position (given second): those are
	// the few looked up in feed_entries, by its primary key. They are few
	// as a read numbers messages only while fewer than its limit are
	// numbered after its cursor.
	feedUnnumberedQuery = `SELECT m.id FROM messages m WHERE m.endpoint_id = ? AND ` + unreadMessage + `
		AND NOT EXISTS (SELECT 1 FROM feed_entries f WHERE f.endpoint_id = m.endpoint_id AND f.position > ? AND f.message_id = m.id)
		ORDER BY m.id LIMIT ?`
	// feedPageQuery reads a page of a feed (endpoint) after a position.
	feedPageQuery = `SELECT f.position, ` + qualified("m.", messageColumns) + `
		FROM feed_entries f JOIN messages m ON m.id = f.message_id
		WHERE f.endpoint_id = ? AND f.position > ? ORDER BY f.position LIMIT ?`
	// feedUnreadQuery counts a feed's (endpoint's) unread messages and
	// finds when the oldest was made.
	feedUnreadQuery = `SELECT COUNT(*), MIN(created_at) FROM messages WHERE endpoint_id = ? AND ` + unreadMessage
)

// qualified returns the comma-separated columns cols, each prefixed.
func qualified(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// feedState is a feed's row of feed_positions as a read finds it.
type feedState struct{ last, acked int64 }

// ReadFeed acknowledges and reads one page of q.EndpointID's feed, in one
// transaction that holds the feed's row of feed_positions locked (in
// SQLite, the database), so that reads of a feed take turns.
//
// With q.After set, every unread message at or before it is made
// succeeded, with an attempt whose trigger is "read" (url "feed", status
// 200, made at q.At). The page holds the messages after q.After (or after
// the last acknowledged position, when q.After is nil) in position order,
// at most q.Limit. When fewer than that have a position, the read numbers
// more unread messages, in id order: only committed messages are seen,
// and under the lock, so one that commits later is numbered after them.
// Returns a *subscriptions.Error (Malformed, invalid_cursor) if q.After
// is past the last position given.
func (s *Store) ReadFeed(ctx context.Context, q dispatcher.FeedQuery) (_ dispatcher.FeedPage, err error) {
	defer s.unavailable(&err)
	at := nowOr(q.At, time.Now())
	var page dispatcher.FeedPage
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := s.lockFeed(ctx, tx, q.EndpointID, at)
		if err != nil {
			return err
		}
		from := st.acked
		if q.After != nil {
			if *q.After < 0 || *q.After > st.last {
				return &subscriptions.Error{Kind: subscriptions.Malformed, Code: "invalid_cursor", Field: "after",
					Message: "this cursor was not given by this endpoint's feed; give a next_cursor it returned, or leave after out to read from the first unacknowledged message"}
			}
			from = *q.After
			if page.Acknowledged, err = s.acknowledge(ctx, tx, q.EndpointID, st.acked, from, at); err != nil {
				return err
			}
		}
		if need := int64(q.Limit) - (st.last - from); need > 0 {
			if err := s.numberFeed(ctx, tx, q, st, need); err != nil {
				return err
			}
		}
		page.Items, err = s.feedPage(ctx, tx, q.EndpointID, from, q.Limit)
		page.Next = from
		if n := len(page.Items); n > 0 {
			page.Next = page.Items[n-1].Position
		}
		return err
	})
	if err != nil {
		return dispatcher.FeedPage{}, err
	}
	return page, nil
}

// lockFeed makes or updates endpointID's row of feed_positions, which
// locks it until tx ends, stamping its last read at at; it returns the
// row's positions.
func (s *Store) lockFeed(ctx context.Context, tx *sql.Tx, endpointID string, at time.Time) (feedState, error) {
	var st feedState
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO feed_positions (endpoint_id, last_read_at) VALUES (?, ?)
		ON CONFLICT (endpoint_id) DO UPDATE SET last_read_at = excluded.last_read_at
		RETURNING last_position, acked_position`), endpointID, micros(at)).Scan(&st.last, &st.acked)
	if err != nil {
		return st, fmt.Errorf("lock the feed of %s: %w", endpointID, err)
	}
	return st, nil
}

// acknowledge makes the unread messages of endpointID after position
// from (the acknowledged one: every message at or before it was) and at
// or before upTo succeeded, each with an attempt of trigger "read" made at
// at, raises the feed's acknowledged position to upTo, and returns how
// many it acknowledged. A cursor at or before from changes nothing.
func (s *Store) acknowledge(ctx context.Context, tx *sql.Tx, endpointID string, from, upTo int64, at time.Time) (int, error) {
	if upTo <= from {
		return 0, nil
	}
	rows, err := tx.QueryContext(ctx, s.q(feedAckQuery), micros(at), endpointID, from, upTo)
	var done []readMessage
	if err == nil {
		err = eachRow(rows, func(sc scanner) error {
			var r readMessage
			err := sc.Scan(&r.id, &r.partnerID, &r.number)
			done = append(done, r)
			return err
		})
	}
	if err != nil {
		return 0, fmt.Errorf("acknowledge the feed of %s: %w", endpointID, err)
	}
	if err := s.recordReads(ctx, tx, endpointID, done, at); err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE feed_positions SET acked_position = ?, last_acked_at = ? WHERE endpoint_id = ?`),
		upTo, micros(at), endpointID)
	if err != nil {
		return 0, fmt.Errorf("acknowledge the feed of %s: %w", endpointID, err)
	}
	return len(done), nil
}

// readMessage is a message a read acknowledged: its id, partner, and the
// number of the read's attempt.
type readMessage struct {
	id, partnerID string
	number        int
}

// recordReads stores the attempts of the reads of endpointID at at that
// acknowledged msgs.
func (s *Store) recordReads(ctx context.Context, tx *sql.Tx, endpointID string, msgs []readMessage, at time.Time) error {
	for start := 0; start < len(msgs); start += attemptInsertBatch {
		batch := msgs[start:min(start+attemptInsertBatch, len(msgs))]
		args := make([]any, 0, len(batch)*6)
		for _, m := range batch {
			args = append(args, subscriptions.NewID("att"), m.id, endpointID, m.partnerID, m.number, micros(at))
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO attempts (id, message_id, endpoint_id, partner_id, number, started_at,
			trigger, url, duration_ms, status_code) VALUES `+feedAttemptRows(len(batch))), args...)
		if err != nil {
			return fmt.Errorf("record the reads of the feed of %s: %w", endpointID, err)
		}
	}
	return nil
}

// attemptInsertBatch is how many read attempts one INSERT stores.
const attemptInsertBatch = 500

// feedAttemptRows is the VALUES of n read attempts: six parameters each,
// then the constants every read has.
func feedAttemptRows(n int) string {
	row := `(?, ?, ?, ?, ?, ?, 'read', 'feed', 0, 200)`
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// numberFeed gives the next positions after st.last to at most n unread
// messages of q's endpoint that have none, in id order, and records the
// feed's new last position. At an endpoint ordered by shipment, each also
// gets the next sequence of its shipment (sequenceFeed).
func (s *Store) numberFeed(ctx context.Context, tx *sql.Tx, q dispatcher.FeedQuery, st feedState, n int64) error {
	endpointID, last := q.EndpointID, st.last
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO feed_entries (endpoint_id, position, message_id)
		SELECT ?, CAST(? AS BIGINT) + ROW_NUMBER() OVER (ORDER BY id), id FROM (`+feedUnnumberedQuery+`) AS r`), endpointID, last, endpointID, st.acked, n)
	if err != nil {
		return fmt.Errorf("number the feed of %s: %w", endpointID, err)
	}
	numbered, err := res.RowsAffected()
	if err != nil || numbered == 0 {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE feed_positions SET last_position = ? WHERE endpoint_id = ?`), last+numbered, endpointID)
	if err != nil {
		return fmt.Errorf("number the feed of %s: %w", endpointID, err)
	}
	if q.Ordered {
		return s.sequenceFeed(ctx, tx, endpointID, last, last+numbered)
	}
	return nil
}

// sequenceFeed gives each message of endpointID's feed at a position in
// (from, to], in position order, the next number of its shipment's queue
// (ordered_queues, as a webhook endpoint's ordered messages): the feed's
// order is its shipment's order. A message of no shipment gets none.
func (s *Store) sequenceFeed(ctx context.Context, tx *sql.Tx, endpointID string, from, to int64) error {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT m.id, m.shipment_id FROM feed_entries f JOIN messages m ON m.id = f.message_id
		WHERE f.endpoint_id = ? AND f.position > ? AND f.position <= ? ORDER BY f.position`), endpointID, from, to)
	var msgs []dispatcher.Message
	if err == nil {
		err = eachRow(rows, func(sc scanner) error {
			m := dispatcher.Message{EndpointID: endpointID}
			err := sc.Scan(&m.ID, &m.ShipmentID)
			msgs = append(msgs, m)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("sequence the feed of %s: %w", endpointID, err)
	}
	for _, m := range msgs {
		if m.ShipmentID == "" {
			continue
		}
		n, _, err := s.number(ctx, tx, m)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE messages SET sequence = ? WHERE id = ?`), n, m.ID); err != nil {
			return fmt.Errorf("sequence message %s: %w", m.ID, err)
		}
	}
	return nil
}

// feedPage reads at most limit messages of endpointID's feed after
// position after, in position order, with their events.
func (s *Store) feedPage(ctx context.Context, tx *sql.Tx, endpointID string, after int64, limit int) ([]dispatcher.FeedItem, error) {
	rows, err := tx.QueryContext(ctx, s.q(feedPageQuery), endpointID, after, limit)
	var items []dispatcher.FeedItem
	if err == nil {
		err = eachRow(rows, func(sc scanner) error {
			var it dispatcher.FeedItem
			m, err := scanMessage(positioned{sc, &it.Position})
			it.Message = m
			items = append(items, it)
			return err
		})
	}
	if err != nil || len(items) == 0 {
		if err != nil {
			err = fmt.Errorf("read the feed of %s: %w", endpointID, err)
		}
		return nil, err
	}
	ids := make([]any, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.EventID)
	}
	rows, err = tx.QueryContext(ctx, s.q(`SELECT `+eventColumns+` FROM events WHERE id IN (`+placeholders(len(ids))+`)`), ids...)
	if err != nil {
		return nil, fmt.Errorf("read the events of the feed of %s: %w", endpointID, err)
	}
	events, err := collect(rows, scanEvent, "read the events of the feed of "+endpointID)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]dispatcher.Event, len(events))
	for _, e := range events {
		byID[e.ID] = e
	}
	for i := range items {
		items[i].Event = byID[items[i].EventID]
	}
	return items, nil
}

// positioned scans a row that starts with a feed position into pos, and
// the rest as its scanner's caller asks.
type positioned struct {
	sc  scanner
	pos *int64
}

func (p positioned) Scan(dest ...any) error { return p.sc.Scan(append([]any{p.pos}, dest...)...) }

// FeedHealth tells how far endpointID's feed is behind: its unread
// messages (their count and the oldest's creation) and its row of
// feed_positions. An endpoint never read, or unknown, gives zeros and
// nils.
func (s *Store) FeedHealth(ctx context.Context, endpointID string) (_ dispatcher.FeedHealth, err error) {
	defer s.unavailable(&err)
	var (
		h                  dispatcher.FeedHealth
		oldest, read, ackd sql.NullInt64
	)
	err = s.db.QueryRowContext(ctx, s.q(feedUnreadQuery),
		endpointID).Scan(&h.Unread, &oldest)
	if err != nil {
		return h, fmt.Errorf("unread messages of %s: %w", endpointID, err)
	}
	err = s.db.QueryRowContext(ctx, s.q(`SELECT last_position, acked_position, last_read_at, last_acked_at
		FROM feed_positions WHERE endpoint_id = ?`), endpointID).Scan(&h.LastPosition, &h.AckedPosition, &read, &ackd)
	if err != nil && err != sql.ErrNoRows {
		return h, fmt.Errorf("feed position of %s: %w", endpointID, err)
	}
	h.OldestUnreadAt, h.LastReadAt, h.LastAckedAt = timePtr(oldest), timePtr(read), timePtr(ackd)
	return h, nil
}
