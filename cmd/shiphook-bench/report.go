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
	r.header(w)
	var notes footnotes
	r.results(w, &notes)
	r.passNotes(&notes)
	notes.write(w)
	r.targets(w)
	r.goBenchTable(w)
	return b.String()
}

// header writes the title, the run, the machine, shiphook's settings and
// what the bench did to PostgreSQL before each scenario.
func (r *report) header(w func(string, ...any)) {
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
}

// footnotes are the notes under the results table, numbered from 1 in the
// order they were added.
type footnotes []string

// ref adds note n and returns the reference to it: [1], [2]…
func (f *footnotes) ref(n string) string {
	*f = append(*f, n)
	return fmt.Sprintf("[%d]", len(*f))
}

// write writes the notes as a numbered list, or nothing when there are
// none.
func (f footnotes) write(w func(string, ...any)) {
	if len(f) == 0 {
		return
	}
	w("Notes:\n\n")
	for i, n := range f {
		w("%d. %s\n", i+1, n)
	}
	w("\n")
}

// results writes the table of results, a line per row, and adds the notes
// its lines refer to.
func (r *report) results(w func(string, ...any), notes *footnotes) {
	w("| Pass | Scenario | Events accepted | Events/s accepted | Deliveries/s | p50 | p90 | p99 | max | CPU s/1k deliveries: shiphook | Redis | PostgreSQL | bench tool | Other load | New PG connections | Peak RSS shiphook | Deliveries: expected / unique / dup / missing | Notes |\n")
	w("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for i, row := range r.rows {
		w("%s\n", row.resultLine(notes, r.sourceComparison(i)...))
	}
	w("\n")
}

// resultLine is row's line of the results table; the notes it refers to,
// its own and then extra, are added to notes.
func (r *row) resultLine(notes *footnotes, extra ...string) string {
	lat := []string{"—", "—", "—", "—"}
	if len(r.latencies) > 0 {
		s := slices.Clone(r.latencies)
		slices.Sort(s)
		lat = []string{fmtLatency(pct(s, 0.50)), fmtLatency(pct(s, 0.90)), fmtLatency(pct(s, 0.99)), fmtLatency(s[len(s)-1])}
	}
	per := r.cpuPer1k
	redisCPU, pgCPU := per(r.cpu.redis), per(r.cpu.postgres)
	if r.pass == passEmbedded {
		redisCPU, pgCPU = "in shiphook", "in shiphook"
	}
	other := "—"
	if !r.cpu.unknown && r.cpu.wall > 0 {
		other = fmt.Sprintf("%.2f cores", cores(r.cpu.other, r.cpu.wall))
	}
	conns := "—"
	if r.pgBefore.ok && r.pgAfter.ok {
		conns = thousands(int(r.pgAfter.sessions - r.pgBefore.sessions))
	}
	evRate := "—"
	if r.pub.accepted > 0 {
		evRate = thousands(int(r.pub.rate() + 0.5))
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s / %s %s | %s |",
		shortPass(r.pass), r.scenario.title, thousands(r.pub.accepted), evRate, thousands(int(r.deliveryRate+0.5)),
		lat[0], lat[1], lat[2], lat[3],
		per(r.cpu.shiphook), redisCPU, pgCPU, per(r.cpu.itself), other, conns,
		fmtBytes(r.peakRSS),
		thousands(r.expected), thousands(r.unique), thousands(r.duplicates), thousands(r.missing()), r.verdict(),
		strings.Join(r.noteRefs(notes, extra...), " "))
}

// cpuPer1k is d in CPU seconds per 1,000 deliveries, or "—" when the row
// has no CPU figures.
func (r *row) cpuPer1k(d time.Duration) string {
	if r.cpuFor == 0 || r.cpu.unknown {
		return "—"
	}
	return fmt.Sprintf("%.2f", d.Seconds()*1000/float64(r.cpuFor))
}

// noteRefs adds the notes of row, then extra, to notes and returns the
// references to them.
func (r *row) noteRefs(notes *footnotes, extra ...string) []string {
	var refs []string
	if r.pgBefore.ok && r.pgAfter.ok {
		if n := r.pgAfter.others - r.pgBefore.others; n > 100 {
			refs = append(refs, notes.ref(fmt.Sprintf("PostgreSQL also ran %s transactions for other databases meanwhile; its CPU figure includes that work", thousands(int(n)))))
		}
	}
	for _, n := range append(slices.Clip(r.notes), extra...) {
		refs = append(refs, notes.ref(n))
	}
	if r.missingDetail != "" {
		refs = append(refs, notes.ref("missing deliveries, as shiphook's message log has them: "+r.missingDetail))
	}
	if r.err != nil {
		refs = append(refs, notes.ref("**did not complete**: "+r.err.Error()))
	}
	return refs
}

// verdict says whether every delivery of row arrived.
func (r *row) verdict() string {
	switch {
	case r.missing() > 0:
		return fmt.Sprintf("**%s MISSING**", thousands(r.missing()))
	case r.err != nil:
		return "**incomplete**"
	case r.duplicates > 0:
		return "ok (at least once)"
	}
	return "ok"
}

// passNotes adds the notes of the passes and of the receiver: failed
// passes, shiphook's log lines, bad signatures and stray requests.
func (r *report) passNotes(notes *footnotes) {
	for _, p := range r.passes {
		if p.err != nil {
			*notes = append(*notes, fmt.Sprintf("Pass %s: **%v**", shortPass(p.name), p.err))
		}
		if len(p.logLines) > 0 {
			var parts []string
			for _, msg := range sortedKeys(p.logLines) {
				parts = append(parts, fmt.Sprintf("%q ×%d", msg, p.logLines[msg]))
			}
			*notes = append(*notes, fmt.Sprintf("shiphook's log (%s pass, warn and above): %s", shortPass(p.name), strings.Join(parts, "; ")))
		}
	}
	if r.invalid > 0 {
		*notes = append(*notes, fmt.Sprintf("**%d deliveries failed signature verification**; the last: %s", r.invalid, r.lastInvalid))
	}
	if r.stray > 0 {
		*notes = append(*notes, fmt.Sprintf("%d requests reached the receiver at a path no run created", r.stray))
	}
}

// goBenchTable writes the table of Go benchmarks, or nothing when there
// are none.
func (r *report) goBenchTable(w func(string, ...any)) {
	if len(r.goBench) == 0 {
		return
	}
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
