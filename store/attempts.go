package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the attempts of dispatcher.Store: recording an
// attempt with its outcome, and reading attempts back.

const attemptColumns = `id, message_id, endpoint_id, partner_id, number, trigger, url, started_at, duration_ms,
	status_code, response_body, response_headers, error_class, error`

// RecordAttempt stores a and applies o to its message: status, attempts+1,
// next attempt (now, for pending without one; none for held), lease
// cleared, and a's StatusCode and ErrorClass as its last ones; in one
// transaction. A positive a.Number names the claim that made the attempt:
// the record lands only while the message is delivering with a.Number-1
// attempts made (fenced). A zero a.Number names no claim: the attempt is
// the message's next, whatever its state. Empty EndpointID and PartnerID
// are the message's. Returns dispatcher.ErrClaimLost if the fence keeps
// the record out, ErrNotFound if the message does not exist.
func (s *Store) RecordAttempt(ctx context.Context, a dispatcher.Attempt, o dispatcher.Outcome) (err error) {
	defer s.unavailable(&err)
	r, err := newRecord(a, o)
	if err != nil {
		return err
	}
	_, err = s.records.do(ctx, r)
	return err
}

// newRecord returns the record of a with o, its response headers encoded.
func newRecord(a dispatcher.Attempt, o dispatcher.Outcome) (record, error) {
	if a.ID == "" {
		return record{}, fmt.Errorf("record attempt of message %s: the attempt has no id", a.MessageID)
	}
	headers := "{}"
	if len(a.ResponseHeaders) > 0 {
		b, err := json.Marshal(a.ResponseHeaders)
		if err != nil {
			return record{}, fmt.Errorf("attempt %s: encode response headers: %w", a.ID, err)
		}
		headers = string(b)
	}
	return record{a: a, o: o, headers: headers}, nil
}

// errNotRecorded says that a record's UPDATE found no message to apply
// it to: none, or none its fence lets in (notRecorded tells which).
var errNotRecorded = errors.New("not recorded")

// recordOne records one attempt, with the move of its queue's head if it
// has an end: on PostgreSQL with one statement (three, sent together, with
// an end), on SQLite in a transaction.
func (s *Store) recordOne(ctx context.Context, r record) (recorded, error) {
	if !s.d.updateInWith {
		var res recorded
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			res, err = s.recordEndInTx(ctx, tx, r)
			return err
		})
		if errors.Is(err, errNotRecorded) {
			return res, s.notRecorded(ctx, r.a)
		}
		return res, err
	}
	now := time.Now()
	query, args := recordStatement(r, now)
	if r.end != nil {
		var (
			res   recorded
			found bool
		)
		steps := append([]step{{query: query, args: args, row: func(scanner) error { found = true; return nil }}},
			endSteps(r, now, func(next dispatcher.Message) { res = recorded{next, true} })...)
		if err := s.together(ctx, steps); err != nil {
			return res, s.classify(err, "attempt "+r.a.ID)
		}
		if !found {
			return res, s.notRecorded(ctx, r.a)
		}
		return res, nil
	}
	var id string
	err := s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return recorded{}, s.notRecorded(ctx, r.a)
	case err != nil:
		return recorded{}, s.classify(err, "attempt "+r.a.ID)
	}
	return recorded{}, nil
}

// recordEndInTx records one attempt in tx and, if it has an end, moves
// its queue's head (advanceHead).
func (s *Store) recordEndInTx(ctx context.Context, tx *sql.Tx, r record) (recorded, error) {
	m, err := s.recordInTx(ctx, tx, r)
	if err != nil || r.end == nil || m.Sequence == 0 {
		return recorded{}, err
	}
	next, ok, err := s.advanceHead(ctx, tx, m, r.end.leaseUntil)
	return recorded{next, ok}, err
}

