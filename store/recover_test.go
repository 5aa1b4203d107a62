package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestRecovery checks recover jobs and the re-queueing of failed messages,
// on each backend.
func TestRecovery(t *testing.T) {
	exercise(t, []contractTest{
		{"StaleRecoverJobs", testStaleRecoverJobs},
		{"RecoverJobs", testRecoverJobs},
		{"ConcurrentRecoverJobs", testConcurrentRecoverJobs},
		{"RequeueFailed", testRequeueFailed},
	})
}

func testStaleRecoverJobs(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	now := micro(time.Now())
	mk := func(id, endpoint string, updated time.Time) {
		_, created, err := s.CreateRecoverJob(ctx, dispatcher.RecoverJob{ID: id, EndpointID: endpoint, PartnerID: "acme",
			Since: now.Add(-time.Hour), Status: "running", CreatedAt: updated, UpdatedAt: updated})
		require.NoError(t, err)
		require.True(t, created)
	}
	mk("rj_old", "ep1", now.Add(-time.Minute))
	mk("rj_new", "ep2", now)
	mk("rj_done", "ep3", now.Add(-time.Hour))
	done, err := s.RecoverJob(ctx, "rj_done")
	require.NoError(t, err)
	done.Status = "done"
	require.NoError(t, s.UpdateRecoverJob(ctx, done))
	ids, err := s.StaleRecoverJobs(ctx, now.Add(-10*time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, []string{"rj_old"}, ids, "only running jobs without recent progress")
}

func testRecoverJobs(t *testing.T, db backend) {
	s, _ := db.setup(t)
	since := micro(time.Now().Add(-24 * time.Hour))
	until := micro(time.Now())
	j1 := checkRecoverJobOfRange(t, s, since, until)
	checkRecoverJobsOfOtherRanges(t, s, since, until)
	checkRecoverJobDefaults(t, s, since)
	checkRecoverJobProgress(t, s, j1, since, until)
}

// recoverJob is a running recover job of endpoint ep1 over [since, until),
// created now.
func recoverJob(id string, since time.Time, until *time.Time) dispatcher.RecoverJob {
	now := micro(time.Now())
	return dispatcher.RecoverJob{ID: id, EndpointID: "ep1", PartnerID: "acme", Since: since, Until: until,
		Status: "running", Total: 12, CreatedAt: now, UpdatedAt: now}
}

// checkRecoverJobOfRange creates rj_1 over [since, until) and checks that
// while it runs, creating another job of that range, or rj_1 again, returns
// rj_1. It returns rj_1 as created.
func checkRecoverJobOfRange(t *testing.T, s *store.Store, since, until time.Time) dispatcher.RecoverJob {
	t.Helper()
	ctx := t.Context()
	j1 := recoverJob("rj_1", since, &until)
	got, created, err := s.CreateRecoverJob(ctx, j1)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, j1, got)
	stored, err := s.RecoverJob(ctx, "rj_1")
	require.NoError(t, err)
	require.Equal(t, j1, stored)

	// The same endpoint and range while it runs: the running one.
	got, created, err = s.CreateRecoverJob(ctx, recoverJob("rj_2", since, &until))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, j1, got)
	_, err = s.RecoverJob(ctx, "rj_2")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	// Retrying a create with the same id is the same.
	got, created, err = s.CreateRecoverJob(ctx, j1)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, j1, got)
	return j1
}

