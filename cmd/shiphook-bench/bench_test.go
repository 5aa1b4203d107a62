package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store/storetest"
)

func TestEventGen(t *testing.T) {
	g := newEventGen(targets{run: "r1", partners: []string{"bench-r1-p0", "bench-r1-p1"}})
	var ev struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Shipment struct{ ID string }
		Parties  []struct {
			PartnerID string `json:"partner_id"`
			Role      string `json:"role"`
		}
		Data map[string]any
	}
	require.NoError(t, json.Unmarshal(g.appendEvent(nil, 7), &ev))
	require.Equal(t, "bench-r1-7", ev.ID)
	require.Equal(t, "shipment.milestone.arrived", ev.Type)
	require.Equal(t, "SHP-r1-7", ev.Shipment.ID)
	require.Len(t, ev.Parties, 2)
	require.Equal(t, "bench-r1-p1", ev.Parties[1].PartnerID)
	sent, err := strconv.ParseInt(ev.Data["sent_at_ns"].(string), 10, 64)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), time.Unix(0, sent), time.Minute)

	warm := map[string]any{}
	require.NoError(t, json.Unmarshal(g.appendEvent(nil, -1), &warm))
	require.Equal(t, "bench-r1-warm", warm["id"])
	require.NotContains(t, warm["data"], "sent_at_ns")

	// The ordered scenario spreads its events over a number of shipments.
	spread := newEventGen(targets{run: "r2", partners: []string{"bench-r2-p0"}, shipments: 100})
	require.NoError(t, json.Unmarshal(spread.appendEvent(nil, 207), &ev))
	require.Equal(t, "bench-r2-207", ev.ID)
	require.Equal(t, "SHP-r2-s7", ev.Shipment.ID)
}

func TestReadGoBench(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gobench.txt")
	require.NoError(t, os.WriteFile(path, []byte(`goos: linux
pkg: github.com/shiphook/shiphook/signing
BenchmarkSign-2   	  550501	      3985 ns/op	 256.97 MB/s	     784 B/op	       9 allocs/op
BenchmarkValidateData/milestone-2         	  155404	      7400 ns/op	  10.00 MB/s	    3135 B/op	      44 allocs/op
PASS
`), 0o644))
	got, err := readGoBench(path)
	require.NoError(t, err)
	require.Equal(t, []goBenchLine{
		{name: "BenchmarkSign", nsPerOp: 3985, bPerOp: 784, allocs: 9, hasBytes: true, hasAllocations: true},
		{name: "BenchmarkValidateData/milestone", nsPerOp: 7400, bPerOp: 3135, allocs: 44, hasBytes: true, hasAllocations: true},
	}, got)
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"-out", "bin/report.md", "-gobench-cmd", "go test -run '^$' ./signing",
		"-passes", "postgres", "--out=x.md", "-shiphook-env", "SHIPHOOK_LOG_LEVEL=debug info", "-events=300"})
	require.Equal(t, `shiphook-bench -passes postgres -shiphook-env 'SHIPHOOK_LOG_LEVEL=debug info' -events=300`, got)
	require.Equal(t, `'it'\''s'`, shellQuote("it's"))
	require.Equal(t, `''`, shellQuote(""))
}

func TestQuickOptions(t *testing.T) {
	none := func(string) string { return "" }
	o, err := parseOptions([]string{"-quick", "-events", "300"}, none, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 300, o.events, "a flag given explicitly wins")
	require.Equal(t, []int{100, 500}, o.fanout10Events)
	require.Equal(t, 5*time.Second, o.rateFor)

	o, err = parseOptions(nil, none, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 20000, o.events)
	require.Equal(t, []int{2000, 20000}, o.fanout10Events)
	embedded := o.scenariosFor(passEmbedded)
	require.Equal(t, 400, embedded[0].events)
	require.Equal(t, 600*time.Millisecond, embedded[3].duration)

	_, err = parseOptions([]string{"-scenarios", "fanout1,nope"}, none, io.Discard)
	require.ErrorContains(t, err, "nope")
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 20000: "20,000", 1234567: "1,234,567", -4500: "-4,500"} {
		require.Equal(t, want, thousands(n))
	}
}

func TestVacuumLeavesEmptyTables(t *testing.T) {
	// As autovacuum would: a table that holds rows is vacuumed and
	// analyzed, one that never held any keeps no statistics.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, `CREATE TABLE filled (id int PRIMARY KEY);
		INSERT INTO filled SELECT generate_series(1, 100);
		DELETE FROM filled WHERE id > 60;
		CREATE TABLE never_filled (id int PRIMARY KEY)`)
	require.NoError(t, err)

	p := &pass{stats: conn, database: "test"}
	n, err := p.vacuum(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	tuples := func(table string) float64 {
		var v float64
		require.NoError(t, conn.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", table).Scan(&v))
		return v
	}
	require.Equal(t, 60.0, tuples("filled"), "analyzed: the live rows")
	require.Equal(t, -1.0, tuples("never_filled"), "never analyzed")
}

func TestCheckpoint(t *testing.T) {
	// What a checkpoint promises, read from the control file, which
	// CHECKPOINT has written by the time it returns (the statistics
	// views catch up later): the last checkpoint's redo point is at or
	// after where WAL stood before the call, so every page dirtied
	// before the call has been written out.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	var before string
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&before))
	p := &pass{stats: conn, database: "test"}
	require.NoError(t, p.checkpoint(ctx))
	var redo string
	var covers bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT redo_lsn::text, redo_lsn >= $1::pg_lsn FROM pg_control_checkpoint()", before).Scan(&redo, &covers))
	require.True(t, covers, "a checkpoint was made: its redo point %s is at or after %s, where WAL stood before the call", redo, before)
}

func TestWriteLatencies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "latencies")
	rows := []row{
		{pass: passPostgres, scenario: scenario{kind: "rate"}, pub: published{accepted: 3},
			latencies: []time.Duration{2500 * time.Microsecond, 41 * time.Millisecond, 1234567 * time.Nanosecond}},
		// A backlog has no latencies: no file.
		{pass: passPostgres, scenario: scenario{kind: "backlog"}, pub: published{accepted: 5}},
	}
	require.NoError(t, writeLatencies(dir, rows))
	got, err := os.ReadFile(filepath.Join(dir, "postgres-rate-3.txt"))
	require.NoError(t, err)
	require.Equal(t, "2.500\n41.000\n1.235\n", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}
