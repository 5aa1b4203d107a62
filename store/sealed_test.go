package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestSealed checks that endpoint secrets and header values are sealed at
// rest, read back plain, resealed with a new key, and refused, naming the
// endpoint, by keys that do not open them; on each backend.
func TestSealed(t *testing.T) {
	exercise(t, []contractTest{
		{"AtRest", testSealedAtRest},
		{"Reseal", testReseal},
		{"WrongKey", testSealedWrongKey},
	})
}

// secretEndpoint is an endpoint with a secret, a previous secret and
// headers, all of whose values contain its id.
func secretEndpoint(id, partnerID string) subscriptions.Endpoint {
	e := endpoint(id, partnerID)
	expires := micro(time.Now().Add(time.Hour))
	e.Secret = "whsec_current_" + id
	e.PreviousSecret, e.PreviousSecretExpiresAt = "whsec_previous_"+id, &expires
	e.Headers = subscriptions.Headers{"Authorization": "Bearer token-of-" + id, "X-Account": "acct-" + id}
	return e
}

// requireSealedBy checks that endpoint e's columns hold none of its values
// and that every value is sealed by the key with id keyID.
func requireSealedBy(t *testing.T, s *store.Store, e subscriptions.Endpoint, keyID string) {
	t.Helper()
	secret, prev, options, err := store.SealedColumns(t.Context(), s, e.ID)
	require.NoError(t, err)
	for _, col := range []string{secret, prev, options} {
		for _, v := range []string{e.Secret, e.PreviousSecret, e.Headers["Authorization"], e.Headers["X-Account"]} {
			require.NotContains(t, col, v)
		}
	}
	prefix := "enc:v1:" + keyID + ":"
	require.True(t, strings.HasPrefix(secret, prefix), secret)
	require.True(t, strings.HasPrefix(prev, prefix), prev)
	require.Equal(t, 2, strings.Count(options, `"`+prefix), options)
	require.Contains(t, options, `"Authorization":`, "header names stay readable")
}

func testSealedAtRest(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	e := secretEndpoint("ep1", "acme")
	e.TimeoutSeconds = 7
	require.NoError(t, s.CreateEndpoint(ctx, e))
	requireSealedBy(t, s, e, testKeys.IDs()[0])

	got, err := s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, e, got)

	e.Headers = subscriptions.Headers{"X-Account": "acct-ep1-changed"}
	e.Secret = "whsec_rotated_ep1"
	require.NoError(t, s.UpdateEndpoint(ctx, e))
	secret, _, options, err := store.SealedColumns(ctx, s, "ep1")
	require.NoError(t, err)
	require.NotContains(t, secret, "whsec_rotated_ep1")
	require.NotContains(t, options, "acct-ep1-changed")
	require.Contains(t, options, `"timeout_seconds":7`, "the other options stay plain")
	got, err = s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, e, got)

	// An endpoint without a previous secret or headers stores them empty.
	bare := endpoint("ep2", "acme")
	require.NoError(t, s.CreateEndpoint(ctx, bare))
	_, prev, options, err := store.SealedColumns(ctx, s, "ep2")
	require.NoError(t, err)
	require.Empty(t, prev)
	require.Equal(t, "{}", options)

	// A value moved to another endpoint does not open there.
	secret, prev, options, err = store.SealedColumns(ctx, s, "ep1")
	require.NoError(t, err)
	require.NoError(t, store.SetSealedColumns(ctx, s, "ep2", secret, prev, options))
	_, err = s.Endpoint(ctx, "ep2")
	require.ErrorIs(t, err, store.ErrCannotOpen)
	require.ErrorContains(t, err, "endpoint ep2 secret")
}

