package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements dispatcher.Store.

const eventColumns = `id, source_id, idempotency_key, type, occurred_at, shipment, parties, data, created_at, fanned_out_at,
	purged_at`

// eventInsertColumns is the number of columns InsertEvents writes:
// eventColumns and shipment_id.
const eventInsertColumns = 12

// eventInsertBatch is how many events one INSERT statement carries: 4,800
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
func (s *Store) InsertEvents(ctx context.Context, events []dispatcher.Event) ([]dispatcher.Insert, error) {
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
	now := time.Now()
	args := make([]any, 0, len(events)*eventInsertColumns)
	messages := 0
	for i, e := range events {
		if e.ID == "" {
			return nil, errors.New("insert event: the event has no id")
		}
		if len(e.Messages) > 0 {
			msgs, err := fillMessages(e.ID, e.Messages, now)
			if err != nil {
				return nil, err
			}
			if messages == 0 {
				events = slices.Clone(events)
			}
			events[i].Messages = msgs
			messages += len(msgs)
		}
		shipment, err := json.Marshal(e.Shipment)
		if err != nil {
			return nil, fmt.Errorf("event %s: encode shipment: %w", e.ID, err)
		}
		parties, err := json.Marshal(e.Parties)
		if err != nil {
			return nil, fmt.Errorf("event %s: encode parties: %w", e.ID, err)
		}
		args = append(args, e.ID, nullString(e.SourceID), nullString(e.IdempotencyKey), e.Type,
			micros(e.OccurredAt), string(shipment), string(parties), string(e.Data),
			micros(nowOr(e.CreatedAt, now)), nullMicros(e.FannedOutAt), nullMicros(e.PurgedAt), e.Shipment.ID)
	}
	if s.oneStatement(len(events), messages) {
		// One statement stores them all or none: no transaction to open.
		return s.insertEvents(ctx, s.db, events, args)
	}
	var out []dispatcher.Insert
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.insertEvents(ctx, tx, events, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eventMessagesMax is the most messages that InsertEvents stores in the
// statement that stores their events: it bounds the statement's size.
const eventMessagesMax = 10000

// oneStatement is whether one statement stores n events with messages
// messages between them.
func (s *Store) oneStatement(n, messages int) bool {
	return n <= eventInsertBatch && (messages == 0 || s.d.updateInWith && messages <= eventMessagesMax)
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

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
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
	// Both databases insert a statement's rows in VALUES order, and DO
	// NOTHING skips a row that repeats one stored before, by the same
	// statement included: as if each row had a statement of its own.
	inserted := make(map[eventRow]bool, len(events))
	for start := 0; start < len(events); start += eventInsertBatch {
		n := min(eventInsertBatch, len(events)-start)
		var sb strings.Builder
		sb.WriteString(`INSERT INTO events (` + eventColumns + `, shipment_id) VALUES `)
		for i := range n {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(" + placeholders(eventInsertColumns) + ")")
		}
		sb.WriteString(` ON CONFLICT DO NOTHING RETURNING id, source_id, idempotency_key`)
		query, qargs := sb.String(), args[start*eventInsertColumns:(start+n)*eventInsertColumns]
		if inInsert {
			query, qargs = withMessages(query, qargs, msgs)
		}
		rows, err := db.QueryContext(ctx, s.q(query), qargs...)
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
		err = eachRow(rows, func(sc scanner) error {
			var (
				id            string
				sourceID, key sql.NullString
			)
			if err := sc.Scan(&id, &sourceID, &key); err != nil {
				return err
			}
			inserted[eventRow{id, sourceID.String, key.String}] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}

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
			return nil, err
		}
		out[i] = dispatcher.Insert{ID: id}
	}
	if !inInsert {
		if err := s.insertMessages(ctx, db, created); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// withMessages returns insert, an INSERT INTO events ... RETURNING, and
// its args, made to store msgs too: those of the events it stores, in the
// same statement (PostgreSQL). The messages go as one array per column, so
// that the statement's text, which each connection prepares and keeps,
// depends on the number of events alone.
func withMessages(insert string, args []any, msgs []dispatcher.Message) (string, []any) {
	columns := make([][]any, messageColumnCount)
	row := make([]any, 0, messageColumnCount)
	for _, m := range msgs {
		row = appendMessage(row[:0], m)
		for j, v := range row {
			columns[j] = append(columns[j], v)
		}
	}
	args = slices.Clip(args)
	for _, c := range columns {
		args = append(args, c)
	}
	return `WITH ev AS (` + insert + `), ms AS (
		INSERT INTO messages (` + messageColumns + `)
		SELECT ` + messageColumns + ` FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]),
			CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS INTEGER[]),
			CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),
			CAST(? AS BIGINT[])) AS v (` + messageColumns + `)
		WHERE v.event_id COLLATE "C" IN (SELECT id FROM ev))
		SELECT id, source_id, idempotency_key FROM ev`, args
}

// insertMessagesStatement is an INSERT of msgs (at most messageInsertBatch)
// with a row of VALUES each, then rest, and its args.
func insertMessagesStatement(msgs []dispatcher.Message, rest string) (string, []any) {
	var (
		sb   strings.Builder
		args = make([]any, 0, len(msgs)*messageColumnCount)
	)
	sb.WriteString(`INSERT INTO messages (` + messageColumns + `) VALUES `)
	for i, m := range msgs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(" + placeholders(messageColumnCount) + ")")
		args = appendMessage(args, m)
	}
	sb.WriteString(rest)
	return sb.String(), args
}

// insertMessages stores msgs, messageInsertBatch to a statement.
func (s *Store) insertMessages(ctx context.Context, db querier, msgs []dispatcher.Message) error {
	for start := 0; start < len(msgs); start += messageInsertBatch {
		batch := msgs[start:min(start+messageInsertBatch, len(msgs))]
		query, args := insertMessagesStatement(batch, "")
		rows, err := db.QueryContext(ctx, s.q(query), args...)
		if err == nil {
			err = rows.Close()
		}
		if err != nil {
			return s.classify(err, "insert messages of event "+batch[0].EventID)
		}
	}
	return nil
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
		sourceID, key           sql.NullString
		shipment, parties, data string
		occurred, created       int64
		fannedOut, purged       sql.NullInt64
	)
	err := sc.Scan(&e.ID, &sourceID, &key, &e.Type, &occurred, &shipment, &parties, &data, &created, &fannedOut, &purged)
	if err != nil {
		return e, err
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
	e.SourceID, e.IdempotencyKey = sourceID.String, key.String
	e.OccurredAt, e.CreatedAt, e.FannedOutAt = fromMicros(occurred), fromMicros(created), timePtr(fannedOut)
	e.PurgedAt = timePtr(purged)
	return e, nil
}

// Event returns ErrNotFound.
func (s *Store) Event(ctx context.Context, id string) (dispatcher.Event, error) {
	e, err := scanEvent(s.db.QueryRowContext(ctx, s.q(`SELECT `+eventColumns+` FROM events WHERE id = ?`), id))
	if err != nil {
		return dispatcher.Event{}, notFound(err, "event "+id)
	}
	return e, nil
}

const messageColumns = `id, event_id, endpoint_id, partner_id, event_type, shipment_id, status, attempts,
	next_attempt_at, lease_until, last_status_code, last_error_class, created_at, updated_at`

// messageColumnCount is the number of messageColumns.
const messageColumnCount = 14

// messageInsertBatch is how many messages one INSERT statement carries.
const messageInsertBatch = 100

// FanOut stores msgs (all of event eventID; an empty EventID is taken as
// eventID) and marks the event fanned out, in one transaction. A message
// whose (event, endpoint) exists is kept as it is. An empty Status is
// pending; a pending message without NextAttemptAt is due at its CreatedAt;
// a zero CreatedAt or UpdatedAt is now. Returns every pending message of the
// event, new or not, and the delivering ones it stored (claimed by the
// caller as they were made), ordered by id. Returns ErrNotFound if the
// event does not exist.
func (s *Store) FanOut(ctx context.Context, eventID string, msgs []dispatcher.Message) ([]dispatcher.Message, error) {
	now := time.Now()
	sorted, err := fillMessages(eventID, msgs, now)
	if err != nil {
		return nil, err
	}
	// Insert in endpoint order, so that concurrent fan-outs of one event
	// take their locks in the same order.
	slices.SortFunc(sorted, func(a, b dispatcher.Message) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	tried := s.d.updateInWith && len(sorted) <= messageInsertBatch
	if tried {
		r, err := s.fanouts.do(ctx, fanout{eventID: eventID, msgs: sorted, now: now})
		if err != nil || r.first {
			return r.pending, err
		}
		// Nothing stored: the transaction below finds out why.
	}
	var pending []dispatcher.Message
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// First, so that it fails for a missing event and, in PostgreSQL,
		// queues concurrent fan-outs of the event behind its row lock.
		first, err := s.markFannedOut(ctx, tx, eventID, now, tried)
		if err != nil {
			return err
		}
		var stored []dispatcher.Message
		for start := 0; start < len(sorted); start += messageInsertBatch {
			batch := sorted[start:min(start+messageInsertBatch, len(sorted))]
			query, args := insertMessagesStatement(batch, ` ON CONFLICT (event_id, endpoint_id) DO NOTHING RETURNING `+messageColumns)
			rows, err := tx.QueryContext(ctx, s.q(query), args...)
			var ms []dispatcher.Message
			if err == nil {
				ms, err = collect(rows, scanMessage, "read the stored messages")
			}
			if err != nil {
				return s.classify(err, "insert messages of event "+eventID)
			}
			stored = append(stored, ms...)
		}
		if first {
			// Only FanOut makes messages, and it marks the event: one it
			// marks first has none but those just stored.
			pending = dueByID(stored)
			return nil
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages
			WHERE event_id = ? AND status = 'pending' ORDER BY id`), eventID)
		if err != nil {
			return fmt.Errorf("pending messages of event %s: %w", eventID, err)
		}
		before, err := collect(rows, scanMessage, "pending messages of event "+eventID)
		if err != nil {
			return err
		}
		// The SELECT sees the pending ones just stored; add the claimed.
		for _, m := range stored {
			if m.Status == dispatcher.StatusDelivering {
				before = append(before, m)
			}
		}
		pending = dueByID(before)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pending, nil
}

// appendMessage appends the messageColumns values of m to args.
func appendMessage(args []any, m dispatcher.Message) []any {
	return append(args, m.ID, m.EventID, m.EndpointID, m.PartnerID, m.EventType, m.ShipmentID, string(m.Status),
		m.Attempts, dueAt(m.Status, m.NextAttemptAt, m.CreatedAt), nullMicros(m.LeaseUntil),
		m.LastStatusCode, string(m.LastErrorClass), micros(m.CreatedAt), micros(m.UpdatedAt))
}

// markFirstQuery sets an event's fanned_out_at unless it is set, and
// returns its id if it did. Its condition is not written fanned_out_at IS
// NULL: that would let the planner find the event through events_unfanned,
// read whole, rather than its primary key, whenever the statistics were
// taken while few events waited for fan-out. During a burst many do, and
// every fan-out would read them all. fanned_out_at is never 0.
const markFirstQuery = `UPDATE events SET fanned_out_at = ? WHERE id = ? AND COALESCE(fanned_out_at, 0) = 0 RETURNING id`

// fanOutRow is a row of messageColumns values in fanOutFirst's VALUES.
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
		INSERT INTO messages (` + messageColumns + `)
		SELECT ` + messageColumns + ` FROM (VALUES `)
	args = append(args, micros(now), eventID)
	for i, m := range msgs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(fanOutRow)
		args = appendMessage(args, m)
	}
	sb.WriteString(`) AS v (` + messageColumns + `)
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

// dueAt is the next_attempt_at column of a message: next, or at for a
// pending message without one, so that DueMessages finds every pending
// message. A held message has none, whatever next says: it waits for
// WakeHeld, not for a time.
func dueAt(status dispatcher.Status, next *time.Time, at time.Time) any {
	switch {
	case status == dispatcher.StatusHeld:
		return nil
	case next == nil && status == dispatcher.StatusPending:
		return micros(at)
	}
	return nullMicros(next)
}

func scanMessage(sc scanner) (dispatcher.Message, error) {
	var (
		m                  dispatcher.Message
		status, errorClass string
		next, lease        sql.NullInt64
		created, updated   int64
	)
	err := sc.Scan(&m.ID, &m.EventID, &m.EndpointID, &m.PartnerID, &m.EventType, &m.ShipmentID, &status, &m.Attempts,
		&next, &lease, &m.LastStatusCode, &errorClass, &created, &updated)
	if err != nil {
		return m, err
	}
	m.Status, m.LastErrorClass = dispatcher.Status(status), dispatcher.ErrorClass(errorClass)
	m.NextAttemptAt, m.LeaseUntil = timePtr(next), timePtr(lease)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return m, nil
}

// ClaimMessage moves the message to delivering, leased until leaseUntil, if
// it has made exactly attempts attempts and is pending, or delivering with
// its lease past. Of concurrent claims with the same attempts, one wins.
// When ok is false, m is the message as it stands. Returns ErrNotFound if
// the message does not exist.
func (s *Store) ClaimMessage(ctx context.Context, id string, attempts int, leaseUntil time.Time) (dispatcher.Message, bool, error) {
	c, err := s.claims.do(ctx, claim{id: id, attempts: attempts, leaseUntil: leaseUntil})
	return c.m, c.ok, err
}

// claimOne makes one claim with a one-row UPDATE by primary key.
func (s *Store) claimOne(ctx context.Context, c claim) (claimed, error) {
	query, args := claimStatement(c, micros(time.Now()))
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(query), args...))
	if err == nil {
		return claimed{m, true}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return claimed{}, fmt.Errorf("claim message %s: %w", c.id, err)
	}
	return s.lost(ctx, c.id)
}

// lost answers a claim not won: the message as it stands.
func (s *Store) lost(ctx context.Context, id string) (claimed, error) {
	m, err := s.Message(ctx, id)
	if err != nil {
		return claimed{}, err
	}
	return claimed{m, false}, nil
}

// claimStatement is the UPDATE of claim c, made at now, which finds the
// message by its primary key; it returns the message if it won.
func claimStatement(c claim, now int64) (string, []any) {
	return `UPDATE messages SET status = 'delivering', lease_until = ?, updated_at = ?
		WHERE id = ? AND attempts = ? AND (status = 'pending' OR (status = 'delivering' AND lease_until < ?))
		RETURNING ` + messageColumns, []any{micros(c.leaseUntil), now, c.id, c.attempts, now}
}

// RecordAttempt stores a and applies o to its message: status, attempts+1,
// next attempt (now, for pending without one; none for held), lease
// cleared, and a's StatusCode and ErrorClass as its last ones; in one
// transaction. A zero a.Number is taken as the message's attempt count
// after this one; empty EndpointID and PartnerID are the message's.
// Returns ErrNotFound if the message does not exist.
func (s *Store) RecordAttempt(ctx context.Context, a dispatcher.Attempt, o dispatcher.Outcome) error {
	if a.ID == "" {
		return fmt.Errorf("record attempt of message %s: the attempt has no id", a.MessageID)
	}
	headers := "{}"
	if len(a.ResponseHeaders) > 0 {
		b, err := json.Marshal(a.ResponseHeaders)
		if err != nil {
			return fmt.Errorf("attempt %s: encode response headers: %w", a.ID, err)
		}
		headers = string(b)
	}
	_, err := s.records.do(ctx, record{a: a, o: o, headers: headers})
	return err
}

// recordOne records one attempt: on PostgreSQL with one statement, on
// SQLite in a transaction.
func (s *Store) recordOne(ctx context.Context, r record) error {
	if !s.d.updateInWith {
		return s.inTx(ctx, func(tx *sql.Tx) error { return s.recordInTx(ctx, tx, r) })
	}
	query, args := recordStatement(r, time.Now())
	var id string
	err := s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound(err, "message "+r.a.MessageID)
	case err != nil:
		return s.classify(err, "attempt "+r.a.ID)
	}
	return nil
}

// recordStatement is the one statement that records r at now, for a
// dialect with updateInWith: the attempt is stored only if the UPDATE finds
// the message, and it returns the message's id then, no row otherwise.
func recordStatement(r record, now time.Time) (string, []any) {
	a, o := r.a, r.o
	var number any // NULL: the message's attempt count
	if a.Number > 0 {
		number = a.Number
	}
	return `WITH m AS (
			UPDATE messages SET attempts = attempts + 1, status = ?, next_attempt_at = ?, lease_until = NULL,
				last_status_code = ?, last_error_class = ?, updated_at = ?
			WHERE id = ? RETURNING id, attempts, endpoint_id, partner_id
		)
		INSERT INTO attempts (` + attemptColumns + `)
		SELECT ?, m.id, COALESCE(?, m.endpoint_id), COALESCE(?, m.partner_id), COALESCE(?, m.attempts),
			?, ?, ?, ?, ?, ?, ?, ?, ?
		FROM m RETURNING message_id`,
		[]any{string(o.Status), dueAt(o.Status, o.NextAttemptAt, now), a.StatusCode, string(a.ErrorClass), micros(now),
			a.MessageID,
			a.ID, nullString(a.EndpointID), nullString(a.PartnerID), number,
			a.Trigger, a.URL, micros(a.StartedAt), a.DurationMS, a.StatusCode, a.ResponseBody, r.headers,
			string(a.ErrorClass), a.Error}
}

// recordInTx records one attempt in tx (SQLite).
func (s *Store) recordInTx(ctx context.Context, tx *sql.Tx, r record) error {
	a, o := r.a, r.o
	now := time.Now()
	var (
		attempts              int
		endpointID, partnerID string
	)
	err := tx.QueryRowContext(ctx, s.q(`UPDATE messages SET attempts = attempts + 1, status = ?, next_attempt_at = ?,
		lease_until = NULL, last_status_code = ?, last_error_class = ?, updated_at = ?
		WHERE id = ? RETURNING attempts, endpoint_id, partner_id`),
		string(o.Status), dueAt(o.Status, o.NextAttemptAt, now), a.StatusCode, string(a.ErrorClass), micros(now),
		a.MessageID).Scan(&attempts, &endpointID, &partnerID)
	if err != nil {
		return notFound(err, "message "+a.MessageID)
	}
	if a.Number <= 0 {
		a.Number = attempts
	}
	if a.EndpointID == "" {
		a.EndpointID = endpointID
	}
	if a.PartnerID == "" {
		a.PartnerID = partnerID
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO attempts (`+attemptColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.ID, a.MessageID, a.EndpointID, a.PartnerID, a.Number, a.Trigger, a.URL, micros(a.StartedAt), a.DurationMS,
		a.StatusCode, a.ResponseBody, r.headers, string(a.ErrorClass), a.Error)
	if err != nil {
		return s.classify(err, "attempt "+a.ID)
	}
	return nil
}

const attemptColumns = `id, message_id, endpoint_id, partner_id, number, trigger, url, started_at, duration_ms,
	status_code, response_body, response_headers, error_class, error`

func scanAttempt(sc scanner) (dispatcher.Attempt, error) {
	var (
		a                   dispatcher.Attempt
		started             int64
		headers, errorClass string
	)
	err := sc.Scan(&a.ID, &a.MessageID, &a.EndpointID, &a.PartnerID, &a.Number, &a.Trigger, &a.URL, &started, &a.DurationMS,
		&a.StatusCode, &a.ResponseBody, &headers, &errorClass, &a.Error)
	if err != nil {
		return a, err
	}
	if headers != "{}" && headers != "" {
		if err := json.Unmarshal([]byte(headers), &a.ResponseHeaders); err != nil {
			return a, fmt.Errorf("attempt %s: decode response headers: %w", a.ID, err)
		}
	}
	a.StartedAt, a.ErrorClass = fromMicros(started), dispatcher.ErrorClass(errorClass)
	return a, nil
}

// SetMessageStatus sets status and next attempt of a message (now, for
// pending without one; none for held) and clears its lease. Returns
// ErrNotFound.
func (s *Store) SetMessageStatus(ctx context.Context, id string, o dispatcher.Outcome) error {
	now := time.Now()
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE messages SET status = ?, next_attempt_at = ?, lease_until = NULL, updated_at = ?
		WHERE id = ?`), string(o.Status), dueAt(o.Status, o.NextAttemptAt, now), micros(now), id)
	if err != nil {
		return fmt.Errorf("set status of message %s: %w", id, err)
	}
	return mustAffect(res, "message "+id)
}

// DeferMessage moves the next attempt of a message that is pending with
// attempts attempts made to at; ok is false if it is not in that state.
// Calls made at the same moment go together, holds included (see
// batcher).
func (s *Store) DeferMessage(ctx context.Context, id string, attempts int, at time.Time) (bool, error) {
	return s.defers.do(ctx, deferral{id: id, attempts: attempts, at: at})
}

// HoldMessage makes a message that is pending with attempts attempts made
// held, with no next attempt and no lease, keeping its attempt count: it
// waits for WakeHeld, and DueMessages never returns it. ok is false if it
// is not in that state. Calls made at the same moment go together,
// deferrals included (see batcher).
func (s *Store) HoldMessage(ctx context.Context, id string, attempts int) (bool, error) {
	return s.defers.do(ctx, deferral{id: id, attempts: attempts, hold: true})
}

// deferStatement is the UPDATE of deferral d, made at now, which finds the
// message by its primary key; it returns the message's id if it moved.
func deferStatement(d deferral, now int64) (string, []any) {
	if d.hold {
		return `UPDATE messages SET status = 'held', next_attempt_at = NULL, lease_until = NULL, updated_at = ?
			WHERE id = ? AND status = 'pending' AND attempts = ? RETURNING id`,
			[]any{now, d.id, d.attempts}
	}
	return `UPDATE messages SET next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND status = 'pending' AND attempts = ? RETURNING id`,
		[]any{micros(d.at), now, d.id, d.attempts}
}

// deferOne makes one deferral or hold with a one-row UPDATE by primary
// key.
func (s *Store) deferOne(ctx context.Context, d deferral) (bool, error) {
	query, args := deferStatement(d, micros(time.Now()))
	var id string
	err := s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		what := "defer"
		if d.hold {
			what = "hold"
		}
		return false, fmt.Errorf("%s message %s: %w", what, d.id, err)
	}
	return true, nil
}

// Message returns ErrNotFound.
func (s *Store) Message(ctx context.Context, id string) (dispatcher.Message, error) {
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages WHERE id = ?`), id))
	if err != nil {
		return dispatcher.Message{}, notFound(err, "message "+id)
	}
	return m, nil
}

