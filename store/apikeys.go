package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the API keys of subscriptions.Store.

// CreateAPIKey stores k with its Hash; an empty PartnerID or SourceID is
// stored as none, a zero CreatedAt as now. Returns ErrConflict if the id
// or hash is taken, ErrNotFound if its partner or source does not exist.
func (s *Store) CreateAPIKey(ctx context.Context, k subscriptions.APIKey) (err error) {
	defer s.unavailable(&err)
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		k.ID, string(k.Role), nullString(k.PartnerID), k.Name, k.Hash, micros(nowOr(k.CreatedAt, time.Now())), nullString(k.SourceID))
	if err != nil {
		if s.d.violation(err) == foreignKeyViolation && k.SourceID != "" {
			return fmt.Errorf("api key %s: source %s: %w", k.ID, k.SourceID, subscriptions.ErrNotFound)
		}
		if s.d.violation(err) == foreignKeyViolation {
			return fmt.Errorf("api key %s: partner %s: %w", k.ID, k.PartnerID, subscriptions.ErrNotFound)
		}
		return s.classify(err, "api key "+k.ID)
	}
	return nil
}

const apiKeyColumns = `id, role, partner_id, name, hash, created_at, source_id`

func scanAPIKey(sc scanner) (subscriptions.APIKey, error) {
	var (
		k         subscriptions.APIKey
		role      string
		partnerID sql.NullString
		sourceID  sql.NullString
		created   int64
	)
	if err := sc.Scan(&k.ID, &role, &partnerID, &k.Name, &k.Hash, &created, &sourceID); err != nil {
		return k, err
	}
	k.Role, k.PartnerID, k.SourceID, k.CreatedAt = subscriptions.Role(role), partnerID.String, sourceID.String, fromMicros(created)
	return k, nil
}

// APIKeyByHash returns ErrNotFound if no key has that hash.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (_ subscriptions.APIKey, err error) {
	defer s.unavailable(&err)
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, s.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`), hash))
	if err != nil {
		// The hash is a secret's; keep it out of the error.
		return subscriptions.APIKey{}, notFound(err, "api key")
	}
	return k, nil
}

// ListAPIKeys returns at most page.Limit (default 50) keys ordered by id,
// after page.After.
func (s *Store) ListAPIKeys(ctx context.Context, page subscriptions.Page) (_ []subscriptions.APIKey, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id > ? ORDER BY id LIMIT ?`),
		page.After, limitOf(page.Limit))
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return collect(rows, scanAPIKey, "list api keys")
}

// DeleteAPIKey returns ErrNotFound.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) (err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM api_keys WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("delete api key %s: %w", id, err)
	}
	return mustAffect(res, "api key "+id)
}

// CountAPIKeys returns how many keys have that role.
func (s *Store) CountAPIKeys(ctx context.Context, role subscriptions.Role) (_ int, err error) {
	defer s.unavailable(&err)
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM api_keys WHERE role = ?`), string(role)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s api keys: %w", role, err)
	}
	return n, nil
}
