package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
)

// TestCLIHelp walks the whole command tree: "--help", "-h" and "shiphook
// help …" work for every command, print its usage and succeed; the
// top-level usage lists every command.
func TestCLIHelp(t *testing.T) {
	root := newCommands(func(string) string { return "" }, io.Discard, io.Discard)
	var walk func(c *cobra.Command, path []string)
	n := 0
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			p := append(append([]string{}, path...), sub.Name())
			t.Run(strings.Join(p, " "), func(t *testing.T) {
				for _, args := range [][]string{append(p, "--help"), append(p, "-h"), append([]string{"help"}, p...)} {
					out := shiphook(context.Background(), nil, args...)
					require.NoError(t, out.err, "shiphook %s", strings.Join(args, " "))
					help := out.stdout + out.stderr
					if sub.DisableFlagParsing {
						require.Contains(t, help, "Usage of shiphook "+sub.Name(), "a service command prints its own flags")
					} else {
						require.Contains(t, help, "shiphook "+strings.Join(p, " "), "the usage names the command")
						about := sub.Long
						if about == "" {
							about = sub.Short
						}
						require.Contains(t, help, about, "the help says what the command does")
					}
				}
			})
			sub.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
				for up := sub.Parent(); up != nil; up = up.Parent() {
					require.Nil(t, up.PersistentFlags().Lookup(f.Name), "%s's --%s hides %s's", sub.CommandPath(), f.Name, up.CommandPath())
				}
			})
			n++
			walk(sub, p)
		}
	}
	walk(root, nil)
	require.Greater(t, n, 40, "every command was asked")

	for _, c := range root.Commands() {
		if c.Name() != "help" {
			require.Regexp(t, `(?m)^  `+c.Name()+`(\s|$)`, usage, "the usage lists %s", c.Name())
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z-]+)(\s|$)`).FindAllStringSubmatch(usage, -1) {
		c, _, err := root.Find([]string{m[1]})
		require.NoError(t, err)
		require.Equal(t, m[1], c.Name(), "the usage lists %s: the command tree has it too (cli.go)", m[1])
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		out := shiphook(context.Background(), nil, args...)
		require.NoError(t, out.err)
		require.Equal(t, usage, out.stdout)
	}
	out := shiphook(context.Background(), nil)
	require.EqualError(t, out.err, "no command given")
	require.Equal(t, usage, out.stderr)
	require.Equal(t, exitUsage, out.code)
	out = shiphook(context.Background(), nil, "partners", "frob")
	require.EqualError(t, out.err, `unknown command "frob" for "shiphook partners"`)
	out = shiphook(context.Background(), nil, "version")
	require.Equal(t, "shiphook dev\n", out.stdout)
}

// TestVerifyVerdicts checks what verify says of each way a delivery can
// fail, on deliveries signed by package signing.
func TestVerifyVerdicts(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	secret := signing.NewSecret()
	priv, pub, err := signing.NewKeyPair()
	require.NoError(t, err)
	body := []byte(`{"type":"shipment.milestone.delivered","data":{"event_id":"evt_1"}}`)
	signed := func(sent time.Time, keys ...string) http.Header {
		sig, err := signing.Sign("msg_1", sent, body, keys...)
		require.NoError(t, err)
		return http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.FormatInt(sent.Unix(), 10)}, "Webhook-Signature": {sig}}
	}
	without := func(h http.Header, name string) http.Header { h = h.Clone(); h.Del(name); return h }
	with := func(h http.Header, name, value string) http.Header { h = h.Clone(); h.Set(name, value); return h }
	for _, tc := range []struct {
		name      string
		h         http.Header
		body      []byte
		keys      []string
		tolerance time.Duration
		fails     string // the failure's text, "" if it verifies
	}{
		{"v1", signed(now, secret), body, []string{secret}, 0, ""},
		{"v1a", signed(now, priv), body, []string{pub}, 0, ""},
		{"old, not checked", signed(now.Add(-72*time.Hour), secret), body, []string{secret}, 0, ""},
		{"rotation", signed(now, signing.NewSecret(), secret), body, []string{secret}, 0, ""},
		{"wrong secret", signed(now, secret), body, []string{signing.NewSecret()}, 0, "verify: webhook-signature: none of its 1 signatures"},
		{"changed body", signed(now, secret), []byte(`{}`), []string{secret}, 0, "verify: webhook-signature: none of its 1 signatures"},
		{"v1a with a whsec_", signed(now, priv), body, []string{secret}, 0, "verify: webhook-signature: no signature of the scheme of the keys given"},
		{"no id", without(signed(now, secret), "webhook-id"), body, []string{secret}, 0, "verify: webhook-id: missing"},
		{"no timestamp", without(signed(now, secret), "webhook-timestamp"), body, []string{secret}, 0, "verify: webhook-timestamp: missing"},
		{"no signature", without(signed(now, secret), "webhook-signature"), body, []string{secret}, 0, "verify: webhook-signature: missing"},
		{"bad timestamp", with(signed(now, secret), "webhook-timestamp", "yesterday"), body, []string{secret}, 0, `verify: webhook-timestamp: "yesterday" is not unix seconds`},
		{"too old", signed(now.Add(-time.Hour), secret), body, []string{secret}, 5 * time.Minute, "verify: webhook-timestamp: signed at"},
		{"changed id", with(signed(now, secret), "webhook-id", "msg_2"), body, []string{secret}, 0, "verify: webhook-signature: none of its 1 signatures"},
		{"dcsa", with(signed(now, secret), "Notification-Signature", dcsaSignature(strings.TrimPrefix(secret, "whsec_"), body)), body, []string{secret}, 0, ""},
		{"dcsa changed", with(signed(now, secret), "Notification-Signature", "sha256=00"), body, []string{secret}, 0, "verify: Notification-Signature: does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := checkDelivery(tc.h, tc.body, tc.keys, tc.tolerance, now)
			if tc.fails == "" {
				require.Nil(t, v.failure)
				require.True(t, v.Verified)
				return
			}
			require.NotNil(t, v.failure)
			require.False(t, v.Verified)
			require.True(t, strings.HasPrefix(v.failure.Error(), tc.fails), v.failure.Error())
			require.Equal(t, exitVerify, exitCode(v.failure))
		})
	}
}

// TestSplitEvents checks the forms a batch may take in a file.
func TestSplitEvents(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"array", `[{"id":"a"}, {"id":"b"}]`},
		{"wrapped", `{"events": [{"id":"a"}, {"id":"b"}]}`},
		{"ndjson", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := splitEvents([]byte(tc.in))
			require.NoError(t, err)
			require.Len(t, events, 2)
			require.JSONEq(t, `{"id":"a"}`, string(events[0]))
			require.JSONEq(t, `{"id":"b"}`, string(events[1]))
		})
	}
	one, err := splitEvents([]byte(`{"id":"a"}`))
	require.NoError(t, err)
	require.Len(t, one, 1, "one event alone is a batch of one")
	_, err = splitEvents([]byte("  \n"))
	require.EqualError(t, err, "read the events: none given")
	_, err = splitEvents([]byte(`{"id":"a"} {"id":`))
	require.ErrorContains(t, err, "value 2")
}

// TestCLIDefaultURL checks that the admin commands find, by default, the
// API that serve starts by default, as after make run.
func TestCLIDefaultURL(t *testing.T) {
	c, err := parseConfig("serve", nil, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1"+c.addr, defaultURL)
}
