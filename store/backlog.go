package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/shiphook/shiphook/dispatcher"
)

// This file implements the backlog that the metrics sample
// (dispatcher.Sampler): one statement whose every part reads a partial
// index of messages, or the small endpoints table.

// backlogQuery counts the messages of each status that waits or failed,
// up to a cap each (the caps' value is the parameter), finds the earliest
// next attempt of a pending message, and counts the disabled endpoints.
// Each status is written as a literal, as the predicate of its partial
// index: messages_due (pending), messages_held, messages_leases
// (delivering) and messages_failed; the earliest next attempt is the first
// entry of messages_due. The capped counts read at most the cap's entries
// of their index.
const backlogQuery = `SELECT
	(SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE status = 'pending' LIMIT ?) p),
	(SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE (status = 'held') IS TRUE LIMIT ?) h),
	(SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE status = 'delivering' LIMIT ?) d),
	(SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE status = 'failed' LIMIT ?) f),
	(SELECT next_attempt_at FROM messages WHERE status = 'pending' AND next_attempt_at IS NOT NULL
		ORDER BY next_attempt_at LIMIT 1),
	(SELECT COUNT(*) FROM endpoints WHERE disabled)`

// Backlog returns the messages pending, held, delivering and failed,
// each counted up to dispatcher.BacklogCap, the earliest next attempt of
// a pending message (the unread messages of pull endpoints have none),
// and the number of disabled endpoints.
func (s *Store) Backlog(ctx context.Context) (_ dispatcher.Backlog, err error) {
	defer s.unavailable(&err)
	var (
		b         dispatcher.Backlog
		oldestDue sql.NullInt64
		c         = dispatcher.BacklogCap
	)
	err = s.db.QueryRowContext(ctx, s.q(backlogQuery), c, c, c, c).
		Scan(&b.Pending, &b.Held, &b.Delivering, &b.Failed, &oldestDue, &b.DisabledEndpoints)
	if err != nil {
		return dispatcher.Backlog{}, fmt.Errorf("read the backlog: %w", err)
	}
	b.OldestDue = timePtr(oldestDue)
	return b, nil
}
