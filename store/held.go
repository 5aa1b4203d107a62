package store

import (
	"context"
	"fmt"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
)

// This file implements held messages in dispatcher.Store: those waiting for
// their endpoint's circuit breaker to close, held by HoldMessage and woken by
// WakeHeld.

// HoldMessage makes a message that is pending with attempts attempts made
// held, with no next attempt and no lease, keeping its attempt count: it
// waits for WakeHeld, and DueMessages never returns it. ok is false if it
// is not in that state. Calls made at the same moment go together,
// deferrals included (see batcher).
func (s *Store) HoldMessage(ctx context.Context, id string, attempts int) (_ bool, err error) {
	defer s.unavailable(&err)
	return s.defers.do(ctx, deferral{id: id, attempts: attempts, hold: true})
}

// heldCondition selects the held messages in the way messages_held's
// predicate is written, which only messages_held can serve: written as
// status = 'held', it could be read from messages_status too. Statistics
// taken while no message was held (the usual case when a backlog begins)
// make that index look cheapest, and every call would then read and sort
// all the held messages: 80 to 100 ms with 200,000 held.
const heldCondition = `(status = 'held') IS TRUE`

// heldEndpointsQuery returns the endpoints with held messages, in order,
// by a loose index scan of messages_held: each step descends the index to
// the least endpoint after the one found last. Its cost grows with the
// number of such endpoints, not with the number of held messages. (In
// PostgreSQL, the entries of messages just woken stay in the index until
// vacuum removes them, and a descent steps over those it meets.) Each step
// is ORDER BY ... LIMIT 1 rather than MIN, which PostgreSQL computes by
// reading every entry when it expects few.
const heldEndpointsQuery = `WITH RECURSIVE held (endpoint_id) AS (
		SELECT (SELECT endpoint_id FROM messages WHERE ` + heldCondition + ` ORDER BY endpoint_id LIMIT 1)
		UNION ALL
		SELECT (SELECT m.endpoint_id FROM messages m WHERE ` + heldCondition + ` AND m.endpoint_id > held.endpoint_id
			ORDER BY m.endpoint_id LIMIT 1)
		FROM held WHERE held.endpoint_id IS NOT NULL
	)
	SELECT endpoint_id FROM held WHERE endpoint_id IS NOT NULL ORDER BY endpoint_id`

// HeldEndpoints returns the ids of the endpoints that have held messages,
// ordered by id; none if no message is held.
func (s *Store) HeldEndpoints(ctx context.Context) (_ []string, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, heldEndpointsQuery)
	if err != nil {
		return nil, fmt.Errorf("endpoints with held messages: %w", err)
	}
	return collect(rows, scanID, "endpoints with held messages")
}

// wakeHeldSubquery chooses WakeHeld's batch: the held messages of an
// endpoint after the cursor, in id order, read as one range of
// messages_held (keys endpoint_id, id) that stops after the batch. The
// range is written on both keys, not as endpoint_id = ? AND id > ? ORDER
// BY id, so that no other index yields the rows in the order asked for.
// Given the endpoint as a constant, PostgreSQL may instead read the
// primary key or messages_status in id order, expecting the endpoint's
// held messages to lie evenly among the rest, and step over every other
// held message after the cursor: all of them, to learn that the endpoint
// has none left. heldCondition keeps messages_status out of it too.
const wakeHeldSubquery = `SELECT id FROM messages WHERE ` + heldCondition + ` AND (endpoint_id, id) > (?, ?) AND endpoint_id <= ?
	ORDER BY endpoint_id, id LIMIT ?`

// wakeHeldQuery is the statement of WakeHeld in the dialect d: it moves the
// batch that wakeHeldSubquery chooses and returns it. In PostgreSQL the
// subquery locks the batch, passing over messages that a concurrent
// WakeHeld has locked, and checks each message it locks again as it is
// then; so the UPDATE finds each still held, and needs no condition of its
// own on status, which would let the planner read it from an index of
// held messages (messages_status, or messages_held) instead of looking the
// batch up in the primary key: with statistics from before the backlog,
// it chose so, reading every held message for each batch.
func wakeHeldQuery(d dialect) string {
	return `UPDATE messages SET status = 'delivering', lease_until = ?, updated_at = ?
		WHERE ` + d.inSubquery("id", wakeHeldSubquery+d.lockSkipping) + ` RETURNING ` + messageColumns
}

// WakeHeld makes the first limit (default 50) held messages of an
// endpoint, in id order after the id after ("": from the first),
// delivering, leased until leaseUntil, keeping their attempt counts; and
// returns them ordered by id. The caller has claimed them, as ClaimMessage
// would have: should it die, they are due again once the lease ends. The
// last one's id is the cursor of the next batch. Messages of other
// endpoints, and in other states, stay as they are. A message that a
// concurrent call is waking is passed over, so a batch may hold fewer than
// limit though more remain: an empty one means that the endpoint had no
// held message after after, or that concurrent calls were waking all
// those left.
func (s *Store) WakeHeld(ctx context.Context, endpointID, after string, limit int, leaseUntil time.Time) (_ []dispatcher.Message, err error) {
	defer s.unavailable(&err)
	// Workers of several processes may wake one endpoint at once: in
	// PostgreSQL each call's subquery passes over the messages another has
	// locked, and a message another woke meanwhile no longer matches when
	// it is locked, so each message is woken, and returned, by one call
	// only. SQLite runs one writer at a time.
	return s.moveMessages(ctx, "wake held messages of endpoint "+endpointID, wakeHeldQuery(s.d),
		micros(leaseUntil), micros(time.Now()), endpointID, after, endpointID, limitOf(limit))
}