// ListMessages returns at most q.Limit (default 50) messages matching every
// non-empty field of q, newest (greatest id) first; q.After is the id of the
// last message of the previous page, and the page holds older ones. An empty
// q.PartnerID matches every partner.
func (s *Store) ListMessages(ctx context.Context, q dispatcher.MessageQuery) ([]dispatcher.Message, error) {
	query, args := listMessagesQuery(q)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return collect(rows, scanMessage, "list messages")
}

// listMessagesQuery returns the query of ListMessages and its arguments.
func listMessagesQuery(q dispatcher.MessageQuery) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if q.PartnerID != "" {
		add("partner_id = ?", q.PartnerID)
	}
	if q.EndpointID != "" {
		add("endpoint_id = ?", q.EndpointID)
	}
	if q.EventType != "" {
		add("event_type = ?", q.EventType)
	}
	if q.ShipmentID != "" {
		add("shipment_id = ?", q.ShipmentID)
	}
	switch q.Status {
	case "":
	case dispatcher.StatusPending, dispatcher.StatusHeld, dispatcher.StatusDelivering, dispatcher.StatusSucceeded,
		dispatcher.StatusFailed, dispatcher.StatusDisabled:
		// One of a fixed set, written as a literal so that both databases
		// may read the partial indexes of failed messages (in PostgreSQL
		// also in a generic plan, which cannot see a parameter's value).
		where = append(where, "status = '"+string(q.Status)+"'")
	default:
		add("status = ?", string(q.Status))
	}
	if q.ErrorClass != "" {
		// The literal condition lets both databases read messages_errors.
		add("last_error_class = ? AND last_error_class <> ''", string(q.ErrorClass))
	}
	if q.Since != nil {
		add("created_at >= ?", micros(*q.Since))
	}
	if q.Until != nil {
		add("created_at < ?", micros(*q.Until))
	}
	if q.After != "" {
		add("id < ?", q.After)
	}
	query := `SELECT ` + messageColumns + ` FROM messages`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ?`
	return query, append(args, limitOf(q.Limit))
}

// ListAttempts returns at most page.Limit (default 50) of a message's
// attempts ordered by number (then id), after the attempt page.After.
func (s *Store) ListAttempts(ctx context.Context, messageID string, page subscriptions.Page) ([]dispatcher.Attempt, error) {
	query := `SELECT ` + attemptColumns + ` FROM attempts WHERE message_id = ?`
	args := []any{messageID}
	if page.After != "" {
		query += ` AND (number, id) > (SELECT number, id FROM attempts WHERE id = ?)`
		args = append(args, page.After)
	}
	query += ` ORDER BY number, id LIMIT ?`
	args = append(args, limitOf(page.Limit))
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", messageID, err)
	}
	return collect(rows, scanAttempt, "list attempts of "+messageID)
}

// UnfannedEvents returns ids of at most limit (default 50) events created
// before t and not fanned out, oldest first.
func (s *Store) UnfannedEvents(ctx context.Context, before time.Time, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM events WHERE fanned_out_at IS NULL AND created_at < ?
		ORDER BY created_at, id LIMIT ?`), micros(before), limitOf(limit))
	if err != nil {
		return nil, fmt.Errorf("unfanned events: %w", err)
	}
	return collect(rows, func(sc scanner) (string, error) {
		var id string
		err := sc.Scan(&id)
		return id, err
	}, "unfanned events")
}

