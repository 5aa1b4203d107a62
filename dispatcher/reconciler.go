package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// reconcilerStore is what the reconciler needs of the Store.
type reconcilerStore interface {
	UnfannedEvents(ctx context.Context, before time.Time, limit int) ([]string, error)
	DueMessages(ctx context.Context, before time.Time, limit int) ([]Message, error)
	StaleRecoverJobs(ctx context.Context, before time.Time, limit int) ([]string, error)
	shipmentLookup
	UnresolvedEvents(ctx context.Context, after string, limit int) ([]Event, error)
	ResolveEvents(ctx context.Context, evs []Event) ([]string, error)
}

// The reconciler re-enqueues, every interval, the events not yet fanned
// out, the messages overdue by grace (pending past their next attempt, or
// delivering past their lease) and the stalled recovery jobs: work that
// Redis lost in a flush or crash, or that a process took with it when it
// died. Enqueuing is idempotent by TaskID, so work that is still queued is
// not doubled.
type reconciler struct {
	background
	store    reconcilerStore
	queue    *Queue
	interval time.Duration
	grace    time.Duration
	// turned is when the loop started or last ended a pass, failed or
	// not, in Unix nanoseconds; 0 before start.
	turned atomic.Int64
	// unresolvedAfter is the id of the last unresolved event the last
	// pass read, "" to start from the first; only the loop's goroutine
	// (or a Reconcile call) uses it.
	unresolvedAfter string
	// metrics counts what the passes queue again; nil counts nothing.
	metrics *Metrics
}

// resolveBatch is how many unresolved events a pass reads.
const resolveBatch = 500

// start reconciles every interval until ctx ends.
func (r *reconciler) start(ctx context.Context) {
	r.turned.Store(time.Now().UnixNano())
	r.every(ctx, r.interval, func(ctx context.Context) {
		if err := r.reconcile(ctx); err != nil && ctx.Err() == nil {
			logWarn(ctx, "reconcile", "err", err)
		}
		r.turned.Store(time.Now().UnixNano())
	})
}

// aliveIntervals is how many reconcile intervals, and aliveFloor the
// least time, the reconciler may go without ending a pass before
// Worker.Alive reports it stalled.
const (
	aliveIntervals = 3
	aliveFloor     = time.Minute
)

// alive reports whether the loop turned lately (Worker.Alive).
func (r *reconciler) alive(now time.Time) error {
	turned := r.turned.Load()
	if turned == 0 {
		return errors.New("the reconciler has not started")
	}
	limit := max(aliveIntervals*r.interval, aliveFloor)
	if since := now.Sub(time.Unix(0, turned)); since > limit {
		return fmt.Errorf("the reconciler last ended a pass %s ago (stalled after %s)", since.Round(time.Second), limit)
	}
	return nil
}

// reconcile makes one pass (Worker.Reconcile).
func (r *reconciler) reconcile(ctx context.Context) error {
	before := time.Now().Add(-r.grace)
	ids, err := r.store.UnfannedEvents(ctx, before, 1000)
	if err != nil {
		return fmt.Errorf("find events not fanned out: %w", err)
	}
	// Lost work goes to Redis, never to the lanes: what is merely late,
	// still queued in Redis, is then not taken up twice, as task ids make
	// the second enqueue a no-op.
	if err := r.queue.remoteFanout(ctx, ids...); err != nil {
		return err
	}
	due, err := r.store.DueMessages(ctx, before, 5000)
	if err != nil {
		return fmt.Errorf("find overdue messages: %w", err)
	}
	// The due time names a task in Redis, as when it was first queued.
	if err := r.queue.enqueueMessages(ctx, due, nil, time.Time{}); err != nil {
		return err
	}
	jobs, err := r.store.StaleRecoverJobs(ctx, before, 100)
	if err != nil {
		return fmt.Errorf("find stalled recovery jobs: %w", err)
	}
	for _, id := range jobs {
		if err := r.queue.EnqueueRecover(ctx, id); err != nil {
			return err
		}
	}
	r.metrics.reconciled(len(ids), len(due), len(jobs))
	if err := r.resolve(ctx); err != nil {
		return err
	}
	if len(ids)+len(due) > 0 {
		logInfo(ctx, "reconciler re-enqueued lost work", "events", len(ids), "messages", len(due))
	}
	return nil
}

// resolve reads a batch of unresolved events, from where the last pass
// stopped (from the first again once it read the last), resolves them
// against the registry as ingest does, and stores those that now name one
// registered shipment (Registry.ResolveEvents), which makes them not
// fanned out: their fan-out, queued here and found again by the next
// passes until it is done, gives a message to every endpoint that has
// none for the event yet, so the parties get it, and an endpoint of a
// partner with access all that had it already does not get it again.
func (r *reconciler) resolve(ctx context.Context) error {
	evs, err := r.store.UnresolvedEvents(ctx, r.unresolvedAfter, resolveBatch)
	if err != nil {
		return fmt.Errorf("find unresolved events: %w", err)
	}
	r.unresolvedAfter = ""
	if len(evs) == resolveBatch {
		r.unresolvedAfter = evs[len(evs)-1].ID
	}
	if len(evs) == 0 {
		return nil
	}
	ptrs := make([]*Event, len(evs))
	for i := range evs {
		ptrs[i] = &evs[i]
	}
	if err := resolveShipments(ctx, r.store, ptrs); err != nil {
		return err
	}
	resolved := evs[:0]
	for _, ev := range evs {
		if ev.Unresolved == nil {
			resolved = append(resolved, ev)
		}
	}
	if len(resolved) == 0 {
		return nil
	}
	ids, err := r.store.ResolveEvents(ctx, resolved)
	if err != nil {
		return fmt.Errorf("store resolved events: %w", err)
	}
	logInfo(ctx, "reconciler resolved events", "events", len(ids))
	return r.queue.remoteFanout(ctx, ids...)
}
