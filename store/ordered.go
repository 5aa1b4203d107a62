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
	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements ordered delivery in dispatcher.Store: the queue of
// one shipment's messages to one ordered endpoint (the table
// ordered_queues), numbering its messages as they are stored, and moving
// its head when the head message ends.
//
// A queue's row holds last_sequence, the last number given out, and
// head_sequence, the number of the one message that may be attempted now.
// A message numbered after the head is waiting: no next attempt, no lease,
// no task in Redis, so that DueMessages and the reconciler never see it.
// Every change to a queue upserts or updates its row first, which
// row-locks it for the rest of the transaction (SQLite writes one
// transaction at a time).

// numberQuery gives out a queue's next number and returns it with the
// queue's head.
const numberQuery = `INSERT INTO ordered_queues (endpoint_id, shipment_id, last_sequence, head_sequence) VALUES (?, ?, 1, 1)
	ON CONFLICT (endpoint_id, shipment_id) DO UPDATE SET last_sequence = ordered_queues.last_sequence + 1
	RETURNING last_sequence, head_sequence`

// earlierUnfannedQuery finds an event of the shipment accepted before
// event ? (by created_at, then id) and not fanned out yet, through
// events_unfanned_shipment, whose predicate it repeats.
const earlierUnfannedQuery = `SELECT id FROM events WHERE shipment_id = ? AND (fanned_out_at IS NULL) IS TRUE
	AND (created_at, id) < (SELECT created_at, id FROM events WHERE id = ?) LIMIT 1`

// promoteQuery makes the waiting message of a queue with a number (the
// new head) pending or delivering, through messages_ordered.
const promoteQuery = `UPDATE messages SET status = ?, next_attempt_at = ?, lease_until = ?, updated_at = ?
	WHERE endpoint_id = ? AND shipment_id = ? AND sequence = ? AND status = 'waiting' RETURNING ` + messageColumns

// orderedFanOutStatement is fanOutFirstStatement for msgs of which some
// are to be numbered (PostgreSQL): in one statement it marks the event,
// unless it was marked before or an earlier event of its shipment is not
// fanned out yet; then numbers those messages in their queues (the
// upsert takes each queue's row lock, in endpoint order) and stores every
// message, a numbered one waiting unless its number is its queue's head.
// It returns the messages stored, none if it did not mark the event:
// FanOut's transaction then finds out why.
func orderedFanOutStatement(eventID string, msgs []dispatcher.Message, now time.Time) (string, []any) {
	var (
		sb   strings.Builder
		args = make([]any, 0, 4+len(msgs)*(messageColumnCount+1))
	)
	sb.WriteString(`WITH ev AS (UPDATE events SET fanned_out_at = ? WHERE id = ? AND COALESCE(fanned_out_at, 0) = 0
		AND NOT EXISTS (` + earlierUnfannedQuery + `) RETURNING id),
	v (` + messageInsertColumns + `, ordered) AS (VALUES `)
	args = append(args, micros(now), eventID, msgs[0].ShipmentID, eventID)
	for i, m := range msgs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strings.TrimSuffix(fanOutRow, ")") + `, CAST(? AS BOOLEAN))`)
		args = append(appendMessage(args, m), numbered(m))
	}
	sb.WriteString(`),
	q AS (INSERT INTO ordered_queues (endpoint_id, shipment_id, last_sequence, head_sequence)
		SELECT endpoint_id, shipment_id, 1, 1 FROM v WHERE ordered AND EXISTS (SELECT 1 FROM ev) ORDER BY endpoint_id
		ON CONFLICT (endpoint_id, shipment_id) DO UPDATE SET last_sequence = ordered_queues.last_sequence + 1
		RETURNING endpoint_id, last_sequence, head_sequence)
	INSERT INTO messages (` + messageInsertColumns + `, sequence)
	SELECT v.id, v.event_id, v.endpoint_id, v.partner_id, v.event_type, v.shipment_id,
		CASE WHEN q.last_sequence <> q.head_sequence THEN 'waiting' ELSE v.status END, v.attempts,
		CASE WHEN q.last_sequence <> q.head_sequence THEN NULL ELSE v.next_attempt_at END,
		CASE WHEN q.last_sequence <> q.head_sequence THEN NULL ELSE v.lease_until END,
		v.last_status_code, v.last_error_class, v.created_at, v.updated_at, q.last_sequence
	FROM v LEFT JOIN q ON q.endpoint_id = v.endpoint_id
	WHERE EXISTS (SELECT 1 FROM ev)
	ON CONFLICT (event_id, endpoint_id) DO NOTHING RETURNING ` + messageColumns)
	return sb.String(), args
}

