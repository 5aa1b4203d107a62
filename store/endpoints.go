package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the endpoints of subscriptions.Store.

// CreateEndpoint stores e. A zero CreatedAt or UpdatedAt is set to now.
// Returns ErrNotFound if its partner is gone, ErrConflict if e.ID is taken.
func (s *Store) CreateEndpoint(ctx context.Context, e subscriptions.Endpoint) (err error) {
	defer s.unavailable(&err)
	j, err := s.endpointJSON(e)
	if err != nil {
		return err
	}
	now := time.Now()
	created := nowOr(e.CreatedAt, now)
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.ID, e.PartnerID, e.URL, e.Description, j.types, j.filter, e.Disabled, e.DisabledReason,
		j.secret, j.prevSecret, nullMicros(e.PreviousSecretExpiresAt), j.options, nullMicros(e.FailingSince),
		micros(created), micros(nowOr(e.UpdatedAt, created)), string(e.KindOrDefault()))
	if err != nil {
		if s.d.violation(err) == foreignKeyViolation {
			return fmt.Errorf("endpoint %s: partner %s: %w", e.ID, e.PartnerID, subscriptions.ErrNotFound)
		}
		return s.classify(err, "endpoint "+e.ID)
	}
	return nil
}

const endpointColumns = `id, partner_id, url, description, event_types, filter, disabled, disabled_reason,
	secret, previous_secret, previous_secret_expires_at, options, failing_since, created_at, updated_at, kind`

// endpointDocs are the JSON columns of an endpoint, and its sealed
// secrets.
type endpointDocs struct {
	types, filter, options string
	secret, prevSecret     string
}

// endpointJSON encodes the JSON columns of e and seals its secrets and
// header values with the store's keyring. Options are stored whole (the
// Breaker state is not one of them, and is never stored); options that
// are all zero are "{}".
func (s *Store) endpointJSON(e subscriptions.Endpoint) (endpointDocs, error) {
	j := endpointDocs{types: "[]", filter: "{}", options: "{}",
		secret:     s.keys.seal(e.Secret, sealedAt(e.ID, "secret")),
		prevSecret: s.keys.seal(e.PreviousSecret, sealedAt(e.ID, "previous_secret"))}
	if len(e.EventTypes) > 0 {
		b, err := json.Marshal(e.EventTypes)
		if err != nil {
			return j, fmt.Errorf("endpoint %s: encode event types: %w", e.ID, err)
		}
		j.types = string(b)
	}
	if len(e.Filter) > 0 {
		b, err := json.Marshal(e.Filter)
		if err != nil {
			return j, fmt.Errorf("endpoint %s: encode filter: %w", e.ID, err)
		}
		j.filter = string(b)
	}
	b, err := json.Marshal(storedOptions{Options: e.Options, Headers: s.keys.sealHeaders(e.ID, e.Headers)})
	if err != nil {
		return j, fmt.Errorf("endpoint %s: encode options: %w", e.ID, err)
	}
	j.options = string(b)
	return j, nil
}

// endpointRow holds the columns of an endpoint as scanned. The fields are
// nullable because AllEndpoints reads them through a LEFT JOIN.
type endpointRow struct {
	id, partnerID, url, description, types, filter, reason, secret, prevSecret, options, kind sql.NullString
	disabled                                                                                  sql.NullBool
	prevExpires, failingSince, created, updated                                               sql.NullInt64
}

// dest lists the fields in the order of endpointColumns.
func (r *endpointRow) dest() []any {
	return []any{&r.id, &r.partnerID, &r.url, &r.description, &r.types, &r.filter, &r.disabled, &r.reason,
		&r.secret, &r.prevSecret, &r.prevExpires, &r.options, &r.failingSince, &r.created, &r.updated, &r.kind}
}

// endpoint decodes the row, opening its sealed values with k. Empty event
// types, filter and headers come back nil; so does Breaker, which is not
// stored. Returns an error wrapping ErrCannotOpen for a value k does not
// open.
func (r *endpointRow) endpoint(k *Keyring) (subscriptions.Endpoint, error) {
	e := subscriptions.Endpoint{
		ID:                      r.id.String,
		PartnerID:               r.partnerID.String,
		Kind:                    subscriptions.EndpointKind(r.kind.String),
		URL:                     r.url.String,
		Description:             r.description.String,
		Disabled:                r.disabled.Bool,
		DisabledReason:          r.reason.String,
		PreviousSecretExpiresAt: timePtr(r.prevExpires),
		FailingSince:            timePtr(r.failingSince),
		CreatedAt:               fromMicros(r.created.Int64),
		UpdatedAt:               fromMicros(r.updated.Int64),
	}
	if t := r.types.String; t != "[]" && t != "" {
		if err := json.Unmarshal([]byte(t), &e.EventTypes); err != nil {
			return e, fmt.Errorf("endpoint %s: decode event types: %w", e.ID, err)
		}
	}
	if f := r.filter.String; f != "{}" && f != "" {
		// Stored by Filter.MarshalJSON, whose values are always arrays; the
		// plain map decodes faster than Filter.UnmarshalJSON.
		var m map[string][]string
		if err := json.Unmarshal([]byte(f), &m); err != nil {
			return e, fmt.Errorf("endpoint %s: decode filter: %w", e.ID, err)
		}
		e.Filter = m
	}
	var err error
	sealed := sealedRow{id: e.ID, secret: r.secret.String, prevSecret: r.prevSecret.String, options: r.options.String}
	e.Secret, e.PreviousSecret, e.Options, err = sealed.opened(k)
	return e, err
}

