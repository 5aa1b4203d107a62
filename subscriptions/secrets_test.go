package subscriptions_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/subscriptions"
)

// publicURL is an endpoint URL that needs no DNS and no allow-list.
const publicURL = "https://93.184.216.34/hooks"

// newEndpoint creates an endpoint from in, with publicURL.
func newEndpoint(t *testing.T, in subscriptions.EndpointInput) (subscriptions.Endpoint, error) {
	t.Helper()
	u := publicURL
	in.URL = &u
	return subscriptions.NewEndpoint(context.Background(), nil, "acme", in)
}

// requireField checks that err is a *FieldError naming field, whose
// message holds want and does not repeat secret.
func requireField(t *testing.T, err error, field, want, secret string) {
	t.Helper()
	var fe *subscriptions.FieldError
	require.True(t, errors.As(err, &fe), "%v", err)
	require.Equal(t, field, fe.Field)
	require.Contains(t, fe.Message, want)
	if len(secret) > len("whsec_") {
		require.NotContains(t, fe.Message, secret[6:], "errors must not repeat a key")
	}
}

func TestNewEndpointScheme(t *testing.T) {
	priv, pub, err := signing.NewKeyPair()
	require.NoError(t, err)
	whsec := signing.NewSecret()

	for _, tc := range []struct {
		name   string
		in     subscriptions.EndpointInput
		scheme signing.Scheme
		secret string // the secret kept, when the input brings one
	}{
		{"default", subscriptions.EndpointInput{}, signing.V1, ""},
		{"v1", subscriptions.EndpointInput{SignatureScheme: "v1"}, signing.V1, ""},
		{"v1a", subscriptions.EndpointInput{SignatureScheme: "v1a"}, signing.V1a, ""},
		{"own whsec_", subscriptions.EndpointInput{Secret: whsec}, signing.V1, whsec},
		{"own whsk_", subscriptions.EndpointInput{Secret: priv}, signing.V1a, priv},
		{"own whsk_ with its scheme", subscriptions.EndpointInput{SignatureScheme: "v1a", Secret: priv}, signing.V1a, priv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := newEndpoint(t, tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.scheme, e.Scheme())
			if tc.secret != "" {
				require.Equal(t, tc.secret, e.Secret)
			}
			require.NoError(t, signing.ValidSigningKey(e.Secret))
			require.Equal(t, tc.scheme, signing.SchemeOf(e.Secret))
		})
	}

	for _, tc := range []struct {
		name        string
		in          subscriptions.EndpointInput
		field, want string
	}{
		{"unknown scheme", subscriptions.EndpointInput{SignatureScheme: "v2"}, "signature_scheme", "must be v1"},
		{"public key", subscriptions.EndpointInput{Secret: pub}, "secret", "whpk_ public key cannot sign"},
		{"public key for v1a", subscriptions.EndpointInput{SignatureScheme: "v1a", Secret: pub}, "secret", "whpk_ public key cannot sign"},
		{"malformed whsk_", subscriptions.EndpointInput{Secret: "whsk_" + strings.Repeat("A", 40)}, "secret", "32-byte seed"},
		{"whsk_ for v1", subscriptions.EndpointInput{SignatureScheme: "v1", Secret: priv}, "secret", "scheme v1a, but signature_scheme is v1"},
		{"whsec_ for v1a", subscriptions.EndpointInput{SignatureScheme: "v1a", Secret: whsec}, "secret", "scheme v1, but signature_scheme is v1a"},
		{"no prefix", subscriptions.EndpointInput{Secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "secret", "must start with whsec_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newEndpoint(t, tc.in)
			requireField(t, err, tc.field, tc.want, tc.in.Secret)
		})
	}
}

// TestSecretsNeverShowPrivateKey checks that what the API shows of a v1a
// endpoint — the endpoint, its creation answer, its secrets — holds its
// public key and never its private key.
func TestSecretsNeverShowPrivateKey(t *testing.T) {
	e, err := newEndpoint(t, subscriptions.EndpointInput{SignatureScheme: "v1a"})
	require.NoError(t, err)
	pub, err := signing.PublicKeyOf(e.Secret)
	require.NoError(t, err)

	s, err := subscriptions.SecretsOf(e, time.Now())
	require.NoError(t, err)
	require.Equal(t, subscriptions.Secrets{SignatureScheme: signing.V1a, PublicKey: pub}, s)

	created, err := subscriptions.Created(e)
	require.NoError(t, err)
	for _, v := range []any{e, created, s, []subscriptions.Endpoint{e}} {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		require.NotContains(t, string(raw), "whsk_")
		require.NotContains(t, string(raw), e.Secret[len("whsk_"):])
		require.Contains(t, string(raw), `"signature_scheme":"v1a"`)
	}
	var shown map[string]any
	raw, err := json.Marshal(created)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &shown))
	require.Equal(t, pub, shown["public_key"])
	require.NotContains(t, shown, "secret")
	require.Equal(t, e.ID, shown["id"])
	require.Equal(t, publicURL, shown["url"])
}

