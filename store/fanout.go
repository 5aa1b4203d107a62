package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
)

// This file implements fan-out in dispatcher.Store: storing the messages of
// an event and marking it fanned out, and finding the events not fanned out.

// FanOut stores msgs (all of event eventID; an empty EventID is taken as
// eventID) and marks the event fanned out, in one transaction. A message
// whose (event, endpoint) exists is kept as it is. An empty Status is
// pending; a pending message without NextAttemptAt is due at its CreatedAt;
// a zero CreatedAt or UpdatedAt is now. Returns every pending message of the
// event, new or not, and the delivering ones it stored (claimed by the
// caller as they were made), ordered by id. Returns ErrNotFound if the
// event does not exist.
//
// A message marked Ordered with a shipment is numbered in its (endpoint,
// shipment) queue (ordered.go): it keeps its status if its number is the
// queue's head, and is made waiting otherwise. Before it numbers the
// messages of an event not fanned out before, FanOut returns
// dispatcher.ErrEarlierEvent, storing nothing, if an event of the same
// shipment accepted earlier is not fanned out yet.
func (s *Store) FanOut(ctx context.Context, eventID string, msgs []dispatcher.Message) (_ []dispatcher.Message, err error) {
	defer s.unavailable(&err)
	now := time.Now()
	sorted, err := fillMessages(eventID, msgs, now)
	if err != nil {
		return nil, err
	}
	// Insert in endpoint order, so that concurrent fan-outs of one event
	// take their locks in the same order (of queues too, ordered.go).
	slices.SortFunc(sorted, func(a, b dispatcher.Message) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	tried := s.d.updateInWith && len(sorted) <= messageInsertBatch
	if tried {
		r, err := s.fanouts.do(ctx, fanout{eventID: eventID, msgs: sorted, now: now})
		if err != nil || r.first {
			return r.pending, err
		}
		// Nothing stored: the transaction below finds out why.
	}
	ordered := hasOrdered(sorted)
	var meant map[string]dispatcher.Message
	if ordered {
		sorted, meant = asWaiting(sorted)
	}
	var pending []dispatcher.Message
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// First, so that it fails for a missing event and, in PostgreSQL,
		// queues concurrent fan-outs of the event behind its row lock.
		// With ordered messages, look even after fanOutFirst: it stores
		// nothing too while an earlier event of the shipment waits.
		first, err := s.markFannedOut(ctx, tx, eventID, now, tried && !ordered)
		if err != nil {
			return err
		}
		toInsert := sorted
		if ordered && first {
			// Numbers follow the order in which events were accepted. An
			// event fanned out before has its place; messages added to it
			// now (new endpoints) go at the end of their queues.
			if err := s.checkEarlierEvents(ctx, tx, eventID, sorted[0].ShipmentID); err != nil {
				return err
			}
			// No message of the event exists: number them as they are
			// inserted.
			if toInsert, err = s.numberNew(ctx, tx, sorted, meant); err != nil {
				return err
			}
		}
		stored, err := s.insertNew(ctx, tx, eventID, toInsert)
		if err != nil {
			return err
		}
		if ordered && !first {
			if stored, err = s.numberStored(ctx, tx, stored, meant); err != nil {
				return err
			}
		}
		if first {
			// Only FanOut makes messages, and it marks the event: one it
			// marks first has none but those just stored.
			pending = dueByID(stored)
			return nil
		}
		pending, err = s.pendingWith(ctx, tx, eventID, stored)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pending, nil
}

// insertNew inserts msgs, of event eventID, in tx, messageInsertBatch to a
// statement, keeping a message whose (event, endpoint) exists as it is,
// and returns those it inserted.
func (s *Store) insertNew(ctx context.Context, tx *sql.Tx, eventID string, msgs []dispatcher.Message) ([]dispatcher.Message, error) {
	var stored []dispatcher.Message
	for start := 0; start < len(msgs); start += messageInsertBatch {
		batch := msgs[start:min(start+messageInsertBatch, len(msgs))]
		query, args := insertMessagesStatement(batch, ` ON CONFLICT (event_id, endpoint_id) DO NOTHING RETURNING `+messageColumns)
		rows, err := tx.QueryContext(ctx, s.q(query), args...)
		var ms []dispatcher.Message
		if err == nil {
			ms, err = collect(rows, scanMessage, "read the stored messages")
		}
		if err != nil {
			return nil, s.classify(err, "insert messages of event "+eventID)
		}
		stored = append(stored, ms...)
	}
	return stored, nil
}

// pendingWith returns, ordered by id, the pending messages of event
// eventID, as tx sees them, and the delivering ones of stored (claimed as
// they were stored).
func (s *Store) pendingWith(ctx context.Context, tx *sql.Tx, eventID string, stored []dispatcher.Message) ([]dispatcher.Message, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages
		WHERE event_id = ? AND status = 'pending' ORDER BY id`), eventID)
	if err != nil {
		return nil, fmt.Errorf("pending messages of event %s: %w", eventID, err)
	}
	before, err := collect(rows, scanMessage, "pending messages of event "+eventID)
	if err != nil {
		return nil, err
	}
	// The SELECT sees the pending ones just stored; add the claimed.
	for _, m := range stored {
		if m.Status == dispatcher.StatusDelivering {
			before = append(before, m)
		}
	}
	return dueByID(before), nil
}

// fillMessages returns a copy of msgs, the messages of event eventID, with
// an empty EventID set to eventID, an empty Status to pending and a zero
// CreatedAt or UpdatedAt to now. It fails for a message of another event.
func fillMessages(eventID string, msgs []dispatcher.Message, now time.Time) ([]dispatcher.Message, error) {
	out := slices.Clone(msgs)
	for i := range out {
		m := &out[i]
		if m.EventID == "" {
			m.EventID = eventID
		}
		if m.EventID != eventID {
			return nil, fmt.Errorf("fan out event %s: message %s is of event %s", eventID, m.ID, m.EventID)
		}
		if m.Status == "" {
			m.Status = dispatcher.StatusPending
		}
		m.CreatedAt = nowOr(m.CreatedAt, now)
		m.UpdatedAt = nowOr(m.UpdatedAt, m.CreatedAt)
	}
	return out, nil
}

// markFirstQuery sets an event's fanned_out_at unless it is set, and
// returns its id if it did. Its condition is not written fanned_out_at IS
// NULL: that would let the planner find the event through events_unfanned,
// read whole, rather than its primary key, whenever the statistics were
// taken while few events waited for fan-out. During a burst many do, and
// every fan-out would read them all. fanned_out_at is never 0.
const markFirstQuery = `UPDATE events SET fanned_out_at = ? WHERE id = ? AND COALESCE(fanned_out_at, 0) = 0 RETURNING id`

// fanOutRow is a row of messageInsertColumns values in fanOutFirst's VALUES.
// There, unlike in INSERT ... VALUES, a parameter is not typed from its
// column: it would be text, so those of the other columns are cast.
const fanOutRow = `(?, ?, ?, ?, ?, ?, ?, CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS INTEGER), ?,
	CAST(? AS BIGINT), CAST(? AS BIGINT))`

// fanOutFirst is FanOut, in one statement, of an event not fanned out
// before, for a dialect with updateInWith; msgs (at most
// messageInsertBatch) are sorted by endpoint and filled in. If the event
// exists unmarked, it marks it, stores msgs (one of several to an
// endpoint), and returns first true with the pending and delivering ones
// stored, ordered by id. first is false if it changed nothing: the event
// is missing or was marked before. It is also false, though it marked the
// event, if msgs is not empty and none was stored, as only messages stored
// before would cause: FanOut's transaction returns the right messages then
// too.
func (s *Store) fanOutFirst(ctx context.Context, eventID string, msgs []dispatcher.Message, now time.Time,
) (pending []dispatcher.Message, first bool, err error) {
	query, args := fanOutFirstStatement(eventID, msgs, now)
	var stored []dispatcher.Message
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err == nil {
		err = eachRow(rows, fanOutFirstRow(msgs, &first, &stored))
	}
	if err != nil {
		return nil, false, s.classify(err, "fan out event "+eventID)
	}
	return dueByID(stored), first, nil
}

// fanOutFirstStatement is fanOutFirst's one statement. It returns a row
// only if it marked the event: with msgs, the messages stored; without,
// the event's id.
func fanOutFirstStatement(eventID string, msgs []dispatcher.Message, now time.Time) (string, []any) {
	if len(msgs) == 0 {
		return markFirstQuery, []any{micros(now), eventID}
	}
	if hasOrdered(msgs) {
		return orderedFanOutStatement(eventID, msgs, now)
	}
	var (
		sb   strings.Builder
		args = make([]any, 0, 2+len(msgs)*messageColumnCount)
	)
	// The INSERT reads ev before its first row, so the UPDATE takes the
	// event's row lock first, as markFannedOut does; a concurrent fan-out
	// of the event waits for it, then finds the event marked and stores
	// nothing. The statement is atomic: a failed INSERT leaves the event
	// unmarked.
	sb.WriteString(`WITH ev AS (` + markFirstQuery + `)
		INSERT INTO messages (` + messageInsertColumns + `)
		SELECT ` + messageInsertColumns + ` FROM (VALUES `)
	args = append(args, micros(now), eventID)
	for i, m := range msgs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(fanOutRow)
		args = appendMessage(args, m)
	}
	sb.WriteString(`) AS v (` + messageInsertColumns + `)
		WHERE EXISTS (SELECT 1 FROM ev)
		ON CONFLICT (event_id, endpoint_id) DO NOTHING RETURNING ` + messageColumns)
	return sb.String(), args
}

// fanOutFirstRow reads a row of fanOutFirstStatement for msgs: first
// becomes true, and a message row is added to stored.
func fanOutFirstRow(msgs []dispatcher.Message, first *bool, stored *[]dispatcher.Message) func(scanner) error {
	return func(sc scanner) error {
		*first = true
		if len(msgs) == 0 {
			var id string
			return sc.Scan(&id)
		}
		m, err := scanMessage(sc)
		*stored = append(*stored, m)
		return err
	}
}

// dueByID returns the pending and delivering ones of ms, ordered by id.
func dueByID(ms []dispatcher.Message) []dispatcher.Message {
	var due []dispatcher.Message
	for _, m := range ms {
		if m.Status == dispatcher.StatusPending || m.Status == dispatcher.StatusDelivering {
			due = append(due, m)
		}
	}
	sortByID(due)
	return due
}

// markFannedOut sets the event's fanned_out_at to now unless it is set,
// and reports whether it was unset. When it returns, tx holds the event's
// row lock in PostgreSQL (an SQLite transaction holds the database's).
// tried is whether the caller has just found the event marked or missing
// (fanOutFirst): then it reports false without looking, even for an event
// stored unmarked since, which it marks. Returns ErrNotFound if the event
// does not exist.
func (s *Store) markFannedOut(ctx context.Context, tx *sql.Tx, eventID string, now time.Time, tried bool) (bool, error) {
	var id string
	if !tried {
		// In PostgreSQL, a concurrent fan-out that holds the lock is waited
		// for, and the condition then checked against the row it committed.
		err := tx.QueryRowContext(ctx, s.q(markFirstQuery), micros(now), eventID).Scan(&id)
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("mark event %s fanned out: %w", eventID, err)
		}
	}
	// Marked before, or missing: a statement that changes no row takes no
	// lock, so this one takes it.
	err := tx.QueryRowContext(ctx, s.q(`UPDATE events SET fanned_out_at = COALESCE(fanned_out_at, ?) WHERE id = ? RETURNING id`),
		micros(now), eventID).Scan(&id)
	if err != nil {
		return false, notFound(err, "event "+eventID)
	}
	return false, nil
}

// UnfannedEvents returns ids of at most limit (default 50) events created
// before t and not fanned out, oldest first.
func (s *Store) UnfannedEvents(ctx context.Context, before time.Time, limit int) (_ []string, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM events WHERE fanned_out_at IS NULL AND created_at < ?
		ORDER BY created_at, id LIMIT ?`), micros(before), limitOf(limit))
	if err != nil {
		return nil, fmt.Errorf("unfanned events: %w", err)
	}
	return collect(rows, scanID, "unfanned events")
}
