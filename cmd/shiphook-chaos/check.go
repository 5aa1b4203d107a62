package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

// checkResult is one check of the summary.
type checkResult struct {
	name   string
	passed bool
	detail string
}

// faultRow is a fault as the summary shows it.
type faultRow struct {
	at        time.Duration // from the start of the load
	what      string
	recovered string
}

// report is what the suite found.
type report struct {
	opts                              *options
	loadFor, took                     time.Duration
	faults                            []faultRow
	kills                             int
	accepted, retried, gaveUp         int
	expected, lost                    int
	lostDetail                        []string
	deliveries, duplicates, extraMsgs int
	answers                           answerCounts
	// specChecked and specProblems count the exchanges with the API
	// checked against docs/openapi.yaml, and those it does not describe.
	specChecked, specProblems int
	breakers                  []string
	schedule                  scheduleResult
	// logs counts shiphook's log lines (warnings and errors) by message.
	logs   map[string]int
	checks []checkResult
}

func (r *report) add(name string, passed bool, format string, args ...any) {
	r.checks = append(r.checks, checkResult{name: name, passed: passed, detail: fmt.Sprintf(format, args...)})
}

func (r *report) passed() bool {
	for _, c := range r.checks {
		if !c.passed {
			return false
		}
	}
	return true
}

// check checks what the exercise left, and returns the report.
func (s *suite) check(ctx context.Context, res *results) *report {
	s.progress("checking")
	accepted, retried, gaveUp := s.pub.result()
	r := &report{opts: s.opts, loadFor: res.loadEnd.Sub(res.loadStart), kills: s.cl.killCount(),
		accepted: len(accepted), retried: retried, gaveUp: gaveUp}
	r.lost, r.expected = s.missing(accepted)
	r.lostDetail = s.lostDetail(ctx, accepted)
	r.add("nothing lost", r.lost == 0, "%d of %d deliveries of accepted events had not arrived when the drain's limit (%s) passed; where the first stand is listed under Deliveries",
		r.lost, r.expected, s.opts.drainLimit)
	r.add("every event accepted in the end", gaveUp == 0, "%d events were still refused %s after the load", gaveUp, retriesAfterLoad)

	v := s.tally.View()
	r.deliveries, r.duplicates, r.extraMsgs = v.Unique, v.Arrivals-v.Unique, v.Messages-v.Unique
	r.add("duplicates rare", float64(r.duplicates)*100 <= s.opts.maxDupShare*float64(max(1, r.deliveries)),
		"%d duplicates in %d deliveries; at most %.1f %% allowed", r.duplicates, r.deliveries, s.opts.maxDupShare)
	r.add("one message per event and endpoint", r.extraMsgs == 0, "%d events reached an endpoint under a second message id", r.extraMsgs)

	windows := append(s.faultRows(r, res, accepted), scheduleHeld(res.samples)...)
	r.breakers = s.checkBreakers(r, res)
	r.schedule = s.checkSchedule(ctx, windows, s.opts.slack)
	r.schedule.judge(r)

	var invalid, stray int64
	var lastInvalid string
	for _, rcv := range s.receivers {
		invalid, stray = invalid+rcv.Invalid.Load(), stray+rcv.Stray.Load()
		if l := rcv.LastInvalid(); l != "" {
			lastInvalid = l
		}
	}
	r.add("signatures verified", invalid == 0 && stray == 0, "%d deliveries failed verification (the last: %s), %d went to no endpoint", invalid, lastInvalid, stray)

	// Last, so that it counts the checks' own calls.
	r.answers = s.answers.counts()
	r.add("every answer 2xx, 4xx or 503 with Retry-After", r.answers.bad503+r.answers.serverErr+r.answers.noAnswer == 0,
		"%d other 5xx, %d 503 without Retry-After, %d without an answer; the first: %s",
		r.answers.serverErr, r.answers.bad503, r.answers.noAnswer, strings.Join(r.answers.examples, "; "))
	var first string
	r.specChecked, r.specProblems, first = s.spec.result()
	r.add("every answer as docs/openapi.yaml describes", r.specProblems == 0,
		"%d problems in %d exchanges with the API; the first: %s", r.specProblems, r.specChecked, first)
	r.logs = map[string]int{}
	for _, path := range s.cl.logPaths() {
		for msg, n := range harness.CountLogMessages(path) {
			r.logs[msg] += n
		}
	}
	r.took = time.Since(s.started)
	return r
}

// window is a span of time during which retries may come late.
type window struct{ from, to time.Time }

