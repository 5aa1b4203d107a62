package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// A batcher gathers the calls that many goroutines make at the same time
// into one statement: single-event inserts, claims and attempt records,
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

// Batches of single-event InsertEvents, ClaimMessage and RecordAttempt.
const (
	// maxBatch is the most calls one statement carries.
	maxBatch = 100
	// batchRunners is how many statements of a kind may run at once.
	batchRunners = 4
	// batchTimeout bounds one batch's statements.
	batchTimeout = 30 * time.Second
)

type claim struct {
	id         string
	attempts   int
	leaseUntil time.Time
}

type claimed struct {
	m  dispatcher.Message
	ok bool
}

// claimBatch claims messages: one with a one-row statement, many with one
// statement for all. Of two claims of one message, the first given wins,
// as if they came one after the other. A claim not won returns the message
// as it stands. If the batch fails, each claim is made on its own, so that
// each gets its own answer.
func (s *Store) claimBatch(ctx context.Context, args []claim) []batchResult[claimed] {
	one := func(c claim) (claimed, error) { return s.claimOne(ctx, c) }
	if len(args) == 1 {
		return each(args, one)
	}
	won, err := s.claimMany(ctx, args)
	if err != nil {
		return each(args, one)
	}
	byID := make(map[string]dispatcher.Message, len(won))
	for _, m := range won {
		byID[m.ID] = m
	}
	return each(args, func(c claim) (claimed, error) {
		if m, ok := byID[c.id]; ok {
			delete(byID, c.id)
			return claimed{m, true}, nil
		}
		m, err := s.Message(ctx, c.id)
		if err != nil {
			return claimed{}, err
		}
		return claimed{m, false}, nil
	})
}

// claimMany runs the statement that claims args, in id order so that
// concurrent batches lock rows in the same order, and returns the messages
// claimed.
func (s *Store) claimMany(ctx context.Context, args []claim) ([]dispatcher.Message, error) {
	sorted := slices.Clone(args)
	slices.SortFunc(sorted, func(a, b claim) int { return strings.Compare(a.id, b.id) })
	query, params := s.claimBatchQuery(sorted, micros(time.Now()))
	rows, err := s.db.QueryContext(ctx, s.q(query), append(slices.Clone(s.d.planEach), params...)...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanMessage, "read the claimed messages")
}

// claimBatchQuery returns the statement that claims args, taken in order.
func (s *Store) claimBatchQuery(args []claim, now int64) (string, []any) {
	// v's columns are named apart from messages' own, which RETURNING
	// names unqualified.
	const where = ` WHERE messages.id = v.claim_id AND messages.attempts = v.claim_attempts
		AND (messages.status = 'pending' OR (messages.status = 'delivering' AND messages.lease_until < ?)) RETURNING ` + messageColumns
	if s.d.arrays {
		ids, attempts, leases := make([]string, len(args)), make([]int64, len(args)), make([]int64, len(args))
		for i, c := range args {
			ids[i], attempts[i], leases[i] = c.id, int64(c.attempts), micros(c.leaseUntil)
		}
		return `UPDATE messages SET status = 'delivering', lease_until = v.claim_lease, updated_at = ?
			FROM unnest(CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS BIGINT[])) AS v (claim_id, claim_attempts, claim_lease)` + where,
			[]any{now, ids, attempts, leases, now}
	}
	var sb strings.Builder
	params := make([]any, 0, 2+3*len(args))
	params = append(params, now)
	sb.WriteString(`UPDATE messages SET status = 'delivering', lease_until = v.claim_lease, updated_at = ?
		FROM (SELECT column1 AS claim_id, column2 AS claim_attempts, column3 AS claim_lease FROM (VALUES `)
	for i, c := range args {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?)")
		params = append(params, c.id, c.attempts, micros(c.leaseUntil))
	}
	sb.WriteString(`)) AS v` + where)
	return sb.String(), append(params, now)
}

// record is one RecordAttempt call, its response headers encoded.
type record struct {
	a       dispatcher.Attempt
	o       dispatcher.Outcome
	headers string
}

// recordBatch records attempts with recordMany. A message recorded twice
// in one batch has its second record made afterwards, on its own. If the
// batch fails, each record is made on its own, so that only the faulty
// ones fail.
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

// recordMany records attempts of distinct messages, all or none: on
// PostgreSQL with one statement, on SQLite in one transaction. It returns
// the ids of the messages found.
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
	what := "attempt " + batch[0].a.ID
	if len(batch) > 1 {
		what = fmt.Sprintf("%d attempts", len(batch))
	}
	query, params := recordBatchQuery(batch, time.Now())
	rows, err := s.db.QueryContext(ctx, s.q(query), append(slices.Clone(s.d.planEach), params...)...)
	if err == nil {
		err = addIDs(rows, found)
	}
	if err != nil {
		return nil, s.classify(err, what)
	}
	return found, nil
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
