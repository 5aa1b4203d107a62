package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

// Scenario kinds, as named by -scenarios.
const (
	scenarioFanout1  = "fanout1"
	scenarioFanout10 = "fanout10"
	scenarioRate     = "rate"
	scenarioBatch    = "batch"
	// The batch scenario's events, through a DCSA source and through a
	// mapped source (sources.go).
	scenarioBatchDCSA   = "batch-dcsa"
	scenarioBatchMapped = "batch-mapped"
	scenarioBacklog     = "backlog"
	// The fanout1 scenario's events to an endpoint ordered by shipment,
	// spread over orderedShipments shipments.
	scenarioOrdered = "ordered"
)

// orderedShipments is how many shipments the ordered scenario's events
// are spread over: as many queues in flight at once.
const orderedShipments = 100

var allScenarios = []string{scenarioFanout1, scenarioFanout10, scenarioRate, scenarioBatch, scenarioBatchDCSA, scenarioBatchMapped,
	scenarioBacklog, scenarioOrdered}

// scenario is one row of the table: how events are published and to how
// many endpoints each goes.
type scenario struct {
	kind   string
	title  string
	fanout int

	events     int // closed loop and batches: how many
	publishers int // concurrent requests
	rate       int // open loop: events a second …
	duration   time.Duration
	batch      int // events per batch call
	// source is the format of the source the events are posted to (the
	// source scenarios); empty posts canonical events.
	source string
	// ordered: the endpoints order their messages by shipment, and the
	// events are spread over shipments shipments (0: one each).
	ordered   bool
	shipments int

	// backlog: down is how the receiver is down (harness.Unavailable or
	// harness.Refusing) while the backlog builds; hold is how long the built
	// backlog is kept before the receiver comes back.
	down harness.Mode
	hold time.Duration
}

// row is the outcome of one scenario in one pass.
type row struct {
	pass     string
	scenario scenario

	pub published
	// deliveries per second, end to end: unique deliveries over first
	// publish to last receipt (backlog: over first to last receipt of the
	// drain).
	deliveryRate float64
	latencies    []time.Duration // empty when not meaningful
	cpu          cpuUse
	cpuFor       int // deliveries the cpu figures are divided by
	peakRSS      int64

	// pg is PostgreSQL's statistics at the start and the end.
	pgBefore, pgAfter pgActivity

	expected, unique, duplicates, extraMessages int
	// missingDetail says where the missing deliveries stand in shiphook.
	missingDetail string
	notes         []string
	err           error
}

func (r *row) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *row) missing() int { return max(0, r.expected-r.unique) }

// runner runs scenarios against one pass.
type runner struct {
	p      *pass
	rcv    *harness.Receiver
	opts   *options
	stderr io.Writer
	runs   int
}

func (rn *runner) progress(format string, args ...any) {
	fmt.Fprintf(rn.stderr, "[%s] %s\n", rn.p.name, fmt.Sprintf(format, args...))
}

// run runs s and returns its row; a failure is recorded in the row.
func (rn *runner) run(ctx context.Context, s scenario) row {
	rn.runs++
	r := row{pass: rn.p.name, scenario: s}
	run := fmt.Sprintf("r%d", rn.runs)
	rn.progress("%s", s.title)
	var err error
	if rn.p.autovacuumOff && rn.opts.vacuum {
		start := time.Now()
		n, err := rn.p.vacuum(ctx)
		if err != nil {
			r.err = err
			return r
		}
		rn.progress("  VACUUM ANALYZE of %d tables that hold rows (autovacuum is off on this server): %.1f s", n, time.Since(start).Seconds())
	}
	if rn.p.stats != nil && rn.opts.checkpoint {
		start := time.Now()
		if err := rn.p.checkpoint(ctx); err != nil {
			r.err = err
			return r
		}
		rn.progress("  CHECKPOINT: %.1f s", time.Since(start).Seconds())
	}
	if s.kind == scenarioBacklog {
		err = rn.backlog(ctx, run, s, &r)
	} else {
		err = rn.flow(ctx, run, s, &r)
	}
	if err != nil {
		r.err = err
		rn.progress("%s: %v", s.title, err)
	}
	return r
}

