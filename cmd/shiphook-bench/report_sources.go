package main

import (
	"fmt"
	"strings"
)

// maxSourceRatio is the most shiphook CPU per event that ingest through a
// source may cost, as a multiple of canonical batch ingest's.
const maxSourceRatio = 1.3

// sourceRef returns the row that the source row i (of r.rows) is compared
// with: the batch ingest row that completed last before it in its pass,
// or else the first after it; ok is false for a row that is not a
// completed source row with CPU figures, or that has none to compare
// with.
func (r *report) sourceRef(i int) (ref row, ok bool) {
	row := r.rows[i]
	if row.scenario.source == "" || !row.hasCPU() {
		return ref, false
	}
	found := -1
	for j, c := range r.rows {
		if c.pass != row.pass || c.scenario.kind != scenarioBatch || !c.hasCPU() {
			continue
		}
		if j < i || found < 0 {
			found = j
		}
		if j > i {
			break
		}
	}
	if found < 0 {
		return ref, false
	}
	return r.rows[found], true
}

// hasCPU reports whether a row completed with CPU figures per delivery.
func (r row) hasCPU() bool { return r.err == nil && r.cpuFor > 0 && !r.cpu.unknown }

// shiphookPerEvent is shiphook's CPU seconds per 1,000 deliveries of a
// row; with fan-out ×1 it is per 1,000 events.
func (r row) shiphookPerEvent() float64 {
	return r.cpu.shiphook.Seconds() * 1000 / float64(r.cpuFor)
}

// serversPerEvent is the CPU seconds per 1,000 deliveries of shiphook,
// Redis and PostgreSQL together.
func (r row) serversPerEvent() float64 {
	c := r.cpu
	return (c.shiphook + c.redis + c.postgres).Seconds() * 1000 / float64(r.cpuFor)
}

// sourceRatio returns the shiphook CPU per event of source row i as a
// multiple of its batch row's, and that row.
func (r *report) sourceRatio(i int) (float64, row, bool) {
	ref, ok := r.sourceRef(i)
	if !ok || ref.shiphookPerEvent() == 0 {
		return 0, ref, false
	}
	return r.rows[i].shiphookPerEvent() / ref.shiphookPerEvent(), ref, true
}

// sourceComparison returns the note of row i that compares it with batch
// ingest, or none.
func (r *report) sourceComparison(i int) []string {
	ratio, ref, ok := r.sourceRatio(i)
	if !ok {
		return nil
	}
	row := r.rows[i]
	n := fmt.Sprintf("shiphook CPU per event %.2f× that of batch ingest in the same pass (%.2f against %.2f s per 1,000 events; at most %.1f× is the target)",
		ratio, row.shiphookPerEvent(), ref.shiphookPerEvent(), maxSourceRatio)
	if ref.serversPerEvent() > 0 {
		n += fmt.Sprintf("; shiphook, Redis and PostgreSQL together %.2f×", row.serversPerEvent()/ref.serversPerEvent())
	}
	if ref.scenario.batch != row.scenario.batch {
		n += fmt.Sprintf("; batch ingest there posted %d events a call, this %d: -batch-size %d compares like with like", ref.scenario.batch, row.scenario.batch, row.scenario.batch)
	}
	return []string{n}
}

// sourceGoal is the goal of ingest through each source costing at most
// maxSourceRatio times batch ingest's shiphook CPU per event. With
// several rounds of a pass (a scenario named twice in -scenarios), each
// source is judged on its rows together against the batch rows together,
// and the ratios of the rounds follow in parentheses.
func (r *report) sourceGoal(pass string) (string, bool) {
	batch := r.pooled(pass, func(c row) bool { return c.scenario.kind == scenarioBatch })
	var parts []string
	met := true
	for _, format := range []string{formatDCSA, formatMapped} {
		var rounds []string
		for i, row := range r.rows {
			if ratio, _, ok := r.sourceRatio(i); ok && row.pass == pass && row.scenario.source == format {
				rounds = append(rounds, fmt.Sprintf("%.2f×", ratio))
			}
		}
		if len(rounds) == 0 || batch == 0 {
			continue
		}
		ratio := r.pooled(pass, func(c row) bool { return c.scenario.source == format }) / batch
		part := fmt.Sprintf("%s %.2f×", map[string]string{formatDCSA: "DCSA", formatMapped: "mapped"}[format], ratio)
		if len(rounds) > 1 {
			part += " (" + strings.Join(rounds, ", ") + ")"
		}
		parts = append(parts, part)
		met = met && ratio <= maxSourceRatio
	}
	if len(parts) == 0 {
		return "", false
	}
	return strings.Join(parts, ", "), met
}

// pooled returns shiphook's CPU seconds per 1,000 deliveries over the
// completed rows of pass that keep keeps, together; 0 if there are none.
func (r *report) pooled(pass string, keep func(row) bool) float64 {
	var cpu float64
	var n int
	for _, c := range r.rows {
		if c.pass == pass && c.hasCPU() && keep(c) {
			cpu += c.cpu.shiphook.Seconds()
			n += c.cpuFor
		}
	}
	if n == 0 {
		return 0
	}
	return cpu * 1000 / float64(n)
}