// DueMessages returns at most limit (default 50) messages that are pending
// with their next attempt before t, or delivering with their lease before
// t, ordered by that time (oldest due first).
func (s *Store) DueMessages(ctx context.Context, before time.Time, limit int) ([]dispatcher.Message, error) {
	limit = limitOf(limit)
	t := micros(before)
	// Each half reads its own partial index in order; the literal statuses
	// let both databases match those indexes' WHERE clauses.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+messageColumns+`, due FROM (
			SELECT `+messageColumns+`, next_attempt_at AS due FROM messages
			WHERE status = 'pending' AND next_attempt_at < ? ORDER BY next_attempt_at, id LIMIT ?
		) pending
		UNION ALL
		SELECT `+messageColumns+`, due FROM (
			SELECT `+messageColumns+`, lease_until AS due FROM messages
			WHERE status = 'delivering' AND lease_until < ? ORDER BY lease_until, id LIMIT ?
		) leased
		ORDER BY due, id LIMIT ?`), t, limit, t, limit, limit)
	if err != nil {
		return nil, fmt.Errorf("due messages: %w", err)
	}
	return collect(rows, func(sc scanner) (dispatcher.Message, error) {
		var due int64
		return scanMessage(withExtra{sc, &due})
	}, "due messages")
}

// withExtra scans a row that has the extra columns after those its caller
// knows of.
type withExtra struct {
	scanner
	extra any
}

func (w withExtra) Scan(dest ...any) error {
	return w.scanner.Scan(append(dest, w.extra)...)
}

// ResumeMessages moves every disabled message of the endpoint back to
// pending, due at, with no lease, in one transaction, and returns them
// ordered by id. Messages in any other state stay as they are; an endpoint
// without disabled messages (or an unknown one) gives none.
func (s *Store) ResumeMessages(ctx context.Context, endpointID string, at time.Time) ([]dispatcher.Message, error) {
	return s.moveMessages(ctx, "resume messages of endpoint "+endpointID,
		`UPDATE messages SET status = 'pending', next_attempt_at = ?, lease_until = NULL,
			updated_at = ? WHERE endpoint_id = ? AND status = 'disabled' RETURNING `+messageColumns,
		micros(at), micros(time.Now()), endpointID)
}

// moveMessages runs query, an UPDATE of messages that returns
// messageColumns, and returns the messages it moved, ordered by id. It
// runs in a transaction of its own, so that the messages are moved only if
// the caller gets them all back to enqueue. what names the change in
// errors.
func (s *Store) moveMessages(ctx context.Context, what, query string, args ...any) ([]dispatcher.Message, error) {
	var moved []dispatcher.Message
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		moved, err = collect(rows, scanMessage, what)
		return err
	})
	if err != nil {
		return nil, err
	}
	sortByID(moved)
	return moved, nil
}

// sortByID orders ms by id.
func sortByID(ms []dispatcher.Message) {
	slices.SortFunc(ms, func(a, b dispatcher.Message) int { return strings.Compare(a.ID, b.ID) })
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
func (s *Store) HeldEndpoints(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, heldEndpointsQuery)
	if err != nil {
		return nil, fmt.Errorf("endpoints with held messages: %w", err)
	}
	return collect(rows, func(sc scanner) (string, error) {
		var id string
		err := sc.Scan(&id)
		return id, err
	}, "endpoints with held messages")
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
func (s *Store) WakeHeld(ctx context.Context, endpointID, after string, limit int, leaseUntil time.Time) ([]dispatcher.Message, error) {
	// Workers of several processes may wake one endpoint at once: in
	// PostgreSQL each call's subquery passes over the messages another has
	// locked, and a message another woke meanwhile no longer matches when
	// it is locked, so each message is woken, and returned, by one call
	// only. SQLite runs one writer at a time.
	return s.moveMessages(ctx, "wake held messages of endpoint "+endpointID, wakeHeldQuery(s.d),
		micros(leaseUntil), micros(time.Now()), endpointID, after, endpointID, limitOf(limit))
}

// healthQuery counts an endpoint's attempts of the last day and hour, finds
// its last success, and counts the attempts after it, which all failed.
// Each part reads a bounded range of attempts_endpoint: the day's entries,
// and those from now back to the last success (to find it, then to count
// them).
const healthQuery = `WITH last_success AS (
		SELECT started_at FROM attempts
		WHERE endpoint_id = ? AND error_class = '' AND started_at <= ?
		ORDER BY started_at DESC LIMIT 1
	)
	SELECT
		COUNT(*),
		COALESCE(SUM(CASE WHEN error_class = '' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN started_at >= ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN started_at >= ? AND error_class = '' THEN 1 ELSE 0 END), 0),
		(SELECT started_at FROM last_success),
		(SELECT COUNT(*) FROM attempts
			WHERE endpoint_id = ? AND started_at <= ?
			AND started_at > COALESCE((SELECT started_at FROM last_success), ?))
	FROM attempts
	WHERE endpoint_id = ? AND started_at >= ? AND started_at <= ?`

// EndpointHealth sums up the endpoint's attempts as of now: those that
// started in the hour and the day up to now (both ends included), the
// failures since the last success (every failure if it never succeeded),
// when the last success started, and the last failure. An attempt succeeded
// when its ErrorClass is empty. Attempts started after now are left out.
// An endpoint without attempts, or an unknown one, gives zeros and nils.
// Ties in StartedAt break arbitrarily. The summary and the last failure are
// two reads: an attempt recorded between them may show in one only.
func (s *Store) EndpointHealth(ctx context.Context, endpointID string, now time.Time) (dispatcher.Health, error) {
	var (
		h           dispatcher.Health
		lastSuccess sql.NullInt64
		t           = micros(now)
	)
	err := s.db.QueryRowContext(ctx, s.q(healthQuery),
		endpointID, t,
		micros(now.Add(-time.Hour)), micros(now.Add(-time.Hour)),
		endpointID, t, int64(math.MinInt64),
		endpointID, micros(now.Add(-24*time.Hour)), t,
	).Scan(&h.AttemptsDay, &h.SucceededDay, &h.AttemptsHour, &h.SucceededHour, &lastSuccess, &h.ConsecutiveFailures)
	if err != nil {
		return dispatcher.Health{}, fmt.Errorf("health of endpoint %s: %w", endpointID, err)
	}
	h.LastSuccessAt = timePtr(lastSuccess)

	// The literal condition lets both databases read the partial index of
	// failures, attempts_endpoint_failures.
	last, err := scanAttempt(s.db.QueryRowContext(ctx, s.q(`SELECT `+attemptColumns+` FROM attempts
		WHERE endpoint_id = ? AND error_class <> '' AND started_at <= ?
		ORDER BY started_at DESC LIMIT 1`), endpointID, t))
	switch {
	case err == nil:
		h.LastFailure = &last
	case !errors.Is(err, sql.ErrNoRows):
		return dispatcher.Health{}, fmt.Errorf("last failure of endpoint %s: %w", endpointID, err)
	}
	return h, nil
}

// ListEvents returns at most q.Limit (default 50) events matching q, newest
// (greatest id) first; q.After is the id of the last event of the previous
// page, and the page holds older ones. q.Type is an exact type, or a prefix
// wildcard ending in ".*" that matches the types that start with the part
// before the "*" and go on past it ("a.b.*" matches "a.b.x", not "a.b"),
// as an endpoint's event types do; empty or "*" matches every type.
// q.ShipmentID, when not empty, is the shipment's exact id.
func (s *Store) ListEvents(ctx context.Context, q dispatcher.EventQuery) ([]dispatcher.Event, error) {
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

// SearchAttempts returns at most q.Limit (default 50) attempts matching every
// non-empty field of q, newest (greatest id) first; q.After is the id of the
// last attempt of the previous page, and the page holds older ones. Failed
// matches attempts with an error class; empty fields match all, partners
// included.
func (s *Store) SearchAttempts(ctx context.Context, q dispatcher.AttemptQuery) ([]dispatcher.Attempt, error) {
	query, args := searchAttemptsQuery(q)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("search attempts: %w", err)
	}
	return collect(rows, scanAttempt, "search attempts")
}

// searchAttemptsQuery returns the query of SearchAttempts and its arguments.
func searchAttemptsQuery(q dispatcher.AttemptQuery) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg ...any) {
		where = append(where, cond)
		args = append(args, arg...)
	}
	if q.PartnerID != "" {
		add("partner_id = ?", q.PartnerID)
	}
	if q.EndpointID != "" {
		add("endpoint_id = ?", q.EndpointID)
	}
	if q.MessageID != "" {
		add("message_id = ?", q.MessageID)
	}
	// Attempts carry no shipment or type: those filters go through the
	// message (messages_shipment serves the shipment; see docs/indexes.md
	// for the cost of the type).
	if q.ShipmentID != "" {
		add("message_id IN (SELECT id FROM messages WHERE shipment_id = ?)", q.ShipmentID)
	}
	if q.EventType != "" {
		add("message_id IN (SELECT id FROM messages WHERE event_type = ?)", q.EventType)
	}
	// The literal condition lets both databases read the partial indexes of
	// failures: attempts_errors, attempts_failed, attempts_partner_failed.
	if q.ErrorClass != "" {
		add("error_class = ?", string(q.ErrorClass))
	}
	if q.ErrorClass != "" || q.Failed {
		add("error_class <> ''")
	}
	if q.Since != nil {
		add("started_at >= ?", micros(*q.Since))
	}
	if q.Until != nil {
		add("started_at < ?", micros(*q.Until))
	}
	if q.After != "" {
		add("id < ?", q.After)
	}
	query := `SELECT ` + attemptColumns + ` FROM attempts`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ?`
	return query, append(args, limitOf(q.Limit))
}

