package signing_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
)

// The example of the Standard Webhooks specification.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specMsgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specUnix   = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var b64 = base64.StdEncoding

// headers returns the three Standard Webhooks headers of a delivery.
func headers(t *testing.T, msgID string, ts time.Time, sig string) http.Header {
	t.Helper()
	h := http.Header{}
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

// secretOf returns a whsec_ secret holding key.
func secretOf(t *testing.T, key []byte) string {
	t.Helper()
	return "whsec_" + b64.EncodeToString(key)
}

// keyPair returns a fresh v1a key pair.
func keyPair(t *testing.T) (secret, public string) {
	t.Helper()
	secret, public, err := signing.NewKeyPair()
	require.NoError(t, err)
	return secret, public
}

func TestSignSpecVector(t *testing.T) {
	tests := []struct {
		name   string
		secret string
	}{
		{"whsec_ prefix", specSecret},
		{"raw base64 without prefix", strings.TrimPrefix(specSecret, "whsec_")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signing.Sign(specMsgID, time.Unix(specUnix, 0), []byte(specBody), tt.secret)
			require.NoError(t, err)
			require.Equal(t, specSig, got)

			h := headers(t, specMsgID, time.Unix(specUnix, 0), got)
			require.NoError(t, signing.Verify([]byte(specBody), h, time.Unix(specUnix, 0), 0, tt.secret))
		})
	}
}

func TestSignIgnoresSubseconds(t *testing.T) {
	ts := time.Unix(specUnix, 999_999_999)
	got, err := signing.Sign(specMsgID, ts, []byte(specBody), specSecret)
	require.NoError(t, err)
	require.Equal(t, specSig, got)
}

func TestSignMatchesLibrary(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	for i := range 500 {
		// Key lengths on both sides of the 64-byte SHA-256 block, which
		// HMAC hashes down when a key is longer.
		key := randBytes(1 + rng.IntN(160))
		msgID := "msg_" + b64.EncodeToString(randBytes(rng.IntN(40)))
		ts := time.Unix(rng.Int64N(1<<40)-1<<39, 0)
		body := randBytes(rng.IntN(4096))
		secret := secretOf(t, key)
		if i%2 == 1 {
			secret = b64.EncodeToString(key)
		}

		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		want, err := wh.Sign(msgID, ts, body)
		require.NoError(t, err)
		got, err := signing.Sign(msgID, ts, body, secret)
		require.NoError(t, err)
		require.Equal(t, want, got, "key %d bytes, body %d bytes", len(key), len(body))
	}
}

func TestLibraryVerifiesOurHeader(t *testing.T) {
	body := []byte(`{"type":"shipment.created","timestamp":"2026-01-02T03:04:05Z","data":{}}`)
	old, current := signing.NewSecret(), signing.NewSecret()
	v1a, _ := keyPair(t)
	ts := time.Now()
	tests := []struct {
		name    string
		secrets []string
	}{
		{"one secret", []string{current}},
		{"rotation", []string{current, old}},
		{"v1 beside v1a", []string{v1a, current}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := signing.Sign("msg_1", ts, body, tt.secrets...)
			require.NoError(t, err)
			h := headers(t, "msg_1", ts, sig)
			for _, s := range tt.secrets {
				if strings.HasPrefix(s, "whsk_") {
					continue // the library knows v1 only
				}
				wh, err := standardwebhooks.NewWebhook(s)
				require.NoError(t, err)
				require.NoError(t, wh.Verify(body, h))
			}
		})
	}
}

func TestRotation(t *testing.T) {
	body := []byte(`{"data":{"eta":"2026-03-01T10:00:00Z"}}`)
	current, previous := signing.NewSecret(), signing.NewSecret()
	ts := time.Unix(1_760_000_000, 0)

	sig, err := signing.Sign("msg_rot", ts, body, current, previous)
	require.NoError(t, err)
	entries := strings.Split(sig, " ")
	require.Len(t, entries, 2)

	for i, s := range []string{current, previous} {
		alone, err := signing.Sign("msg_rot", ts, body, s)
		require.NoError(t, err)
		require.Equal(t, alone, entries[i], "signatures keep the order of the secrets")
		require.NoError(t, signing.Verify(body, headers(t, "msg_rot", ts, sig), ts, 0, s))
		require.NoError(t, signing.Verify(body, headers(t, "msg_rot", ts, entries[i]), ts, 0, s))
	}
	require.ErrorIs(t, signing.Verify(body, headers(t, "msg_rot", ts, entries[0]), ts, 0, previous), signing.ErrSignature)
	require.ErrorIs(t, signing.Verify(body, headers(t, "msg_rot", ts, sig), ts, 0, signing.NewSecret()), signing.ErrSignature)
	require.NoError(t, signing.Verify(body, headers(t, "msg_rot", ts, entries[1]), ts, 0, signing.NewSecret(), previous),
		"any of several secrets may match")
}

