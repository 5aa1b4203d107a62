package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the events of dispatcher.Store: storing them, with
// their messages or without, and reading them back.

const eventColumns = `id, source_id, idempotency_key, type, occurred_at, shipment, parties, data, created_at, fanned_out_at,
	purged_at, source_item_id, unresolved, trace_parent`

// eventInsertColumns is the number of columns InsertEvents writes:
// eventColumns and shipment_id.
const eventInsertColumns = 15

// eventInsertBatch is how many events one INSERT statement carries: 6,000
// parameters, well below either database's limit (65,535 in PostgreSQL,
// 32,766 in SQLite).
const eventInsertBatch = 400

// InsertEvents stores events in one transaction. An event whose SourceID or
// IdempotencyKey (when not empty) was seen before, earlier in the batch
// included, is not stored: its result holds the first event's id and
// Created false. So does an event whose ID exists. A zero CreatedAt is set
// to now. Results are in the order of events.
//
// The Messages of an event it stores are stored with it, filled in as
// FanOut fills in its msgs; those of an event it skips are not. An event
// with messages has no messages stored before, so none is skipped as a
// repeat: one that repeats another's (event, endpoint) fails the call.
//
// Single events stored at the same moment by different callers go in one
// statement, as if stored one after the other.
func (s *Store) InsertEvents(ctx context.Context, events []dispatcher.Event) (_ []dispatcher.Insert, err error) {
	defer s.unavailable(&err)
	if len(events) == 1 {
		in, err := s.inserts.do(ctx, events[0])
		if err != nil {
			return nil, err
		}
		return []dispatcher.Insert{in}, nil
	}
	return s.insertEventsNow(ctx, events)
}

// insertEventBatch stores the single events of concurrent InsertEvents
// calls together; if that fails, each on its own, so that each caller gets
// its own answer.
func (s *Store) insertEventBatch(ctx context.Context, events []dispatcher.Event) []batchResult[dispatcher.Insert] {
	one := func(e dispatcher.Event) (dispatcher.Insert, error) {
		ins, err := s.insertEventsNow(ctx, []dispatcher.Event{e})
		if err != nil {
			return dispatcher.Insert{}, err
		}
		return ins[0], nil
	}
	return oneOrMany(events, one, func(events []dispatcher.Event) ([]batchResult[dispatcher.Insert], error) {
		ins, err := s.insertEventsNow(ctx, events)
		return results(ins), err
	})
}

// insertEventsNow is InsertEvents without batching.
func (s *Store) insertEventsNow(ctx context.Context, events []dispatcher.Event) ([]dispatcher.Insert, error) {
	if len(events) == 0 {
		return []dispatcher.Insert{}, nil
	}
	events, later, err := s.laterFanOuts(ctx, events)
	if err != nil {
		return nil, err
	}
	events, args, messages, err := encodeEvents(events, time.Now())
	if err != nil {
		return nil, err
	}
	var out []dispatcher.Insert
	if s.oneStatement(len(events), messages) && (s.d.updateInWith || !hasFeedRows(events)) {
		// One statement stores them all or none: no transaction to open.
		// Their DCSA feed rows go in it too (PostgreSQL); SQLite writes
		// them in a second statement, hence a transaction.
		out, err = s.insertEvents(ctx, s.db, events, args)
	} else {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			out, err = s.insertEvents(ctx, tx, events, args)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Unfanned = out[i].Created && later[out[i].ID]
	}
	return out, nil
}

// encodeEvents returns the column values of events, eventInsertColumns
// for each, and events with their messages filled in, and how many
// messages they have.
func encodeEvents(events []dispatcher.Event, now time.Time) (_ []dispatcher.Event, args []any, messages int, _ error) {
	args = make([]any, 0, len(events)*eventInsertColumns)
	cloned := false // events is the caller's until it is cloned
	for i, e := range events {
		if e.ID == "" {
			return nil, nil, 0, errors.New("insert event: the event has no id")
		}
		if len(e.Messages) > 0 {
			msgs, err := fillMessages(e.ID, e.Messages, now)
			if err != nil {
				return nil, nil, 0, err
			}
			if !cloned {
				events, cloned = slices.Clone(events), true
			}
			events[i].Messages = msgs
			messages += len(msgs)
		}
		if e.CreatedAt.IsZero() && len(e.Parties) > 0 && subscriptions.HasDCSAForm(e.Type) {
			// Its DCSA feed rows (insertEvents) read when it was stored.
			if !cloned {
				events, cloned = slices.Clone(events), true
			}
			events[i].CreatedAt = now
		}
		shipment, err := json.Marshal(e.Shipment)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("event %s: encode shipment: %w", e.ID, err)
		}
		parties, err := json.Marshal(e.Parties)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("event %s: encode parties: %w", e.ID, err)
		}
		var unresolved any
		if e.Unresolved != nil {
			b, err := json.Marshal(e.Unresolved)
			if err != nil {
				return nil, nil, 0, fmt.Errorf("event %s: encode unresolved: %w", e.ID, err)
			}
			unresolved = string(b)
		}
		args = append(args, e.ID, nullString(e.SourceID), nullString(e.IdempotencyKey), e.Type,
			micros(e.OccurredAt), string(shipment), string(parties), string(e.Data),
			micros(nowOr(e.CreatedAt, now)), nullMicros(e.FannedOutAt), nullMicros(e.PurgedAt), nullString(e.SourceItemID), unresolved, e.TraceParent, e.Shipment.ID)
	}
	return events, args, messages, nil
}

