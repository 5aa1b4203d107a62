package store_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestPartners checks storing partners, and paging through partners, API
// keys and endpoints, on each backend.
func TestPartners(t *testing.T) {
	exercise(t, []contractTest{
		{"Partners", testPartners},
		{"DeletePartnerCascades", testDeletePartnerCascades},
		{"Pagination", testPagination},
	})
}

func testPartners(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	p := partner("acme")
	require.NoError(t, s.CreatePartner(ctx, p))
	got, err := s.Partner(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, p, got)

	err = s.CreatePartner(ctx, partner("acme"))
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	require.ErrorContains(t, err, "acme")

	_, err = s.Partner(ctx, "nobody")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	p.Name, p.Access = "Acme Freight", subscriptions.AccessAll
	require.NoError(t, s.UpdatePartner(ctx, p))
	got, err = s.Partner(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, "Acme Freight", got.Name)
	require.Equal(t, subscriptions.AccessAll, got.Access)
	require.Equal(t, p.CreatedAt, got.CreatedAt)
	require.True(t, got.UpdatedAt.After(p.UpdatedAt))
	require.ErrorIs(t, s.UpdatePartner(ctx, partner("nobody")), subscriptions.ErrNotFound)

	require.NoError(t, s.CreatePartner(ctx, partner("beta")))
	missing, err := s.MissingPartners(ctx, []string{"x", "acme", "y", "beta", "x"})
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, missing)
	missing, err = s.MissingPartners(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, missing)

	require.NoError(t, s.DeletePartner(ctx, "acme"))
	_, err = s.Partner(ctx, "acme")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	require.ErrorIs(t, s.DeletePartner(ctx, "acme"), subscriptions.ErrNotFound)
}

func testDeletePartnerCascades(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	require.NoError(t, s.CreatePartner(ctx, partner("beta")))
	e1, e2, other := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta")
	for _, e := range []subscriptions.Endpoint{e1, e2, other} {
		require.NoError(t, s.CreateEndpoint(ctx, e))
	}
	key := apiKey("key1", subscriptions.RolePartner, "acme")
	require.NoError(t, s.CreateAPIKey(ctx, key))
	require.NoError(t, s.CreateAPIKey(ctx, apiKey("key2", subscriptions.RoleAdmin, "")))
	ev := insertEvent(t, s, event("evt1"))
	_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, e1)})
	require.NoError(t, err)

	require.NoError(t, s.DeletePartner(ctx, "acme"))
	for _, id := range []string{"ep1", "ep2"} {
		_, err := s.Endpoint(ctx, id)
		require.ErrorIs(t, err, subscriptions.ErrNotFound)
	}
	_, err = s.Endpoint(ctx, "ep3")
	require.NoError(t, err)
	_, err = s.APIKeyByHash(ctx, key.Hash)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	n, err := s.CountAPIKeys(ctx, subscriptions.RoleAdmin)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	// The delivery log stays.
	m, err := s.Message(ctx, "msg1")
	require.NoError(t, err)
	require.Equal(t, "ep1", m.EndpointID)
}

func testPagination(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	var partnerIDs, keyIDs, endpointIDs []string
	for range 8 {
		p := partner(subscriptions.NewID("par"))
		require.NoError(t, s.CreatePartner(ctx, p))
		partnerIDs = append(partnerIDs, p.ID)
		k := apiKey(subscriptions.NewID("key"), subscriptions.RoleAdmin, "")
		require.NoError(t, s.CreateAPIKey(ctx, k))
		keyIDs = append(keyIDs, k.ID)
	}
	owner := partnerIDs[0]
	for range 8 {
		e := endpoint(subscriptions.NewID("ep"), owner)
		require.NoError(t, s.CreateEndpoint(ctx, e))
		endpointIDs = append(endpointIDs, e.ID)
	}
	require.NoError(t, s.CreateEndpoint(ctx, endpoint(subscriptions.NewID("ep"), partnerIDs[1])))
	slices.Sort(partnerIDs)
	slices.Sort(keyIDs)
	slices.Sort(endpointIDs)

	require.Equal(t, partnerIDs, pages(t, func(page subscriptions.Page) ([]string, error) {
		ps, err := s.ListPartners(ctx, page)
		return ids(ps, func(p subscriptions.Partner) string { return p.ID }), err
	}))
	require.Equal(t, keyIDs, pages(t, func(page subscriptions.Page) ([]string, error) {
		ks, err := s.ListAPIKeys(ctx, page)
		return ids(ks, func(k subscriptions.APIKey) string { return k.ID }), err
	}))
	require.Equal(t, endpointIDs, pages(t, func(page subscriptions.Page) ([]string, error) {
		es, err := s.ListEndpoints(ctx, owner, page)
		return ids(es, func(e subscriptions.Endpoint) string { return e.ID }), err
	}))

	// Limit 0 is 50; a caller asking Limit+1 gets it.
	ps, err := s.ListPartners(ctx, subscriptions.Page{})
	require.NoError(t, err)
	require.Len(t, ps, 8)
	ps, err = s.ListPartners(ctx, subscriptions.Page{Limit: 4})
	require.NoError(t, err)
	require.Len(t, ps, 4)
}