// queueKey orders the fan-outs of a batch: the shipment of msgs (all of
// one event) if any is numbered, else other.
func queueKey(msgs []dispatcher.Message, other string) string {
	if hasOrdered(msgs) {
		return msgs[0].ShipmentID
	}
	return other
}

// hasOrdered reports whether any of msgs is to be numbered.
func hasOrdered(msgs []dispatcher.Message) bool {
	for _, m := range msgs {
		if numbered(m) {
			return true
		}
	}
	return false
}

// numbered reports whether m is to be numbered in a queue: its endpoint is
// ordered and its shipment known.
func numbered(m dispatcher.Message) bool { return m.Ordered && m.ShipmentID != "" }

// asWaiting returns msgs with those to be numbered made waiting, as they
// are inserted before they have their numbers (a message that exists
// already gets none), and what each was to be, by id.
func asWaiting(msgs []dispatcher.Message) ([]dispatcher.Message, map[string]dispatcher.Message) {
	meant := map[string]dispatcher.Message{}
	out := make([]dispatcher.Message, len(msgs))
	for i, m := range msgs {
		if numbered(m) {
			meant[m.ID] = m
			m.Status, m.NextAttemptAt, m.LeaseUntil = dispatcher.StatusWaiting, nil, nil
		}
		out[i] = m
	}
	return out, meant
}

// checkEarlierEvents returns a *dispatcher.EarlierEventError if an event
// of shipmentID accepted before eventID is not fanned out yet.
func (s *Store) checkEarlierEvents(ctx context.Context, tx *sql.Tx, eventID, shipmentID string) error {
	var id string
	err := tx.QueryRowContext(ctx, s.q(earlierUnfannedQuery), shipmentID, eventID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("earlier events of shipment %s: %w", shipmentID, err)
	}
	return fmt.Errorf("fan out event %s: %w", eventID, &dispatcher.EarlierEventError{EventID: id})
}

// numberNew returns msgs (in endpoint order, none stored yet) with each
// that meant names given its number in its queue, and made what meant
// says if the number is the queue's head (else it stays waiting).
func (s *Store) numberNew(ctx context.Context, tx *sql.Tx, msgs []dispatcher.Message, meant map[string]dispatcher.Message) ([]dispatcher.Message, error) {
	out := slices.Clone(msgs)
	for i, m := range out {
		want, ok := meant[m.ID]
		if !ok {
			continue
		}
		n, head, err := s.number(ctx, tx, m)
		if err != nil {
			return nil, err
		}
		out[i].Sequence = n
		if n == head {
			out[i].Status, out[i].NextAttemptAt, out[i].LeaseUntil = want.Status, want.NextAttemptAt, want.LeaseUntil
		}
	}
	return out, nil
}

// number gives out the next number of m's queue and returns it with the
// queue's head.
func (s *Store) number(ctx context.Context, tx *sql.Tx, m dispatcher.Message) (n, head int64, err error) {
	if err := tx.QueryRowContext(ctx, s.q(numberQuery), m.EndpointID, m.ShipmentID).Scan(&n, &head); err != nil {
		return 0, 0, fmt.Errorf("number message %s: %w", m.ID, err)
	}
	return n, head, nil
}