// eventMessagesMax is the most messages that InsertEvents stores in the
// statement that stores their events: it bounds the statement's size.
const eventMessagesMax = 10000

// oneStatement is whether one statement stores n events with messages
// messages between them.
func (s *Store) oneStatement(n, messages int) bool {
	return n <= eventInsertBatch && (messages == 0 || s.d.updateInWith && messages <= eventMessagesMax)
}

// eventRow is what tells the events of a batch apart in what their INSERT
// returns: the unique columns, "" for NULL.
type eventRow struct{ id, sourceID, idempotencyKey string }

// eventValue is the value of one unique column of an event.
type eventValue struct{ column, value string }

// uniqueValues returns the non-empty unique columns of e, in the order
// existingEvent looks an event up by.
func uniqueValues(e dispatcher.Event) []eventValue {
	var out []eventValue
	for _, v := range []eventValue{{"source_id", e.SourceID}, {"idempotency_key", e.IdempotencyKey}, {"id", e.ID}} {
		if v.value != "" {
			out = append(out, v)
		}
	}
	return out
}

// insertEvents is InsertEvents after encoding and filling in messages:
// args holds eventInsertColumns values for each event. db is a transaction
// unless oneStatement holds for events.
func (s *Store) insertEvents(ctx context.Context, db querier, events []dispatcher.Event, args []any) ([]dispatcher.Insert, error) {
	var msgs []dispatcher.Message
	for _, e := range events {
		msgs = append(msgs, e.Messages...)
	}
	inInsert := len(msgs) > 0 && s.oneStatement(len(events), len(msgs))
	var feed []any
	if hasFeedRows(events) {
		now := time.Now()
		for _, e := range events {
			feed = feedArgs(feed, e, now)
		}
	}
	feedInInsert := len(feed) > 0 && s.d.updateInWith && s.oneStatement(len(events), len(msgs))
	// Both databases insert a statement's rows in VALUES order, and DO
	// NOTHING skips a row that repeats one stored before, by the same
	// statement included: as if each row had a statement of its own.
	inserted := make(map[eventRow]bool, len(events))
	numbering := inInsert && hasOrdered(msgs)
	waits := map[string]string{} // the numbered messages of each event, by id
	for start := 0; start < len(events); start += eventInsertBatch {
		n := min(eventInsertBatch, len(events)-start)
		var sb strings.Builder
		sb.WriteString(`INSERT INTO events (` + eventColumns + `, shipment_id) VALUES `)
		sb.WriteString(valueRows(n, eventInsertColumns))
		sb.WriteString(` ON CONFLICT DO NOTHING RETURNING id, source_id, idempotency_key`)
		query, qargs := sb.String(), args[start*eventInsertColumns:(start+n)*eventInsertColumns]
		if inInsert || feedInInsert {
			query, qargs = withRows(query, qargs, inInsert, msgs, feedInInsert, feed)
		}
		rows, err := db.QueryContext(ctx, s.q(query), qargs...)
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
		err = eachRow(rows, insertedRow(numbering, inserted, waits))
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}
	out, created, err := s.insertResults(ctx, db, events, inserted)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if list, ok := waits[out[i].ID]; ok && out[i].Created {
			if err := numberedMessages(&out[i], list); err != nil {
				return nil, err
			}
		}
	}
	if len(feed) > 0 && !feedInInsert {
		if err := s.addCreatedToFeed(ctx, db, events, out); err != nil {
			return nil, err
		}
	}
	if !inInsert {
		if err := s.insertMessages(ctx, db, created); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insertedRow reads a row of insertEvents' statement into inserted and,
// with numbering (orderedMessagesSelect), the list of the event's
// numbered messages into waits, by event id.
func insertedRow(numbering bool, inserted map[eventRow]bool, waits map[string]string) func(scanner) error {
	return func(sc scanner) error {
		var (
			id                      string
			sourceID, key, numbered sql.NullString
		)
		dest := []any{&id, &sourceID, &key}
		if numbering {
			dest = append(dest, &numbered)
		}
		if err := sc.Scan(dest...); err != nil {
			return err
		}
		inserted[eventRow{id, sourceID.String, key.String}] = true
		if numbered.Valid {
			waits[id] = numbered.String
		}
		return nil
	}
}

// insertResults returns what insertEvents answers for events, given
// inserted, the rows that its statements returned (which it deletes as it
// matches them to events), and the messages of the events stored.
func (s *Store) insertResults(ctx context.Context, db querier, events []dispatcher.Event, inserted map[eventRow]bool,
) ([]dispatcher.Insert, []dispatcher.Message, error) {
	out := make([]dispatcher.Insert, len(events))
	// stored finds the event of the batch stored with a unique value, by
	// its place in events.
	stored := make(map[eventValue]int, 3*len(inserted))
	for i, e := range events {
		// Of events with the same unique values, only the first can have
		// been stored: the others repeat it, or what it repeated.
		row := eventRow{e.ID, e.SourceID, e.IdempotencyKey}
		if !inserted[row] {
			continue
		}
		delete(inserted, row)
		out[i] = dispatcher.Insert{ID: e.ID, Created: true}
		for _, v := range uniqueValues(e) {
			stored[v] = i
		}
	}
	var created []dispatcher.Message
	for i, e := range events {
		if out[i].Created {
			created = append(created, e.Messages...)
			continue
		}
		id, err := s.existingEvent(ctx, db, events, i, stored)
		if err != nil {
			return nil, nil, err
		}
		out[i] = dispatcher.Insert{ID: id}
	}
	return out, created, nil
}

// withRows returns insert, an INSERT INTO events ... RETURNING, and its
// args, made to store in the same statement (PostgreSQL) the rows of the
// events it stores: msgs when withMsgs, and the DCSA feed rows feed
// (feedColumnCount values each, of any event of the batch, its ids
// unique) when withFeed. The rows go as one array per column, so that the
// statement's text, which each connection prepares and keeps, depends on
// the number of events alone.
func withRows(insert string, args []any, withMsgs bool, msgs []dispatcher.Message, withFeed bool, feed []any) (string, []any) {
	args = slices.Clip(args)
	ordered := withMsgs && hasOrdered(msgs)
	var sb strings.Builder
	sb.WriteString(`WITH ev AS (` + insert + `)`)
	if withMsgs {
		columns := make([][]any, messageColumnCount)
		row := make([]any, 0, messageColumnCount)
		for _, m := range msgs {
			row = appendMessage(row[:0], m)
			for j, v := range row {
				columns[j] = append(columns[j], v)
			}
		}
		for _, c := range columns {
			args = append(args, c)
		}
		if ordered {
			args = append(args, orderedColumn(msgs))
			sb.WriteString(orderedMessagesCTE)
		} else {
			sb.WriteString(`, ms AS (
		INSERT INTO messages (` + messageInsertColumns + `)
		SELECT ` + messageInsertColumns + ` FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]),
			CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS INTEGER[]),
			CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),
			CAST(? AS BIGINT[])) AS v (` + messageInsertColumns + `)
		WHERE v.event_id COLLATE "C" IN (SELECT id FROM ev))`)
		}
	}
	if withFeed {
		columns := make([][]any, feedColumnCount)
		for i, v := range feed {
			columns[i%feedColumnCount] = append(columns[i%feedColumnCount], v)
		}
		for _, c := range columns {
			args = append(args, c)
		}
		sb.WriteString(`, fd AS (
		INSERT INTO dcsa_feed (` + feedColumns + `)
		SELECT ` + feedColumns + ` FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),
			CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]),
			CAST(? AS TEXT[])) AS v (` + feedColumns + `)
		WHERE v.event_id COLLATE "C" IN (SELECT id FROM ev)
		ON CONFLICT DO NOTHING)`)
	}
	if ordered {
		sb.WriteString(orderedMessagesSelect)
	} else {
		sb.WriteString(`
		SELECT id, source_id, idempotency_key FROM ev`)
	}
	return sb.String(), args
}

// existingEvent returns the id of the event that events[i] conflicted with
// when it was inserted: the one with its SourceID, else with its
// IdempotencyKey, else with its ID. Of the batch, stored holds the events
// that were stored, by unique value; one stored after events[i] was not
// there to conflict with.
func (s *Store) existingEvent(ctx context.Context, db querier, events []dispatcher.Event, i int,
	stored map[eventValue]int,
) (string, error) {
	e := events[i]
	for _, v := range uniqueValues(e) {
		if j, ok := stored[v]; ok {
			if j < i {
				return events[j].ID, nil
			}
			// Stored after events[i]: the value was free before.
			continue
		}
		var id string
		err := db.QueryRowContext(ctx, s.q(`SELECT id FROM events WHERE `+v.column+` = ?`), v.value).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("event %s: look up by %s: %w", e.ID, v.column, err)
		}
	}
	return "", fmt.Errorf("event %s: skipped as a duplicate, but no event it repeats was found", e.ID)
}

