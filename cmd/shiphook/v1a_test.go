package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
)

// captured is one request as a receiver got it.
type captured struct {
	Header http.Header
	Body   []byte
}

// capture is a receiver that keeps every request as it arrived, by path,
// and answers 204; it verifies nothing itself.
type capture struct {
	*httptest.Server
	mu  sync.Mutex
	got map[string][]captured
}

func newCapture(t *testing.T) *capture {
	t.Helper()
	c := &capture{got: map[string][]captured{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.got[r.URL.Path] = append(c.got[r.URL.Path], captured{Header: r.Header.Clone(), Body: body})
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(c.Close)
	return c
}

// next waits for the nth request (from 1) at path and returns it.
func (c *capture) next(t *testing.T, path string, n int) captured {
	t.Helper()
	var got captured
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.got[path]) < n {
			return false
		}
		got = c.got[path][n-1]
		return true
	}, 15*time.Second, 20*time.Millisecond, "delivery %d at %s", n, path)
	return got
}

// nodeVerifier runs testdata/verify-v1a.mjs, an ed25519 verifier written
// with Node's own crypto module.
type nodeVerifier struct{ node, script string }

// newNodeVerifier finds node and the script; it must run before the test
// changes directory. A missing node fails the test: make test installs
// Debian's nodejs.
func newNodeVerifier(t *testing.T) nodeVerifier {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the v1a verification tests need Node.js (node on the PATH): %v; run make test, which installs Debian's nodejs package as root, or install Node.js 18 or later", err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "verify-v1a.mjs"))
	require.NoError(t, err)
	require.FileExists(t, script)
	return nodeVerifier{node: node, script: script}
}

