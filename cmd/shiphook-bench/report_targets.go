package main

import (
	"fmt"
	"slices"
	"time"
)

// A goal is one line of the table of targets: what the bench should
// reach, and how far a pass did.
type goal struct {
	name string
	// value returns the figure for a pass and whether it meets the
	// target; "" when the run has no figure.
	value func(pass string) (string, bool)
}

// targets writes the table of targets and how far each is met.
func (r *report) targets(w func(string, ...any)) {
	goals := r.goals()
	w("Targets:\n\n| Target |")
	for _, p := range r.passes {
		w(" %s |", shortPass(p.name))
	}
	w("\n|---|")
	for range r.passes {
		w("---|")
	}
	w("\n")
	for _, g := range goals {
		w("| %s |", g.name)
		for _, p := range r.passes {
			v, ok := g.value(p.name)
			switch {
			case v == "":
				w(" — |")
			case ok:
				w(" %s: met |", v)
			default:
				w(" %s: **not met** |", v)
			}
		}
		w("\n")
	}
	w("\n")
}

// goals returns the lines of the table of targets, in order; matching
// only when the Go benchmarks measured it.
func (r *report) goals() []goal {
	goals := []goal{
		{"fan-out ×10 ≥ 8,000 deliveries/s", r.rateGoal(scenarioFanout10, 8000, deliveriesPerSecond)},
		{"fan-out ×1 ≥ 5,000 deliveries/s", r.rateGoal(scenarioFanout1, 5000, deliveriesPerSecond)},
		{"at 1,000 events/s offered: p50 ≤ 5 ms, p99 ≤ 25 ms", r.latencyGoal},
		{"batch ingest ≥ 20,000 events/s accepted", r.rateGoal(scenarioBatch, 20000, eventsPerSecond)},
		{"ingest through a source (DCSA, mapped) ≤ 1.3× the shiphook CPU per event of batch ingest", r.sourceGoal},
		{"single-event ingest ≥ 5,000 events/s", r.rateGoal(scenarioFanout1, 5000, eventsPerSecond)},
		{"1,000,000 pending messages with shiphook RSS < 256 MiB", r.backlogRSSGoal},
		{"backlog drains at full speed (as fast as fan-out ×10 delivers)", r.drainGoal},
		{"nothing lost; duplicates only as at-least-once allows", r.lossGoal},
	}
	if g := r.goBenchNamed("BenchmarkMatch100kEndpoints"); g != nil {
		ns := g.nsPerOp
		goals = append(goals, goal{"matching ≤ 10 µs per event with 100,000 endpoints", func(string) (string, bool) {
			return fmt.Sprintf("%.1f µs (BenchmarkMatch100kEndpoints)", ns/1000), ns <= 10000
		}})
	}
	if g := r.goBenchNamed("BenchmarkResolveReference"); g != nil {
		ns := g.nsPerOp
		goals = append(goals, goal{"reference resolution < 1 ms per event at 1,000,000 shipments", func(string) (string, bool) {
			return fmt.Sprintf("%.2f ms (BenchmarkResolveReference)", ns/1e6), ns < 1e6
		}})
	}
	return goals
}

// completed returns the rows of a pass and a kind of scenario that
// completed, in the order they ran.
func (r *report) completed(pass, kind string) []row {
	var out []row
	for _, row := range r.rows {
		if row.pass == pass && row.scenario.kind == kind && row.err == nil {
			out = append(out, row)
		}
	}
	return out
}

// rateGoal is the goal of rate(row) reaching perSecond in the largest
// completed run of kind.
func (r *report) rateGoal(kind string, perSecond float64, rate func(row) float64) func(string) (string, bool) {
	return func(pass string) (string, bool) {
		rows := r.completed(pass, kind)
		if len(rows) == 0 {
			return "", false
		}
		v := rate(rows[len(rows)-1]) // the largest run
		return fmt.Sprintf("%s/s (%.0f %%)", thousands(int(v+0.5)), 100*v/perSecond), v >= perSecond
	}
}

// deliveriesPerSecond is the unique deliveries a second of a row, end to
// end.
func deliveriesPerSecond(r row) float64 { return r.deliveryRate }

// eventsPerSecond is the events a second that shiphook accepted in a row.
func eventsPerSecond(r row) float64 { return r.pub.rate() }

// latencyGoal is the goal of latency at a fixed rate of 1,000 events
// a second.
func (r *report) latencyGoal(pass string) (string, bool) {
	rows := r.completed(pass, scenarioRate)
	if len(rows) == 0 || len(rows[0].latencies) == 0 {
		return "", false
	}
	s := slices.Clone(rows[0].latencies)
	slices.Sort(s)
	p50, p99 := pct(s, 0.5), pct(s, 0.99)
	v := fmt.Sprintf("p50 %s, p99 %s", fmtLatency(p50), fmtLatency(p99))
	if rows[0].scenario.rate != 1000 {
		v += fmt.Sprintf(" (at %s/s offered)", thousands(rows[0].scenario.rate))
	}
	return v, p50 <= 5*time.Millisecond && p99 <= 25*time.Millisecond && rows[0].scenario.rate >= 1000
}

// backlogRSSGoal is the goal of shiphook's memory with a backlog of
// a million messages.
func (r *report) backlogRSSGoal(pass string) (string, bool) {
	rows := r.completed(pass, scenarioBacklog)
	if len(rows) == 0 {
		return "", false
	}
	row := rows[0]
	return fmt.Sprintf("%s at %s pending", fmtBytes(row.peakRSS), thousands(row.expected)), row.peakRSS < 256<<20 && row.expected >= 1_000_000
}

// drainGoal is the goal of a backlog draining at least 90 % as fast
// as the largest fan-out ×10 run delivered.
func (r *report) drainGoal(pass string) (string, bool) {
	rows, full := r.completed(pass, scenarioBacklog), r.completed(pass, scenarioFanout10)
	if len(rows) == 0 || len(full) == 0 || full[len(full)-1].deliveryRate == 0 {
		return "", false
	}
	v, ref := rows[0].deliveryRate, full[len(full)-1].deliveryRate
	return fmt.Sprintf("%s/s (%.0f %% of %s/s)", thousands(int(v+0.5)), 100*v/ref, thousands(int(ref+0.5))), v >= 0.9*ref
}

// lossGoal is the goal of no delivery missing in any row of the pass,
// completed or not.
func (r *report) lossGoal(pass string) (string, bool) {
	var missing, dup, n int
	for _, row := range r.rows {
		if row.pass == pass {
			missing, dup, n = missing+row.missing(), dup+row.duplicates, n+1
		}
	}
	if n == 0 {
		return "", false
	}
	return fmt.Sprintf("%s missing, %s duplicates", thousands(missing), thousands(dup)), missing == 0
}

func (r *report) goBenchNamed(name string) *goBenchLine {
	for i := range r.goBench {
		if r.goBench[i].name == name {
			return &r.goBench[i]
		}
	}
	return nil
}
