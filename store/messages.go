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

// This file implements the messages of dispatcher.Store: storing and reading
// them, and changing their state (claims, deferrals, retries, resumes).

// messageInsertColumns are the columns an INSERT of messages writes;
// sequence is written by the numbering of ordered messages (ordered.go).
const messageInsertColumns = `id, event_id, endpoint_id, partner_id, event_type, shipment_id, status, attempts,
	next_attempt_at, lease_until, last_status_code, last_error_class, created_at, updated_at`

// messageColumns are the columns scanMessage reads.
const messageColumns = messageInsertColumns + `, sequence`

// messageColumnCount is the number of messageInsertColumns.
const messageColumnCount = 14

// messageInsertBatch is how many messages one INSERT statement carries.
const messageInsertBatch = 100

// appendMessage appends the messageInsertColumns values of m to args.
func appendMessage(args []any, m dispatcher.Message) []any {
	return append(args, m.ID, m.EventID, m.EndpointID, m.PartnerID, m.EventType, m.ShipmentID, string(m.Status),
		m.Attempts, messageDueAt(m), nullMicros(m.LeaseUntil),
		m.LastStatusCode, string(m.LastErrorClass), micros(m.CreatedAt), micros(m.UpdatedAt))
}

// insertMessagesStatement is an INSERT of msgs (at most messageInsertBatch)
// with a row of VALUES each, their sequences too, then rest, and its args.
func insertMessagesStatement(msgs []dispatcher.Message, rest string) (string, []any) {
	var (
		sb   strings.Builder
		args = make([]any, 0, len(msgs)*messageColumnCount)
	)
	sb.WriteString(`INSERT INTO messages (` + messageInsertColumns + `, sequence) VALUES `)
	sb.WriteString(valueRows(len(msgs), messageColumnCount+1))
	for _, m := range msgs {
		args = append(appendMessage(args, m), nullSequence(m.Sequence))
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

// nullSequence is the sequence column of a message numbered n: NULL for
// 0, an unordered message.
func nullSequence(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

// dueAt is the next_attempt_at column of a message: next, or at for a
// pending message without one, so that DueMessages finds every pending
// message. A held message has none, whatever next says: it waits for
// WakeHeld, not for a time.
// messageDueAt is dueAt for a message being stored: a pull message
// (Message.Pull) has no next attempt; it waits in its endpoint's feed.
func messageDueAt(m dispatcher.Message) any {
	if m.Pull {
		return nil
	}
	return dueAt(m.Status, m.NextAttemptAt, m.CreatedAt)
}

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
		next, lease, seq   sql.NullInt64
		created, updated   int64
	)
	err := sc.Scan(&m.ID, &m.EventID, &m.EndpointID, &m.PartnerID, &m.EventType, &m.ShipmentID, &status, &m.Attempts,
		&next, &lease, &m.LastStatusCode, &errorClass, &created, &updated, &seq)
	if err != nil {
		return m, err
	}
	m.Status, m.LastErrorClass = dispatcher.Status(status), dispatcher.ErrorClass(errorClass)
	m.NextAttemptAt, m.LeaseUntil = timePtr(next), timePtr(lease)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	m.Sequence = seq.Int64
	return m, nil
}

// Message returns ErrNotFound.
func (s *Store) Message(ctx context.Context, id string) (_ dispatcher.Message, err error) {
	defer s.unavailable(&err)
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
func (s *Store) ListMessages(ctx context.Context, q dispatcher.MessageQuery) (_ []dispatcher.Message, err error) {
	defer s.unavailable(&err)
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
		dispatcher.StatusFailed, dispatcher.StatusDisabled, dispatcher.StatusWaiting, dispatcher.StatusDiscarded:
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

// eventsBatch is how many ids one IN list of MessagesOfEvents carries, well
// below either database's limit on parameters.
const eventsBatch = 500

// MessagesOfEvents returns the messages of these events (each event once,
// however often its id is given), ordered by id. Unknown events give none.
func (s *Store) MessagesOfEvents(ctx context.Context, eventIDs []string) (_ []dispatcher.Message, err error) {
	defer s.unavailable(&err)
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
func (s *Store) MessageOf(ctx context.Context, eventID, endpointID string) (_ dispatcher.Message, err error) {
	defer s.unavailable(&err)
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages
		WHERE event_id = ? AND endpoint_id = ?`), eventID, endpointID))
	if err != nil {
		return dispatcher.Message{}, notFound(err, "message of event "+eventID+" to endpoint "+endpointID)
	}
	return m, nil
}

// ClaimMessage moves the message to delivering, leased until leaseUntil, if
// it has made exactly attempts attempts and is pending, or delivering with
// its lease past. Of concurrent claims with the same attempts, one wins.
// When ok is false, m is the message as it stands. Returns ErrNotFound if
// the message does not exist.
func (s *Store) ClaimMessage(ctx context.Context, id string, attempts int, leaseUntil time.Time) (_ dispatcher.Message, _ bool, err error) {
	defer s.unavailable(&err)
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

// SetMessageStatus sets status and next attempt of a message (now, for
// pending without one; none for held) and clears its lease. Returns
// ErrNotFound.
func (s *Store) SetMessageStatus(ctx context.Context, id string, o dispatcher.Outcome) (err error) {
	defer s.unavailable(&err)
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
func (s *Store) DeferMessage(ctx context.Context, id string, attempts int, at time.Time) (_ bool, err error) {
	defer s.unavailable(&err)
	return s.defers.do(ctx, deferral{id: id, attempts: attempts, at: at})
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

// RetryMessage makes the message pending and due at at, with no lease,
// whatever its status but waiting, keeping its attempt count and last attempt's result,
// and returns it. Returns ErrConflict if it is delivering with a lease that
// has not run out (as ClaimMessage sees it: lease_until not before now) or
// waiting behind an earlier message of its ordered queue, or ErrNotFound.
func (s *Store) RetryMessage(ctx context.Context, id string, at time.Time) (_ dispatcher.Message, err error) {
	defer s.unavailable(&err)
	now := micros(time.Now())
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(`UPDATE messages SET status = 'pending', next_attempt_at = ?,
		lease_until = NULL, updated_at = ?
		WHERE id = ? AND NOT (status = 'delivering' AND lease_until IS NOT NULL AND lease_until >= ?) AND status <> 'waiting'
		RETURNING `+messageColumns), micros(at), now, id, now))
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return dispatcher.Message{}, fmt.Errorf("retry message %s: %w", id, err)
	}
	was, err := s.Message(ctx, id)
	if err != nil {
		return dispatcher.Message{}, err
	}
	if was.Status == dispatcher.StatusWaiting {
		return dispatcher.Message{}, fmt.Errorf("retry message %s: it waits for an earlier message of its shipment to this endpoint: %w",
			id, subscriptions.ErrConflict)
	}
	return dispatcher.Message{}, fmt.Errorf("retry message %s: an attempt is under way: %w", id, subscriptions.ErrConflict)
}

// DueMessages returns at most limit (default 50) messages that are pending
// with their next attempt before t, or delivering with their lease before
// t, ordered by that time (oldest due first).
func (s *Store) DueMessages(ctx context.Context, before time.Time, limit int) (_ []dispatcher.Message, err error) {
	defer s.unavailable(&err)
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
func (s *Store) ResumeMessages(ctx context.Context, endpointID string, at time.Time) (_ []dispatcher.Message, err error) {
	defer s.unavailable(&err)
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
