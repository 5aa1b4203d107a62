package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/shiphook/shiphook/dispatcher"
)

// A batcher gathers the calls that many goroutines make at the same time
// into one statement or one transaction: single-event inserts, first
// fan-outs, claims and attempt records, which every event or delivery
// makes, and the deferrals and holds of messages held back by an open
// breaker. Nothing waits to fill a batch. A call finding an idle runner
// runs at once, alone; calls made while the runner is busy queue up and go
// together in the next batch, so that batches grow with the load and the
// fixed costs (the round trip, the commit, opening every index of the
// table) are shared.
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

// inOrder returns the indexes 0 … n-1 in the order of their keys, those of
// equal keys in the order given. A batch runs its calls in key order, so
// that concurrent batches lock rows in the same order.
func inOrder(n int, key func(i int) string) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return strings.Compare(key(i), key(j)) })
	return order
}

// oneOrMany runs the calls of a batch: a lone call with one, several with
// many and, if many fails, each on its own with one, so that only the
// faulty calls fail.
func oneOrMany[T, R any](args []T, one func(T) (R, error), many func([]T) ([]batchResult[R], error)) []batchResult[R] {
	if len(args) > 1 {
		if out, err := many(args); err == nil {
			return out
		}
	}
	out := make([]batchResult[R], len(args))
	for i, a := range args {
		out[i].res, out[i].err = one(a)
	}
	return out
}

// results wraps the answers of a batch whose calls all succeeded.
func results[R any](rs []R) []batchResult[R] {
	out := make([]batchResult[R], len(rs))
	for i, r := range rs {
		out[i].res = r
	}
	return out
}

// Batches of single-event InsertEvents, first fan-outs, ClaimMessage,
// RecordAttempt, and DeferMessage with HoldMessage.
const (
	// maxBatch is the most calls one batch carries.
	maxBatch = 100
	// batchRunners is how many batches of a kind may run at once. One,
	// so that calls made during a batch wait for it and then go together:
	// at fan-out ×1 on PostgreSQL, one runner of each kind delivered 10 to
	// 20 % more than four and took a third less of PostgreSQL's CPU per
	// delivery, and at 1,000 events/s it cut the p99 of publish to receipt
	// from about 100 ms to about 20 ms (docs/benchmarks.md, change 10).
	batchRunners = 1
	// batchTimeout bounds one batch's statements.
	batchTimeout = 30 * time.Second
)

// fanout is one first fan-out of an event (PostgreSQL): its messages
// sorted by endpoint and filled in, at most messageInsertBatch of them.
type fanout struct {
	eventID string
	msgs    []dispatcher.Message
	now     time.Time
}

// fannedOut is fanOutFirst's answer.
type fannedOut struct {
	pending []dispatcher.Message
	first   bool
}

// fanOutBatch makes first fan-outs with fanOutFirst or fanOutMany.
func (s *Store) fanOutBatch(ctx context.Context, args []fanout) []batchResult[fannedOut] {
	one := func(f fanout) (fannedOut, error) {
		pending, first, err := s.fanOutFirst(ctx, f.eventID, f.msgs, f.now)
		return fannedOut{pending, first}, err
	}
	return oneOrMany(args, one, func(args []fanout) ([]batchResult[fannedOut], error) {
		out, err := s.fanOutMany(ctx, args)
		return results(out), err
	})
}

// fanOutMany makes first fan-outs in one transaction, fanOutFirst's
// statement each, in order of shipment, then event id (two of one event in
// the order given, the second finding the event marked): so the rows of
// ordered queues, keyed by endpoint and shipment, are locked shipment by
// shipment, as recordMany locks them, and the events of one shipment are
// numbered in order.
func (s *Store) fanOutMany(ctx context.Context, args []fanout) ([]fannedOut, error) {
	order := inOrder(len(args), func(i int) string { return queueKey(args[i].msgs, "") + "\x00" + args[i].eventID })
	out := make([]fannedOut, len(args))
	stored := make([][]dispatcher.Message, len(args))
	steps := make([]step, len(args))
	for n, i := range order {
		f := args[i]
		query, params := fanOutFirstStatement(f.eventID, f.msgs, f.now)
		steps[n] = step{query: query, args: params, row: fanOutFirstRow(f.msgs, &out[i].first, &stored[i])}
	}
	if err := s.together(ctx, steps); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].pending = dueByID(stored[i])
	}
	return out, nil
}

