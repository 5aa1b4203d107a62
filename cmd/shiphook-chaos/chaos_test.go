package main

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/harness"
)

func TestParseOptions(t *testing.T) {
	env := func(k string) string { return map[string]string{"SHIPHOOK_PG_BINDIR": "/pg/bin"}[k] }
	o, err := parseOptions(nil, env, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "/pg/bin", o.pgBindir)
	require.Equal(t, 3, o.rounds)
	require.Equal(t, 25, o.rate)

	o, err = parseOptions([]string{"-short", "-rate", "40"}, env, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 1, o.rounds, "the short form's")
	require.Equal(t, 40, o.rate, "a flag given explicitly wins")

	_, err = parseOptions(nil, func(string) string { return "" }, io.Discard)
	require.ErrorContains(t, err, "-pg-bindir")
	_, err = parseOptions([]string{"-rounds", "0"}, env, io.Discard)
	require.ErrorContains(t, err, "-rounds")
	_, err = parseOptions([]string{"extra"}, env, io.Discard)
	require.ErrorContains(t, err, "extra")
}

// TestPlan checks that the system faults of the plan never overlap, with
// room after each, that each endpoint is back before it fails again,
// and that the load outlasts every fault.
func TestPlan(t *testing.T) {
	steps := plan(3)
	require.Len(t, steps, 27)
	loadFor := warmUpFor + 3*roundLength
	var lastSystemEnd time.Duration
	endpointBack := map[string]time.Duration{}
	immediate := 0
	for i, s := range steps {
		if i > 0 {
			require.GreaterOrEqual(t, s.at, steps[i-1].at, "in order")
		}
		end := s.at + s.down
		require.LessOrEqual(t, end+5*time.Second, loadFor, "%s ends within the load", s)
		if s.system() {
			require.GreaterOrEqual(t, s.at, lastSystemEnd+5*time.Second, "%s overlaps the system fault before it", s)
			lastSystemEnd = end
		} else {
			require.NotEqual(t, harness.Up, modeOf(s.target), "%s names an endpoint that fails", s)
			require.GreaterOrEqual(t, s.at, endpointBack[s.target], "%s: the endpoint is still down", s)
			endpointBack[s.target] = end
		}
		if s.kind == restartPostgres && s.immediate {
			immediate++
		}
	}
	require.Equal(t, 1, immediate, "the second round's PostgreSQL stop is a crash")
}

func TestScheduleGaps(t *testing.T) {
	res := scheduleResult{slack: time.Second}
	d := 10 * time.Second
	res.add(gapCheck{message: "a", n: 2, gap: 8 * time.Second, delay: d, quiet: true}, true)
	res.add(gapCheck{message: "b", n: 2, gap: 12*time.Second + 900*time.Millisecond, delay: d, quiet: true}, true)
	require.Zero(t, res.early+res.late, "within −20 %% and +20 %% + slack: %v", res.examples)
	require.Equal(t, 900*time.Millisecond, res.latestBy)

	res.add(gapCheck{message: "c", n: 3, gap: 7900 * time.Millisecond, delay: d}, true)
	require.Equal(t, 1, res.early, "sooner than −20 % is early, during a fault too")
	res.add(gapCheck{message: "d", n: 2, gap: 14 * time.Second, delay: d, quiet: true}, true)
	require.Equal(t, 1, res.late, "later than +20 % + slack outside faults is late")
	res.add(gapCheck{message: "e", n: 2, gap: time.Minute, delay: d}, true)
	res.add(gapCheck{message: "f", n: 2, gap: time.Minute, delay: d}, false)
	require.Equal(t, 1, res.late, "during a fault, or behind a breaker, late is not counted")
	require.Equal(t, 3, res.quiet)
	require.Equal(t, 2, res.disturbed)
	require.Equal(t, 1, res.otherGaps)
	require.Len(t, res.examples, 2)
	require.Contains(t, res.examples[0], "message c")

	r := &report{}
	res.judge(r)
	require.False(t, r.passed())
}

func TestAnswerLog(t *testing.T) {
	var l answerLog
	retry := http.Header{"Retry-After": {"5"}}
	l.note("POST /v1/events", harness.Answer{Status: 202}, nil)
	l.note("POST /v1/events", harness.Answer{Status: 422}, nil)
	l.note("POST /v1/events", harness.Answer{Status: 503, Header: retry}, nil)
	l.note("POST /v1/events", harness.Answer{Status: 503, Header: http.Header{}}, nil)
	l.note("POST /v1/events", harness.Answer{Status: 500, Body: []byte(`{"error":{"code":"internal_error"}}`)}, nil)
	l.note("GET /v1/me", harness.Answer{}, io.ErrUnexpectedEOF)
	c := l.counts()
	require.Equal(t, answerCounts{ok: 1, clientErr: 1, unavailable: 1, bad503: 1, serverErr: 1, noAnswer: 1, examples: c.examples}, c)
	require.Len(t, c.examples, 3)
	require.Contains(t, c.examples[1], "internal_error")
	n, last := l.unavailableBetween(time.Now().Add(-time.Minute), time.Now())
	require.Equal(t, 1, n)
	require.WithinDuration(t, time.Now(), last, time.Minute)
}
