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
// maxSourceRatio times batch ingest's shiphook CPU per event.
func (r *report) sourceGoal(pass string) (string, bool) {
	var parts []string
	met := true
	for i, row := range r.rows {
		if row.pass != pass {
			continue
		}
		ratio, _, ok := r.sourceRatio(i)
		if !ok {
			continue
		}
		name := "DCSA"
		if row.scenario.source == formatMapped {
			name = "mapped"
		}
		parts = append(parts, fmt.Sprintf("%s %.2f×", name, ratio))
		met = met && ratio <= maxSourceRatio
	}
	if len(parts) == 0 {
		return "", false
	}
	return strings.Join(parts, ", "), met
}