// Attempt returns ErrNotFound.
func (s *Store) Attempt(ctx context.Context, id string) (dispatcher.Attempt, error) {
	a, err := scanAttempt(s.db.QueryRowContext(ctx, s.q(`SELECT `+attemptColumns+` FROM attempts WHERE id = ?`), id))
	if err != nil {
		return dispatcher.Attempt{}, notFound(err, "attempt "+id)
	}
	return a, nil
}

// RetryMessage makes the message pending and due at at, with no lease,
// whatever its status, keeping its attempt count and last attempt's result,
// and returns it. Returns ErrConflict if it is delivering with a lease that
// has not run out (as ClaimMessage sees it: lease_until not before now), or
// ErrNotFound.
func (s *Store) RetryMessage(ctx context.Context, id string, at time.Time) (dispatcher.Message, error) {
	now := micros(time.Now())
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(`UPDATE messages SET status = 'pending', next_attempt_at = ?,
		lease_until = NULL, updated_at = ?
		WHERE id = ? AND NOT (status = 'delivering' AND lease_until IS NOT NULL AND lease_until >= ?)
		RETURNING `+messageColumns), micros(at), now, id, now))
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return dispatcher.Message{}, fmt.Errorf("retry message %s: %w", id, err)
	}
	if _, err := s.Message(ctx, id); err != nil {
		return dispatcher.Message{}, err
	}
	return dispatcher.Message{}, fmt.Errorf("retry message %s: an attempt is under way: %w", id, subscriptions.ErrConflict)
}

