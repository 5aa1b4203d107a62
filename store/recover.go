package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the recovery of failed messages in dispatcher.Store:
// recover jobs and the batches they re-queue.

const recoverJobColumns = `id, endpoint_id, partner_id, since, until, status, total, requeued, cursor,
	created_at, updated_at, finished_at`

// recoverJobRunning is the status of a job still re-queueing.
const recoverJobRunning = "running"

// noUntil stands for a nil Until in recover_jobs_running, whose key holds
// COALESCE(until, -1).
const noUntil = int64(-1)

func scanRecoverJob(sc scanner) (dispatcher.RecoverJob, error) {
	var (
		j                       dispatcher.RecoverJob
		since, created, updated int64
		until, finished         sql.NullInt64
	)
	err := sc.Scan(&j.ID, &j.EndpointID, &j.PartnerID, &since, &until, &j.Status, &j.Total, &j.Requeued, &j.Cursor,
		&created, &updated, &finished)
	if err != nil {
		return j, err
	}
	j.Since, j.Until = fromMicros(since), timePtr(until)
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = fromMicros(created), fromMicros(updated), timePtr(finished)
	return j, nil
}

// untilKey is the value of COALESCE(until, -1) for until.
func untilKey(until *time.Time) int64 {
	if until == nil {
		return noUntil
	}
	return micros(*until)
}

// createRecoverJobTries bounds how often CreateRecoverJob tries again when
// the running job it collided with finished before it could be read.
const createRecoverJobTries = 3