type claim struct {
	id         string
	attempts   int
	leaseUntil time.Time
}

type claimed struct {
	m  dispatcher.Message
	ok bool
}

// claimBatch claims messages with claimOne or claimMany. A claim not won
// returns the message as it stands.
func (s *Store) claimBatch(ctx context.Context, args []claim) []batchResult[claimed] {
	one := func(c claim) (claimed, error) { return s.claimOne(ctx, c) }
	return oneOrMany(args, one, func(args []claim) ([]batchResult[claimed], error) {
		won, err := s.claimMany(ctx, args)
		if err != nil {
			return nil, err
		}
		out := make([]batchResult[claimed], len(args))
		for i, c := range args {
			if m, ok := won[i]; ok {
				out[i].res = claimed{m, true}
				continue
			}
			out[i].res, out[i].err = s.lost(ctx, c.id)
		}
		return out, nil
	})
}

// claimMany makes the claims in one transaction, one statement each, as
// if they came one after the other in id order: of two claims of one
// message, the first given wins. It returns the messages of the claims won, by their
// index in args.
func (s *Store) claimMany(ctx context.Context, args []claim) (map[int]dispatcher.Message, error) {
	order := inOrder(len(args), func(i int) string { return args[i].id })
	won := make(map[int]dispatcher.Message, len(args))
	now := micros(time.Now())
	steps := make([]step, len(args))
	for n, i := range order {
		query, params := claimStatement(args[i], now)
		steps[n] = step{query: query, args: params, row: func(sc scanner) error {
			m, err := scanMessage(sc)
			won[i] = m
			return err
		}}
	}
	if err := s.together(ctx, steps); err != nil {
		return nil, err
	}
	return won, nil
}

// record is one RecordAttempt call, its response headers encoded, or one
// RecordEnd call, with end.
type record struct {
	a       dispatcher.Attempt
	o       dispatcher.Outcome
	headers string
	// end, for RecordEnd, names the queue whose head the attempt's message
	// is, and the lease of the next message (zero: none).
	end *queueEnd
}

// queueEnd is the message of a RecordEnd call, which names its queue, and
// the lease its next message is to be claimed with (zero: none).
type queueEnd struct {
	m          dispatcher.Message
	leaseUntil time.Time
}

// recorded is what recording an attempt gave: for RecordEnd, the next
// message of the queue, made pending or claimed, if ok.
type recorded struct {
	next dispatcher.Message
	ok   bool
}

// deferral is one DeferMessage call, or one HoldMessage call if hold is
// set (at is then unused). Both move a pending message by primary key
// without spending an attempt, so holds and deferrals made at the same
// moment go in one batch.
type deferral struct {
	id       string
	attempts int
	at       time.Time
	hold     bool
}

// deferBatch makes deferrals and holds with deferOne or deferMany.
func (s *Store) deferBatch(ctx context.Context, args []deferral) []batchResult[bool] {
	one := func(d deferral) (bool, error) { return s.deferOne(ctx, d) }
	return oneOrMany(args, one, func(args []deferral) ([]batchResult[bool], error) {
		moved, err := s.deferMany(ctx, args)
		return results(moved), err
	})
}

// deferMany makes the deferrals and holds in one transaction, one statement
// each, as if they came one after the other in id order. It returns
// whether each moved its message, by its index in args.
func (s *Store) deferMany(ctx context.Context, args []deferral) ([]bool, error) {
	order := inOrder(len(args), func(i int) string { return args[i].id })
	moved := make([]bool, len(args))
	now := micros(time.Now())
	steps := make([]step, len(args))
	for n, i := range order {
		query, params := deferStatement(args[i], now)
		steps[n] = step{query: query, args: params, row: func(scanner) error {
			moved[i] = true
			return nil
		}}
	}
	if err := s.together(ctx, steps); err != nil {
		return nil, err
	}
	return moved, nil
}

