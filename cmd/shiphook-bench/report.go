package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report is everything the markdown report shows.
type report struct {
	started, finished time.Time
	opts              *options
	machine           machineInfo
	shiphookEnv       []string
	passes            []passInfo
	rows              []row
	goBench           []goBenchLine

	// Receiver counts over all passes.
	stray, invalid int64
	lastInvalid    string
}

type passInfo struct {
	name                          string
	postgresVersion, redisVersion string
	// vacuumed is set when the bench vacuumed its database before each
	// scenario, autovacuum being off.
	autovacuumOff, vacuumed bool
	// checkpointed is set when the bench ran CHECKPOINT before each
	// scenario.
	checkpointed bool
	// logLines counts shiphook's log lines (warn and above) by message.
	logLines map[string]int
	err      error
}

type machineInfo struct {
	cpus     int
	cpuModel string
	memory   int64
	load     string
}

func readMachine() machineInfo {
	m := machineInfo{cpus: runtime.NumCPU()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.memory = kb << 10
				}
			}
		}
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) >= 3 {
			m.load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// goBenchLine is one result line of go test -bench.
type goBenchLine struct {
	name                     string
	nsPerOp, bPerOp, allocs  float64
	hasBytes, hasAllocations bool
}

// readGoBench reads the result lines of go test -bench output.
func readGoBench(path string) ([]goBenchLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("go benchmarks: %w", err)
	}
	defer f.Close()
	var out []goBenchLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		b := goBenchLine{name: fields[0]}
		// Drop the -GOMAXPROCS suffix.
		if i := strings.LastIndexByte(b.name, '-'); i > 0 {
			if _, err := strconv.Atoi(b.name[i+1:]); err == nil {
				b.name = b.name[:i]
			}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "ns/op":
				b.nsPerOp = v
			case "B/op":
				b.bPerOp, b.hasBytes = v, true
			case "allocs/op":
				b.allocs, b.hasAllocations = v, true
			}
		}
		if b.nsPerOp > 0 {
			out = append(out, b)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("go benchmarks: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("go benchmarks: no result lines in %s", path)
	}
	return out, nil
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("## shiphook end-to-end benchmark\n\n")
	w("Run %s, %s, `%s`.\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"), fmtWall(r.finished.Sub(r.started)), r.opts.command)
	m := r.machine
	w("Machine: %d CPUs (%s), %s memory, load average %s at the start; Go %s", m.cpus, m.cpuModel, fmtBytes(m.memory), m.load, strings.TrimPrefix(runtime.Version(), "go"))
	for _, p := range r.passes {
		if p.postgresVersion != "" {
			w(", PostgreSQL %s", p.postgresVersion)
		}
		if p.redisVersion != "" {
			w(", Redis %s", p.redisVersion)
		}
	}
	w(". shiphook, PostgreSQL, Redis, the receiver and the load generator all share it.\n\n")
	settings := "shiphook's defaults"
	if len(r.shiphookEnv) > 0 {
		settings = "`" + strings.Join(r.shiphookEnv, "`, `") + "`; the rest shiphook's defaults"
	}
	w("shiphook settings: %s.\n\n", settings)
	for _, p := range r.passes {
		switch {
		case p.vacuumed:
			w("PostgreSQL runs with autovacuum off here; the bench ran VACUUM ANALYZE on the tables of its database that hold rows before each scenario, as autovacuum would have (-vacuum=false: it does not).\n\n")
		case p.autovacuumOff:
			w("PostgreSQL runs with autovacuum off here and the bench did not vacuum (-vacuum=false): dead rows pile up from scenario to scenario.\n\n")
		}
		if p.checkpointed {
			w("Before each scenario the bench ran CHECKPOINT, so that none waited on writing out the pages that the ones before it left dirty (-checkpoint=false: it does not).\n\n")
		}
	}

	var notes []string
	noteRef := func(n string) string {
		notes = append(notes, n)
		return fmt.Sprintf("[%d]", len(notes))
	}

	w("| Pass | Scenario | Events accepted | Events/s accepted | Deliveries/s | p50 | p90 | p99 | max | CPU s/1k deliveries: shiphook | Redis | PostgreSQL | bench tool | Other load | New PG connections | Peak RSS shiphook | Deliveries: expected / unique / dup / missing | Notes |\n")
	w("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for _, row := range r.rows {
		embedded := row.pass == passEmbedded
		lat := []string{"—", "—", "—", "—"}
		if len(row.latencies) > 0 {
			s := slices.Clone(row.latencies)
			slices.Sort(s)
			lat = []string{fmtLatency(pct(s, 0.50)), fmtLatency(pct(s, 0.90)), fmtLatency(pct(s, 0.99)), fmtLatency(s[len(s)-1])}
		}
		per := func(d time.Duration) string {
			if row.cpuFor == 0 || row.cpu.unknown {
				return "—"
			}
			return fmt.Sprintf("%.2f", d.Seconds()*1000/float64(row.cpuFor))
		}
		redisCPU, pgCPU := per(row.cpu.redis), per(row.cpu.postgres)
		if embedded {
			redisCPU, pgCPU = "in shiphook", "in shiphook"
		}
		other := "—"
		if !row.cpu.unknown && row.cpu.wall > 0 {
			other = fmt.Sprintf("%.2f cores", cores(row.cpu.other, row.cpu.wall))
		}
		conns := "—"
		var refs []string
		if row.pgBefore.ok && row.pgAfter.ok {
			conns = thousands(int(row.pgAfter.sessions - row.pgBefore.sessions))
			if n := row.pgAfter.others - row.pgBefore.others; n > 100 {
				refs = append(refs, noteRef(fmt.Sprintf("PostgreSQL also ran %s transactions for other databases meanwhile; its CPU figure includes that work", thousands(int(n)))))
			}
		}
		for _, n := range row.notes {
			refs = append(refs, noteRef(n))
		}
		if row.missingDetail != "" {
			refs = append(refs, noteRef("missing deliveries, as shiphook's message log has them: "+row.missingDetail))
		}
		if row.err != nil {
			refs = append(refs, noteRef("**did not complete**: "+row.err.Error()))
		}
		verdict := "ok"
		switch {
		case row.missing() > 0:
			verdict = fmt.Sprintf("**%s MISSING**", thousands(row.missing()))
		case row.err != nil:
			verdict = "**incomplete**"
		case row.duplicates > 0:
			verdict = "ok (at least once)"
		}
		evRate := "—"
		if row.pub.accepted > 0 {
			evRate = thousands(int(row.pub.rate() + 0.5))
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s / %s %s | %s |\n",
			shortPass(row.pass), row.scenario.title, thousands(row.pub.accepted), evRate, thousands(int(row.deliveryRate+0.5)),
			lat[0], lat[1], lat[2], lat[3],
			per(row.cpu.shiphook), redisCPU, pgCPU, per(row.cpu.itself), other, conns,
			fmtBytes(row.peakRSS),
			thousands(row.expected), thousands(row.unique), thousands(row.duplicates), thousands(row.missing()), verdict,
			strings.Join(refs, " "))
	}
	w("\n")
	for _, p := range r.passes {
		if p.err != nil {
			notes = append(notes, fmt.Sprintf("Pass %s: **%v**", shortPass(p.name), p.err))
		}
		if len(p.logLines) > 0 {
			var parts []string
			for _, msg := range sortedKeys(p.logLines) {
				parts = append(parts, fmt.Sprintf("%q ×%d", msg, p.logLines[msg]))
			}
			notes = append(notes, fmt.Sprintf("shiphook's log (%s pass, warn and above): %s", shortPass(p.name), strings.Join(parts, "; ")))
		}
	}
	if r.invalid > 0 {
		notes = append(notes, fmt.Sprintf("**%d deliveries failed signature verification**; the last: %s", r.invalid, r.lastInvalid))
	}
	if r.stray > 0 {
		notes = append(notes, fmt.Sprintf("%d requests reached the receiver at a path no run created", r.stray))
	}
	if len(notes) > 0 {
		w("Notes:\n\n")
		for i, n := range notes {
			w("%d. %s\n", i+1, n)
		}
		w("\n")
	}

	r.targets(w)

	if len(r.goBench) > 0 {
		if r.opts.goBenchCmd != "" {
			w("Go benchmarks (`%s`):\n\n", r.opts.goBenchCmd)
		} else {
			w("Go benchmarks:\n\n")
		}
		w("| Benchmark | ns/op | B/op | allocs/op |\n|---|--:|--:|--:|\n")
		for _, g := range r.goBench {
			bytes, allocs := "—", "—"
			if g.hasBytes {
				bytes = thousands(int(g.bPerOp))
			}
			if g.hasAllocations {
				allocs = thousands(int(g.allocs))
			}
			w("| %s | %s | %s | %s |\n", g.name, thousands(int(g.nsPerOp+0.5)), bytes, allocs)
		}
		w("\n")
	}
	return b.String()
}

