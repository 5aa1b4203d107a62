package store

import (
	"context"
	"fmt"
	"time"
)

// This file implements retention in dispatcher.Store: deleting old attempts
// and emptying old payloads, a bounded batch per call, so that no statement
// holds its locks for long.

// PurgeAttempts deletes up to limit (default 50) of the attempts started
// before t, oldest first, and returns how many it deleted.
func (s *Store) PurgeAttempts(ctx context.Context, before time.Time, limit int) (_ int, err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM attempts WHERE `+
		s.d.inSubquery("id", `SELECT id FROM attempts WHERE started_at < ? ORDER BY started_at LIMIT ?`)),
		micros(before), limitOf(limit))
	if err != nil {
		return 0, fmt.Errorf("purge attempts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge attempts: %w", err)
	}
	return int(n), nil
}

// PurgePayloads empties the data (to {}) of up to limit (default 50) events
// created before t and not yet purged, oldest first, sets their PurgedAt to
// now, and returns how many it emptied. The rest of each event, and its
// messages, stay.
func (s *Store) PurgePayloads(ctx context.Context, before time.Time, limit int) (_ int, err error) {
	defer s.unavailable(&err)
	// The outer purged_at condition keeps an event that a concurrent purge
	// emptied after the subquery chose it from being counted twice.
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE events SET data = '{}', purged_at = ? WHERE `+
		s.d.inSubquery("id", `SELECT id FROM events WHERE purged_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?`)+
		` AND purged_at IS NULL`), micros(time.Now()), micros(before), limitOf(limit))
	if err != nil {
		return 0, fmt.Errorf("purge payloads: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge payloads: %w", err)
	}
	return int(n), nil
}