// faultRows adds to r a row for each fault, with how long the endpoints
// took to recover from it (its recovery time), and returns the
// disturbance windows of the system faults: from the fault until its
// recovery time has passed.
func (s *suite) faultRows(r *report, res *results, acc []acceptance) []window {
	var healthy []string
	for _, e := range s.endpoints {
		if e.down == 0 && !e.scheduled {
			healthy = append(healthy, e.path())
		}
	}
	var windows []window
	for _, f := range res.faults {
		row := faultRow{at: f.injected.Sub(res.loadStart), what: f.step.String()}
		paths, from := healthy, "the repair"
		if !f.system() {
			paths, from = []string{s.endpoint(f.target).path()}, "it came back"
		}
		d, ok := s.recoveryTime(acc, paths, f.repaired)
		end := f.repaired.Add(d)
		if ok {
			row.recovered = fmt.Sprintf("all delivered %.1f s after %s", d.Seconds(), from)
		} else {
			row.recovered = "never recovered: deliveries are missing"
			end = time.Now()
		}
		if f.system() {
			if n, last := s.answers.unavailableBetween(f.injected, f.repaired.Add(5*time.Second)); n > 0 {
				row.recovered += fmt.Sprintf("; %d answers 503, the last %.1f s after the repair", n, last.Sub(f.repaired).Seconds())
			}
			windows = append(windows, window{f.injected, end})
		}
		r.faults = append(r.faults, row)
	}
	return windows
}

// recoveryTime returns how long after since every event accepted before since
// had reached every endpoint of paths (zero if all had before), and false
// if one never did.
func (s *suite) recoveryTime(acc []acceptance, paths []string, since time.Time) (time.Duration, bool) {
	var latest time.Duration
	for _, a := range acc {
		if !a.at.Before(since) {
			continue
		}
		for _, p := range paths {
			at, ok := s.tally.FirstArrival(p, a.id)
			if !ok {
				return 0, false
			}
			latest = max(latest, at.Sub(since))
		}
	}
	return latest, true
}

// lostDetail says, for the first few deliveries missing, where their
// messages stand in shiphook's log.
func (s *suite) lostDetail(ctx context.Context, acc []acceptance) []string {
	var out []string
	for _, a := range acc {
		for _, e := range s.endpoints {
			if len(out) >= 5 {
				return out
			}
			if e.scheduled && !a.scheduled {
				continue
			}
			if _, ok := s.tally.FirstArrival(e.path(), a.id); ok {
				continue
			}
			var page struct {
				Data []struct {
					ID       string `json:"id"`
					Status   string `json:"status"`
					Attempts int    `json:"attempts"`
				} `json:"data"`
			}
			q := url.Values{"shipment_id": {fmt.Sprintf("SHP-chaos-%d", a.i)}}
			line := fmt.Sprintf("event %s (chaos-%d) at %s: ", a.id, a.i, e.name)
			switch err := s.client.Call(ctx, http.MethodGet, "/v1/partners/"+e.name+"/messages?"+q.Encode(), nil, &page); {
			case err != nil:
				line += "could not list its messages: " + err.Error()
			case len(page.Data) == 0:
				line += "no message (never fanned out)"
			default:
				m := page.Data[0]
				line += fmt.Sprintf("message %s is %s after %d attempts", m.ID, m.Status, m.Attempts)
			}
			out = append(out, line)
		}
	}
	return out
}

// checkBreakers checks that each endpoint's breaker opened during each of
// its faults, and is closed once everything was delivered; it returns a
// line per endpoint for the summary.
func (s *suite) checkBreakers(r *report, res *results) []string {
	type seen struct {
		windows, opened int
		after           []string
	}
	by := map[string]*seen{}
	var order []string
	for _, f := range res.faults {
		if f.system() {
			continue
		}
		b := by[f.target]
		if b == nil {
			b = &seen{}
			by[f.target] = b
			order = append(order, f.target)
		}
		b.windows++
		for _, smp := range res.samples {
			if smp.endpoint == f.target && smp.state == "open" && !smp.at.Before(f.injected) && !smp.at.After(f.repaired.Add(monitorEvery)) {
				b.opened++
				b.after = append(b.after, fmt.Sprintf("%.1f s", smp.at.Sub(f.injected).Seconds()))
				break
			}
		}
	}
	var lines []string
	for _, name := range order {
		b := by[name]
		final := res.finalBreakers[name]
		lines = append(lines, fmt.Sprintf("%s: opened in %d of %d faults (after %s), %s at the end",
			name, b.opened, b.windows, strings.Join(b.after, ", "), orUnknown(final)))
		r.add("breaker of "+name+" opened", b.opened == b.windows, "it opened in %d of its %d faults", b.opened, b.windows)
		r.add("breaker of "+name+" closed at the end", final == "closed", "it was %s once everything was delivered", orUnknown(final))
	}
	for _, smp := range res.samples {
		if smp.endpoint == "schedule" && smp.state != "closed" {
			lines = append(lines, fmt.Sprintf("schedule: %s at +%.1f s (%s): its retries were held, and are checked only for coming early meanwhile",
				smp.state, smp.at.Sub(res.loadStart).Seconds(), smp.reason))
			break
		}
	}
	return lines
}

// scheduleHeld returns the windows during which the schedule endpoint's
// breaker was seen other than closed, give or take a sample.
func scheduleHeld(samples []breakerSample) []window {
	var out []window
	for _, smp := range samples {
		if smp.endpoint == "schedule" && smp.state != "closed" {
			out = append(out, window{smp.at.Add(-monitorEvery), smp.at.Add(monitorEvery)})
		}
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