// verify runs the verifier on the delivery d with publicKey, and returns
// whether it verified and what it printed.
func (v nodeVerifier) verify(t *testing.T, publicKey string, d captured) (bool, string) {
	t.Helper()
	in, err := json.Marshal(map[string]any{
		"public_key": publicKey,
		"headers": map[string]string{
			"webhook-id":        d.Header.Get("webhook-id"),
			"webhook-timestamp": d.Header.Get("webhook-timestamp"),
			"webhook-signature": d.Header.Get("webhook-signature"),
		},
		"body": base64.StdEncoding.EncodeToString(d.Body),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.node, v.script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	if err == nil {
		require.Equal(t, "verified", text)
		return true, text
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "run %s: %s", v.script, text)
	require.Equal(t, 3, exit.ExitCode(), "the verifier did not check the delivery: %s", text)
	return false, text
}

// signatureSchemes returns the schemes of the entries of d's
// webhook-signature header, in order.
func signatureSchemes(d captured) []string {
	var schemes []string
	for _, entry := range strings.Fields(d.Header.Get("webhook-signature")) {
		scheme, _, _ := strings.Cut(entry, ",")
		schemes = append(schemes, scheme)
	}
	return schemes
}

// keysOut is the answer of GET …/secret and of a rotation.
type keysOut struct {
	SignatureScheme         string `json:"signature_scheme"`
	Secret                  string `json:"secret"`
	PublicKey               string `json:"public_key"`
	PreviousSignatureScheme string `json:"previous_signature_scheme"`
	PreviousSecret          string `json:"previous_secret"`
	PreviousPublicKey       string `json:"previous_public_key"`
}

// TestV1aVerifiedByNode runs shiphook against real PostgreSQL and Redis,
// has a partner create a v1a endpoint, delivers an event to it, and checks
// the delivery as captured with an ed25519 verifier of Node's: it verifies
// under the whpk_ key the API gave, and not once the body is tampered
// with. After a rotation both keys sign, and each verifies alone.
func TestV1aVerifiedByNode(t *testing.T) {
	node := newNodeVerifier(t)
	env := testEnv(t)
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newCapture(t)
	createPartners(t, s, "acme", "globex")
	key := partnerKey(t, s, "acme")

	var ep struct {
		ID              string `json:"id"`
		SignatureScheme string `json:"signature_scheme"`
		PublicKey       string `json:"public_key"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", key,
		map[string]any{"url": rcv.URL + "/v1a", "signature_scheme": "v1a", "event_types": []string{"shipment.milestone.*"}}, &ep))
	require.Equal(t, "v1a", ep.SignatureScheme)
	require.NoError(t, signing.ValidVerifyingKey(ep.PublicKey))
	require.True(t, strings.HasPrefix(ep.PublicKey, "whpk_"), ep.PublicKey)
	base := s.URL + "/v1/partners/acme/endpoints/" + ep.ID
	var revealed keysOut
	require.Equal(t, http.StatusOK, call(t, "GET", base+"/secret", key, nil, &revealed))
	require.Equal(t, keysOut{SignatureScheme: "v1a", PublicKey: ep.PublicKey}, revealed)

	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(1, ""), nil))
	d := rcv.next(t, "/v1a", 1)
	require.Equal(t, []string{"v1a"}, signatureSchemes(d))
	ok, out := node.verify(t, ep.PublicKey, d)
	require.True(t, ok, out)

	tampered := d
	tampered.Body = bytes.Replace(d.Body, []byte("SHP-0001"), []byte("SHP-0002"), 1)
	require.NotEqual(t, d.Body, tampered.Body)
	ok, out = node.verify(t, ep.PublicKey, tampered)
	require.False(t, ok, "a tampered body must not verify")
	require.Contains(t, out, "no v1a signature verifies")
	_, stranger, err := signing.NewKeyPair()
	require.NoError(t, err)
	ok, _ = node.verify(t, stranger, d)
	require.False(t, ok, "another key must not verify")

	var rotated keysOut
	require.Equal(t, http.StatusOK, call(t, "POST", base+"/secret/rotate", key, map[string]any{"grace_seconds": 600}, &rotated))
	require.Equal(t, "v1a", rotated.SignatureScheme)
	require.Equal(t, ep.PublicKey, rotated.PreviousPublicKey)
	require.NotEqual(t, ep.PublicKey, rotated.PublicKey)
	require.Empty(t, rotated.Secret+rotated.PreviousSecret, "no secret is shown for v1a keys")

	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(3, ""), nil))
	d = rcv.next(t, "/v1a", 2)
	require.Equal(t, []string{"v1a", "v1a"}, signatureSchemes(d), "during the grace period the new and the previous key sign")
	for _, pub := range []string{rotated.PublicKey, rotated.PreviousPublicKey} {
		ok, out := node.verify(t, pub, d)
		require.True(t, ok, "%s: %s", pub, out)
	}
}

// TestRotateV1ToV1a checks a partner's migration from v1 to v1a: after the
// rotation every delivery carries a v1a signature, which Node verifies
// with the new public key, and, during the grace period, the v1 signature
// that the receiver's old secret still verifies.
func TestRotateV1ToV1a(t *testing.T) {
	node := newNodeVerifier(t)
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	env["SHIPHOOK_ADMIN_KEY"] = adminKey
	s := startServer(t, "serve", env)
	rcv := newCapture(t)
	createPartners(t, s, "acme", "globex")

	var ep struct {
		ID              string `json:"id"`
		SignatureScheme string `json:"signature_scheme"`
		Secret          string `json:"secret"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey,
		map[string]any{"url": rcv.URL + "/moving", "event_types": []string{"shipment.milestone.*"}}, &ep))
	require.Equal(t, "v1", ep.SignatureScheme)

	var rotated keysOut
	base := s.URL + "/v1/partners/acme/endpoints/" + ep.ID
	require.Equal(t, http.StatusOK, call(t, "POST", base+"/secret/rotate", adminKey, map[string]any{"signature_scheme": "v1a"}, &rotated))
	require.Equal(t, keysOut{SignatureScheme: "v1a", PublicKey: rotated.PublicKey, PreviousSignatureScheme: "v1", PreviousSecret: ep.Secret}, rotated)

	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(1, ""), nil))
	d := rcv.next(t, "/moving", 1)
	require.Equal(t, []string{"v1a", "v1"}, signatureSchemes(d))
	ok, out := node.verify(t, rotated.PublicKey, d)
	require.True(t, ok, out)
	wh, err := standardwebhooks.NewWebhook(ep.Secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(d.Body, d.Header), "a receiver not yet moved still verifies with its secret")
}