func TestVerifyRejects(t *testing.T) {
	secret := signing.NewSecret()
	priv, pub := keyPair(t)
	body := []byte(`{"type":"shipment.milestone.delivered","data":{"signed_by":"J. Doe"}}`)
	now := time.Unix(1_760_000_000, 0)

	tests := []struct {
		name    string
		signKey string
		sentAt  time.Time
		header  func(h http.Header) // changes the headers after signing
		body    []byte              // body the receiver sees; nil means the signed one
		key     string              // receiver's key; "" means secret
		want    error
	}{
		{name: "valid", want: nil},
		{name: "tampered body", body: []byte(`{"type":"shipment.milestone.delivered","data":{"signed_by":"M. Roe"}}`), want: signing.ErrSignature},
		{name: "tampered id", header: func(h http.Header) { h.Set("webhook-id", "msg_other") }, want: signing.ErrSignature},
		{name: "tampered timestamp", header: func(h http.Header) { h.Set("webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10)) }, want: signing.ErrSignature},
		{name: "wrong secret", key: signing.NewSecret(), want: signing.ErrSignature},
		{name: "garbled signature", header: func(h http.Header) { h.Set("webhook-signature", "v1,not-a-signature") }, want: signing.ErrSignature},
		{name: "v1 signature under the v1a scheme", header: func(h http.Header) {
			h.Set("webhook-signature", "v1a,"+strings.TrimPrefix(h.Get("webhook-signature"), "v1,"))
		}, want: signing.ErrSignature},
		{name: "stale timestamp", sentAt: now.Add(-signing.DefaultTolerance - time.Second), want: signing.ErrTimestamp},
		{name: "timestamp at the tolerance", sentAt: now.Add(-signing.DefaultTolerance), want: nil},
		{name: "future timestamp", sentAt: now.Add(signing.DefaultTolerance + time.Second), want: signing.ErrTimestamp},
		{name: "timestamp not a number", header: func(h http.Header) { h.Set("webhook-timestamp", "2026-01-01T00:00:00Z") }, want: signing.ErrTimestamp},
		{name: "missing id", header: func(h http.Header) { h.Del("webhook-id") }, want: signing.ErrMissingHeaders},
		{name: "missing timestamp", header: func(h http.Header) { h.Del("webhook-timestamp") }, want: signing.ErrMissingHeaders},
		{name: "missing signature", header: func(h http.Header) { h.Del("webhook-signature") }, want: signing.ErrMissingHeaders},
		{name: "empty signature", header: func(h http.Header) { h.Set("webhook-signature", "") }, want: signing.ErrMissingHeaders},
		{name: "v1a valid", signKey: priv, key: pub, want: nil},
		{name: "v1a tampered body", signKey: priv, key: pub, body: []byte(`{}`), want: signing.ErrSignature},
		{name: "v1a tampered id", signKey: priv, key: pub, header: func(h http.Header) { h.Set("webhook-id", "msg_other") }, want: signing.ErrSignature},
		{name: "v1a other public key", signKey: priv, key: func() string { _, p := keyPair(t); return p }(), want: signing.ErrSignature},
		{name: "v1a stale timestamp", signKey: priv, key: pub, sentAt: now.Add(-time.Hour), want: signing.ErrTimestamp},
		{name: "v1a signature checked with a v1 secret", signKey: priv, want: signing.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signKey, sentAt, got, key := secret, now, body, secret
			if tt.signKey != "" {
				signKey = tt.signKey
			}
			if !tt.sentAt.IsZero() {
				sentAt = tt.sentAt
			}
			if tt.body != nil {
				got = tt.body
			}
			if tt.key != "" {
				key = tt.key
			}
			sig, err := signing.Sign("msg_2Zt", sentAt, body, signKey)
			require.NoError(t, err)
			h := headers(t, "msg_2Zt", sentAt, sig)
			if tt.header != nil {
				tt.header(h)
			}
			err = signing.Verify(got, h, now, signing.DefaultTolerance, key)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestVerifyTolerance(t *testing.T) {
	secret := signing.NewSecret()
	sentAt := time.Unix(1_760_000_000, 0)
	sig, err := signing.Sign("msg_tol", sentAt, nil, secret)
	require.NoError(t, err)
	h := headers(t, "msg_tol", sentAt, sig)

	tests := []struct {
		name      string
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"zero means the default", sentAt.Add(signing.DefaultTolerance), 0, nil},
		{"zero means the default, beyond", sentAt.Add(signing.DefaultTolerance + time.Second), 0, signing.ErrTimestamp},
		{"short tolerance", sentAt.Add(11 * time.Second), 10 * time.Second, signing.ErrTimestamp},
		{"short tolerance, future", sentAt.Add(-11 * time.Second), 10 * time.Second, signing.ErrTimestamp},
		{"long tolerance", sentAt.Add(time.Hour), 2 * time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signing.Verify(nil, h, tt.now, tt.tolerance, secret)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestV1aRoundTrip(t *testing.T) {
	priv, pub := keyPair(t)
	body := []byte(`{"type":"shipment.created","data":{}}`)
	ts := time.Unix(1_760_000_000, 0)

	sig, err := signing.Sign("msg_v1a", ts, body, priv)
	require.NoError(t, err)
	scheme, text, ok := strings.Cut(sig, ",")
	require.True(t, ok)
	require.Equal(t, "v1a", scheme)
	require.NoError(t, signing.Verify(body, headers(t, "msg_v1a", ts, sig), ts, 0, pub))

	// Checked independently of Verify with crypto/ed25519.
	rawSig, err := b64.DecodeString(text)
	require.NoError(t, err)
	rawPub, err := b64.DecodeString(strings.TrimPrefix(pub, "whpk_"))
	require.NoError(t, err)
	signed := []byte("msg_v1a." + strconv.FormatInt(ts.Unix(), 10) + "." + string(body))
	require.True(t, ed25519.Verify(rawPub, signed, rawSig))

	// A whsk_ key holding only the seed signs the same (ed25519 is
	// deterministic).
	rawPriv, err := b64.DecodeString(strings.TrimPrefix(priv, "whsk_"))
	require.NoError(t, err)
	fromSeed, err := signing.Sign("msg_v1a", ts, body, "whsk_"+b64.EncodeToString(rawPriv[:ed25519.SeedSize]))
	require.NoError(t, err)
	require.Equal(t, sig, fromSeed)

	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-2] = ' '
	require.ErrorIs(t, signing.Verify(tampered, headers(t, "msg_v1a", ts, sig), ts, 0, pub), signing.ErrSignature)

	flipped := append([]byte(nil), rawSig...)
	flipped[0] ^= 1
	require.ErrorIs(t, signing.Verify(body, headers(t, "msg_v1a", ts, "v1a,"+b64.EncodeToString(flipped)), ts, 0, pub), signing.ErrSignature)
}

func TestMixedHeader(t *testing.T) {
	secret := signing.NewSecret()
	priv, pub := keyPair(t)
	body := []byte(`{"type":"shipment.invoice.issued","data":{"invoice_number":"INV-1"}}`)
	ts := time.Unix(1_760_000_000, 0)

	for _, order := range [][]string{{secret, priv}, {priv, secret}} {
		sig, err := signing.Sign("msg_mix", ts, body, order...)
		require.NoError(t, err)
		h := headers(t, "msg_mix", ts, sig)
		require.NoError(t, signing.Verify(body, h, ts, 0, secret), sig)
		require.NoError(t, signing.Verify(body, h, ts, 0, pub), sig)
		require.NoError(t, signing.Verify(body, h, ts, 0, pub, secret), sig)
		require.ErrorIs(t, signing.Verify([]byte("{}"), h, ts, 0, pub, secret), signing.ErrSignature)
	}

	// Unknown schemes and extra spaces are ignored.
	sig, err := signing.Sign("msg_mix", ts, body, secret)
	require.NoError(t, err)
	h := headers(t, "msg_mix", ts, "v2,abc  "+sig+" junk")
	require.NoError(t, signing.Verify(body, h, ts, 0, secret))
}

func TestInvalidSecrets(t *testing.T) {
	priv, pub := keyPair(t)
	rawPriv, err := b64.DecodeString(strings.TrimPrefix(priv, "whsk_"))
	require.NoError(t, err)
	_, otherPub := keyPair(t)
	rawOtherPub, err := b64.DecodeString(strings.TrimPrefix(otherPub, "whpk_"))
	require.NoError(t, err)
	mismatched := "whsk_" + b64.EncodeToString(append(rawPriv[:ed25519.SeedSize:ed25519.SeedSize], rawOtherPub...))

	tests := []struct {
		name    string
		secrets []string
	}{
		{"no secret", nil},
		{"empty", []string{""}},
		{"prefix only", []string{"whsec_"}},
		{"not base64", []string{"whsec_not base64!"}},
		{"second of two is bad", []string{signing.NewSecret(), "whsec_%%%%"}},
		{"public key", []string{pub}},
		{"whsk_ prefix only", []string{"whsk_"}},
		{"whsk_ of the wrong length", []string{"whsk_" + b64.EncodeToString(make([]byte, 40))}},
		{"whsk_ with a foreign public half", []string{mismatched}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := signing.Sign("msg_bad", time.Unix(1, 0), []byte("{}"), tt.secrets...)
			require.Error(t, err)
			require.Empty(t, sig)
			for _, s := range tt.secrets {
				if len(s) > len("whsec_") {
					require.NotContains(t, err.Error(), s, "errors must not repeat a secret")
				}
			}
		})
	}

	ts := time.Unix(1_760_000_000, 0)
	sig, err := signing.Sign("msg_bad", ts, nil, signing.NewSecret())
	require.NoError(t, err)
	h := headers(t, "msg_bad", ts, sig)
	for _, key := range []string{"", "whsec_", "whsec_!!", priv, "whpk_", "whpk_!!", "whpk_" + b64.EncodeToString(make([]byte, 31))} {
		err := signing.Verify(nil, h, ts, 0, key)
		require.Error(t, err, "key %q", key)
		require.NotErrorIs(t, err, signing.ErrSignature, "a bad key is not a bad signature")
	}
	require.Error(t, signing.Verify(nil, h, ts, 0))
}

func TestValidSecret(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		wantErr string
	}{
		{"generated", signing.NewSecret(), ""},
		{"spec example", specSecret, ""},
		{"24 bytes", "whsec_" + b64.EncodeToString(make([]byte, 24)), ""},
		{"64 bytes", "whsec_" + b64.EncodeToString(make([]byte, 64)), ""},
		{"23 bytes", "whsec_" + b64.EncodeToString(make([]byte, 23)), "24 to 64 bytes, got 23"},
		{"65 bytes", "whsec_" + b64.EncodeToString(make([]byte, 65)), "24 to 64 bytes, got 65"},
		{"empty", "", "must start with whsec_"},
		{"no prefix", b64.EncodeToString(make([]byte, 32)), "must start with whsec_"},
		{"url-safe base64", "whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 30))), "base64"},
		{"missing padding", "whsec_" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)), "base64"},
		{"whsk_ key", func() string { s, _ := keyPair(t); return s }(), "must start with whsec_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signing.ValidSecret(tt.secret)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, b := signing.NewSecret(), signing.NewSecret()
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	key, err := b64.DecodeString(strings.TrimPrefix(a, "whsec_"))
	require.NoError(t, err)
	require.Len(t, key, 32)
}

func TestNewKeyPair(t *testing.T) {
	priv, pub := keyPair(t)
	require.True(t, strings.HasPrefix(priv, "whsk_"))
	require.True(t, strings.HasPrefix(pub, "whpk_"))
	rawPriv, err := b64.DecodeString(strings.TrimPrefix(priv, "whsk_"))
	require.NoError(t, err)
	require.Len(t, rawPriv, ed25519.PrivateKeySize)
	rawPub, err := b64.DecodeString(strings.TrimPrefix(pub, "whpk_"))
	require.NoError(t, err)
	require.Len(t, rawPub, ed25519.PublicKeySize)
	require.Equal(t, ed25519.PublicKey(rawPub), ed25519.PrivateKey(rawPriv).Public())

	other, _ := keyPair(t)
	require.NotEqual(t, priv, other)
}

func BenchmarkSign(b *testing.B) {
	body := make([]byte, 1024)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	secret := signing.NewSecret()
	ts := time.Unix(1_760_000_000, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := signing.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body, secret); err != nil {
			b.Fatal(err)
		}
	}
}
