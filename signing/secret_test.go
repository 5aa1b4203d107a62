package signing_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
)

func TestSchemeOf(t *testing.T) {
	priv, pub := keyPair(t)
	require.Equal(t, signing.V1a, signing.SchemeOf(priv))
	require.Equal(t, signing.V1, signing.SchemeOf(signing.NewSecret()))
	require.Equal(t, signing.V1, signing.SchemeOf(pub), "a public key does not sign; Sign refuses it")
	require.Equal(t, signing.V1, signing.SchemeOf(""))
}

func TestNewKey(t *testing.T) {
	v1, err := signing.NewKey(signing.V1)
	require.NoError(t, err)
	require.NoError(t, signing.ValidSecret(v1))

	v1a, err := signing.NewKey(signing.V1a)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(v1a, "whsk_"), v1a)
	require.NoError(t, signing.ValidSigningKey(v1a))
	other, err := signing.NewKey(signing.V1a)
	require.NoError(t, err)
	require.NotEqual(t, v1a, other)

	_, err = signing.NewKey("v2")
	require.ErrorContains(t, err, `unknown scheme "v2"`)
}

// TestPublicKeyOf checks that the public key derived from a whsk_ key, in
// either of its forms, verifies what that key signs.
func TestPublicKeyOf(t *testing.T) {
	priv, pub := keyPair(t)
	got, err := signing.PublicKeyOf(priv)
	require.NoError(t, err)
	require.Equal(t, pub, got)

	raw, err := b64.DecodeString(strings.TrimPrefix(priv, "whsk_"))
	require.NoError(t, err)
	seed := "whsk_" + b64.EncodeToString(raw[:ed25519.SeedSize])
	got, err = signing.PublicKeyOf(seed)
	require.NoError(t, err)
	require.Equal(t, pub, got, "a seed-only key has the same public key")

	ts := time.Unix(1_760_000_000, 0)
	sig, err := signing.Sign("msg_pk", ts, []byte("{}"), seed)
	require.NoError(t, err)
	require.NoError(t, signing.Verify([]byte("{}"), headers(t, "msg_pk", ts, sig), ts, 0, got))

	for _, bad := range []string{signing.NewSecret(), pub, "whsk_", "whsk_!!", "whsk_" + b64.EncodeToString(make([]byte, 40))} {
		_, err := signing.PublicKeyOf(bad)
		require.Error(t, err, bad)
		if len(bad) > len("whsk_") {
			require.NotContains(t, err.Error(), bad[5:], "errors must not repeat a key")
		}
	}
}

func TestValidSigningKey(t *testing.T) {
	priv, pub := keyPair(t)
	raw, err := b64.DecodeString(strings.TrimPrefix(priv, "whsk_"))
	require.NoError(t, err)
	_, otherPub := keyPair(t)
	rawOther, err := b64.DecodeString(strings.TrimPrefix(otherPub, "whpk_"))
	require.NoError(t, err)

	tests := []struct {
		name, key, wantErr string
	}{
		{"whsec_", signing.NewSecret(), ""},
		{"whsk_, 64 bytes", priv, ""},
		{"whsk_, 32-byte seed", "whsk_" + b64.EncodeToString(raw[:ed25519.SeedSize]), ""},
		{"whpk_", pub, "whpk_ public key cannot sign"},
		{"short whsec_", "whsec_" + b64.EncodeToString(make([]byte, 23)), "24 to 64 bytes"},
		{"whsk_ of 40 bytes", "whsk_" + b64.EncodeToString(make([]byte, 40)), "32-byte seed or a 64-byte private key"},
		{"whsk_ with a foreign public half", "whsk_" + b64.EncodeToString(append(raw[:ed25519.SeedSize:ed25519.SeedSize], rawOther...)), "does not belong to its seed"},
		{"whsk_ not base64", "whsk_!!!!", "base64"},
		{"whsk_ empty", "whsk_", "empty"},
		{"no prefix", b64.EncodeToString(make([]byte, 32)), "must start with whsec_ (scheme v1) or whsk_ (scheme v1a)"},
		{"empty", "", "must start with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signing.ValidSigningKey(tt.key)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			if len(tt.key) > len("whsk_") {
				require.NotContains(t, err.Error(), tt.key[5:], "errors must not repeat a key")
			}
		})
	}
}

func TestValidVerifyingKey(t *testing.T) {
	priv, pub := keyPair(t)
	require.NoError(t, signing.ValidVerifyingKey(pub))
	require.NoError(t, signing.ValidVerifyingKey(signing.NewSecret()))
	require.ErrorContains(t, signing.ValidVerifyingKey(priv), "whpk_ public key, not the whsk_")
	require.ErrorContains(t, signing.ValidVerifyingKey("whpk_"+b64.EncodeToString(make([]byte, 31))), "32-byte ed25519 public key")
	require.ErrorContains(t, signing.ValidVerifyingKey("whpk_%%"), "base64")
	require.ErrorContains(t, signing.ValidVerifyingKey("nope"), "must start with whsec_")
}

func TestSecretKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	got, err := signing.SecretKey("whsec_" + base64.StdEncoding.EncodeToString(key))
	require.NoError(t, err)
	require.Equal(t, key, got)
	for _, bad := range []string{"", "whsec_", "whsec_%%%", "whsk_" + base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(key)} {
		_, err := signing.SecretKey(bad)
		require.Error(t, err, bad)
	}
}
