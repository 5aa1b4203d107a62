package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/subscriptions"
)

// publicURL is an endpoint URL that needs no DNS and no allow-list.
const publicURL = "https://93.184.216.34/hooks"

// doRaw is do that returns the answer's body as it was sent, for checks
// that a key appears nowhere in it.
func (a testAPI) doRaw(t *testing.T, method, path, key string, body any) (int, string, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	var out map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	return w.Code, w.Body.String(), out
}

// requireNoPrivateKey checks that an answer shows no whsk_ key, neither
// with its prefix nor without.
func requireNoPrivateKey(t *testing.T, raw string, privs ...string) {
	t.Helper()
	require.NotContains(t, raw, "whsk_")
	for _, p := range privs {
		require.NotContains(t, raw, strings.TrimPrefix(p, "whsk_"))
	}
}

// publicOf returns the whpk_ key of the whsk_ key priv.
func publicOf(t *testing.T, priv string) string {
	t.Helper()
	pub, err := signing.PublicKeyOf(priv)
	require.NoError(t, err)
	return pub
}

// TestCreateV1aEndpoint checks that a partner may create a v1a endpoint,
// and that the answer, a reveal and a rotation show it the public keys,
// never the private ones, which stay in the store.
func TestCreateV1aEndpoint(t *testing.T) {
	a := newTestAPI(t)
	status, raw, created := a.doRaw(t, "POST", "/v1/partners/acme/endpoints", acmeKey,
		map[string]any{"url": publicURL, "signature_scheme": "v1a"})
	require.Equal(t, http.StatusCreated, status, raw)
	id := created["id"].(string)
	stored := a.store.endpoint(t, id)
	require.True(t, strings.HasPrefix(stored.Secret, "whsk_"), "the private key is kept")
	pub := publicOf(t, stored.Secret)
	require.Equal(t, "v1a", created["signature_scheme"])
	require.Equal(t, pub, created["public_key"])
	require.NotContains(t, created, "secret")
	requireNoPrivateKey(t, raw, stored.Secret)

	base := "/v1/partners/acme/endpoints/" + id
	for _, key := range []string{acmeKey, adminKey} {
		status, raw, shown := a.doRaw(t, "GET", base+"/secret", key, nil)
		require.Equal(t, http.StatusOK, status, raw)
		require.Equal(t, map[string]any{"signature_scheme": "v1a", "public_key": pub}, shown)
		requireNoPrivateKey(t, raw, stored.Secret)

		status, raw, ep := a.doRaw(t, "GET", base, key, nil)
		require.Equal(t, http.StatusOK, status, raw)
		require.Equal(t, "v1a", ep["signature_scheme"])
		requireNoPrivateKey(t, raw, stored.Secret)

		status, raw, list := a.doRaw(t, "GET", "/v1/partners/acme/endpoints", key, nil)
		require.Equal(t, http.StatusOK, status, raw)
		require.Len(t, list["data"], 1)
		requireNoPrivateKey(t, raw, stored.Secret)
	}

	status, raw, rotated := a.doRaw(t, "POST", base+"/secret/rotate", acmeKey, map[string]any{"grace_seconds": 3600})
	require.Equal(t, http.StatusOK, status, raw)
	now := a.store.endpoint(t, id)
	require.True(t, strings.HasPrefix(now.Secret, "whsk_"), "a rotation keeps the scheme")
	require.Equal(t, stored.Secret, now.PreviousSecret)
	require.Equal(t, "v1a", rotated["signature_scheme"])
	require.Equal(t, publicOf(t, now.Secret), rotated["public_key"])
	require.Equal(t, "v1a", rotated["previous_signature_scheme"])
	require.Equal(t, pub, rotated["previous_public_key"])
	require.NotEmpty(t, rotated["previous_secret_expires_at"])
	require.NotContains(t, rotated, "secret")
	require.NotContains(t, rotated, "previous_secret")
	requireNoPrivateKey(t, raw, stored.Secret, now.Secret)
}