func scanEvent(sc scanner) (dispatcher.Event, error) {
	var (
		e                       dispatcher.Event
		sourceID, key, itemID   sql.NullString
		shipment, parties, data string
		occurred, created       int64
		fannedOut, purged       sql.NullInt64
		unresolved              sql.NullString
	)
	err := sc.Scan(&e.ID, &sourceID, &key, &e.Type, &occurred, &shipment, &parties, &data, &created, &fannedOut, &purged, &itemID, &unresolved, &e.TraceParent)
	if err != nil {
		return e, err
	}
	e.Status = dispatcher.EventResolved
	if unresolved.Valid {
		e.Status = dispatcher.EventUnresolved
		e.Unresolved = new(dispatcher.Unresolved)
		if err := json.Unmarshal([]byte(unresolved.String), e.Unresolved); err != nil {
			return e, fmt.Errorf("event %s: decode unresolved: %w", e.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(shipment), &e.Shipment); err != nil {
		return e, fmt.Errorf("event %s: decode shipment: %w", e.ID, err)
	}
	if err := json.Unmarshal([]byte(parties), &e.Parties); err != nil {
		return e, fmt.Errorf("event %s: decode parties: %w", e.ID, err)
	}
	if data != "" {
		e.Data = json.RawMessage(data)
	}
	e.SourceID, e.IdempotencyKey, e.SourceItemID = sourceID.String, key.String, itemID.String
	e.OccurredAt, e.CreatedAt, e.FannedOutAt = fromMicros(occurred), fromMicros(created), timePtr(fannedOut)
	e.PurgedAt = timePtr(purged)
	return e, nil
}

// Event returns ErrNotFound.
func (s *Store) Event(ctx context.Context, id string) (_ dispatcher.Event, err error) {
	defer s.unavailable(&err)
	e, err := scanEvent(s.db.QueryRowContext(ctx, s.q(`SELECT `+eventColumns+` FROM events WHERE id = ?`), id))
	if err != nil {
		return dispatcher.Event{}, notFound(err, "event "+id)
	}
	return e, nil
}

// ListEvents returns at most q.Limit (default 50) events matching q, newest
// (greatest id) first; q.After is the id of the last event of the previous
// page, and the page holds older ones. q.Type is an exact type, or a prefix
// wildcard ending in ".*" that matches the types that start with the part
// before the "*" and go on past it ("a.b.*" matches "a.b.x", not "a.b"),
// as an endpoint's event types do; empty or "*" matches every type.
// q.ShipmentID, when not empty, is the shipment's exact id; q.Status,
// when not empty, the events' status (unresolved ones are read from
// events_unresolved).
func (s *Store) ListEvents(ctx context.Context, q dispatcher.EventQuery) (_ []dispatcher.Event, err error) {
	defer s.unavailable(&err)
	var (
		where []string
		args  []any
	)
	switch prefix, ok := strings.CutSuffix(q.Type, "*"); {
	case q.Type == "" || q.Type == "*":
	case ok && strings.HasSuffix(prefix, "."):
		// The types between "a.b." and "a.b/" ('/' follows '.') in byte
		// order: a range both databases read from events_type.
		where = append(where, "type > ?", "type < ?")
		args = append(args, prefix, strings.TrimSuffix(prefix, ".")+"/")
	default:
		where = append(where, "type = ?")
		args = append(args, q.Type)
	}
	if q.ShipmentID != "" {
		where = append(where, "shipment_id = ?")
		args = append(args, q.ShipmentID)
	}
	switch q.Status {
	case dispatcher.EventUnresolved:
		where = append(where, "unresolved IS NOT NULL")
	case dispatcher.EventResolved:
		where = append(where, "unresolved IS NULL")
	}
	if q.After != "" {
		where = append(where, "id < ?")
		args = append(args, q.After)
	}
	query := `SELECT ` + eventColumns + ` FROM events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limitOf(q.Limit))
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return collect(rows, scanEvent, "list events")
}
