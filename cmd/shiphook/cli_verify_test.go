package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/harness"
)

func (f *cliFixture) retry(t *testing.T) {
	var ms listOut[messageOut]
	f.okJSON(t, &ms, "messages", "list", "--shipment", "SHP-0001")
	require.Len(t, ms.Data, 1)
	id := ms.Data[0].ID
	require.Regexp(t, `(?m)^id\s+`+id+`$`, f.ok(t, "retry", id))
	require.Eventually(t, func() bool {
		var as listOut[attemptOut]
		f.okJSON(t, &as, "attempts", "list", id)
		return len(as.Data) == 2 && as.Data[1].Trigger == "manual" && as.Data[1].StatusCode == http.StatusNoContent
	}, 10*time.Second, 50*time.Millisecond, "the retry is a second, manual attempt")
	out := f.ok(t, "attempts", "list", id)
	require.Regexp(t, `(?m)^att_\S+\s+`+id+`\s+1\s+scheduled\s+\S+\s+\d+\s+204\s+-\s+http://`, out)
	require.Regexp(t, `(?m)^att_\S+\s+`+id+`\s+2\s+manual\s`, out)
	out = f.ok(t, "attempts", "search", "--message", id, "--since", "1h")
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 3, out)

	var job struct{ ID, Status string }
	f.okJSON(t, &job, "recover", "-p", "acme", f.endpoint, "--since", "1h", "--wait", "--interval", "50ms")
	require.Equal(t, "done", job.Status, "nothing failed, so nothing to requeue")
	require.Regexp(t, `(?m)^status\s+done$`, f.ok(t, "recover", "-p", "acme", f.endpoint, "--job", job.ID))
}

func (f *cliFixture) apiKeys(t *testing.T) {
	var key struct{ ID, Key, Role, PartnerID string }
	f.okJSON(t, &key, "api-keys", "create", "--role", "partner", "--partner", "acme", "--name", "acme's TMS")
	require.True(t, strings.HasPrefix(key.Key, "shk_"), key.Key)
	require.Regexp(t, `(?m)^`+key.ID+`\s+partner\s+acme\s+-\s+acme's TMS\s`, f.ok(t, "api-keys", "list"))

	// The partner's key reads its own messages, and nothing of an admin's.
	require.Contains(t, f.ok(t, "messages", "list", "--partner", "acme", "--key", key.Key), "SHP-0001")
	asPartner := shiphook(t.Context(), f.env, "partners", "list", "--key", key.Key)
	require.Equal(t, exitRefused, asPartner.code)
	require.ErrorContains(t, asPartner.err, "403 Forbidden: forbidden: ")

	require.Equal(t, "deleted API key "+key.ID+"\n", f.ok(t, "api-keys", "delete", key.ID))
	require.NotContains(t, f.ok(t, "api-keys", "list"), key.ID)
	unknown := shiphook(t.Context(), f.env, "messages", "list", "--key", "shk_not_a_key_of_this_server")
	require.Equal(t, exitRefused, unknown.code)
	require.EqualError(t, unknown.err, "the API answered 401 Unauthorized: unauthorized: the API key is not valid")
}