// numberStored gives each message of stored (the rows just inserted, in
// endpoint order) that meant names its number in its queue, and makes it
// what meant says if the number is the queue's head, else waiting. It
// returns stored as they now are.
func (s *Store) numberStored(ctx context.Context, tx *sql.Tx, stored []dispatcher.Message, meant map[string]dispatcher.Message) ([]dispatcher.Message, error) {
	now := micros(time.Now())
	for i, m := range stored {
		want, ok := meant[m.ID]
		if !ok {
			continue
		}
		n, head, err := s.number(ctx, tx, m)
		if err != nil {
			return nil, err
		}
		status, next, lease := dispatcher.StatusWaiting, any(nil), any(nil)
		if n == head {
			status, next, lease = want.Status, dueAt(want.Status, want.NextAttemptAt, want.CreatedAt), nullMicros(want.LeaseUntil)
		}
		got, err := scanMessage(tx.QueryRowContext(ctx, s.q(`UPDATE messages SET sequence = ?, status = ?, next_attempt_at = ?,
			lease_until = ?, updated_at = ? WHERE id = ? RETURNING `+messageColumns), n, string(status), next, lease, now, m.ID))
		if err != nil {
			return nil, fmt.Errorf("number message %s: %w", m.ID, err)
		}
		stored[i] = got
	}
	return stored, nil
}

// advanceHead moves the head of m's queue on if m (numbered) is its head,
// and makes the message with the new head's number, if one is waiting,
// pending and due now or, with a non-zero leaseUntil, delivering, leased
// until then. It returns that message, ok true.
func (s *Store) advanceHead(ctx context.Context, tx *sql.Tx, m dispatcher.Message, leaseUntil time.Time) (dispatcher.Message, bool, error) {
	var head int64
	err := tx.QueryRowContext(ctx, s.q(`UPDATE ordered_queues SET head_sequence = head_sequence + 1
		WHERE endpoint_id = ? AND shipment_id = ? AND head_sequence = ? RETURNING head_sequence`),
		m.EndpointID, m.ShipmentID, m.Sequence).Scan(&head)
	if errors.Is(err, sql.ErrNoRows) {
		return dispatcher.Message{}, false, nil // not the head: a retry of a message the queue passed
	}
	if err != nil {
		return dispatcher.Message{}, false, fmt.Errorf("move the head of the queue of message %s: %w", m.ID, err)
	}
	now := time.Now()
	status, next, lease := dispatcher.StatusPending, any(micros(now)), any(nil)
	if !leaseUntil.IsZero() {
		status, next, lease = dispatcher.StatusDelivering, nil, micros(leaseUntil)
	}
	next1, err := scanMessage(tx.QueryRowContext(ctx, s.q(promoteQuery),
		string(status), next, lease, micros(now), m.EndpointID, m.ShipmentID, head))
	if errors.Is(err, sql.ErrNoRows) {
		return dispatcher.Message{}, false, nil // the queue is empty: the next number given out is the head
	}
	if err != nil {
		return dispatcher.Message{}, false, fmt.Errorf("promote message %d of the queue of message %s: %w", head, m.ID, err)
	}
	return next1, true, nil
}

// RecordEnd records a, as RecordAttempt does, for an attempt that ends
// m, a numbered message, and lets its queue go on; with it, if m is its
// queue's head, the head moves on and the next message of the queue, if
// one is waiting, is made pending and due now or, with a non-zero
// leaseUntil, delivering, leased until then; it is returned with ok true.
// m's EndpointID, ShipmentID and Sequence name the queue. Calls made at
// the same moment share a batch with RecordAttempt's. Returns
// dispatcher.ErrClaimLost or ErrNotFound as RecordAttempt does.
func (s *Store) RecordEnd(ctx context.Context, a dispatcher.Attempt, o dispatcher.Outcome, m dispatcher.Message, leaseUntil time.Time,
) (next dispatcher.Message, ok bool, err error) {
	defer s.unavailable(&err)
	r, err := newRecord(a, o)
	if err != nil {
		return dispatcher.Message{}, false, err
	}
	if m.Sequence > 0 {
		r.end = &queueEnd{m: m, leaseUntil: leaseUntil}
	}
	res, err := s.records.do(ctx, r)
	return res.next, res.ok, err
}