// targets writes the table of targets and how far each is met.
func (r *report) targets(w func(string, ...any)) {
	type target struct {
		name string
		// value returns the figure for a pass and whether it meets the
		// target; "" when the run has no figure.
		value func(pass string) (string, bool)
	}
	find := func(pass, kind string) []row {
		var out []row
		for _, row := range r.rows {
			if row.pass == pass && row.scenario.kind == kind && row.err == nil {
				out = append(out, row)
			}
		}
		return out
	}
	rate := func(kind string, goal float64, events bool) func(string) (string, bool) {
		return func(pass string) (string, bool) {
			rows := find(pass, kind)
			if len(rows) == 0 {
				return "", false
			}
			row := rows[len(rows)-1] // the largest run
			v := row.deliveryRate
			if events {
				v = row.pub.rate()
			}
			return fmt.Sprintf("%s/s (%.0f %%)", thousands(int(v+0.5)), 100*v/goal), v >= goal
		}
	}
	targets := []target{
		{"fan-out ×10 ≥ 8,000 deliveries/s", rate(scenarioFanout10, 8000, false)},
		{"fan-out ×1 ≥ 5,000 deliveries/s", rate(scenarioFanout1, 5000, false)},
		{"at 1,000 events/s offered: p50 ≤ 5 ms, p99 ≤ 25 ms", func(pass string) (string, bool) {
			rows := find(pass, scenarioRate)
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
		}},
		{"batch ingest ≥ 20,000 events/s accepted", rate(scenarioBatch, 20000, true)},
		{"single-event ingest ≥ 5,000 events/s", rate(scenarioFanout1, 5000, true)},
		{"1,000,000 pending messages with shiphook RSS < 256 MiB", func(pass string) (string, bool) {
			rows := find(pass, scenarioBacklog)
			if len(rows) == 0 {
				return "", false
			}
			row := rows[0]
			return fmt.Sprintf("%s at %s pending", fmtBytes(row.peakRSS), thousands(row.expected)), row.peakRSS < 256<<20 && row.expected >= 1_000_000
		}},
		{"backlog drains at full speed (as fast as fan-out ×10 delivers)", func(pass string) (string, bool) {
			rows, full := find(pass, scenarioBacklog), find(pass, scenarioFanout10)
			if len(rows) == 0 || len(full) == 0 || full[len(full)-1].deliveryRate == 0 {
				return "", false
			}
			v, ref := rows[0].deliveryRate, full[len(full)-1].deliveryRate
			return fmt.Sprintf("%s/s (%.0f %% of %s/s)", thousands(int(v+0.5)), 100*v/ref, thousands(int(ref+0.5))), v >= 0.9*ref
		}},
		{"nothing lost; duplicates only as at-least-once allows", func(pass string) (string, bool) {
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
		}},
	}
	if g := r.goBenchNamed("BenchmarkMatch100kEndpoints"); g != nil {
		ns := g.nsPerOp
		targets = append(targets, target{"matching ≤ 10 µs per event with 100,000 endpoints", func(string) (string, bool) {
			return fmt.Sprintf("%.1f µs (BenchmarkMatch100kEndpoints)", ns/1000), ns <= 10000
		}})
	}
	w("Targets:\n\n| Target |")
	for _, p := range r.passes {
		w(" %s |", shortPass(p.name))
	}
	w("\n|---|")
	for range r.passes {
		w("---|")
	}
	w("\n")
	for _, t := range targets {
		w("| %s |", t.name)
		for _, p := range r.passes {
			v, ok := t.value(p.name)
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

func (r *report) goBenchNamed(name string) *goBenchLine {
	for i := range r.goBench {
		if r.goBench[i].name == name {
			return &r.goBench[i]
		}
	}
	return nil
}

// problems sums up what went wrong, or "".
func (r *report) problems() string {
	var bad []string
	for _, p := range r.passes {
		if p.err != nil {
			bad = append(bad, fmt.Sprintf("pass %s: %v", p.name, p.err))
		}
	}
	for _, row := range r.rows {
		if row.err != nil || row.missing() > 0 {
			bad = append(bad, fmt.Sprintf("%s / %s: %s missing", row.pass, row.scenario.title, thousands(row.missing())))
		}
	}
	if r.invalid > 0 {
		bad = append(bad, fmt.Sprintf("%d bad signatures", r.invalid))
	}
	if len(bad) == 0 {
		return ""
	}
	return "not every scenario completed cleanly (see the report): " + strings.Join(bad, "; ")
}

func shortPass(name string) string {
	if name == passPostgres {
		return "PostgreSQL + Redis"
	}
	return "embedded"
}

func pct(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func fmtLatency(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func fmtDuration(d time.Duration) string { return fmtLatency(d) }

func fmtWall(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
}

func fmtBytes(n int64) string {
	switch {
	case n <= 0:
		return "—"
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// thousands formats n with commas: 20,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
	return keys
}

// writeLatencies writes the latencies of each row that has them to dir, a
// file per row named for its pass, scenario and events, one latency in
// milliseconds a line, in the order the deliveries arrived.
func writeLatencies(dir string, rows []row) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range rows {
		if len(r.latencies) == 0 {
			continue
		}
		var b []byte
		for _, l := range r.latencies {
			b = strconv.AppendFloat(b, float64(l)/float64(time.Millisecond), 'f', 3, 64)
			b = append(b, '\n')
		}
		name := fmt.Sprintf("%s-%s-%d.txt", r.pass, r.scenario.kind, r.pub.accepted)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