func (s *Store) scanEndpoint(sc scanner) (subscriptions.Endpoint, error) {
	var r endpointRow
	if err := sc.Scan(r.dest()...); err != nil {
		return subscriptions.Endpoint{}, err
	}
	return r.endpoint(s.keys)
}

// Endpoint returns the endpoint with that id, whatever its partner.
// Returns ErrNotFound.
func (s *Store) Endpoint(ctx context.Context, id string) (_ subscriptions.Endpoint, err error) {
	defer s.unavailable(&err)
	e, err := s.scanEndpoint(s.db.QueryRowContext(ctx, s.q(`SELECT `+endpointColumns+` FROM endpoints WHERE id = ?`), id))
	if err != nil {
		return subscriptions.Endpoint{}, notFound(err, "endpoint "+id)
	}
	return e, nil
}

// ListEndpoints returns at most page.Limit (default 50) of a partner's
// endpoints ordered by id, after page.After. An unknown partner has none.
func (s *Store) ListEndpoints(ctx context.Context, partnerID string, page subscriptions.Page) (_ []subscriptions.Endpoint, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+endpointColumns+` FROM endpoints
		WHERE partner_id = ? AND id > ? ORDER BY id LIMIT ?`), partnerID, page.After, limitOf(page.Limit))
	if err != nil {
		return nil, fmt.Errorf("list endpoints of %s: %w", partnerID, err)
	}
	return collect(rows, s.scanEndpoint, "list endpoints of "+partnerID)
}