// TestPartnerMayNotBringPrivateKey checks that only an admin may give a
// v1a endpoint its own whsk_ key, and that even then the answer shows its
// public key only.
func TestPartnerMayNotBringPrivateKey(t *testing.T) {
	a := newTestAPI(t)
	priv, pub, err := signing.NewKeyPair()
	require.NoError(t, err)

	status, body := a.do(t, "POST", "/v1/partners/acme/endpoints", acmeKey, map[string]any{"url": publicURL, "secret": priv})
	e := requireError(t, status, body, http.StatusForbidden, "forbidden", "secret")
	require.NotContains(t, e["message"], priv[len("whsk_"):])
	require.Empty(t, a.store.endpoints, "nothing was created")

	status, raw, created := a.doRaw(t, "POST", "/v1/partners/acme/endpoints", adminKey, map[string]any{"url": publicURL, "secret": priv})
	require.Equal(t, http.StatusCreated, status, raw)
	require.Equal(t, pub, created["public_key"])
	require.Equal(t, "v1a", created["signature_scheme"])
	requireNoPrivateKey(t, raw, priv)
	id := created["id"].(string)
	require.Equal(t, priv, a.store.endpoint(t, id).Secret)

	base := "/v1/partners/acme/endpoints/" + id
	other, _, err := signing.NewKeyPair()
	require.NoError(t, err)
	status, body = a.do(t, "POST", base+"/secret/rotate", acmeKey, map[string]any{"secret": other})
	requireError(t, status, body, http.StatusForbidden, "forbidden", "secret")
	require.Equal(t, priv, a.store.endpoint(t, id).Secret, "the refused rotation changed nothing")

	status, raw, rotated := a.doRaw(t, "POST", base+"/secret/rotate", adminKey, map[string]any{"secret": other})
	require.Equal(t, http.StatusOK, status, raw)
	require.Equal(t, publicOf(t, other), rotated["public_key"])
	require.Equal(t, pub, rotated["previous_public_key"])
	requireNoPrivateKey(t, raw, priv, other)
}

// TestRotateSwitchesScheme checks a partner's migration from v1 to v1a
// through a rotation: both keys sign during the grace period, and the
// answer shows the shared v1 secret and the new public key.
func TestRotateSwitchesScheme(t *testing.T) {
	a := newTestAPI(t)
	status, created := a.do(t, "POST", "/v1/partners/acme/endpoints", acmeKey, map[string]any{"url": publicURL})
	require.Equal(t, http.StatusCreated, status, "%v", created)
	require.Equal(t, "v1", created["signature_scheme"])
	whsec := created["secret"].(string)
	require.NoError(t, signing.ValidSecret(whsec))
	require.NotContains(t, created, "public_key")
	id := created["id"].(string)

	status, raw, rotated := a.doRaw(t, "POST", "/v1/partners/acme/endpoints/"+id+"/secret/rotate", acmeKey, map[string]any{"signature_scheme": "v1a"})
	require.Equal(t, http.StatusOK, status, raw)
	e := a.store.endpoint(t, id)
	require.Equal(t, signing.V1a, e.Scheme())
	require.Equal(t, whsec, e.PreviousSecret)
	require.Equal(t, "v1a", rotated["signature_scheme"])
	require.Equal(t, publicOf(t, e.Secret), rotated["public_key"])
	require.Equal(t, "v1", rotated["previous_signature_scheme"])
	require.Equal(t, whsec, rotated["previous_secret"])
	requireNoPrivateKey(t, raw, e.Secret)
}

// TestEndpointKeyErrors checks the answers to keys and schemes that cannot
// sign: 422 naming the field, never repeating the key.
func TestEndpointKeyErrors(t *testing.T) {
	a := newTestAPI(t)
	priv, pub, err := signing.NewKeyPair()
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"public key", map[string]any{"secret": pub}, "secret"},
		{"public key for v1a", map[string]any{"signature_scheme": "v1a", "secret": pub}, "secret"},
		{"malformed whsk_", map[string]any{"secret": "whsk_" + strings.Repeat("A", 40)}, "secret"},
		{"whsk_ for v1", map[string]any{"signature_scheme": "v1", "secret": priv}, "secret"},
		{"unknown scheme", map[string]any{"signature_scheme": "ed25519"}, "signature_scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["url"] = publicURL
			status, body := a.do(t, "POST", "/v1/partners/acme/endpoints", adminKey, tc.body)
			e := requireError(t, status, body, http.StatusUnprocessableEntity, "invalid_field", tc.field)
			require.NotContains(t, e["message"], priv[len("whsk_"):])
			require.NotContains(t, e["message"], pub[len("whpk_"):])
		})
	}
	require.Empty(t, a.store.endpoints)

	status, created := a.do(t, "POST", "/v1/partners/acme/endpoints", adminKey, map[string]any{"url": publicURL, "signature_scheme": "v1a"})
	require.Equal(t, http.StatusCreated, status, "%v", created)
	base := "/v1/partners/acme/endpoints/" + created["id"].(string)
	status, body := a.do(t, "POST", base+"/secret/rotate", adminKey, map[string]any{"secret": pub})
	requireError(t, status, body, http.StatusUnprocessableEntity, "invalid_field", "secret")
	status, body = a.do(t, "PATCH", base, adminKey, map[string]any{"signature_scheme": "v1"})
	requireError(t, status, body, http.StatusUnprocessableEntity, "invalid_field", "signature_scheme")
	status, body = a.do(t, "PATCH", base, adminKey, map[string]any{"signature_scheme": "v1a", "description": "same scheme"})
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "v1a", body["signature_scheme"])
}

