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
// transaction. A zero a.Number is taken as the message's attempt count
// after this one; empty EndpointID and PartnerID are the message's.
// Returns ErrNotFound if the message does not exist.
func (s *Store) RecordAttempt(ctx context.Context, a dispatcher.Attempt, o dispatcher.Outcome) (err error) {
	defer s.unavailable(&err)
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
	_, err = s.records.do(ctx, record{a: a, o: o, headers: headers})
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