// eventsBatch is how many ids one IN list of MessagesOfEvents carries, well
// below either database's limit on parameters.
const eventsBatch = 500

// MessagesOfEvents returns the messages of these events (each event once,
// however often its id is given), ordered by id. Unknown events give none.
func (s *Store) MessagesOfEvents(ctx context.Context, eventIDs []string) ([]dispatcher.Message, error) {
	ids := slices.Clone(eventIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []dispatcher.Message
	for start := 0; start < len(ids); start += s.eventsBatch {
		batch := ids[start:min(start+s.eventsBatch, len(ids))]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages
			WHERE event_id IN (`+placeholders(len(batch))+`) ORDER BY id`), args...)
		if err != nil {
			return nil, fmt.Errorf("messages of events: %w", err)
		}
		msgs, err := collect(rows, scanMessage, "messages of events")
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	if len(ids) > s.eventsBatch {
		sortByID(out)
	}
	return out, nil
}

// MessageOf returns the message of an event to an endpoint, or ErrNotFound.
func (s *Store) MessageOf(ctx context.Context, eventID, endpointID string) (dispatcher.Message, error) {
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages
		WHERE event_id = ? AND endpoint_id = ?`), eventID, endpointID))
	if err != nil {
		return dispatcher.Message{}, notFound(err, "message of event "+eventID+" to endpoint "+endpointID)
	}
	return m, nil
}