// prepare creates the run's partners and endpoints and waits until a
// warm-up event has reached every endpoint: shiphook's matcher knows them
// and the connections are open.
func (rn *runner) prepare(ctx context.Context, run string, s scenario) (*harness.Tally, *eventGen, targets, error) {
	t := harness.NewTally()
	tg, err := createTargets(ctx, rn.p.api, rn.rcv, run, s, t)
	if err != nil {
		return nil, nil, tg, err
	}
	g := newEventGen(tg)
	status, body, err := rn.p.api.Post(ctx, "/v1/events", g.appendEvent(nil, -1))
	if err != nil {
		return nil, nil, tg, fmt.Errorf("post the warm-up event: %w", err)
	}
	if status != http.StatusAccepted {
		return nil, nil, tg, fmt.Errorf("post the warm-up event: %d %s", status, strings.TrimSpace(string(body)))
	}
	deadline := time.Now().Add(time.Minute)
	for t.Warmed() < s.fanout {
		if err := rn.p.alive(); err != nil {
			return nil, nil, tg, err
		}
		if time.Now().After(deadline) {
			return nil, nil, tg, fmt.Errorf("the warm-up event reached %d of %d endpoints within a minute", t.Warmed(), s.fanout)
		}
		if err := harness.Sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, nil, tg, err
		}
	}
	return t, g, tg, nil
}