// UpdateEndpoint saves every field of e but CreatedAt (and Breaker, which
// is never stored), FailingSince included; a zero UpdatedAt is set to now.
// Returns ErrNotFound if the endpoint, or the partner it is moved to, does
// not exist.
func (s *Store) UpdateEndpoint(ctx context.Context, e subscriptions.Endpoint) (err error) {
	defer s.unavailable(&err)
	j, err := s.endpointJSON(e)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE endpoints SET partner_id = ?, url = ?, description = ?, event_types = ?,
		filter = ?, disabled = ?, disabled_reason = ?, secret = ?, previous_secret = ?, previous_secret_expires_at = ?,
		options = ?, failing_since = ?, updated_at = ? WHERE id = ?`),
		e.PartnerID, e.URL, e.Description, j.types, j.filter, e.Disabled, e.DisabledReason, j.secret, j.prevSecret,
		nullMicros(e.PreviousSecretExpiresAt), j.options, nullMicros(e.FailingSince), micros(nowOr(e.UpdatedAt, time.Now())), e.ID)
	if err != nil {
		if s.d.violation(err) == foreignKeyViolation {
			return fmt.Errorf("endpoint %s: partner %s: %w", e.ID, e.PartnerID, subscriptions.ErrNotFound)
		}
		return fmt.Errorf("update endpoint %s: %w", e.ID, err)
	}
	return mustAffect(res, "endpoint "+e.ID)
}

// DeleteEndpoint deletes the endpoint; its messages and attempts stay.
// Returns ErrNotFound.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) (err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM endpoints WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return mustAffect(res, "endpoint "+id)
}

// partnerEndpointsQuery selects partners joined with their endpoints,
// ordered by partner and endpoint, with NULL endpoint columns for a partner
// that has none. Its %s picks the partners: a WHERE clause, with ORDER BY
// and LIMIT for a batch.
const partnerEndpointsQuery = `SELECT p.id, p.name, p.access, p.created_at, p.updated_at,
	e.id, e.partner_id, e.url, e.description, e.event_types, e.filter, e.disabled, e.disabled_reason,
	e.secret, e.previous_secret, e.previous_secret_expires_at, e.options, e.failing_since, e.created_at, e.updated_at, e.kind
	FROM (SELECT ` + partnerColumns + ` FROM partners %s) p
	LEFT JOIN endpoints e ON e.partner_id = p.id
	ORDER BY p.id, e.id`

// partnerGroup is a partner with its endpoints.
type partnerGroup struct {
	p  subscriptions.Partner
	es []subscriptions.Endpoint
}

// readPartnerGroups reads the rows of partnerEndpointsQuery, opening the
// endpoints' sealed values with k.
func readPartnerGroups(rows *sql.Rows, k *Keyring) ([]partnerGroup, error) {
	var (
		groups []partnerGroup
		p      partnerRow
		e      endpointRow
		dest   = append(p.dest(), e.dest()...)
	)
	err := eachRow(rows, func(sc scanner) error {
		if err := sc.Scan(dest...); err != nil {
			return err
		}
		if len(groups) == 0 || groups[len(groups)-1].p.ID != p.id {
			groups = append(groups, partnerGroup{p: p.partner()})
		}
		if !e.id.Valid {
			return nil
		}
		ep, err := e.endpoint(k)
		if err != nil {
			return err
		}
		g := &groups[len(groups)-1]
		g.es = append(g.es, ep)
		return nil
	})
	return groups, err
}

// PartnerEndpoints returns the partner and all its endpoints ordered by id,
// as one consistent read. Returns ErrNotFound if the partner does not exist.
func (s *Store) PartnerEndpoints(ctx context.Context, partnerID string) (_ subscriptions.Partner, _ []subscriptions.Endpoint, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf(partnerEndpointsQuery, `WHERE id = ?`)), partnerID)
	if err != nil {
		return subscriptions.Partner{}, nil, fmt.Errorf("endpoints of %s: %w", partnerID, err)
	}
	groups, err := readPartnerGroups(rows, s.keys)
	if err != nil {
		return subscriptions.Partner{}, nil, fmt.Errorf("endpoints of %s: %w", partnerID, err)
	}
	if len(groups) == 0 {
		return subscriptions.Partner{}, nil, fmt.Errorf("partner %s: %w", partnerID, subscriptions.ErrNotFound)
	}
	return groups[0].p, groups[0].es, nil
}

// allEndpointsBatch is how many partners AllEndpoints reads at a time.
const allEndpointsBatch = 500

// AllEndpoints calls fn for every partner, in id order, with all its
// endpoints (none for a partner without endpoints). It reads a batch of
// partners with their endpoints at a time and calls fn between reads,
// holding no connection while fn runs, so fn may use the store; a partner
// created or deleted meanwhile may or may not be seen. It returns the first
// read error, or ctx's error.
func (s *Store) AllEndpoints(ctx context.Context, fn func(subscriptions.Partner, []subscriptions.Endpoint)) (err error) {
	defer s.unavailable(&err)
	query := s.q(fmt.Sprintf(partnerEndpointsQuery, `WHERE id > ? ORDER BY id LIMIT ?`))
	after := ""
	for {
		rows, err := s.db.QueryContext(ctx, query, after, s.allEndpointsBatch)
		if err != nil {
			return fmt.Errorf("read endpoints: %w", err)
		}
		batch, err := readPartnerGroups(rows, s.keys)
		if err != nil {
			return fmt.Errorf("read endpoints: %w", err)
		}
		for i := range batch {
			fn(batch[i].p, batch[i].es)
			batch[i].es = nil // fn's caller holds the only copy
		}
		if len(batch) < s.allEndpointsBatch {
			return nil
		}
		after = batch[len(batch)-1].p.ID
	}
}

// MarkEndpointFailing sets the endpoint's FailingSince to at unless it is
// set already, and returns the value it then has: at, or the earlier time
// that was kept. Concurrent calls agree on the value. UpdatedAt does not
// change (FailingSince is the endpoint's health, not its settings).
// Returns ErrNotFound if the endpoint does not exist.
func (s *Store) MarkEndpointFailing(ctx context.Context, id string, at time.Time) (_ time.Time, err error) {
	defer s.unavailable(&err)
	var since int64
	err = s.db.QueryRowContext(ctx, s.q(`UPDATE endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ?
		RETURNING failing_since`), micros(at), id).Scan(&since)
	if err != nil {
		return time.Time{}, notFound(err, "mark endpoint "+id+" failing")
	}
	return fromMicros(since), nil
}

// MarkEndpointHealthy clears the endpoint's FailingSince. UpdatedAt does not
// change. It writes nothing, and returns nil, when FailingSince is already
// clear or the endpoint does not exist (so that the call after every
// successful attempt costs a read).
func (s *Store) MarkEndpointHealthy(ctx context.Context, id string) (err error) {
	defer s.unavailable(&err)
	_, err = s.db.ExecContext(ctx, s.q(`UPDATE endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`), id)
	if err != nil {
		return fmt.Errorf("mark endpoint %s healthy: %w", id, err)
	}
	return nil
}

// DisableEndpoint disables an enabled endpoint with reason. changed is
// false when it was disabled already (or does not exist), so that of many
// workers deciding at once exactly one goes on to announce it.
func (s *Store) DisableEndpoint(ctx context.Context, id, reason string) (_ bool, err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE endpoints SET disabled = TRUE, disabled_reason = ?, updated_at = ?
		WHERE id = ? AND NOT disabled`), reason, micros(time.Now()), id)
	if err != nil {
		return false, fmt.Errorf("disable endpoint %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("disable endpoint %s: %w", id, err)
	}
	return n > 0, nil
}
