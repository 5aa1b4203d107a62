package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/harness"
)

// cliOut is what an admin command left: its output, its error and the
// exit status main gives that error.
type cliOut struct {
	stdout, stderr string
	err            error
	code           int
}

// shiphook runs "shiphook args…" in this process, with env as its whole
// environment, until it returns or ctx ends.
func shiphook(ctx context.Context, env map[string]string, args ...string) cliOut {
	var stdout, stderr lockedBuffer
	err := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	return cliOut{stdout: stdout.String(), stderr: stderr.String(), err: err, code: exitCode(err)}
}

// shiphookProcess runs "shiphook args…" as a process of its own, the test
// binary standing in for shiphook, with env as its whole environment and
// stdin as its standard input, and returns its exit status.
func shiphookProcess(t *testing.T, env map[string]string, stdin string, args ...string) cliOut {
	t.Helper()
	c := exec.Command(os.Args[0], args...)
	c.Env = []string{childEnv + "=1"}
	for k, v := range env {
		c.Env = append(c.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err := c.Run()
	out := cliOut{stdout: stdout.String(), stderr: stderr.String(), err: err}
	if exit, ok := err.(*exec.ExitError); ok {
		out.code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out
}

// ok runs an admin command that must succeed and returns its output.
func (f *cliFixture) ok(t *testing.T, args ...string) string {
	t.Helper()
	out := shiphook(t.Context(), f.env, args...)
	require.NoError(t, out.err, "shiphook %s\n%s%s", strings.Join(args, " "), out.stdout, out.stderr)
	return out.stdout
}

// okJSON runs an admin command with -o json that must succeed and
// decodes its output into v.
func (f *cliFixture) okJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := f.ok(t, append(args, "-o", "json")...)
	require.NoError(t, json.Unmarshal([]byte(out), v), out)
}

// cliFixture is a server on its own with a harness receiver, and the
// environment the admin commands find it with, as after make run.
type cliFixture struct {
	s        *server
	env      map[string]string
	rcv      *harness.Receiver
	tally    *harness.Tally
	dir      string
	endpoint string // acme's endpoint, at the receiver's /acme
	secret   string // its secret
}

// TestAdminCLI drives the admin commands against a real server, on
// PostgreSQL and on the embedded defaults, as an admin would: partners,
// an endpoint to a receiver, events from a file and stdin, the log as a
// table and as JSON, following it, a retry, API keys, a rotated secret
// checked offline, and the API's errors.
func TestAdminCLI(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, "serve", env)
		rcv, err := harness.StartReceiver()
		require.NoError(t, err)
		t.Cleanup(rcv.Close)
		f := &cliFixture{s: s, env: map[string]string{"SHIPHOOK_URL": s.URL, "SHIPHOOK_KEY": adminKey}, rcv: rcv, tally: harness.NewTally(), dir: t.TempDir()}
		t.Run("partners and endpoint", f.partnersAndEndpoint)
		t.Run("events", f.postEvents)
		t.Run("messages", f.listMessages)
		t.Run("follow", f.followMessages)
		t.Run("retry", f.retry)
		t.Run("api keys", f.apiKeys)
		t.Run("rotate and verify", f.rotateAndVerify)
		t.Run("errors", f.apiErrors)
	})
}

func (f *cliFixture) partnersAndEndpoint(t *testing.T) {
	out := f.ok(t, "partners", "create", "--id", "acme", "--name", "Acme Imports")
	require.Regexp(t, `(?m)^id\s+acme$`, out)
	require.Regexp(t, `(?m)^name\s+Acme Imports$`, out)
	var globex struct{ ID, Access string }
	f.okJSON(t, &globex, "partners", "create", "--id", "globex", "--name", "Globex")
	require.Equal(t, "globex", globex.ID)
	require.Equal(t, "party", globex.Access)

	out = f.ok(t, "partners", "list")
	require.Regexp(t, `^ID\s+NAME\s+ACCESS\s+CREATED\n`, out)
	require.Regexp(t, `(?m)^acme\s+Acme Imports\s+party\s+\d{4}-`, out)
	f.ok(t, "partners", "update", "globex", "--name", "Globex Corp")
	require.Contains(t, f.ok(t, "partners", "get", "globex"), "Globex Corp")

	var ep struct {
		ID, Secret   string
		TraceContext bool `json:"trace_context"`
	}
	f.okJSON(t, &ep, "endpoints", "create", "--partner", "acme", f.rcv.URL("/acme"), "--event-types", "shipment.milestone.*", "--trace-context")
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"), ep.Secret)
	require.True(t, ep.TraceContext, "--trace-context opts the endpoint in")
	require.NoError(t, f.rcv.Add("/acme", ep.Secret, f.tally))
	f.endpoint, f.secret = ep.ID, ep.Secret
	require.Regexp(t, `(?m)^`+ep.ID+`\s+webhook\s+`+f.rcv.URL("/acme")+`\s+shipment\.milestone\.\*\s+false\s+closed\s`, f.ok(t, "endpoints", "list", "-p", "acme"))

	var got struct{ Disabled bool }
	f.okJSON(t, &got, "endpoints", "disable", "-p", "acme", ep.ID)
	require.True(t, got.Disabled)
	f.okJSON(t, &got, "endpoints", "enable", "-p", "acme", ep.ID)
	require.False(t, got.Disabled)
}