// rotateAndVerify rotates acme's secret, captures the next delivery at
// the receiver and checks it offline with verify: with the new secret it
// verifies, with a wrong one or a changed body it does not.
func (f *cliFixture) rotateAndVerify(t *testing.T) {
	var secrets struct {
		Secret         string `json:"secret"`
		PreviousSecret string `json:"previous_secret"`
	}
	f.okJSON(t, &secrets, "endpoints", "rotate-secret", "-p", "acme", f.endpoint)
	require.Equal(t, f.secret, secrets.PreviousSecret)
	require.NotEqual(t, f.secret, secrets.Secret)
	var accepted struct{ ID string }
	f.okJSON(t, &accepted, "events", "post", f.writeEvent(t, 7))
	var d harness.Delivery
	require.Eventually(t, func() bool {
		var ok bool
		d, ok = f.rcv.Last("/acme")
		return ok && bytes.Contains(d.Body, []byte(accepted.ID))
	}, 10*time.Second, 20*time.Millisecond)

	headers, body, request := f.capture(t, d)
	verify := func(args ...string) cliOut {
		return shiphook(t.Context(), nil, append([]string{"verify"}, args...)...)
	}
	out := verify("--headers", headers, "--body", body, "--secret", secrets.Secret)
	require.NoError(t, out.err, out.stdout)
	require.Regexp(t, `(?m)^webhook-id\s+msg_\S+$`, out.stdout)
	require.Regexp(t, `(?m)^(webhook-signature|\s+)\s*v1,\S+\s+matches \(secret 1\)$`, out.stdout, "the new secret's signature")
	require.Regexp(t, `(?m)^(webhook-signature|\s+)\s*v1,\S+\s+no match$`, out.stdout, "the previous secret's, signing beside it")
	require.True(t, strings.HasSuffix(out.stdout, "verified\n"), out.stdout)
	out = verify("--request", request, "--secret", secrets.Secret, "--tolerance", "5m", "-o", "json")
	require.NoError(t, out.err, out.stdout)
	var v struct{ Verified bool }
	require.NoError(t, json.Unmarshal([]byte(out.stdout), &v))
	require.True(t, v.Verified)

	out = verify("--request", request, "--secret", harness.NewSecret())
	require.Equal(t, exitVerify, out.code)
	require.ErrorContains(t, out.err, "verify: webhook-signature: none of its 2 signatures of the keys' scheme matches")
	require.True(t, strings.HasSuffix(out.stdout, "NOT verified: webhook-signature\n"), out.stdout)

	tampered := filepath.Join(f.dir, "tampered.json")
	require.NoError(t, os.WriteFile(tampered, bytes.Replace(d.Body, []byte("SHP-0007"), []byte("SHP-0008"), 1), 0o600))
	out = verify("--headers", headers, "--body", tampered, "--secret", secrets.Secret)
	require.Equal(t, exitVerify, out.code)
	require.ErrorContains(t, out.err, "webhook-signature: ")

	// In a process of its own, as a script sees it.
	p := shiphookProcess(t, nil, string(d.Body), "verify", "--headers", headers, "--body", "-", "--secret", harness.NewSecret())
	require.Equal(t, exitVerify, p.code, p.stderr)
	require.Contains(t, p.stderr, "shiphook: verify: webhook-signature: ")
}

// capture writes delivery d as verify reads it: its headers and its body
// in two files, and the whole request in a third; it returns their paths.
func (f *cliFixture) capture(t *testing.T, d harness.Delivery) (headers, body, request string) {
	t.Helper()
	headers, body, request = filepath.Join(f.dir, "headers.txt"), filepath.Join(f.dir, "body.json"), filepath.Join(f.dir, "delivery.http")
	var h bytes.Buffer
	fmt.Fprintf(&h, "POST /acme HTTP/1.1\n")
	require.NoError(t, d.Header.Write(&h))
	require.NoError(t, os.WriteFile(headers, h.Bytes(), 0o600))
	require.NoError(t, os.WriteFile(body, d.Body, 0o600))
	req, err := http.NewRequest("POST", f.rcv.URL("/acme"), io.NopCloser(bytes.NewReader(d.Body)))
	require.NoError(t, err)
	req.Header = d.Header.Clone()
	req.ContentLength = int64(len(d.Body))
	var r bytes.Buffer
	require.NoError(t, req.Write(&r))
	require.NoError(t, os.WriteFile(request, r.Bytes(), 0o600))
	return headers, body, request
}

// apiErrors checks that the API's errors reach the admin with their
// status, code and message, and the exit status that tells them apart.
func (f *cliFixture) apiErrors(t *testing.T) {
	out := shiphook(t.Context(), f.env, "partners", "get", "nope")
	require.Equal(t, exitRefused, out.code)
	require.EqualError(t, out.err, "the API answered 404 Not Found: not_found: partner nope not found")
	out = shiphook(t.Context(), f.env, "endpoints", "create", "-p", "acme", "ftp://example.com")
	require.Equal(t, exitRefused, out.code)
	require.ErrorContains(t, out.err, "422 Unprocessable Entity: invalid_field: ")
	require.ErrorContains(t, out.err, "(field url)")

	out = shiphook(t.Context(), f.env, "partners", "list", "--url", closedPortURL(t))
	require.Equal(t, exitAPIError, out.code)
	require.ErrorContains(t, out.err, "no answer from http://127.0.0.1:")

	out = shiphook(t.Context(), f.env, "partners", "get")
	require.Equal(t, exitUsage, out.code)
	require.EqualError(t, out.err, "usage: shiphook partners get PARTNER [flags]")
	out = shiphook(t.Context(), map[string]string{"SHIPHOOK_URL": f.s.URL}, "partners", "list")
	require.Equal(t, exitUsage, out.code)
	require.ErrorContains(t, out.err, "no API key: set SHIPHOOK_KEY or give --key")
	out = shiphook(t.Context(), f.env, "endpoints", "list")
	require.Equal(t, exitUsage, out.code)
	require.ErrorContains(t, out.err, "give --partner")
}
