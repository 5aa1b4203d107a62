package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the files in testdata from what the code writes")

// reportStart is when the reports of the tests began.
var reportStart = time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC)

// ms is n milliseconds.
func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// published4s is a publication of n events over four seconds.
func published4s(n int) published {
	return published{accepted: n, start: reportStart, end: reportStart.Add(4 * time.Second)}
}

// withShiphook is cpu with shiphook's CPU set to d.
func withShiphook(cpu cpuUse, d time.Duration) cpuUse {
	cpu.shiphook = d
	return cpu
}

// fullReport has something in every part of the report: two passes, one
// that failed, rows that met their targets and rows that did not, notes of
// every kind and Go benchmarks.
func fullReport() *report {
	cpu := cpuUse{wall: 4 * time.Second, shiphook: 3 * time.Second, redis: time.Second, postgres: 2 * time.Second,
		itself: 500 * time.Millisecond, other: 200 * time.Millisecond}
	pg := func(sessions, others int64) pgActivity {
		return pgActivity{sessions: sessions, others: others, ok: true}
	}
	latencies := []time.Duration{ms(4.2), ms(1.5), ms(2), ms(30), ms(3), ms(12500), ms(2.5), ms(9.99), ms(1), ms(2.2)}
	return &report{
		started: reportStart, finished: reportStart.Add(3*time.Minute + 7*time.Second),
		opts:        &options{command: "shiphook-bench -quick -passes postgres,embedded", goBenchCmd: "go test -run '^$' -bench . ./signing"},
		machine:     machineInfo{cpus: 2, cpuModel: "Test CPU @ 2.00GHz", memory: 4 << 30, load: "0.50 0.40 0.30"},
		shiphookEnv: []string{"SHIPHOOK_CONCURRENCY=400", "SHIPHOOK_LOG_LEVEL=warn"},
		passes: []passInfo{
			{name: passPostgres, postgresVersion: "15.20", redisVersion: "7.2.4", autovacuumOff: true, vacuumed: true, checkpointed: true,
				logLines: map[string]int{"deliver: endpoint answered 503": 12, "breaker open": 3}},
			{name: passEmbedded, err: errors.New("shiphook exited: exit status 2"), logLines: map[string]int{"slow query": 1}},
		},
		rows: []row{
			{pass: passPostgres, scenario: scenario{kind: scenarioFanout1, title: "fan-out ×1"}, pub: published4s(20000),
				deliveryRate: 4999.6, latencies: latencies, cpu: cpu, cpuFor: 20000, peakRSS: 100 << 20,
				pgBefore: pg(10, 1000), pgAfter: pg(14, 1250), expected: 20000, unique: 20000, duplicates: 3,
				notes: []string{"2 publish calls failed; the last: 503"}},
			{pass: passPostgres, scenario: scenario{kind: scenarioFanout10, title: "fan-out ×10, 2,000 events"}, pub: published4s(2000),
				deliveryRate: 5000, latencies: latencies[:3], cpu: cpu, cpuFor: 20000, peakRSS: 120 << 20,
				pgBefore: pg(14, 1250), pgAfter: pg(15, 1300), expected: 20000, unique: 20000},
			{pass: passPostgres, scenario: scenario{kind: scenarioFanout10, title: "fan-out ×10, 20,000 events"}, pub: published4s(20000),
				deliveryRate: 8100.5, latencies: latencies[3:], cpu: cpu, cpuFor: 200000, peakRSS: 1536 << 20,
				expected: 200000, unique: 200000},
			{pass: passPostgres, scenario: scenario{kind: scenarioRate, title: "500 events/s for 5 s", rate: 500}, pub: published4s(2500),
				deliveryRate: 500, latencies: latencies[:5], cpu: cpu, cpuFor: 2500, expected: 2500, unique: 2500},
			{pass: passPostgres, scenario: scenario{kind: scenarioBatch, title: "batch ingest", batch: 100}, pub: published4s(100000),
				deliveryRate: 9000, cpu: cpu, cpuFor: 100000, expected: 100000, unique: 100000},
			{pass: passPostgres, scenario: scenario{kind: scenarioBatchDCSA, title: "batch ingest through DCSA", batch: 100, source: formatDCSA},
				pub: published4s(100000), deliveryRate: 8000, cpu: withShiphook(cpu, 3300*time.Millisecond), cpuFor: 100000,
				expected: 100000, unique: 100000, notes: []string{"through a dcsa-tnt-2.2 source"}},
			{pass: passPostgres, scenario: scenario{kind: scenarioBatchMapped, title: "batch ingest through a mapped source", batch: 50, source: formatMapped},
				pub: published4s(100000), deliveryRate: 7000, cpu: withShiphook(cpu, 4200*time.Millisecond), cpuFor: 100000,
				expected: 100000, unique: 100000},
			{pass: passPostgres, scenario: scenario{kind: scenarioBacklog, title: "backlog"}, pub: published4s(100000),
				deliveryRate: 7900, cpu: cpu, cpuFor: 999995, peakRSS: 200 << 20, expected: 1_000_000, unique: 999995,
				missingDetail: "5 pending", notes: []string{"backlog: 1,000,000 pending messages"}},
			{pass: passEmbedded, scenario: scenario{kind: scenarioFanout1, title: "fan-out ×1"}, pub: published4s(400),
				deliveryRate: 99.9, latencies: latencies[5:], cpu: cpu, cpuFor: 400, peakRSS: 50 << 20, expected: 400, unique: 400},
			{pass: passEmbedded, scenario: scenario{kind: scenarioFanout10, title: "fan-out ×10, 40 events"},
				cpu: cpuUse{unknown: true}, expected: 400, unique: 0, err: errors.New("shiphook exited: exit status 2")},
		},
		goBench: []goBenchLine{
			{name: "BenchmarkSign", nsPerOp: 3985.4},
			{name: "BenchmarkMatch100kEndpoints", nsPerOp: 8512, bPerOp: 1234, allocs: 3, hasBytes: true, hasAllocations: true},
		},
		stray: 4, invalid: 2, lastInvalid: "msg_9 at /r/r1/0: no matching signature",
	}
}

// sparseReport is a report with little in it: one pass that did not
// vacuum, one row without figures, no notes and no Go benchmarks.
func sparseReport() *report {
	return &report{
		started: reportStart, finished: reportStart.Add(42 * time.Second),
		opts:    &options{command: "shiphook-bench -passes postgres -vacuum=false"},
		machine: machineInfo{cpus: 1},
		passes:  []passInfo{{name: passPostgres, autovacuumOff: true}},
		rows: []row{{pass: passPostgres, scenario: scenario{kind: scenarioFanout1, title: "fan-out ×1"},
			pub: published4s(10), expected: 10, unique: 10}},
	}
}

func TestMarkdown(t *testing.T) {
	// The Go version the report names is that of this test's build.
	goVersion := "; Go " + strings.TrimPrefix(runtime.Version(), "go")
	for name, r := range map[string]*report{"full": fullReport(), "sparse": sparseReport()} {
		t.Run(name, func(t *testing.T) {
			got := r.markdown()
			require.Contains(t, got, goVersion)
			got = strings.Replace(got, goVersion, "; Go GOVERSION", 1)
			path := filepath.Join("testdata", "report-"+name+".md")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), got)
		})
	}
}