// checkRecoverJobsOfOtherRanges checks, while rj_1 over [since, until) of
// ep1 runs, that another range, end or endpoint is another job, and that
// rj_1's id cannot be taken for another range.
func checkRecoverJobsOfOtherRanges(t *testing.T, s *store.Store, since, until time.Time) {
	t.Helper()
	ctx := t.Context()
	// Another range, end or endpoint is another job; so is an
	// open end.
	open := recoverJob("rj_3", since, nil)
	got, created, err := s.CreateRecoverJob(ctx, open)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, open, got)
	got, created, err = s.CreateRecoverJob(ctx, recoverJob("rj_4", since, nil))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, "rj_3", got.ID)
	later := until.Add(time.Hour)
	_, created, err = s.CreateRecoverJob(ctx, recoverJob("rj_5", since, &later))
	require.NoError(t, err)
	require.True(t, created)
	elsewhere := recoverJob("rj_6", since, &until)
	elsewhere.EndpointID = "ep2"
	_, created, err = s.CreateRecoverJob(ctx, elsewhere)
	require.NoError(t, err)
	require.True(t, created)
	earlier := recoverJob("rj_7", since, &until)
	earlier.Since = since.Add(-time.Hour)
	_, created, err = s.CreateRecoverJob(ctx, earlier)
	require.NoError(t, err)
	require.True(t, created)

	// A taken id of another range is a conflict.
	taken := recoverJob("rj_1", since, &later)
	taken.Since = since.Add(time.Minute)
	_, _, err = s.CreateRecoverJob(ctx, taken)
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	_, _, err = s.CreateRecoverJob(ctx, dispatcher.RecoverJob{EndpointID: "ep1"})
	require.Error(t, err)
}

// checkRecoverJobDefaults checks what a recover job given only its id,
// endpoint, partner and start is created with.
func checkRecoverJobDefaults(t *testing.T, s *store.Store, since time.Time) {
	t.Helper()
	// Defaults: running, created and updated now.
	start := micro(time.Now())
	got, created, err := s.CreateRecoverJob(t.Context(), dispatcher.RecoverJob{ID: "rj_8", EndpointID: "ep3", PartnerID: "acme", Since: since})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "running", got.Status)
	require.False(t, got.CreatedAt.Before(start))
	require.Equal(t, got.CreatedAt, got.UpdatedAt)
	require.Nil(t, got.Until)
	require.Nil(t, got.FinishedAt)
}

// checkRecoverJobProgress records the progress of j1, then its end, and
// checks what is saved; then that its range can be recovered again, and
// that updates that would run two jobs of a range, or of no job, fail.
func checkRecoverJobProgress(t *testing.T, s *store.Store, j1 dispatcher.RecoverJob, since, until time.Time) {
	t.Helper()
	ctx := t.Context()
	// Progress, then done.
	j1.Requeued, j1.Cursor = 5, "msg_0005"
	j1.UpdatedAt = micro(time.Now().Add(time.Second))
	require.NoError(t, s.UpdateRecoverJob(ctx, j1))
	stored, err := s.RecoverJob(ctx, "rj_1")
	require.NoError(t, err)
	require.Equal(t, j1, stored)
	finished := micro(time.Now().Add(2 * time.Second))
	j1.Status, j1.Requeued, j1.Cursor, j1.UpdatedAt, j1.FinishedAt = "done", 12, "msg_0012", finished, &finished
	j1.Total = 13
	j1.PartnerID, j1.Since = "ignored", since.Add(time.Hour) // not saved
	require.NoError(t, s.UpdateRecoverJob(ctx, j1))
	stored, err = s.RecoverJob(ctx, "rj_1")
	require.NoError(t, err)
	j1.PartnerID, j1.Since = "acme", since
	require.Equal(t, j1, stored)

	// Done, the range can be recovered again.
	j2 := recoverJob("rj_2", since, &until)
	got, created, err := s.CreateRecoverJob(ctx, j2)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, j2, got)
	// Two running jobs of one range cannot be made by an update.
	j1.Status, j1.FinishedAt = "running", nil
	require.ErrorIs(t, s.UpdateRecoverJob(ctx, j1), subscriptions.ErrConflict)

	require.ErrorIs(t, s.UpdateRecoverJob(ctx, recoverJob("rj_none", since, nil)), subscriptions.ErrNotFound)
	_, err = s.RecoverJob(ctx, "rj_none")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