func TestEndpointJSON(t *testing.T) {
	desc := "Acme <TMS> & co"
	u := publicURL
	e, err := subscriptions.NewEndpoint(context.Background(), nil, "acme", subscriptions.EndpointInput{URL: &u, Description: &desc})
	require.NoError(t, err)
	e.TimeoutSeconds = 10

	raw, err := json.Marshal(e)
	require.NoError(t, err)
	var shown map[string]any
	require.NoError(t, json.Unmarshal(raw, &shown))
	require.Equal(t, "v1", shown["signature_scheme"])
	require.Equal(t, desc, shown["description"])
	require.EqualValues(t, 10, shown["timeout_seconds"], "options are inlined as before")
	require.NotContains(t, string(raw), e.Secret)

	created, err := subscriptions.Created(e)
	require.NoError(t, err)
	raw, err = json.Marshal(created)
	require.NoError(t, err)
	shown = nil
	require.NoError(t, json.Unmarshal(raw, &shown))
	require.Equal(t, e.Secret, shown["secret"], "a v1 endpoint's creation answer carries its shared secret")
	require.NotContains(t, shown, "public_key")
	require.Equal(t, "v1", shown["signature_scheme"])
}

func TestRotateScheme(t *testing.T) {
	now := time.Now().UTC()
	priv, _, err := signing.NewKeyPair()
	require.NoError(t, err)

	t.Run("v1a keeps its scheme", func(t *testing.T) {
		e, err := newEndpoint(t, subscriptions.EndpointInput{SignatureScheme: "v1a"})
		require.NoError(t, err)
		old := e.Secret
		require.NoError(t, subscriptions.RotateInput{}.Rotate(&e, now))
		require.Equal(t, signing.V1a, e.Scheme())
		require.NotEqual(t, old, e.Secret)
		require.Equal(t, []string{e.Secret, old}, e.ActiveSecrets(now), "both keys sign during the grace period")

		s, err := subscriptions.SecretsOf(e, now)
		require.NoError(t, err)
		oldPub, err := signing.PublicKeyOf(old)
		require.NoError(t, err)
		newPub, err := signing.PublicKeyOf(e.Secret)
		require.NoError(t, err)
		expires := now.Add(subscriptions.DefaultSecretGrace)
		require.Equal(t, subscriptions.Secrets{SignatureScheme: signing.V1a, PublicKey: newPub,
			PreviousSignatureScheme: signing.V1a, PreviousPublicKey: oldPub, PreviousSecretExpiresAt: &expires}, s)

		later, err := subscriptions.SecretsOf(e, expires)
		require.NoError(t, err)
		require.Equal(t, subscriptions.Secrets{SignatureScheme: signing.V1a, PublicKey: newPub}, later, "the previous key is gone once its grace ends")
	})

	t.Run("v1 to v1a and back", func(t *testing.T) {
		e, err := newEndpoint(t, subscriptions.EndpointInput{})
		require.NoError(t, err)
		whsec := e.Secret
		require.NoError(t, subscriptions.RotateInput{SignatureScheme: "v1a"}.Rotate(&e, now))
		require.Equal(t, signing.V1a, e.Scheme())
		s, err := subscriptions.SecretsOf(e, now)
		require.NoError(t, err)
		require.Equal(t, signing.V1a, s.SignatureScheme)
		require.Empty(t, s.Secret)
		require.Equal(t, signing.V1, s.PreviousSignatureScheme)
		require.Equal(t, whsec, s.PreviousSecret, "the v1 secret the receiver shares is still shown while it signs")

		sig, err := signing.Sign("msg_1", now, []byte("{}"), e.ActiveSecrets(now)...)
		require.NoError(t, err)
		require.Regexp(t, `^v1a,\S+ v1,\S+$`, sig, "during the grace period both schemes sign")

		require.NoError(t, subscriptions.RotateInput{SignatureScheme: "v1"}.Rotate(&e, now))
		require.Equal(t, signing.V1, e.Scheme())
		s, err = subscriptions.SecretsOf(e, now)
		require.NoError(t, err)
		require.Equal(t, signing.V1a, s.PreviousSignatureScheme)
		require.NotEmpty(t, s.PreviousPublicKey)
		require.Empty(t, s.PreviousSecret, "a rotated-out private key is not shown either")
	})

	t.Run("bad input", func(t *testing.T) {
		e, err := newEndpoint(t, subscriptions.EndpointInput{})
		require.NoError(t, err)
		before := e
		requireField(t, subscriptions.RotateInput{SignatureScheme: "v3"}.Rotate(&e, now), "signature_scheme", "must be v1", "")
		requireField(t, subscriptions.RotateInput{SignatureScheme: "v1", Secret: priv}.Rotate(&e, now), "secret", "but signature_scheme is v1", priv)
		_, pub, err := signing.NewKeyPair()
		require.NoError(t, err)
		requireField(t, subscriptions.RotateInput{Secret: pub}.Rotate(&e, now), "secret", "cannot sign", pub)
		require.Equal(t, before, e, "a refused rotation changes nothing")

		require.NoError(t, subscriptions.RotateInput{Secret: priv}.Rotate(&e, now), "a whsk_ key brought without a scheme switches to v1a")
		require.Equal(t, priv, e.Secret)
	})
}

func TestUpdateKeepsScheme(t *testing.T) {
	ctx, now := context.Background(), time.Now()
	e, err := newEndpoint(t, subscriptions.EndpointInput{SignatureScheme: "v1a"})
	require.NoError(t, err)
	_, err = subscriptions.EndpointInput{SignatureScheme: "v1a"}.Update(ctx, nil, &e, now)
	require.NoError(t, err, "the scheme it has may be sent back unchanged")
	_, err = subscriptions.EndpointInput{SignatureScheme: "v1"}.Update(ctx, nil, &e, now)
	requireField(t, err, "signature_scheme", "secret/rotate", "")
	require.Equal(t, signing.V1a, e.Scheme())
}
