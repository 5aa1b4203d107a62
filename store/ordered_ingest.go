package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/shiphook/shiphook/dispatcher"
)

// This file numbers ordered messages as InsertEvents stores them with
// their event (fan-out at ingest, Worker.FanOutHere), in the statement
// that stores the event (PostgreSQL), so that an ordered event costs no
// queued fan-out.

// unfannedShipmentsQuery finds which of the shipments ? (PostgreSQL) have
// an event not fanned out, through events_unfanned_shipment, whose
// predicate it repeats.
const unfannedShipmentsQuery = `SELECT DISTINCT shipment_id FROM events
	WHERE shipment_id = ANY(CAST(? AS TEXT[])) AND (fanned_out_at IS NULL) IS TRUE`

// laterFanOuts returns events with the ordered messages of those that
// cannot be numbered as they are stored taken off, with the event left
// not fanned out for a queued fan-out, and the ids of those events. An
// event's messages are numbered with it only in the one statement that
// stores a batch (PostgreSQL), and only while no event of its shipment is
// left not fanned out: those are accepted earlier and go first
// (FanOut's ErrEarlierEvent). Without ordered messages, events are
// returned as they are, with no statement.
func (s *Store) laterFanOuts(ctx context.Context, events []dispatcher.Event) ([]dispatcher.Event, map[string]bool, error) {
	var shipments []string
	messages := 0
	for _, e := range events {
		messages += len(e.Messages)
		if hasOrdered(e.Messages) {
			shipments = append(shipments, e.Shipment.ID)
		}
	}
	if len(shipments) == 0 {
		return events, nil, nil
	}
	blocked := map[string]bool{}
	inStatement := s.d.updateInWith && s.oneStatement(len(events), messages)
	if inStatement {
		rows, err := s.db.QueryContext(ctx, s.q(unfannedShipmentsQuery), shipments)
		if err != nil {
			return nil, nil, fmt.Errorf("shipments with events not fanned out: %w", err)
		}
		ids, err := collect(rows, scanID, "shipments with events not fanned out")
		if err != nil {
			return nil, nil, err
		}
		for _, id := range ids {
			blocked[id] = true
		}
	}
	out := make([]dispatcher.Event, len(events))
	later := map[string]bool{}
	for i, e := range events {
		if hasOrdered(e.Messages) && (!inStatement || blocked[e.Shipment.ID]) {
			e.Messages, e.FannedOutAt = nil, nil
			later[e.ID] = true
		}
		out[i] = e
	}
	return out, later, nil
}

// orderedMessagesCTE is withRows' insert of messages when some are to be
// numbered: v holds the messages of the events stored (ev), each with its
// rank among those of its queue in the batch, in the order of the batch,
// which is the order the events were accepted; q adds the batch's
// messages to each queue at once (the upsert row-locks it, in endpoint,
// then shipment order) and ms stores each numbered message waiting unless
// its number is its queue's head. It returns the ids of the waiting
// messages with their events.
const orderedMessagesCTE = `, v AS (
		SELECT u.*, row_number() OVER (PARTITION BY u.endpoint_id, u.shipment_id ORDER BY u.n) AS rank,
			count(*) OVER (PARTITION BY u.endpoint_id, u.shipment_id) AS queued
		FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]),
			CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS INTEGER[]),
			CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),
			CAST(? AS BIGINT[]), CAST(? AS BOOLEAN[])) WITH ORDINALITY AS u (` + messageInsertColumns + `, ordered, n)
		WHERE u.event_id COLLATE "C" IN (SELECT id FROM ev)),
	q AS (INSERT INTO ordered_queues (endpoint_id, shipment_id, last_sequence, head_sequence)
		SELECT endpoint_id, shipment_id, count(*), 1 FROM v WHERE ordered
		GROUP BY endpoint_id, shipment_id ORDER BY endpoint_id, shipment_id
		ON CONFLICT (endpoint_id, shipment_id) DO UPDATE SET last_sequence = ordered_queues.last_sequence + EXCLUDED.last_sequence
		RETURNING endpoint_id, shipment_id, last_sequence, head_sequence),
	vq AS (SELECT v.*, q.last_sequence - v.queued + v.rank AS sequence, q.head_sequence
		FROM v LEFT JOIN q ON v.ordered AND q.endpoint_id = v.endpoint_id AND q.shipment_id = v.shipment_id),
	ms AS (INSERT INTO messages (` + messageInsertColumns + `, sequence)
		SELECT id, event_id, endpoint_id, partner_id, event_type, shipment_id,
			CASE WHEN sequence <> head_sequence THEN 'waiting' ELSE status END, attempts,
			CASE WHEN sequence <> head_sequence THEN NULL ELSE next_attempt_at END,
			CASE WHEN sequence <> head_sequence THEN NULL ELSE lease_until END,
			last_status_code, last_error_class, created_at, updated_at, sequence
		FROM vq RETURNING id, event_id, status, sequence)`

// orderedMessagesSelect is withRows' last SELECT with orderedMessagesCTE:
// each event stored, with its numbered messages, space-separated, each
// id:number, and :waiting after those stored waiting (numberedMessages).
const orderedMessagesSelect = `
		SELECT id, source_id, idempotency_key, (SELECT string_agg(ms.id || ':' || ms.sequence
			|| CASE WHEN ms.status = 'waiting' THEN ':waiting' ELSE '' END, ' ') FROM ms
			WHERE ms.event_id = ev.id AND ms.sequence IS NOT NULL) FROM ev`

// orderedColumn is the column of ordered flags that orderedMessagesCTE
// takes after the messages' columns.
func orderedColumn(msgs []dispatcher.Message) []bool {
	out := make([]bool, len(msgs))
	for i, m := range msgs {
		out[i] = numbered(m)
	}
	return out
}

// numberedMessages sets in's Sequences and Waiting from list, an event's
// numbered messages as orderedMessagesSelect lists them.
func numberedMessages(in *dispatcher.Insert, list string) error {
	for _, item := range strings.Fields(list) {
		parts := strings.Split(item, ":")
		if len(parts) < 2 {
			return fmt.Errorf("event %s: numbered message %q", in.ID, item)
		}
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return fmt.Errorf("event %s: numbered message %q", in.ID, item)
		}
		if in.Sequences == nil {
			in.Sequences = map[string]int64{}
		}
		in.Sequences[parts[0]] = n
		if len(parts) == 3 {
			in.Waiting = append(in.Waiting, parts[0])
		}
	}
	return nil
}
