package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParseOptions pins what parseOptions makes of command lines: the
// options, or the error and what it printed, as testdata/options.txt has
// them.
func TestParseOptions(t *testing.T) {
	env := map[string]string{"SHIPHOOK_BENCH_REDIS_URL": "redis://127.0.0.1:6379/9"}
	cases := [][]string{
		nil,
		{"-quick", "-events", "300", "-passes", "postgres", "-scenarios", "backlog,rate"},
		{"-shiphook-env", "A=1", "-shiphook-env", "B=x y", "-out", "r.md", "-backlog-down", "refuse", "-fanout10-events", " 10, 20 "},
		{"-h"},
		{"-bogus"},
		{"-events", "1", "extra"},
		{"-passes", "postgres,nope"},
		{"-scenarios", "fanout1,nope"},
		{"-fanout10-events", "10,x"},
		{"-fanout10-events", "0"},
		{"-shiphook-env", "FOO"},
		{"-shiphook-env", "=1"},
		{"-events", "0"},
		{"-batch-publishers", "0"},
		{"-batch-size", "501"},
		{"-rate", "0"},
		{"-rate-for", "500ms"},
		{"-backlog-fanout", "51"},
		{"-backlog-embedded", "0"},
		{"-embedded-scale", "0"},
		{"-embedded-scale", "1.5"},
		{"-backlog-down", "never"},
		{"-stall", "0s"},
		{"-drain-limit", "-1s"},
	}
	var b strings.Builder
	for _, args := range cases {
		var stderr bytes.Buffer
		o, err := parseOptions(args, func(k string) string { return env[k] }, &stderr)
		fmt.Fprintf(&b, "== %q\n", args)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
		} else {
			fmt.Fprintf(&b, "%+v\n", *o)
		}
		if stderr.Len() > 0 {
			fmt.Fprintf(&b, "stderr:\n%s", stderr.String())
		}
	}
	path := filepath.Join("testdata", "options.txt")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())
}