// TestSecretOfAnotherPartner checks that a partner cannot reveal or rotate
// the keys of another partner's endpoint: 404, as if it did not exist.
func TestSecretOfAnotherPartner(t *testing.T) {
	a := newTestAPI(t)
	status, created := a.do(t, "POST", "/v1/partners/globex/endpoints", adminKey, map[string]any{"url": publicURL, "signature_scheme": "v1a"})
	require.Equal(t, http.StatusCreated, status, "%v", created)
	id := created["id"].(string)
	before := a.store.endpoint(t, id)
	for _, path := range []string{"/v1/partners/globex/endpoints/" + id + "/secret", "/v1/partners/acme/endpoints/" + id + "/secret"} {
		status, body := a.do(t, "GET", path, acmeKey, nil)
		requireError(t, status, body, http.StatusNotFound, "not_found", "")
		status, body = a.do(t, "POST", path+"/rotate", acmeKey, nil)
		requireError(t, status, body, http.StatusNotFound, "not_found", "")
	}
	require.Equal(t, before, a.store.endpoint(t, id))
}

// TestHeaderValuesMasked checks that an endpoint's custom header values are
// shown in full only in the answer that creates it, and masked in every
// later one; and that a PATCH giving them back as shown keeps them.
func TestHeaderValuesMasked(t *testing.T) {
	a := newTestAPI(t)
	const token = "tok-0123456789-secret-value"
	headers := map[string]any{"X-Partner-Token": token, "X-Account": "1234"}
	status, raw, created := a.doRaw(t, "POST", "/v1/partners/acme/endpoints", acmeKey,
		map[string]any{"url": publicURL, "headers": headers})
	require.Equal(t, http.StatusCreated, status, raw)
	require.Equal(t, headers, created["headers"], "the create answer shows them once")
	id := created["id"].(string)
	base := "/v1/partners/acme/endpoints/" + id

	masked := map[string]any{"X-Partner-Token": "••••••alue", "X-Account": "••••••"}
	requireMasked := func(raw string, got any) {
		t.Helper()
		require.NotContains(t, raw, token)
		require.NotContains(t, raw, "1234")
		require.Equal(t, masked, got)
	}
	for _, key := range []string{acmeKey, adminKey} {
		status, raw, ep := a.doRaw(t, "GET", base, key, nil)
		require.Equal(t, http.StatusOK, status, raw)
		requireMasked(raw, ep["headers"])
		status, raw, list := a.doRaw(t, "GET", "/v1/partners/acme/endpoints", key, nil)
		require.Equal(t, http.StatusOK, status, raw)
		requireMasked(raw, list["data"].([]any)[0].(map[string]any)["headers"])
	}

	// Sent back as shown, with one value changed: the other is kept.
	status, raw, patched := a.doRaw(t, "PATCH", base, acmeKey,
		map[string]any{"headers": map[string]any{"X-Partner-Token": "••••••alue", "X-Account": "5678"}})
	require.Equal(t, http.StatusOK, status, raw)
	require.Equal(t, map[string]any{"X-Partner-Token": "••••••alue", "X-Account": "••••••"}, patched["headers"])
	require.NotContains(t, raw, "5678")
	require.Equal(t, subscriptions.Headers{"X-Partner-Token": token, "X-Account": "5678"}, a.store.endpoint(t, id).Headers)
}