// CreateRecoverJob stores j, unless a job of the same endpoint, Since and
// Until is running: then that job is returned as stored, with created
// false. Of concurrent calls for one endpoint and range, one creates the
// job and the others get it. An empty Status is "running"; a zero
// CreatedAt or UpdatedAt is now. Returns ErrConflict if j.ID is taken by
// another job.
func (s *Store) CreateRecoverJob(ctx context.Context, j dispatcher.RecoverJob) (_ dispatcher.RecoverJob, _ bool, err error) {
	defer s.unavailable(&err)
	if j.ID == "" {
		return dispatcher.RecoverJob{}, false, errors.New("create recover job: the job has no id")
	}
	if j.Status == "" {
		j.Status = recoverJobRunning
	}
	now := time.Now()
	j.CreatedAt = nowOr(j.CreatedAt, now)
	j.UpdatedAt = nowOr(j.UpdatedAt, j.CreatedAt)
	for range createRecoverJobTries {
		// DO NOTHING without a target also skips a taken id; the look-up
		// below tells the two apart.
		created, err := scanRecoverJob(s.db.QueryRowContext(ctx, s.q(`INSERT INTO recover_jobs (`+recoverJobColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING `+recoverJobColumns),
			j.ID, j.EndpointID, j.PartnerID, micros(j.Since), nullMicros(j.Until), j.Status, j.Total, j.Requeued, j.Cursor,
			micros(j.CreatedAt), micros(j.UpdatedAt), nullMicros(j.FinishedAt)))
		if err == nil {
			return created, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return dispatcher.RecoverJob{}, false, s.classify(err, "create recover job "+j.ID)
		}
		running, err := scanRecoverJob(s.db.QueryRowContext(ctx, s.q(`SELECT `+recoverJobColumns+` FROM recover_jobs
			WHERE endpoint_id = ? AND since = ? AND COALESCE(until, -1) = ? AND status = 'running'`),
			j.EndpointID, micros(j.Since), untilKey(j.Until)))
		switch {
		case err == nil:
			return running, false, nil
		case !errors.Is(err, sql.ErrNoRows):
			return dispatcher.RecoverJob{}, false, fmt.Errorf("running recover job of endpoint %s: %w", j.EndpointID, err)
		}
		if _, err := s.RecoverJob(ctx, j.ID); err == nil {
			return dispatcher.RecoverJob{}, false, fmt.Errorf("create recover job %s: %w", j.ID, subscriptions.ErrConflict)
		}
		// The running job finished in between: try again.
	}
	return dispatcher.RecoverJob{}, false, fmt.Errorf("create recover job %s: running jobs of endpoint %s kept finishing while it was created",
		j.ID, j.EndpointID)
}

// RecoverJob returns ErrNotFound.
func (s *Store) RecoverJob(ctx context.Context, id string) (_ dispatcher.RecoverJob, err error) {
	defer s.unavailable(&err)
	j, err := scanRecoverJob(s.db.QueryRowContext(ctx, s.q(`SELECT `+recoverJobColumns+` FROM recover_jobs WHERE id = ?`), id))
	if err != nil {
		return dispatcher.RecoverJob{}, notFound(err, "recover job "+id)
	}
	return j, nil
}

// UpdateRecoverJob saves Status, Total, Requeued, Cursor, UpdatedAt (now, if
// zero) and FinishedAt. Returns ErrNotFound, or ErrConflict if it would make
// a second job of the same endpoint and range running.
func (s *Store) UpdateRecoverJob(ctx context.Context, j dispatcher.RecoverJob) (err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE recover_jobs SET status = ?, total = ?, requeued = ?, cursor = ?,
		updated_at = ?, finished_at = ? WHERE id = ?`),
		j.Status, j.Total, j.Requeued, j.Cursor, micros(nowOr(j.UpdatedAt, time.Now())), nullMicros(j.FinishedAt), j.ID)
	if err != nil {
		return s.classify(err, "update recover job "+j.ID)
	}
	return mustAffect(res, "recover job "+j.ID)
}

// failedRange is the condition, and its arguments, that selects the failed
// messages of an endpoint created in [since, until). The literal status
// lets both databases read messages_failed.
func failedRange(endpointID string, since time.Time, until *time.Time) (string, []any) {
	cond := `endpoint_id = ? AND status = 'failed' AND created_at >= ?`
	args := []any{endpointID, micros(since)}
	if until != nil {
		cond += ` AND created_at < ?`
		args = append(args, micros(*until))
	}
	return cond, args
}

// CountFailed counts the failed messages of an endpoint created in
// [since, until); a nil until sets no end.
func (s *Store) CountFailed(ctx context.Context, endpointID string, since time.Time, until *time.Time) (_ int, err error) {
	defer s.unavailable(&err)
	cond, args := failedRange(endpointID, since, until)
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM messages WHERE `+cond), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count failed messages of endpoint %s: %w", endpointID, err)
	}
	return n, nil
}

// RequeueFailed makes the first limit (default 50) failed messages of an
// endpoint created in [since, until), in id order after the id after ("":
// from the first), pending and due at at, with no lease, keeping their
// attempt counts; and returns them ordered by id. The last one's id is the
// cursor of the next batch; an empty result means the range is done. A
// message that stopped being failed meanwhile is left out.
func (s *Store) RequeueFailed(ctx context.Context, endpointID string, since time.Time, until *time.Time, after string,
	limit int, at time.Time) (_ []dispatcher.Message, err error) {
	defer s.unavailable(&err)
	cond, args := failedRange(endpointID, since, until)
	args = append([]any{micros(at), micros(time.Now())}, args...)
	args = append(args, after, limitOf(limit))
	// The outer status condition leaves out, in PostgreSQL, a message that
	// a concurrent writer changed after the subquery chose it.
	return s.moveMessages(ctx, "requeue failed messages of endpoint "+endpointID,
		`UPDATE messages SET status = 'pending', next_attempt_at = ?, lease_until = NULL,
			updated_at = ? WHERE `+s.d.inSubquery("id", `SELECT id FROM messages WHERE `+cond+` AND id > ? ORDER BY id LIMIT ?`)+
			` AND status = 'failed' RETURNING `+messageColumns, args...)
}

// StaleRecoverJobs returns the ids of at most limit (default 50) running
// recovery jobs whose progress was last recorded before before, least
// recently updated first: their task was lost with Redis, or their worker
// died.
func (s *Store) StaleRecoverJobs(ctx context.Context, before time.Time, limit int) (_ []string, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM recover_jobs WHERE status = 'running' AND updated_at < ? ORDER BY updated_at LIMIT ?`), micros(before), limitOf(limit))
	if err != nil {
		return nil, fmt.Errorf("stale recovery jobs: %w", err)
	}
	return collect(rows, scanID, "stale recovery jobs")
}
