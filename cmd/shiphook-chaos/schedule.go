package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
)

// scheduleResult is what the attempts API showed of the retry schedule.
type scheduleResult struct {
	// messages of the schedule endpoint, and of the endpoints that failed,
	// whose attempts were read.
	messages, others int
	// Gaps between two attempts of one message: quiet ones, of the
	// schedule endpoint outside every system fault, are checked both
	// ways; disturbed ones, and those of the endpoints that failed
	// (whose messages wait behind their breakers), only for not coming
	// early.
	quiet, disturbed, otherGaps int
	early, late                 int
	// latestBy is how much later than its scheduled delay (+20 %) the
	// latest quiet gap came.
	latestBy time.Duration
	examples []string
	// misnumbered lists the messages whose attempts are not numbered 1, 2,
	// 3… once each (their gaps are not checked), with their numbers.
	misnumbered []string
	// slack is how much later than +20 % a quiet gap may come.
	slack time.Duration
	err   error
}

// gapCheck is one gap: from the end of attempt n-1 to the start of
// attempt n, against the schedule's delay before attempt n.
type gapCheck struct {
	message     string
	n           int
	gap, delay  time.Duration
	quiet       bool // checked for coming late, too
	from, until time.Time
}

// attemptsRead is how many messages of each endpoint that failed have
// their attempts read.
const attemptsRead = 25

// checkSchedule reads the attempts of every message of the schedule
// endpoint, and of some messages with retries of each endpoint that
// failed, and checks the time between one attempt and the next against
// the retry schedule. A gap that overlaps one of the windows (a system
// fault, until its recovery time passed) is checked only for coming early.
func (s *suite) checkSchedule(ctx context.Context, windows []window, slack time.Duration) scheduleResult {
	res := scheduleResult{slack: slack}
	schedule, err := dispatcher.ParseSchedule(retrySchedule)
	if err != nil {
		res.err = err
		return res
	}
	for _, e := range s.endpoints {
		if e.down == 0 && !e.scheduled {
			continue
		}
		ids, err := s.retriedMessages(ctx, e)
		if err != nil {
			res.err = err
			return res
		}
		for _, id := range ids {
			gaps, numbers, err := s.gaps(ctx, id, schedule)
			if err != nil {
				res.err = err
				return res
			}
			if gaps == nil && len(numbers) > 1 {
				res.misnumbered = append(res.misnumbered, fmt.Sprintf("%s at %s: attempts numbered %v", id, e.name, numbers))
			}
			if e.scheduled {
				res.messages++
			} else {
				res.others++
			}
			for _, g := range gaps {
				g.quiet = e.scheduled && !slices.ContainsFunc(windows, func(w window) bool { return g.from.Before(w.to) && g.until.After(w.from) })
				res.add(g, e.scheduled)
			}
		}
	}
	return res
}

// add counts gap g, of the schedule endpoint if scheduled.
func (res *scheduleResult) add(g gapCheck, scheduled bool) {
	switch {
	case !scheduled:
		res.otherGaps++
	case g.quiet:
		res.quiet++
	default:
		res.disturbed++
	}
	// Times are stored to the microsecond, durations to the millisecond.
	least, most := g.delay*8/10-time.Millisecond, g.delay*12/10
	if g.gap < least {
		res.early++
		res.example("message %s: attempt %d came %s after attempt %d ended; the schedule says %s, at least %s", g.message, g.n, g.gap, g.n-1, g.delay, least)
	}
	if g.quiet {
		res.latestBy = max(res.latestBy, g.gap-most)
	}
	if g.quiet && g.gap > most+res.slack {
		res.late++
		res.example("message %s: attempt %d came %s after attempt %d ended, outside any fault; the schedule says %s, at most %s", g.message, g.n, g.gap.Round(time.Millisecond), g.n-1, g.delay, most)
	}
}

func (res *scheduleResult) example(format string, args ...any) {
	if len(res.examples) < 5 {
		res.examples = append(res.examples, fmt.Sprintf(format, args...))
	}
}

// retriedMessages returns the ids of e's messages to check: every one of
// the schedule endpoint, and up to attemptsRead with more than one
// attempt of an endpoint that failed.
func (s *suite) retriedMessages(ctx context.Context, e *endpoint) ([]string, error) {
	var ids []string
	cursor := ""
	for range 100 {
		q := url.Values{"endpoint_id": {e.id}, "limit": {"250"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Data []struct {
				ID       string `json:"id"`
				Attempts int    `json:"attempts"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := s.client.Call(ctx, http.MethodGet, "/v1/partners/"+e.name+"/messages?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		for _, m := range page.Data {
			if e.scheduled || m.Attempts > 1 {
				ids = append(ids, m.ID)
			}
			if !e.scheduled && len(ids) == attemptsRead {
				return ids, nil
			}
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	return ids, nil
}

// attemptTime is when an attempt was made, as the attempts API says.
type attemptTime struct {
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS int64     `json:"duration_ms"`
}

// gaps returns the gaps between the attempts of message id, and the
// attempts' numbers in order of time. It returns no gaps when the
// attempts are not numbered 1, 2, 3… once each, in the order they were
// made.
func (s *suite) gaps(ctx context.Context, id string, schedule []time.Duration) ([]gapCheck, []int, error) {
	var page struct {
		Data []attemptTime `json:"data"`
	}
	if err := s.client.Call(ctx, http.MethodGet, "/v1/messages/"+id+"/attempts?limit=250", nil, &page); err != nil {
		return nil, nil, err
	}
	as := page.Data
	slices.SortFunc(as, func(a, b attemptTime) int { return a.StartedAt.Compare(b.StartedAt) })
	numbers := make([]int, len(as))
	for k, a := range as {
		numbers[k] = a.Number
		if a.Number != k+1 || a.Number > len(schedule) {
			return nil, numbers, nil
		}
	}
	out := []gapCheck{}
	for k := 1; k < len(as); k++ {
		prev, cur := as[k-1], as[k]
		ended := prev.StartedAt.Add(time.Duration(prev.DurationMS) * time.Millisecond)
		out = append(out, gapCheck{message: id, n: cur.Number, gap: cur.StartedAt.Sub(ended),
			delay: schedule[cur.Number-1], from: prev.StartedAt, until: cur.StartedAt})
	}
	return out, numbers, nil
}

// judge adds the schedule's checks to r.
func (res *scheduleResult) judge(r *report) {
	if res.err != nil {
		r.add("retries keep their schedule", false, "could not read the attempts: %v", res.err)
		return
	}
	r.add("retries never early", res.early == 0, "%d of %d gaps between attempts were shorter than the schedule less 20 %%: %v",
		res.early, res.quiet+res.disturbed+res.otherGaps, res.examples)
	r.add("retries on time outside faults", res.late == 0 && res.quiet >= 3,
		"%d of %d gaps outside faults came later than the schedule +20 %% + %s (at least 3 must be checked): %v",
		res.late, res.quiet, res.slack, res.examples)
	r.add("attempts numbered once each", len(res.misnumbered) == 0,
		"%d of the messages read have attempts numbered otherwise than 1, 2, 3… in the order they were made: %v",
		len(res.misnumbered), res.misnumbered[:min(len(res.misnumbered), 5)])
}