// advanceAfterQuery is advanceHead's move of the head, as a step sent
// with the record of the attempt (PostgreSQL): it moves only if that
// attempt was stored.
const advanceAfterQuery = `UPDATE ordered_queues SET head_sequence = head_sequence + 1
	WHERE endpoint_id = ? AND shipment_id = ? AND head_sequence = ? AND EXISTS (SELECT 1 FROM attempts WHERE id = ?)`

// promoteAfterQuery is advanceHead's promotion, as a step sent after
// advanceAfterQuery: the message numbered one after the ended one is
// promoted only if it is the head now, which only that move makes it
// while it waits.
const promoteAfterQuery = `UPDATE messages SET status = ?, next_attempt_at = ?, lease_until = ?, updated_at = ?
	WHERE endpoint_id = ? AND shipment_id = ? AND sequence = ? AND status = 'waiting'
	AND EXISTS (SELECT 1 FROM ordered_queues WHERE endpoint_id = ? AND shipment_id = ? AND head_sequence = ?)
	RETURNING ` + messageColumns

// endSteps are the steps that follow r's record in a batch sent together
// (PostgreSQL) when r has an end: the move of the head and the promotion
// of the next message, which promoted hears of. None without an end.
func endSteps(r record, now time.Time, promoted func(dispatcher.Message)) []step {
	if r.end == nil {
		return nil
	}
	m := r.end.m
	status, next, lease := dispatcher.StatusPending, any(micros(now)), any(nil)
	if !r.end.leaseUntil.IsZero() {
		status, next, lease = dispatcher.StatusDelivering, nil, micros(r.end.leaseUntil)
	}
	return []step{
		{query: advanceAfterQuery, args: []any{m.EndpointID, m.ShipmentID, m.Sequence, r.a.ID}, row: func(scanner) error { return nil }},
		{query: promoteAfterQuery, args: []any{string(status), next, lease, micros(now), m.EndpointID, m.ShipmentID, m.Sequence + 1,
			m.EndpointID, m.ShipmentID, m.Sequence + 1}, row: func(sc scanner) error {
			n, err := scanMessage(sc)
			promoted(n)
			return err
		}},
	}
}

// DiscardMessage ends a failed, pending, held or disabled message without
// delivering it and, if it is its queue's head, moves the head on, the
// next message pending and due now. Returns the message as discarded and
// the next, if one was made pending; ErrNotFound, or ErrConflict for a
// message in another state.
func (s *Store) DiscardMessage(ctx context.Context, id string) (m dispatcher.Message, next *dispatcher.Message, err error) {
	defer s.unavailable(&err)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		m, err = scanMessage(tx.QueryRowContext(ctx, s.q(`UPDATE messages SET status = 'discarded', next_attempt_at = NULL,
			lease_until = NULL, updated_at = ? WHERE id = ? AND status IN ('failed', 'pending', 'held', 'disabled')
			RETURNING `+messageColumns), micros(time.Now()), id))
		if err != nil || m.Sequence == 0 {
			return err
		}
		n, ok, err := s.advanceHead(ctx, tx, m, time.Time{})
		if ok {
			next = &n
		}
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		was, err := s.Message(ctx, id)
		if err != nil {
			return dispatcher.Message{}, nil, err
		}
		return dispatcher.Message{}, nil, fmt.Errorf("discard message %s: it is %s; only a failed, pending, held or disabled message can be discarded: %w",
			id, was.Status, subscriptions.ErrConflict)
	}
	if err != nil {
		return dispatcher.Message{}, nil, fmt.Errorf("discard message %s: %w", id, err)
	}
	return m, next, nil
}
