package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
)

// FuzzVerify hands Verify arbitrary webhook-id, webhook-timestamp and
// webhook-signature headers and bodies, checked with a v1 secret and a v1a
// public key. A delivery verifies only if one of its signatures is the one
// the matching key makes for exactly that id, timestamp and body; the
// original signatures verify a body only if it is the original body.
func FuzzVerify(f *testing.F) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	private := "whsk_" + b64.EncodeToString(seed)
	public := "whpk_" + b64.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	now := time.Unix(specUnix, 0)
	tsText := strconv.FormatInt(specUnix, 10)
	sigs, err := signing.Sign(specMsgID, now, []byte(specBody), specSecret, private)
	require.NoError(f, err)
	v1, v1a, _ := strings.Cut(sigs, " ")

	f.Add(specMsgID, tsText, []byte(specBody), sigs)
	f.Add(specMsgID, tsText, []byte(specBody), v1)
	f.Add(specMsgID, tsText, []byte(specBody), v1a)
	f.Add(specMsgID, tsText, []byte(specBody+" "), v1a+" "+v1)
	f.Add(specMsgID, tsText, []byte(specBody), otherSpelling(f, v1a))
	f.Add(specMsgID, "+"+tsText, []byte(specBody), sigs)
	f.Add(specMsgID, strconv.FormatInt(specUnix+301, 10), []byte(specBody), sigs)
	f.Add("msg_other", tsText, []byte(specBody), "v1,"+strings.Repeat("A", 43)+"= v1a,"+strings.Repeat("A", 86)+"==")
	f.Add("", "", []byte{}, "")
	f.Add(specMsgID, "-9223372036854775808", []byte{0, 0xff}, "v1a,,, v1")

	f.Fuzz(func(t *testing.T, msgID, ts string, body []byte, sig string) {
		h := http.Header{}
		h.Set("webhook-id", msgID)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := signing.Verify(body, h, now, 0, specSecret, public)
		if err == nil {
			requireSignedWith(t, h, body, specSecret, private)
		}

		// The original signatures, on a fuzzed body.
		h.Set("webhook-id", specMsgID)
		h.Set("webhook-timestamp", tsText)
		h.Set("webhook-signature", sigs)
		err = signing.Verify(body, h, now, 0, specSecret, public)
		require.Equal(t, string(body) == specBody, err == nil, "%v", err)
	})
}

// requireSignedWith checks that a delivery that verified carries, in
// webhook-signature, a signature that Sign makes with one of secrets for
// its id, timestamp and body. A v1a signature is compared decoded, since
// base64 may spell the same bytes more than one way.
func requireSignedWith(t *testing.T, h http.Header, body []byte, secrets ...string) {
	t.Helper()
	unix, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err, "a delivery that verified has a timestamp")
	for _, s := range secrets {
		want, err := signing.Sign(h.Get("webhook-id"), time.Unix(unix, 0), body, s)
		require.NoError(t, err)
		wantScheme, wantText, _ := strings.Cut(want, ",")
		for entry := range strings.FieldsSeq(h.Get("webhook-signature")) {
			scheme, text, _ := strings.Cut(entry, ",")
			if scheme != wantScheme {
				continue
			}
			got, err := b64.DecodeString(text)
			if text == wantText || (err == nil && bytes.Equal(got, mustDecode(t, wantText))) {
				return
			}
		}
	}
	require.Failf(t, "a delivery verified without a signature made with the key", "%v", h)
}

// otherSpelling returns a v1a entry whose base64 differs from sig's only in
// bits that decoding ignores: the same signature, spelled another way.
func otherSpelling(tb testing.TB, sig string) string {
	tb.Helper()
	text, ok := strings.CutSuffix(sig, "==")
	require.True(tb, ok, sig)
	last := strings.IndexByte(b64Alphabet, text[len(text)-1])
	return text[:len(text)-1] + string(b64Alphabet[last^1]) + "=="
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func mustDecode(t *testing.T, text string) []byte {
	t.Helper()
	b, err := b64.DecodeString(text)
	require.NoError(t, err)
	return b
}