func testConcurrentRecoverJobs(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	since := micro(time.Now().Add(-time.Hour))
	for round, until := range []*time.Time{nil, &since} {
		const callers = 12
		var (
			wg      sync.WaitGroup
			results = make([]dispatcher.RecoverJob, callers)
			made    = make([]bool, callers)
			errs    = make([]error, callers)
		)
		for i := range callers {
			wg.Go(func() {
				j := dispatcher.RecoverJob{ID: fmt.Sprintf("rj_%d_%02d", round, i), EndpointID: "ep1", PartnerID: "acme",
					Since: since.Add(-time.Hour), Until: until}
				results[i], made[i], errs[i] = s.CreateRecoverJob(ctx, j)
			})
		}
		wg.Wait()
		var winners []string
		for i := range callers {
			require.NoError(t, errs[i])
			require.Equal(t, results[0].ID, results[i].ID)
			if made[i] {
				winners = append(winners, results[i].ID)
			}
		}
		require.Len(t, winners, 1)
		require.Equal(t, fmt.Sprintf("rj_%d", round), winners[0][:4])
	}
}

func testRequeueFailed(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	base := micro(time.Now().Add(-time.Hour))
	before := failedMessagesFixture(t, s, base)
	since, until := base.Add(4*time.Minute), base.Add(15*time.Minute)
	checkCountFailed(t, s, before, base, since, until)

	// [since, until) in batches of 3, as a recover job would.
	at := micro(time.Now().Add(time.Second))
	requeued := checkRequeueInBatches(t, s, since, until, at)
	want := failedIn(before, since, &until)
	require.Equal(t, want, requeued)
	n, err := s.CountFailed(ctx, "ep1", since, &until)
	require.NoError(t, err)
	require.Zero(t, n)

	// Everything else is as it was; the requeued keep their
	// attempt counts and last results.
	for _, m := range before {
		stored, err := s.Message(ctx, m.ID)
		require.NoError(t, err)
		if slices.Contains(want, m.ID) {
			m.Status, m.NextAttemptAt, m.LeaseUntil, m.UpdatedAt = dispatcher.StatusPending, &at, nil, stored.UpdatedAt
		}
		require.Equal(t, m, stored)
	}

	rest := slices.DeleteFunc(failedIn(before, base, nil), func(id string) bool { return slices.Contains(want, id) })
	checkRequeueRest(t, s, base, rest, at)
}

// failedMessagesFixture stores 22 messages, each of an event of its own,
// created minutes after base: 20 of endpoint ep1, a minute apart, of which
// one in five succeeded, one in five pending and the rest failed; and 2
// failed of ep2. It returns them as the store lists them.
func failedMessagesFixture(t *testing.T, s *store.Store, base time.Time) []dispatcher.Message {
	t.Helper()
	ctx := t.Context()
	ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
	lease := micro(time.Now().Add(time.Minute))
	type row struct {
		ep      subscriptions.Endpoint
		minute  int
		status  dispatcher.Status
		attempt int
	}
	var rows []row
	for i := range 20 {
		st := dispatcher.StatusFailed
		switch i % 5 {
		case 1:
			st = dispatcher.StatusSucceeded
		case 3:
			st = dispatcher.StatusPending
		}
		rows = append(rows, row{ep1, i, st, i % 4})
	}
	rows = append(rows, row{ep2, 5, dispatcher.StatusFailed, 2}, row{ep2, 6, dispatcher.StatusFailed, 2})
	for i, r := range rows {
		ev := insertEvent(t, s, event(fmt.Sprintf("evt_%02d", i)))
		// Ids in an order of their own, not that of creation.
		m := message(fmt.Sprintf("msg_%02d", (i*13)%len(rows)), ev, r.ep)
		m.Status, m.Attempts = r.status, r.attempt
		m.CreatedAt = base.Add(time.Duration(r.minute) * time.Minute)
		m.UpdatedAt = m.CreatedAt
		m.LastStatusCode, m.LastErrorClass = 500, dispatcher.ErrorHTTPStatus
		if r.status != dispatcher.StatusPending {
			m.NextAttemptAt = nil
		}
		if i == 0 {
			m.LeaseUntil = &lease // a stale lease, cleared on requeue
		}
		_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
		require.NoError(t, err)
	}
	before, err := s.ListMessages(ctx, dispatcher.MessageQuery{Page: subscriptions.Page{Limit: 100}})
	require.NoError(t, err)
	return before
}

