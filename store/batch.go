package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// A batcher gathers the calls that many goroutines make at the same time
// into one statement: single-event inserts and attempt records,
// which every event or delivery makes. Nothing waits to fill a batch. A
// call finding an idle runner runs at once, alone; calls made while the
// runners are busy queue up and go together in the next statement, so that
// batches grow with the load and a statement's fixed costs (the round
// trip, the commit, opening every index of the table) are shared.
type batcher[T, R any] struct {
	// run makes the calls of one batch and returns one result per call, in
	// order. It is called with at most max calls.
	run   func(ctx context.Context, args []T) []batchResult[R]
	max   int
	calls chan *batchCall[T, R]
	stop  <-chan struct{}
}

type batchResult[R any] struct {
	res R
	err error
}

type batchCall[T, R any] struct {
	arg  T
	out  batchResult[R]
	done chan struct{}
}

// errClosed is returned by calls made after Close.
var errClosed = errors.New("the store is closed")

// newBatcher starts runners that run batches of calls until s is closed.
func newBatcher[T, R any](s *Store, runners, max int, run func(context.Context, []T) []batchResult[R]) *batcher[T, R] {
	b := &batcher[T, R]{run: run, max: max, calls: make(chan *batchCall[T, R]), stop: s.stop}
	for range runners {
		s.wg.Go(b.loop)
	}
	return b
}

// do makes one call, in a batch with whatever calls are waiting. Once
// queued, it waits for the statement's outcome even if ctx ends, so that
// the caller learns what happened.
func (b *batcher[T, R]) do(ctx context.Context, arg T) (R, error) {
	c := &batchCall[T, R]{arg: arg, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	case <-b.stop:
		var zero R
		return zero, errClosed
	}
	<-c.done
	return c.out.res, c.out.err
}