// testReseal stores endpoints in plain text (as before encryption
// existed) and sealed by an old key, reseals them with a new one, and
// reads them with the new key alone.
func testReseal(t *testing.T, db backend) {
	t.Parallel()
	url := db.databaseURL(t)
	oldKey, newKey := store.NewEncryptionKey(), store.NewEncryptionKey()
	plain := db.openWith(t, url)
	ctx := t.Context()
	require.NoError(t, plain.Migrate(ctx))
	require.NoError(t, plain.CreatePartner(ctx, partner("acme")))
	var eps []subscriptions.Endpoint
	for i := range 5 {
		eps = append(eps, secretEndpoint(fmt.Sprintf("ep%d", i), "acme"))
	}
	for _, e := range eps[:2] {
		require.NoError(t, plain.CreateEndpoint(ctx, e))
	}
	old := db.openWith(t, url, store.WithKeyring(mustKeyring(oldKey)))
	for _, e := range eps[2:] {
		require.NoError(t, old.CreateEndpoint(ctx, e))
	}
	require.NoError(t, old.CreateEndpoint(ctx, endpoint("ep_bare", "acme")))

	rotating := db.openWith(t, url, store.WithKeyring(mustKeyring(newKey+","+oldKey)))
	store.SetSealedBatch(rotating, 2)
	// Sealed by the new key already: left alone.
	require.NoError(t, rotating.CreateEndpoint(ctx, endpoint("ep_new", "acme")))
	for _, e := range eps {
		got, err := rotating.Endpoint(ctx, e.ID)
		require.NoError(t, err, "plain and old-key values read before the reseal")
		require.Equal(t, e, got)
	}
	check, err := rotating.CheckSealed(ctx)
	require.NoError(t, err)
	require.Equal(t, store.SealCheck{Endpoints: 7, Stale: 6}, check)
	newBefore, _, _, err := store.SealedColumns(ctx, rotating, "ep_new")
	require.NoError(t, err)

	res, err := rotating.Reseal(ctx)
	require.NoError(t, err)
	require.Equal(t, store.Resealed{Endpoints: 7, Rewritten: 6}, res)
	res, err = rotating.Reseal(ctx)
	require.NoError(t, err)
	require.Equal(t, store.Resealed{Endpoints: 7}, res, "a second run rewrites nothing")
	newAfter, _, _, err := store.SealedColumns(ctx, rotating, "ep_new")
	require.NoError(t, err)
	require.Equal(t, newBefore, newAfter, "a value the new key sealed is not rewritten")

	fresh := db.openWith(t, url, store.WithKeyring(mustKeyring(newKey)))
	newID := mustKeyring(newKey).IDs()[0]
	for _, e := range eps {
		requireSealedBy(t, fresh, e, newID)
		got, err := fresh.Endpoint(ctx, e.ID)
		require.NoError(t, err, "the old key is no longer needed")
		require.Equal(t, e, got)
	}
	check, err = fresh.CheckSealed(ctx)
	require.NoError(t, err)
	require.Equal(t, store.SealCheck{Endpoints: 7}, check)
	_, err = fresh.Endpoint(ctx, "ep_bare")
	require.NoError(t, err)
}

// testSealedWrongKey reads endpoints with a key that did not seal them.
func testSealedWrongKey(t *testing.T, db backend) {
	t.Parallel()
	url := db.databaseURL(t)
	s := db.open(t, url)
	ctx := t.Context()
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	require.NoError(t, s.CreateEndpoint(ctx, endpoint("ep0", "acme")))
	e := secretEndpoint("ep1", "acme")
	e.Secret = "" // only the previous secret and the headers fail
	require.NoError(t, s.CreateEndpoint(ctx, e))

	other := mustKeyring(store.NewEncryptionKey())
	wrong := db.openWith(t, url, store.WithKeyring(other))
	// Each reader fails, naming the endpoint, the field and the key.
	want := fmt.Sprintf("endpoint ep0 secret: cannot open a sealed value: encryption key %s sealed it, and is not configured (configured: %s)",
		testKeys.IDs()[0], other.IDs()[0])
	_, err := wrong.Endpoint(ctx, "ep0")
	require.ErrorIs(t, err, store.ErrCannotOpen)
	require.ErrorContains(t, err, want)
	_, err = wrong.Endpoint(ctx, "ep1")
	require.ErrorContains(t, err, "endpoint ep1 previous_secret: cannot open")
	_, err = wrong.ListEndpoints(ctx, "acme", subscriptions.Page{})
	require.ErrorContains(t, err, want)
	_, _, err = wrong.PartnerEndpoints(ctx, "acme")
	require.ErrorContains(t, err, want)
	require.ErrorContains(t, wrong.AllEndpoints(ctx, func(subscriptions.Partner, []subscriptions.Endpoint) {}), want)
	_, err = wrong.CheckSealed(ctx)
	require.ErrorContains(t, err, want)
	_, err = wrong.Reseal(ctx)
	require.ErrorContains(t, err, want)

	// A header sealed by the wrong key fails on its own too.
	prefixed := db.openWith(t, url, store.WithKeyring(mustKeyring(store.NewEncryptionKey())))
	e2 := secretEndpoint("ep2", "acme")
	e2.Secret, e2.PreviousSecret, e2.PreviousSecretExpiresAt = "", "", nil
	require.NoError(t, prefixed.CreateEndpoint(ctx, e2))
	_, err = s.Endpoint(ctx, "ep2")
	require.ErrorContains(t, err, "endpoint ep2 header ")

	// Without a keyring, nothing sealed opens.
	bare := db.openWith(t, url)
	_, err = bare.Endpoint(ctx, "ep0")
	require.ErrorContains(t, err, "(configured: none)")
}
