package store_test

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
)

func TestParseKeyring(t *testing.T) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	std := base64.StdEncoding.EncodeToString(raw)
	for _, good := range []string{
		std,
		strings.TrimRight(std, "="),
		base64.URLEncoding.EncodeToString(raw),
		" " + std + " , " + store.NewEncryptionKey(),
	} {
		k, err := store.ParseKeyring(good)
		require.NoError(t, err, good)
		require.NotEmpty(t, k.IDs())
		for _, id := range k.IDs() {
			require.Regexp(t, `^[0-9a-f]{8}$`, id)
			require.NotContains(t, good, id, "a key id is not part of its key")
		}
	}

	short := base64.StdEncoding.EncodeToString(raw[:16])
	for _, tc := range []struct{ list, want string }{
		{"", "key 1 of 1: not the base64 of 32 random bytes"},
		{short, "key 1 of 1: not the base64 of 32 random bytes"},
		{"not base64!", "key 1 of 1: not the base64 of 32 random bytes"},
		{std + ",", "key 2 of 2: not"},
		{std + "," + short, "key 2 of 2: not"},
		{std + "," + strings.TrimRight(std, "="), "key 2 of 2 repeats key 1"},
	} {
		_, err := store.ParseKeyring(tc.list)
		require.ErrorContains(t, err, tc.want, tc.list)
		require.NotContains(t, err.Error(), short, "an error never shows a key")
		if !strings.Contains(tc.want, "repeats") {
			require.ErrorContains(t, err, "shiphook gen-encryption-key")
			require.ErrorContains(t, err, "openssl rand -base64 32")
		}
	}
}

func TestKeyringSealOpen(t *testing.T) {
	oldKey, newKey := store.NewEncryptionKey(), store.NewEncryptionKey()
	old := mustKeyring(oldKey)
	rotating := mustKeyring(newKey + "," + oldKey)
	other := mustKeyring(store.NewEncryptionKey())
	const where = "endpoint ep1 secret"

	sealed := store.SealValue(old, "whsec_abc", where)
	require.True(t, strings.HasPrefix(sealed, "enc:v1:"+old.IDs()[0]+":"), sealed)
	require.NotContains(t, sealed, "whsec_abc")
	require.NotEqual(t, sealed, store.SealValue(old, "whsec_abc", where), "each seal takes a fresh nonce")

	for _, k := range []*store.Keyring{old, rotating} {
		got, err := store.OpenValue(k, sealed, where)
		require.NoError(t, err)
		require.Equal(t, "whsec_abc", got)
	}
	resealed := store.SealValue(rotating, "whsec_abc", where)
	require.True(t, strings.HasPrefix(resealed, "enc:v1:"+rotating.IDs()[0]+":"), "the first key seals")

	// A value stored before encryption reads as it is; so does an empty one,
	// which is never sealed.
	for _, plain := range []string{"whsec_plain", "Bearer tok", ""} {
		got, err := store.OpenValue(other, plain, where)
		require.NoError(t, err)
		require.Equal(t, plain, got)
	}
	require.Empty(t, store.SealValue(old, "", where))

	_, err := store.OpenValue(other, sealed, where)
	require.ErrorIs(t, err, store.ErrCannotOpen)
	require.ErrorContains(t, err, "encryption key "+old.IDs()[0]+" sealed it, and is not configured (configured: "+other.IDs()[0]+")")
	_, err = store.OpenValue(nil, sealed, where)
	require.ErrorContains(t, err, "not configured (configured: none)")

	_, err = store.OpenValue(old, sealed, "endpoint ep2 secret")
	require.ErrorIs(t, err, store.ErrCannotOpen)
	require.ErrorContains(t, err, "moved from another endpoint or field")
	altered := []byte(sealed)
	i := len(altered) - 10 // within the ciphertext
	altered[i] = map[bool]byte{true: 'B', false: 'A'}[altered[i] == 'A']
	_, err = store.OpenValue(old, string(altered), where)
	require.ErrorContains(t, err, "altered")
	_, err = store.OpenValue(old, "enc:v1:"+old.IDs()[0]+":%%%", where)
	require.ErrorContains(t, err, "damaged")

	require.Equal(t, "whsec_abc", store.SealValue(nil, "whsec_abc", where), "without a keyring nothing is sealed")
}

// BenchmarkKeyringOpen opens one sealed signing secret: what reading an
// endpoint costs more than before encryption, once per sealed value.
func BenchmarkKeyringOpen(b *testing.B) {
	k := mustKeyring(store.NewEncryptionKey() + "," + store.NewEncryptionKey())
	sealed := store.SealValue(k, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "endpoint ep_01jx secret")
	for b.Loop() {
		if _, err := store.OpenValue(k, sealed, "endpoint ep_01jx secret"); err != nil {
			b.Fatal(err)
		}
	}
}
