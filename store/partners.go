package store

import (
	"context"
	"fmt"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the partners of subscriptions.Store.

// CreatePartner stores p. A zero CreatedAt or UpdatedAt is set to now.
// Returns ErrConflict if p.ID is taken.
func (s *Store) CreatePartner(ctx context.Context, p subscriptions.Partner) (err error) {
	defer s.unavailable(&err)
	now := time.Now()
	created := nowOr(p.CreatedAt, now)
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO partners (id, name, access, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`),
		p.ID, p.Name, string(p.Access), micros(created), micros(nowOr(p.UpdatedAt, created)))
	if err != nil {
		return s.classify(err, "partner "+p.ID)
	}
	return nil
}

const partnerColumns = `id, name, access, created_at, updated_at`

// partnerRow holds the columns of a partner as scanned.
type partnerRow struct {
	id, name, access string
	created, updated int64
}

// dest lists the fields in the order of partnerColumns.
func (r *partnerRow) dest() []any {
	return []any{&r.id, &r.name, &r.access, &r.created, &r.updated}
}

func (r *partnerRow) partner() subscriptions.Partner {
	return subscriptions.Partner{
		ID:        r.id,
		Name:      r.name,
		Access:    subscriptions.Access(r.access),
		CreatedAt: fromMicros(r.created),
		UpdatedAt: fromMicros(r.updated),
	}
}

func scanPartner(sc scanner) (subscriptions.Partner, error) {
	var r partnerRow
	if err := sc.Scan(r.dest()...); err != nil {
		return subscriptions.Partner{}, err
	}
	return r.partner(), nil
}

// Partner returns ErrNotFound if the partner does not exist.
func (s *Store) Partner(ctx context.Context, id string) (_ subscriptions.Partner, err error) {
	defer s.unavailable(&err)
	p, err := scanPartner(s.db.QueryRowContext(ctx, s.q(`SELECT `+partnerColumns+` FROM partners WHERE id = ?`), id))
	if err != nil {
		return subscriptions.Partner{}, notFound(err, "partner "+id)
	}
	return p, nil
}

// ListPartners returns at most page.Limit (default 50) partners ordered by
// id, after page.After.
func (s *Store) ListPartners(ctx context.Context, page subscriptions.Page) (_ []subscriptions.Partner, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+partnerColumns+` FROM partners WHERE id > ? ORDER BY id LIMIT ?`),
		page.After, limitOf(page.Limit))
	if err != nil {
		return nil, fmt.Errorf("list partners: %w", err)
	}
	return collect(rows, scanPartner, "list partners")
}

// UpdatePartner saves name and access, and sets UpdatedAt to now. Returns
// ErrNotFound.
func (s *Store) UpdatePartner(ctx context.Context, p subscriptions.Partner) (err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE partners SET name = ?, access = ?, updated_at = ? WHERE id = ?`),
		p.Name, string(p.Access), micros(time.Now()), p.ID)
	if err != nil {
		return fmt.Errorf("update partner %s: %w", p.ID, err)
	}
	return mustAffect(res, "partner "+p.ID)
}

// DeletePartner deletes the partner, its endpoints and its API keys (the
// database cascades). Its messages and attempts stay. Returns ErrNotFound.
func (s *Store) DeletePartner(ctx context.Context, id string) (err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM partners WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("delete partner %s: %w", id, err)
	}
	return mustAffect(res, "partner "+id)
}

// inChunk is how many values one IN (…) list holds.
const inChunk = 500

// MissingPartners returns those of ids that do not exist, in the order
// given, each once.
func (s *Store) MissingPartners(ctx context.Context, ids []string) (_ []string, err error) {
	defer s.unavailable(&err)
	found := make(map[string]bool, len(ids))
	for start := 0; start < len(ids); start += inChunk {
		chunk := ids[start:min(start+inChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM partners WHERE id IN (`+placeholders(len(chunk))+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("look up partners: %w", err)
		}
		if err := addIDs(rows, found); err != nil {
			return nil, fmt.Errorf("look up partners: %w", err)
		}
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
			found[id] = true // report each once
		}
	}
	return missing, nil
}
