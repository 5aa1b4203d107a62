package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// print writes the summary: the run, each fault and its recovery, the
// figures, each check, and a last line "chaos: N passed, N failed".
func (r *report) print(w io.Writer) {
	form := "long"
	if r.opts.short {
		form = "short"
	}
	fmt.Fprintf(w, "\nshiphook fault suite, %s form: %d round(s) of faults, %d events/s for %.0f s, %s in all\n",
		form, r.opts.rounds, r.opts.rate, r.loadFor.Seconds(), r.took.Round(time.Second))
	fmt.Fprintf(w, "shiphook api + %d workers on a throwaway PostgreSQL and Redis; %s\n\n", workers, strings.Join(shiphookSettings[:7], " "))

	fmt.Fprintln(w, "Faults (at: seconds into the load)")
	width := 0
	for _, f := range r.faults {
		width = max(width, len(f.what))
	}
	for _, f := range r.faults {
		fmt.Fprintf(w, "  %6.1f  %-*s  %s\n", f.at.Seconds(), width, f.what, f.recovered)
	}
	a := r.answers
	dupShare := 100 * float64(r.duplicates) / float64(max(1, r.deliveries))
	fmt.Fprintf(w, "\nKills:       %d SIGKILLs of workers\n", r.kills)
	fmt.Fprintf(w, "Events:      %d accepted (%d sent more than once), %d never accepted\n", r.accepted, r.retried, r.gaveUp)
	fmt.Fprintf(w, "Deliveries:  %d expected, %d lost (not arrived within the drain's limit); %d of events never answered 202\n",
		r.expected, r.lost, r.deliveries-(r.expected-r.lost))
	for _, l := range r.lostDetail {
		fmt.Fprintf(w, "               %s\n", l)
	}
	fmt.Fprintf(w, "Duplicates:  %d (%.2f %% of %d deliveries; at least once)\n", r.duplicates, dupShare, r.deliveries)
	fmt.Fprintf(w, "Answers:     %d 2xx, %d 4xx, %d 503 with Retry-After; 5xx otherwise: %d (%d 503 without Retry-After, %d other); %d without an answer\n",
		a.ok, a.clientErr, a.unavailable, a.bad503+a.serverErr, a.bad503, a.serverErr, a.noAnswer)
	fmt.Fprintf(w, "OpenAPI:     %d exchanges checked against docs/openapi.yaml, %d it does not describe\n", r.specChecked, r.specProblems)
	fmt.Fprintln(w, "Breakers:")
	for _, l := range r.breakers {
		fmt.Fprintf(w, "  %s\n", l)
	}
	sc := r.schedule
	fmt.Fprintf(w, "Retries:     schedule endpoint: %d messages, %d gaps outside faults (latest %+.1f s past +20 %%), %d during faults; "+
		"endpoints that failed: %d messages, %d gaps; %d early, %d late; %d messages with attempts misnumbered\n",
		sc.messages, sc.quiet, sc.latestBy.Seconds(), sc.disturbed, sc.others, sc.otherGaps, sc.early, sc.late, len(sc.misnumbered))

	r.printLogs(w)

	fmt.Fprintln(w)
	passed, failed := 0, 0
	for _, c := range r.checks {
		if c.passed {
			passed++
			fmt.Fprintf(w, "  ok    %s\n", c.name)
		} else {
			failed++
			fmt.Fprintf(w, "  FAIL  %s: %s\n", c.name, c.detail)
		}
	}
	fmt.Fprintf(w, "chaos: %d passed, %d failed\n", passed, failed)
}

// printLogs writes the messages shiphook logged most, with their counts.
func (r *report) printLogs(w io.Writer) {
	msgs := slices.Collect(maps.Keys(r.logs))
	slices.SortFunc(msgs, func(a, b string) int { return cmp.Or(r.logs[b]-r.logs[a], strings.Compare(a, b)) })
	fmt.Fprintf(w, "Logs:        what shiphook logged most, by message (%d kinds):\n", len(msgs))
	for _, m := range msgs[:min(len(msgs), 10)] {
		n := r.logs[m]
		if len(m) > 110 {
			m = m[:110] + "…"
		}
		fmt.Fprintf(w, "  %6d  %s\n", n, m)
	}
}