// failedIn returns the ids of the failed messages of ep1 among ms created
// in [since, until), or from since on when until is nil, in id order.
func failedIn(ms []dispatcher.Message, since time.Time, until *time.Time) []string {
	var out []string
	for _, m := range ms {
		if m.EndpointID == "ep1" && m.Status == dispatcher.StatusFailed && !m.CreatedAt.Before(since) &&
			(until == nil || m.CreatedAt.Before(*until)) {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return out
}

// checkCountFailed checks that CountFailed counts the failed messages of
// ep1 among before in ranges from base on, and none of an endpoint without
// messages.
func checkCountFailed(t *testing.T, s *store.Store, before []dispatcher.Message, base, since, until time.Time) {
	t.Helper()
	ctx := t.Context()
	for _, tc := range []struct {
		since time.Time
		until *time.Time
		n     int
	}{
		{base, nil, 12},
		{since, &until, 7},
		{since, nil, 10},
		{base, &since, 2},
		{until, &until, 0},
	} {
		require.Len(t, failedIn(before, tc.since, tc.until), tc.n)
		n, err := s.CountFailed(ctx, "ep1", tc.since, tc.until)
		require.NoError(t, err)
		require.Equal(t, tc.n, n, "%s %v", tc.since, tc.until)
	}
	n, err := s.CountFailed(ctx, "nobody", base, nil)
	require.NoError(t, err)
	require.Zero(t, n)
}

// checkRequeueInBatches requeues the failed messages of ep1 created in
// [since, until), three at a time from a cursor, as a recover job would,
// due at at, and checks each batch as returned and as stored. It returns
// the ids requeued, in order.
func checkRequeueInBatches(t *testing.T, s *store.Store, since, until, at time.Time) []string {
	t.Helper()
	ctx := t.Context()
	start := micro(time.Now())
	var (
		requeued []string
		cursor   string
	)
	for range 10 {
		ms, err := s.RequeueFailed(ctx, "ep1", since, &until, cursor, 3, at)
		require.NoError(t, err)
		require.LessOrEqual(t, len(ms), 3)
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			require.Equal(t, dispatcher.StatusPending, m.Status)
			require.Equal(t, &at, m.NextAttemptAt)
			require.Nil(t, m.LeaseUntil)
			require.False(t, m.UpdatedAt.Before(start))
			stored, err := s.Message(ctx, m.ID)
			require.NoError(t, err)
			require.Equal(t, m, stored)
		}
		requeued = append(requeued, ids(ms, func(m dispatcher.Message) string { return m.ID })...)
		cursor = ms[len(ms)-1].ID
	}
	return requeued
}

// checkRequeueRest requeues rest, the failed messages of ep1 still failed
// (five), open-ended from base: from a cursor only the ids after it, then
// the others with the default limit. Then ep1 has no failed message left
// and ep2 its two.
func checkRequeueRest(t *testing.T, s *store.Store, base time.Time, rest []string, at time.Time) {
	t.Helper()
	ctx := t.Context()
	require.Len(t, rest, 5)
	ms, err := s.RequeueFailed(ctx, "ep1", base, nil, rest[1], 100, at)
	require.NoError(t, err)
	require.Equal(t, rest[2:], ids(ms, func(m dispatcher.Message) string { return m.ID }))
	ms, err = s.RequeueFailed(ctx, "ep1", base, nil, "", 0, at)
	require.NoError(t, err)
	require.Equal(t, rest[:2], ids(ms, func(m dispatcher.Message) string { return m.ID }))
	n, err := s.CountFailed(ctx, "ep1", base, nil)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = s.CountFailed(ctx, "ep2", base, nil)
	require.NoError(t, err)
	require.Equal(t, 2, n, "another endpoint's stay failed")
}