// flow runs a scenario that publishes and waits for every delivery.
func (rn *runner) flow(ctx context.Context, run string, s scenario, r *row) error {
	t, g, tg, err := rn.prepare(ctx, run, s)
	if err != nil {
		return err
	}
	var src *source
	if s.source != "" {
		if src, err = rn.setUpSource(ctx, run, s, tg, r); err != nil {
			return err
		}
	}
	rss := sampleRSS(rn.p.meter.shiphook)
	defer func() { r.peakRSS = rss.finish() }()
	r.pgBefore = rn.p.activity(ctx)
	before := rn.p.meter.read()

	switch a := rn.p.api; {
	case src != nil:
		r.pub = publishSource(ctx, a, src, s.events, s.batch, s.publishers, rn.opts.publishLimit)
	case s.rate > 0:
		r.pub = publishOpen(ctx, a, g, s.rate, s.duration, s.publishers)
	case s.batch > 0:
		r.pub = publishBatches(ctx, a, g, s.events, s.batch, s.publishers, rn.opts.publishLimit, nil)
	default:
		r.pub = publishClosed(ctx, a, g, s.events, s.publishers, rn.opts.publishLimit)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rn.progress("  published: %d accepted in %.1f s (%.0f/s), %d failed", r.pub.accepted, r.pub.end.Sub(r.pub.start).Seconds(), r.pub.rate(), r.pub.failed)
	if r.pub.failed > 0 {
		r.note("%d publish calls failed; the last: %s", r.pub.failed, r.pub.lastErr)
	}
	if r.pub.late > 0 {
		r.note("%d of %d sends left more than 10 ms behind their schedule (at most %s): the publishers were all busy", r.pub.late, r.pub.calls, fmtDuration(r.pub.maxLag))
	}
	r.expected = r.pub.accepted * s.fanout
	waitErr := rn.await(ctx, t, r.expected, rn.opts.drainLimit)
	after := rn.p.meter.read()
	rn.settle(ctx)
	r.pgAfter = rn.p.activity(ctx)
	v := t.View()
	r.fill(v, before.until(after))
	if end := v.Last; !end.IsZero() && end.After(r.pub.start) {
		r.deliveryRate = float64(v.Unique) / end.Sub(r.pub.start).Seconds()
	}
	r.latencies = v.Latencies
	rn.diagnose(ctx, tg, r)
	return waitErr
}

// setUpSource creates the source of a source scenario and registers the
// shipments its events name, with the parties of tg: setup, before the
// measured window.
func (rn *runner) setUpSource(ctx context.Context, run string, s scenario, tg targets, r *row) (*source, error) {
	g := newSourceGen(run, rn.runs, tg)
	src, err := createSource(ctx, rn.p.api, s.source, g)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := registerShipments(ctx, rn.p.api, g, s.events, 2*s.publishers); err != nil {
		return nil, fmt.Errorf("register the shipments: %w", err)
	}
	took := time.Since(start)
	rn.progress("  registered %d shipments in %.1f s", s.events, took.Seconds())
	r.note("through a %s source, %d events a call; %s shipments registered beforehand (PUT /v1/shipments, %.0f s, outside the measured window), "+
		"each event resolved to one by its booking and container and given its parties; the batch scenario's events name shipment.id and go through "+
		"the same registry look-up, by id (their shipments are not registered)", s.source, s.batch, thousands(s.events), took.Seconds())
	return src, nil
}

// fill sets the counts and CPU of r from a tally and the CPU used.
func (r *row) fill(v harness.TallyView, cpu cpuUse) {
	r.unique, r.duplicates, r.extraMessages = v.Unique, v.Arrivals-v.Unique, v.Messages-v.Unique
	r.cpu, r.cpuFor = cpu, v.Unique
	if v.Unique > r.expected {
		r.note("%d deliveries more than the events accepted call for (events stored although their request failed?)", v.Unique-r.expected)
	}
	if r.extraMessages > 0 {
		r.note("%d events reached an endpoint under more than one message id", r.extraMessages)
	}
}

// settle waits a moment after the last expected delivery, so that
// duplicates still under way are counted.
func (rn *runner) settle(ctx context.Context) { _ = harness.Sleep(ctx, time.Second) }

// await waits until want unique deliveries have arrived, nothing new has
// arrived for stallAfter, limit has passed, or shiphook has exited.
func (rn *runner) await(ctx context.Context, t *harness.Tally, want int, limit time.Duration) error {
	reached := t.Expect(want)
	deadline := time.After(limit)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt, lastSaid := t.Progress(), time.Now(), time.Now()
	for {
		select {
		case <-reached:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%d of %d deliveries arrived within %s", t.Unique(), want, limit)
		case <-tick.C:
		}
		if err := rn.p.alive(); err != nil {
			return err
		}
		if n := t.Progress(); n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > rn.opts.stallAfter {
			return fmt.Errorf("%w for %s: %d of %d arrived", errStalled, rn.opts.stallAfter, t.Unique(), want)
		}
		if time.Since(lastSaid) >= 10*time.Second {
			rn.progress("  %d of %d deliveries", t.Unique(), want)
			lastSaid = time.Now()
		}
	}
}

// diagnose says, for a row with missing deliveries, where those messages
// stand in shiphook's log: still pending (on their retry schedule) is not
// lost; succeeded without arriving would be.
func (rn *runner) diagnose(ctx context.Context, tg targets, r *row) {
	if r.missing() == 0 {
		return
	}
	counts := map[string]int{}
	calls := 0
	for _, status := range []string{"pending", "delivering", "failed", "disabled"} {
		for _, partner := range tg.partners {
			cursor := ""
			for calls < 400 {
				calls++
				q := url.Values{"partner_id": {partner}, "status": {status}, "limit": {"250"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				var page struct {
					Data       []struct{ ID string } `json:"data"`
					NextCursor *string               `json:"next_cursor"`
				}
				if err := rn.p.api.Call(ctx, http.MethodGet, "/v1/messages?"+q.Encode(), nil, &page); err != nil {
					r.missingDetail = "could not list messages: " + err.Error()
					return
				}
				counts[status] += len(page.Data)
				if page.NextCursor == nil {
					break
				}
				cursor = *page.NextCursor
			}
		}
	}
	var parts []string
	for _, s := range []string{"pending", "delivering", "failed", "disabled"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	rest := r.missing() - counts["pending"] - counts["delivering"] - counts["failed"] - counts["disabled"]
	if rest > 0 {
		parts = append(parts, fmt.Sprintf("%d unaccounted for (succeeded in shiphook's log, or never created)", rest))
	}
	if calls >= 400 {
		parts = append(parts, "(counted from the first 400 pages only)")
	}
	if r.scenario.source != "" {
		parts = append(parts, rn.unresolved(ctx))
	}
	r.missingDetail = strings.Join(parts, ", ")
}

// backlog builds a backlog of pending messages while the receiver is down,
// holds it, then brings the receiver back and measures the drain.
func (rn *runner) backlog(ctx context.Context, run string, s scenario, r *row) error {
	t, g, tg, err := rn.prepare(ctx, run, s)
	if err != nil {
		return err
	}
	turnedAway := rn.rcv.TurnedAway.Load()
	if err := rn.rcv.SetMode(s.down); err != nil {
		return err
	}
	defer func() { _ = rn.rcv.SetMode(harness.Up) }()
	rss := sampleRSS(rn.p.meter.shiphook)
	defer func() { r.peakRSS = rss.finish() }()
	r.pgBefore = rn.p.activity(ctx)
	b, err := rn.buildBacklog(ctx, g, s, r, rss)
	if err != nil {
		return err
	}
	b.early = t.Unique()

	// Drain.
	if err := rn.rcv.SetMode(harness.Up); err != nil {
		return err
	}
	b.turnedAway = rn.rcv.TurnedAway.Load() - turnedAway
	b.up = time.Now()
	rn.progress("  receiver up: draining")
	waitErr := rn.await(ctx, t, r.expected, rn.opts.drainLimit)
	after := rn.p.meter.read()
	rn.settle(ctx)
	r.pgAfter = rn.p.activity(ctx)
	v := t.View()
	r.fill(v, b.held.until(after))
	if !v.First.IsZero() && v.Last.After(v.First) {
		r.deliveryRate = float64(v.Unique) / v.Last.Sub(v.First).Seconds()
	}
	r.noteBacklog(s, b, v)
	rn.diagnose(ctx, tg, r)
	return waitErr
}

// backlogFigures are what a backlog scenario measured before the drain.
type backlogFigures struct {
	// buildUse is the CPU used building the backlog, holdUse while
	// holding it; held is the CPU counters at the end of the hold.
	buildUse, holdUse cpuUse
	held              cpuSample
	// rssBuilt and rssHeld are shiphook's RSS once the backlog was built
	// and after holding it.
	rssBuilt, rssHeld int64
	// early is how many deliveries arrived while the receiver was down,
	// turnedAway how many attempts it answered 503 meanwhile.
	early      int
	turnedAway int64
	// up is when the receiver came back.
	up time.Time
}

// buildBacklog publishes the backlog's events in batches, waits until
// every event is fanned out, then holds the backlog for s.hold. It sets the
// publication and the deliveries expected in r, and returns the CPU and
// RSS figures of building and holding.
func (rn *runner) buildBacklog(ctx context.Context, g *eventGen, s scenario, r *row, rss *rssSampler) (backlogFigures, error) {
	var b backlogFigures
	start := rn.p.meter.read()
	batches := (s.events + s.batch - 1) / s.batch
	last := make([]string, batches)
	r.pub = publishBatches(ctx, rn.p.api, g, s.events, s.batch, s.publishers, rn.opts.publishLimit, last)
	if err := ctx.Err(); err != nil {
		return b, err
	}
	rn.progress("  published: %d accepted in %.1f s (%.0f/s), %d failed", r.pub.accepted, r.pub.end.Sub(r.pub.start).Seconds(), r.pub.rate(), r.pub.failed)
	if r.pub.failed > 0 {
		r.note("%d events failed to publish; the last error: %s", r.pub.failed, r.pub.lastErr)
	}
	r.expected = r.pub.accepted * s.fanout
	if err := rn.awaitFanout(ctx, slices.DeleteFunc(last, func(id string) bool { return id == "" })); err != nil {
		return b, err
	}
	built := rn.p.meter.read()
	b.buildUse = start.until(built)
	b.rssBuilt = rss.current()
	rn.progress("  backlog of %d messages built in %.0f s; shiphook RSS %s; holding it %s", r.expected, b.buildUse.wall.Seconds(), fmtBytes(b.rssBuilt), s.hold)
	if err := harness.Sleep(ctx, s.hold); err != nil {
		return b, err
	}
	if err := rn.p.alive(); err != nil {
		return b, err
	}
	b.held = rn.p.meter.read()
	b.holdUse = built.until(b.held)
	b.rssHeld = rss.current()
	return b, nil
}

// noteBacklog adds to r the notes of a backlog scenario: how it was built,
// what the receiver turned away, shiphook's RSS and CPU while it was
// pending, and how the drain went (v is the receiver's tally).
func (r *row) noteBacklog(s scenario, b backlogFigures, v harness.TallyView) {
	downAs := "answering 503"
	if s.down == harness.Refusing {
		downAs = "refusing connections"
	}
	r.note("backlog: %s pending messages (%s events × %d endpoints), built with the receiver %s in %.0f s, fan-out included",
		thousands(r.expected), thousands(r.pub.accepted), s.fanout, downAs, b.buildUse.wall.Seconds())
	if s.down == harness.Unavailable {
		r.note("while down the receiver turned away %s attempts (the rest waited behind the endpoints' circuit breakers)", thousands(int(b.turnedAway)))
	}
	r.note("shiphook RSS with the backlog pending: %s once built, %s after holding it %s (the RSS column is the peak of the whole scenario)",
		fmtBytes(b.rssBuilt), fmtBytes(b.rssHeld), s.hold)
	holdUse := b.holdUse
	r.note("CPU while holding the backlog: shiphook %.2f cores, Redis %.2f, PostgreSQL %.2f",
		cores(holdUse.shiphook, holdUse.wall), cores(holdUse.redis, holdUse.wall), cores(holdUse.postgres, holdUse.wall))
	if !v.First.IsZero() {
		r.note("drain: first delivery %.1f s after the receiver came back, all %s in %.0f s from then; deliveries/s is first to last receipt",
			v.First.Sub(b.up).Seconds(), thousands(v.Unique), v.Last.Sub(b.up).Seconds())
	}
	if b.early > 0 {
		r.note("%d deliveries arrived while the receiver was down (should be none)", b.early)
	}
}

// awaitFanout waits until each event in last (the last event stored by
// each batch) is fanned out: its messages exist. Batches are fanned out in
// about the order they were stored, so this follows them in order.
func (rn *runner) awaitFanout(ctx context.Context, last []string) error {
	lastProgress, lastSaid := time.Now(), time.Now()
	for i := 0; i < len(last); {
		if err := rn.p.alive(); err != nil {
			return err
		}
		if time.Since(lastProgress) > rn.opts.stallAfter {
			return fmt.Errorf("fan-out made no progress for %s (%d of %d batches fanned out)", rn.opts.stallAfter, i, len(last))
		}
		if time.Since(lastSaid) >= 10*time.Second {
			rn.progress("  fanned out: %d of %d batches", i, len(last))
			lastSaid = time.Now()
		}
		var ev struct {
			FannedOutAt *time.Time `json:"fanned_out_at"`
		}
		if err := rn.p.api.Call(ctx, http.MethodGet, "/v1/events/"+last[i], nil, &ev); err != nil {
			return err
		}
		if ev.FannedOutAt != nil {
			i++
			lastProgress = time.Now()
			continue
		}
		if err := harness.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// errStalled says that deliveries stopped arriving before all were in.
var errStalled = errors.New("deliveries stopped arriving")

func cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return cpu.Seconds() / wall.Seconds()
}