// notRecorded explains why attempt a was not recorded: ErrNotFound if its
// message does not exist, else dispatcher.ErrClaimLost.
func (s *Store) notRecorded(ctx context.Context, a dispatcher.Attempt) error {
	var one int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM messages WHERE id = ?`), a.MessageID).Scan(&one)
	if err != nil {
		return notFound(err, "message "+a.MessageID)
	}
	return fmt.Errorf("attempt %d of message %s: %w", a.Number, a.MessageID, dispatcher.ErrClaimLost)
}

// recordUpdate is the UPDATE that applies an attempt with number to its
// message, at the parameters: status, next attempt, last status code and
// error class, now, the message's id, and, for a positive number, the
// fence's attempt count.
func recordUpdate(number int) string {
	fence := ""
	if number > 0 {
		fence = ` AND status = 'delivering' AND attempts = ?`
	}
	return `UPDATE messages SET attempts = attempts + 1, status = ?, next_attempt_at = ?, lease_until = NULL,
		last_status_code = ?, last_error_class = ?, updated_at = ?
		WHERE id = ?` + fence + ` RETURNING id, attempts, endpoint_id, partner_id, shipment_id, sequence`
}

// recordUpdateArgs returns the parameters of recordUpdate for r at now.
func recordUpdateArgs(r record, now time.Time) []any {
	a, o := r.a, r.o
	args := []any{string(o.Status), dueAt(o.Status, o.NextAttemptAt, now), a.StatusCode, string(a.ErrorClass), micros(now), a.MessageID}
	if a.Number > 0 {
		args = append(args, a.Number-1)
	}
	return args
}

// recordStatement is the one statement that records r at now, for a
// dialect with updateInWith: the attempt is stored only if the UPDATE finds
// the message (through the fence), and it returns the message's id then,
// no row otherwise.
func recordStatement(r record, now time.Time) (string, []any) {
	a := r.a
	var number any // NULL: the message's attempt count
	if a.Number > 0 {
		number = a.Number
	}
	return `WITH m AS (` + recordUpdate(a.Number) + `)
		INSERT INTO attempts (` + attemptColumns + `)
		SELECT ?, m.id, COALESCE(?, m.endpoint_id), COALESCE(?, m.partner_id), COALESCE(?, m.attempts),
			?, ?, ?, ?, ?, ?, ?, ?, ?
		FROM m RETURNING message_id`,
		append(recordUpdateArgs(r, now),
			a.ID, nullString(a.EndpointID), nullString(a.PartnerID), number,
			a.Trigger, a.URL, micros(a.StartedAt), a.DurationMS, a.StatusCode, a.ResponseBody, r.headers,
			string(a.ErrorClass), a.Error)
}

// recordInTx records one attempt in tx (SQLite, and RecordEnd), and
// returns its message's id, endpoint, shipment and sequence. Returns
// errNotRecorded if the UPDATE found no message through the fence.
func (s *Store) recordInTx(ctx context.Context, tx *sql.Tx, r record) (dispatcher.Message, error) {
	a := r.a
	var (
		m         dispatcher.Message
		partnerID string
		sequence  sql.NullInt64
	)
	err := tx.QueryRowContext(ctx, s.q(recordUpdate(a.Number)), recordUpdateArgs(r, time.Now())...).
		Scan(&m.ID, &m.Attempts, &m.EndpointID, &partnerID, &m.ShipmentID, &sequence)
	if errors.Is(err, sql.ErrNoRows) {
		return m, errNotRecorded
	}
	if err != nil {
		return m, fmt.Errorf("record attempt %s: %w", a.ID, err)
	}
	m.PartnerID, m.Sequence = partnerID, sequence.Int64
	if a.Number <= 0 {
		a.Number = m.Attempts
	}
	if a.EndpointID == "" {
		a.EndpointID = m.EndpointID
	}
	if a.PartnerID == "" {
		a.PartnerID = partnerID
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO attempts (`+attemptColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.ID, a.MessageID, a.EndpointID, a.PartnerID, a.Number, a.Trigger, a.URL, micros(a.StartedAt), a.DurationMS,
		a.StatusCode, a.ResponseBody, r.headers, string(a.ErrorClass), a.Error)
	if err != nil {
		return m, s.classify(err, "attempt "+a.ID)
	}
	return m, nil
}

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

// Attempt returns ErrNotFound.
func (s *Store) Attempt(ctx context.Context, id string) (_ dispatcher.Attempt, err error) {
	defer s.unavailable(&err)
	a, err := scanAttempt(s.db.QueryRowContext(ctx, s.q(`SELECT `+attemptColumns+` FROM attempts WHERE id = ?`), id))
	if err != nil {
		return dispatcher.Attempt{}, notFound(err, "attempt "+id)
	}
	return a, nil
}

// ListAttempts returns at most page.Limit (default 50) of a message's
// attempts ordered by number (then id), after the attempt page.After.
func (s *Store) ListAttempts(ctx context.Context, messageID string, page subscriptions.Page) (_ []dispatcher.Attempt, err error) {
	defer s.unavailable(&err)
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

// SearchAttempts returns at most q.Limit (default 50) attempts matching every
// non-empty field of q, newest (greatest id) first; q.After is the id of the
// last attempt of the previous page, and the page holds older ones. Failed
// matches attempts with an error class; empty fields match all, partners
// included.
func (s *Store) SearchAttempts(ctx context.Context, q dispatcher.AttemptQuery) (_ []dispatcher.Attempt, err error) {
	defer s.unavailable(&err)
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