// recordBatch records attempts with recordOne or recordMany.
func (s *Store) recordBatch(ctx context.Context, args []record) []batchResult[recorded] {
	one := func(r record) (recorded, error) { return s.recordOne(ctx, r) }
	return oneOrMany(args, one, func(args []record) ([]batchResult[recorded], error) {
		found, err := s.recordMany(ctx, args)
		if err != nil {
			return nil, err
		}
		out := make([]batchResult[recorded], len(args))
		for i, r := range args {
			res, ok := found[r.a.ID]
			if !ok {
				out[i].err = s.notRecorded(ctx, r.a)
			}
			out[i].res = res
		}
		return out, nil
	})
}

// recordMany records attempts in one transaction, one after the other in
// message id order (two of one message in the order given), those with an
// end first, in the order of their queues (shipment, then endpoint), as
// fanOutMany locks them; each with the move of its queue's head if it has
// an end. It returns what each attempt stored gave, by attempt id: those
// of messages found through their fences.
func (s *Store) recordMany(ctx context.Context, batch []record) (map[string]recorded, error) {
	sorted := make([]record, len(batch))
	for n, i := range inOrder(len(batch), func(i int) string {
		if e := batch[i].end; e != nil {
			return "\x00" + e.m.ShipmentID + "\x00" + e.m.EndpointID + "\x00" + batch[i].a.MessageID
		}
		return "\x01" + batch[i].a.MessageID
	}) {
		sorted[n] = batch[i]
	}
	found := make(map[string]recorded, len(batch))
	if !s.d.updateInWith {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for _, r := range sorted {
				res, err := s.recordEndInTx(ctx, tx, r)
				if errors.Is(err, errNotRecorded) {
					continue
				}
				if err != nil {
					return err
				}
				found[r.a.ID] = res
			}
			return nil
		})
		return found, err
	}
	now := time.Now()
	var steps []step
	for _, r := range sorted {
		query, params := recordStatement(r, now)
		steps = append(steps, step{query: query, args: params, row: func(scanner) error {
			found[r.a.ID] = recorded{} // stored; its end's steps, next, may promote
			return nil
		}})
		steps = append(steps, endSteps(r, now, func(next dispatcher.Message) { found[r.a.ID] = recorded{next, true} })...)
	}
	return found, s.together(ctx, steps)
}

// step is one statement of a batch that together runs: its text, its
// arguments, and what reads each row it returns.
type step struct {
	query string
	args  []any
	row   func(scanner) error
}

// together runs steps in order as one transaction, so that a batch of
// calls pays for one commit: on PostgreSQL sent at once, in one round trip
// (a pipeline, which the server runs as one implicit transaction), on
// SQLite in one transaction. Each step is the statement a call makes
// alone, prepared once per connection, which looks for its row by primary
// key. One statement for the whole batch would join the calls to the
// table instead, and a join's plan depends on the table's statistics far
// more than a lookup by primary key does. Even a one-row statement can
// keep a plan made while its table was nearly empty, one that reads the
// whole table, until the table is analyzed again (docs/benchmarks.md,
// change 9). If one step fails, none takes effect.
func (s *Store) together(ctx context.Context, steps []step) error {
	if !s.d.pipeline {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			for _, st := range steps {
				rows, err := tx.QueryContext(ctx, s.q(st.query), st.args...)
				if err != nil {
					return err
				}
				if err := eachRow(rows, st.row); err != nil {
					return err
				}
			}
			return nil
		})
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pipeline: connection is a %T, not pgx's", dc)
		}
		b := &pgx.Batch{}
		for _, st := range steps {
			b.Queue(s.q(st.query), st.args...).Query(func(rows pgx.Rows) error { return forRows(rows, st.row) })
		}
		return c.Conn().SendBatch(ctx, b).Close()
	})
}