func (b *batcher[T, R]) loop() {
	batch := make([]*batchCall[T, R], 0, b.max)
	args := make([]T, 0, b.max)
	for {
		select {
		case c := <-b.calls:
			batch = append(batch[:0], c)
		case <-b.stop:
			return
		}
	gather:
		for len(batch) < b.max {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		args = args[:0]
		for _, c := range batch {
			args = append(args, c.arg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		out := b.run(ctx, args)
		cancel()
		for i, c := range batch {
			c.out = out[i]
			close(c.done)
		}
	}
}

// each runs fn for every arg on its own, for batches that must fall back
// to one statement per call.
func each[T, R any](args []T, fn func(T) (R, error)) []batchResult[R] {
	out := make([]batchResult[R], len(args))
	for i, a := range args {
		out[i].res, out[i].err = fn(a)
	}
	return out
}

// Batches of single-event InsertEvents and RecordAttempt.
const (
	// maxBatch is the most calls one statement carries.
	maxBatch = 100
	// batchRunners is how many statements of a kind may run at once.
	batchRunners = 4
	// batchTimeout bounds one batch's statements.
	batchTimeout = 30 * time.Second
)

// record is one RecordAttempt call, its response headers encoded.
type record struct {
	a       dispatcher.Attempt
	o       dispatcher.Outcome
	headers string
}

// recordBatch records attempts: on PostgreSQL with one statement, on
// SQLite in one transaction. A message recorded twice in one batch has
// its second record made afterwards, on its own. If the batch fails, each
// record is made on its own, so that only the faulty ones fail.
func (s *Store) recordBatch(ctx context.Context, args []record) []batchResult[struct{}] {
	one := func(r record) (struct{}, error) { return struct{}{}, s.recordOne(ctx, r) }
	if len(args) == 1 {
		return each(args, one)
	}
	var first, again []int
	seen := make(map[string]bool, len(args))
	for i, r := range args {
		if seen[r.a.MessageID] {
			again = append(again, i)
			continue
		}
		seen[r.a.MessageID] = true
		first = append(first, i)
	}
	slices.SortFunc(first, func(i, j int) int { return strings.Compare(args[i].a.MessageID, args[j].a.MessageID) })
	batch := make([]record, len(first))
	for n, i := range first {
		batch[n] = args[i]
	}
	out := make([]batchResult[struct{}], len(args))
	found, err := s.recordMany(ctx, batch)
	for n, i := range first {
		switch {
		case err != nil:
			out[i].err = s.recordOne(ctx, batch[n])
		case !found[batch[n].a.MessageID]:
			out[i].err = notFound(sql.ErrNoRows, "message "+batch[n].a.MessageID)
		}
	}
	for _, i := range again {
		out[i].err = s.recordOne(ctx, args[i])
	}
	return out
}

// recordMany records attempts of distinct messages, all or none, and
// returns the ids of the messages found.
func (s *Store) recordMany(ctx context.Context, batch []record) (map[string]bool, error) {
	found := make(map[string]bool, len(batch))
	if !s.d.arrays || !s.d.updateInWith {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for _, r := range batch {
				err := s.recordInTx(ctx, tx, r)
				if errors.Is(err, subscriptions.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				found[r.a.MessageID] = true
			}
			return nil
		})
		return found, err
	}
	query, params := recordBatchQuery(batch, time.Now())
	rows, err := s.db.QueryContext(ctx, s.q(query), params...)
	if err != nil {
		return nil, err
	}
	return found, addIDs(rows, found)
}

// recordColumns are the columns of one record in recordBatchQuery's v.
const recordColumns = `message_id, status, next_at, att_id, endpoint_id, partner_id, number, trigger, url, started_at,
	duration_ms, status_code, body, headers, error_class, error`

// recordBatchQuery returns the statement that records batch (PostgreSQL):
// the messages are updated and the attempts inserted from a set of rows v,
// unnested from one array per column.
func recordBatchQuery(batch []record, now time.Time) (string, []any) {
	n := len(batch)
	var (
		messageIDs, statuses, attemptIDs, triggers, urls = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		bodies, headers, classes, errs                   = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		endpointIDs, partnerIDs                          = make([]*string, n), make([]*string, n)
		nextAts, numbers                                 = make([]*int64, n), make([]*int64, n)
		started, durations, codes                        = make([]int64, n), make([]int64, n), make([]int64, n)
	)
	for i, r := range batch {
		a := r.a
		messageIDs[i], statuses[i], attemptIDs[i], triggers[i], urls[i] = a.MessageID, string(r.o.Status), a.ID, a.Trigger, a.URL
		bodies[i], headers[i], classes[i], errs[i] = a.ResponseBody, r.headers, string(a.ErrorClass), a.Error
		if a.EndpointID != "" {
			endpointIDs[i] = &a.EndpointID
		}
		if a.PartnerID != "" {
			partnerIDs[i] = &a.PartnerID
		}
		if next, ok := dueAt(r.o.Status, r.o.NextAttemptAt, now).(int64); ok {
			nextAts[i] = &next
		}
		if a.Number > 0 {
			number := int64(a.Number) // NULL: the message's attempt count
			numbers[i] = &number
		}
		started[i], durations[i], codes[i] = micros(a.StartedAt), a.DurationMS, int64(a.StatusCode)
	}
	return `WITH v (` + recordColumns + `) AS (
			SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]),
				CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),
				CAST(? AS BIGINT[]), CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]))
		), m AS (
			UPDATE messages SET attempts = messages.attempts + 1, status = v.status, next_attempt_at = v.next_at,
				lease_until = NULL, last_status_code = v.status_code, last_error_class = v.error_class, updated_at = ?
			FROM v WHERE messages.id = v.message_id
			RETURNING messages.id, messages.attempts, messages.endpoint_id, messages.partner_id
		)
		INSERT INTO attempts (` + attemptColumns + `)
		SELECT v.att_id, m.id, COALESCE(v.endpoint_id, m.endpoint_id), COALESCE(v.partner_id, m.partner_id),
			COALESCE(v.number, m.attempts), v.trigger, v.url, v.started_at, v.duration_ms, v.status_code, v.body, v.headers,
			v.error_class, v.error
		FROM m JOIN v ON v.message_id = m.id
		RETURNING message_id`,
		[]any{messageIDs, statuses, nextAts, attemptIDs, endpointIDs, partnerIDs, numbers, triggers, urls, started, durations, codes,
			bodies, headers, classes, errs, micros(now)}
}
