package subscriptions_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

func openStore(t *testing.T) *store.Store {
	st, err := store.Open(t.Context(), storetest.SQLite(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Migrate(t.Context()))
	return st
}

func createEndpoint(t *testing.T, st *store.Store, partnerID, url string) subscriptions.Endpoint {
	ctx := t.Context()
	now := time.Now().UTC()
	if _, err := st.Partner(ctx, partnerID); err != nil {
		require.NoError(t, st.CreatePartner(ctx, subscriptions.Partner{ID: partnerID, Name: partnerID, Access: subscriptions.AccessParty, CreatedAt: now, UpdatedAt: now}))
	}
	ep := subscriptions.Endpoint{ID: subscriptions.NewID("ep"), PartnerID: partnerID, URL: url, EventTypes: []string{},
		Filter: subscriptions.Filter{}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, st.CreateEndpoint(ctx, ep))
	return ep
}

// TestEndpointCache checks that the cache serves what the store held when
// it read it, until a change made through Sync or by delivery itself
// makes it read again, or its TTL passes.
func TestEndpointCache(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	ep := createEndpoint(t, st, "acme", "https://a.example/hook")
	other := createEndpoint(t, st, "globex", "https://g.example/hook")
	cache := subscriptions.NewEndpointCache(st, time.Hour)
	rdb := redis.NewClient(mustParseRedis(t))
	t.Cleanup(func() { rdb.Close() })
	sync := subscriptions.NewSync(st, nil, rdb)
	sync.Caches = []subscriptions.PartnerCache{cache}

	got, err := cache.Endpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, "https://a.example/hook", got.URL)
	_, err = cache.Endpoint(ctx, other.ID)
	require.NoError(t, err)

	// Changed behind the cache's back: the cached copy stays.
	ep.URL, other.URL = "https://b.example/hook", "https://h.example/hook"
	require.NoError(t, st.UpdateEndpoint(ctx, ep))
	require.NoError(t, st.UpdateEndpoint(ctx, other))
	got, err = cache.Endpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, "https://a.example/hook", got.URL)

	// Announced: acme's endpoints are read again, globex's are not.
	sync.Changed(ctx, "acme")
	got, err = cache.Endpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, "https://b.example/hook", got.URL)
	got, err = cache.Endpoint(ctx, other.ID)
	require.NoError(t, err)
	require.Equal(t, "https://g.example/hook", got.URL)

	// What delivery writes through the cache is seen at once.
	at := time.Now().UTC().Truncate(time.Millisecond)
	_, err = cache.MarkEndpointFailing(ctx, ep.ID, at)
	require.NoError(t, err)
	got, err = cache.Endpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.NotNil(t, got.FailingSince)
	require.NoError(t, cache.MarkEndpointHealthy(ctx, ep.ID))
	got, err = cache.Endpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.Nil(t, got.FailingSince)
	changed, err := cache.DisableEndpoint(ctx, ep.ID, "failing")
	require.NoError(t, err)
	require.True(t, changed)
	got, err = cache.Endpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.True(t, got.Disabled)

	// A deleted endpoint is not found once its partner's change is announced.
	require.NoError(t, st.DeleteEndpoint(ctx, other.ID))
	sync.Changed(ctx, "globex")
	_, err = cache.Endpoint(ctx, other.ID)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// With a short TTL, an unannounced change is seen once it passes.
	short := subscriptions.NewEndpointCache(st, 20*time.Millisecond)
	got, err = short.Endpoint(ctx, ep.ID)
	require.NoError(t, err)
	ep.URL = "https://c.example/hook"
	require.NoError(t, st.UpdateEndpoint(ctx, ep))
	require.Eventually(t, func() bool {
		got, err := short.Endpoint(ctx, ep.ID)
		return err == nil && got.URL == "https://c.example/hook"
	}, 5*time.Second, 10*time.Millisecond)
}

// TestKnownPartners checks the ingest API's partner check: unknown and
// deleted partners are reported missing, and a partner deleted through
// this instance is missing at once.
func TestKnownPartners(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	createEndpoint(t, st, "acme", "https://a.example/hook")
	createEndpoint(t, st, "globex", "https://g.example/hook")
	known := subscriptions.NewKnownPartners(st, time.Hour)

	missing, err := known.MissingPartners(ctx, []string{"acme", "ghost", "globex"})
	require.NoError(t, err)
	require.Equal(t, []string{"ghost"}, missing)

	// Deleted behind its back: still taken for existing within the TTL.
	require.NoError(t, st.DeletePartner(ctx, "acme"))
	missing, err = known.MissingPartners(ctx, []string{"acme"})
	require.NoError(t, err)
	require.Empty(t, missing)

	// Forgotten (Sync does this on a change): missing.
	known.ForgetPartner("acme")
	missing, err = known.MissingPartners(ctx, []string{"acme", "globex"})
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, missing)

	// Created later: found, since missing partners are never cached.
	createEndpoint(t, st, "ghost", "https://x.example/hook")
	missing, err = known.MissingPartners(ctx, []string{"ghost"})
	require.NoError(t, err)
	require.Empty(t, missing)
}

func mustParseRedis(t *testing.T) *redis.Options {
	opt, err := redis.ParseURL(storetest.Redis(t))
	require.NoError(t, err)
	return opt
}
