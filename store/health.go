package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
)

// This file implements the health of an endpoint in dispatcher.Store, as its
// attempts show it.

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
func (s *Store) EndpointHealth(ctx context.Context, endpointID string, now time.Time) (_ dispatcher.Health, err error) {
	defer s.unavailable(&err)
	var (
		h           dispatcher.Health
		lastSuccess sql.NullInt64
		t           = micros(now)
	)
	err = s.db.QueryRowContext(ctx, s.q(healthQuery),
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