// writeEvent writes event(i) to a file of its own and returns its path.
func (f *cliFixture) writeEvent(t *testing.T, i int) string {
	t.Helper()
	path := filepath.Join(f.dir, "event-"+strings.Repeat("x", i)+".json")
	require.NoError(t, os.WriteFile(path, []byte(mustJSON(t, event(i, ""))), 0o600))
	return path
}

func (f *cliFixture) postEvents(t *testing.T) {
	out := f.ok(t, "events", "post", f.writeEvent(t, 1))
	require.Regexp(t, `(?m)^id\s+evt_\S+$`, out)
	require.Regexp(t, `(?m)^duplicate\s+false$`, out)

	// From stdin, in a process of its own, as a pipe would feed it.
	p := shiphookProcess(t, f.env, mustJSON(t, event(2, "")), "events", "post", "-o", "json")
	require.Zero(t, p.code, p.stderr)
	var accepted struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(p.stdout), &accepted), p.stdout)
	require.True(t, strings.HasPrefix(accepted.ID, "evt_"), p.stdout)

	// A batch as NDJSON on stdin, its second event refused: each has its
	// result, and the exit status says the API refused one.
	bad := event(9, "")
	bad["type"] = "shipment.teleported"
	p = shiphookProcess(t, f.env, mustJSON(t, event(3, ""))+"\n"+mustJSON(t, bad)+"\n", "events", "post", "--batch")
	require.Equal(t, exitRefused, p.code, p.stdout+p.stderr)
	require.Regexp(t, `(?m)^0\s+202\s+evt_\S+\s+-\s+-\s`, p.stdout)
	require.Regexp(t, `(?m)^1\s+422\s+-\s+-\s+invalid_field\s+events\[1\]\.type\s`, p.stdout)
	require.Contains(t, p.stderr, "shiphook: the API refused 1 of 2 events")

	// Events 1 to 3 reach acme's endpoint.
	require.Eventually(t, func() bool {
		var ms listOut[messageOut]
		call(t, "GET", f.s.URL+"/v1/partners/acme/messages?status=succeeded", adminKey, nil, &ms)
		return len(ms.Data) == 3
	}, 15*time.Second, 50*time.Millisecond)
	require.Regexp(t, `(?m)^evt_\S+\s+shipment\.milestone\.departed\s+SHP-0001\s`, f.ok(t, "events", "list", "--shipment", "SHP-0001"))
}

func (f *cliFixture) listMessages(t *testing.T) {
	out := f.ok(t, "messages", "list", "--partner", "acme")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Regexp(t, `^ID\s+STATUS\s+ATTEMPTS\s+PARTNER\s+ENDPOINT\s+EVENT TYPE\s+SHIPMENT\s+CREATED\s+LAST ERROR$`, lines[0])
	for _, l := range lines[1:] {
		require.Regexp(t, `^msg_\S+\s+succeeded\s+1\s+acme\s+`+f.endpoint+`\s+shipment\.milestone\.\S+\s+SHP-000[123]\s+\d{4}-\d\d-\d\dT\S+\s+-$`, l)
	}

	// -o json is the API's answer as it is, filters and all.
	for _, q := range []struct{ args, query string }{
		{"--partner acme", "/v1/partners/acme/messages"},
		{"--status succeeded --shipment SHP-0002 --event-type shipment.milestone.arrived --since 1h", "/v1/messages?status=succeeded&shipment_id=SHP-0002&event_type=shipment.milestone.arrived"},
		{"--endpoint " + f.endpoint + " --limit 2", "/v1/messages?endpoint_id=" + f.endpoint + "&limit=2"},
	} {
		var api json.RawMessage
		require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+q.query, adminKey, nil, &api))
		out := f.ok(t, append(append([]string{"messages", "list"}, strings.Fields(q.args)...), "-o", "json")...)
		require.JSONEq(t, string(api), out, q.args)
	}
	out = f.ok(t, "messages", "list", "--shipment", "SHP-0002")
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, out)
	two := shiphook(t.Context(), f.env, "messages", "list", "--limit", "2")
	require.NoError(t, two.err)
	require.Regexp(t, `^more: --cursor msg_\S+\n$`, two.stderr, "a page that has more says how to read on")
}

func (f *cliFixture) followMessages(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"messages", "list", "--follow", "--interval", "100ms", "--partner", "acme"},
			func(k string) string { return f.env[k] }, &stdout, &lockedBuffer{})
	}()
	require.Eventually(t, func() bool { return strings.Count(stdout.String(), "\n") == 4 }, 5*time.Second, 20*time.Millisecond,
		"the page there is, header and 3 messages")
	require.NotContains(t, stdout.String(), "SHP-0006")
	require.Equal(t, http.StatusAccepted, call(t, "POST", f.s.URL+"/v1/events", adminKey, event(6, ""), nil))
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "SHP-0006") }, 10*time.Second, 20*time.Millisecond,
		"a new message is printed as it comes")
	cancel()
	require.NoError(t, <-done, "interrupted, it ends without an error")
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 5, "each message once:\n%s", stdout.String())
	require.Contains(t, lines[4], "SHP-0006", "oldest first, the new one last")
}
