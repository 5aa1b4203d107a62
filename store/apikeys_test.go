package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// TestAPIKeys checks storing API keys and finding them by hash, on each
// backend.
func TestAPIKeys(t *testing.T) {
	exercise(t, []contractTest{
		{"APIKeys", testAPIKeys},
	})
}

func testAPIKeys(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	admin := apiKey("key_a", subscriptions.RoleAdmin, "")
	ingest := apiKey("key_b", subscriptions.RoleIngest, "")
	part := apiKey("key_c", subscriptions.RolePartner, "acme")
	for _, k := range []subscriptions.APIKey{admin, ingest, part} {
		require.NoError(t, s.CreateAPIKey(ctx, k))
	}
	got, err := s.APIKeyByHash(ctx, part.Hash)
	require.NoError(t, err)
	require.Equal(t, part, got)
	_, err = s.APIKeyByHash(ctx, "nohash")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	require.ErrorIs(t, s.CreateAPIKey(ctx, admin), subscriptions.ErrConflict)
	sameHash := apiKey("key_d", subscriptions.RoleAdmin, "")
	sameHash.Hash = admin.Hash
	require.ErrorIs(t, s.CreateAPIKey(ctx, sameHash), subscriptions.ErrConflict)
	require.ErrorIs(t, s.CreateAPIKey(ctx, apiKey("key_e", subscriptions.RolePartner, "nobody")), subscriptions.ErrNotFound)

	for role, want := range map[subscriptions.Role]int{subscriptions.RoleAdmin: 1, subscriptions.RoleIngest: 1, subscriptions.RolePartner: 1, "other": 0} {
		n, err := s.CountAPIKeys(ctx, role)
		require.NoError(t, err)
		require.Equal(t, want, n, role)
	}
	list, err := s.ListAPIKeys(ctx, subscriptions.Page{})
	require.NoError(t, err)
	require.Equal(t, []subscriptions.APIKey{admin, ingest, part}, list)

	require.NoError(t, s.DeleteAPIKey(ctx, "key_a"))
	require.ErrorIs(t, s.DeleteAPIKey(ctx, "key_a"), subscriptions.ErrNotFound)
	n, err := s.CountAPIKeys(ctx, subscriptions.RoleAdmin)
	require.NoError(t, err)
	require.Zero(t, n)
}
