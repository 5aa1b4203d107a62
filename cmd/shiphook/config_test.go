package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConfigErrors checks that settings that cannot work are refused at
// start, with a message naming the setting and what it must be.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"lease shorter than two attempts", map[string]string{"SHIPHOOK_DELIVERY_LEASE": "20s"},
			"delivery lease 20s: must be at least twice the attempt timeout (15s)"},
		{"lease against a shorter attempt timeout", map[string]string{"SHIPHOOK_ATTEMPT_TIMEOUT": "5s", "SHIPHOOK_DELIVERY_LEASE": "9s"},
			"delivery lease 9s: must be at least twice the attempt timeout (5s)"},
		{"attempt timeout", map[string]string{"SHIPHOOK_ATTEMPT_TIMEOUT": "2m"}, "attempt timeout 2m0s: must be from 1s to 60s"},
		{"poll interval", map[string]string{"SHIPHOOK_POLL_INTERVAL": "0s"}, "poll interval 0s: must be from 1ms to 1s"},
		{"metrics on the API's address", map[string]string{"SHIPHOOK_ADDR": ":9000", "SHIPHOOK_METRICS_ADDR": ":9000"},
			"metrics address :9000: must be a listener of its own, not the API's or the probes'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("serve", nil, func(k string) string { return tt.env[k] }, io.Discard)
			require.EqualError(t, err, tt.want)
		})
	}
	_, err := parseConfig("serve", nil, func(k string) string {
		return map[string]string{"SHIPHOOK_ATTEMPT_TIMEOUT": "5s", "SHIPHOOK_DELIVERY_LEASE": "10s"}[k]
	}, io.Discard)
	require.NoError(t, err, "a lease of exactly twice the attempt timeout is enough")
}

// TestConfigEnvErrors checks that an environment variable that does not
// parse stops the start with an error naming the variable, its value and
// the form expected, rather than being ignored for the default.
func TestConfigEnvErrors(t *testing.T) {
	tests := []struct{ env, value, want string }{
		{"SHIPHOOK_RETENTION", "90", `$SHIPHOOK_RETENTION="90": not a duration such as 90s, 30m or 720h`},
		{"SHIPHOOK_CONCURRENCY", "lots", `$SHIPHOOK_CONCURRENCY="lots": not a whole number`},
		{"SHIPHOOK_BREAKER_FAILURE_RATIO", "half", `$SHIPHOOK_BREAKER_FAILURE_RATIO="half": not a number such as 0.5`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, err := parseConfig("serve", nil, func(k string) string {
				if k == tt.env {
					return tt.value
				}
				return ""
			}, io.Discard)
			require.EqualError(t, err, tt.want)
		})
	}
	c, err := parseConfig("serve", nil, func(k string) string {
		return map[string]string{"SHIPHOOK_RETENTION": "2160h", "SHIPHOOK_CONCURRENCY": "50"}[k]
	}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 90*24*time.Hour, c.retention)
	require.Equal(t, 50, c.concurrency)
}

// TestHelp checks that -h prints a command's flags and succeeds, and lists
// only the flags that command uses.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		cmd           string
		lists, leaves []string
	}{
		{"serve", []string{"-addr", "-admin-key", "-concurrency", "-database-url", "-encryption-key"}, []string{"-health-addr"}},
		{"api", []string{"-addr", "-admin-key", "-database-url", "-encryption-key"}, []string{"-health-addr"}},
		{"worker", []string{"-concurrency", "-database-url", "-redis-url", "-health-addr", "-encryption-key"}, []string{"-addr", "-admin-key"}},
		{"migrate", []string{"-database-url", "-log-level"}, []string{"-addr", "-concurrency", "-redis-url", "-health-addr", "-encryption-key"}},
		{"rotate-encryption-key", []string{"-database-url", "-encryption-key", "-log-level"}, []string{"-addr", "-concurrency", "-redis-url"}},
		{"receive", []string{"-addr", "-secret"}, nil},
		{"health", []string{"-url"}, []string{"-addr", "-database-url"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(context.Background(), []string{tc.cmd, "-h"}, func(string) string { return "" }, &stdout, &stderr)
			require.NoError(t, err, "help asked for is not a failure")
			help := stdout.String() + stderr.String()
			for _, f := range tc.lists {
				require.Contains(t, help, "  "+f+" ", tc.cmd+" lists "+f)
			}
			for _, f := range tc.leaves {
				require.NotContains(t, help, "  "+f+" ", tc.cmd+" does not list "+f)
			}
		})
	}
}
