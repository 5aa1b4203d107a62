package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestEndpoints checks storing endpoints, reading them with their partners,
// and the state their deliveries give them, on each backend.
func TestEndpoints(t *testing.T) {
	exercise(t, []contractTest{
		{"Endpoints", testEndpoints},
		{"EndpointOptions", testEndpointOptions},
		{"EndpointFailing", testEndpointFailing},
		{"AllEndpoints", testAllEndpoints},
		{"DisableEndpoint", testDisableEndpoint},
	})
}

func testEndpoints(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	require.NoError(t, s.CreatePartner(ctx, partner("beta")))

	expires := micro(time.Now().Add(time.Hour))
	e := endpoint("ep1", "acme")
	e.Description = "TMS hook"
	e.EventTypes = []string{"shipment.created", "shipment.milestone.*"}
	e.Filter = subscriptions.Filter{"shipment.mode": {"ocean", "air"}, "role": {"consignee"}}
	e.PreviousSecret = "whsec_previous"
	e.PreviousSecretExpiresAt = &expires
	require.NoError(t, s.CreateEndpoint(ctx, e))
	got, err := s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, e, got)

	plain := endpoint("ep2", "acme")
	require.NoError(t, s.CreateEndpoint(ctx, plain))
	got, err = s.Endpoint(ctx, "ep2")
	require.NoError(t, err)
	require.Equal(t, plain, got)
	require.Empty(t, got.EventTypes)
	require.Empty(t, got.Filter)
	require.Nil(t, got.PreviousSecretExpiresAt)

	err = s.CreateEndpoint(ctx, endpoint("ep1", "acme"))
	require.ErrorIs(t, err, subscriptions.ErrConflict)
	err = s.CreateEndpoint(ctx, endpoint("ep9", "nobody"))
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	require.ErrorContains(t, err, "nobody")
	_, err = s.Endpoint(ctx, "ep9")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	e.URL = "https://example.com/other"
	e.Description = ""
	e.EventTypes = []string{"shipment.delivered"}
	e.Filter = nil
	e.Disabled, e.DisabledReason = true, "gone"
	e.Secret, e.PreviousSecret, e.PreviousSecretExpiresAt = "whsec_new", "", nil
	e.UpdatedAt = micro(time.Now().Add(time.Minute))
	require.NoError(t, s.UpdateEndpoint(ctx, e))
	got, err = s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, e, got)

	e.PartnerID = "beta"
	require.NoError(t, s.UpdateEndpoint(ctx, e))
	e.PartnerID = "nobody"
	require.ErrorIs(t, s.UpdateEndpoint(ctx, e), subscriptions.ErrNotFound)
	require.ErrorIs(t, s.UpdateEndpoint(ctx, endpoint("ep9", "acme")), subscriptions.ErrNotFound)

	list, err := s.ListEndpoints(ctx, "acme", subscriptions.Page{})
	require.NoError(t, err)
	require.Equal(t, []subscriptions.Endpoint{plain}, list)

	p, list, err := s.PartnerEndpoints(ctx, "beta")
	require.NoError(t, err)
	require.Equal(t, "beta", p.ID)
	require.Len(t, list, 1)
	require.Equal(t, "ep1", list[0].ID)
	_, _, err = s.PartnerEndpoints(ctx, "nobody")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	require.NoError(t, s.DeleteEndpoint(ctx, "ep1"))
	require.ErrorIs(t, s.DeleteEndpoint(ctx, "ep1"), subscriptions.ErrNotFound)
	p, list, err = s.PartnerEndpoints(ctx, "beta")
	require.NoError(t, err)
	require.Equal(t, "beta", p.ID)
	require.Empty(t, list)
}

func testEndpointOptions(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))

	failing := micro(time.Now().Add(-time.Hour))
	e := endpoint("ep1", "acme")
	e.Options = subscriptions.Options{
		TimeoutSeconds: 30,
		RateLimit:      20,
		MaxConcurrency: 4,
		Headers:        map[string]string{"X-Tenant": "acme", "Authorization": "Bearer t0k"},
		BreakerSettings: &subscriptions.BreakerSettings{
			FailureRatio: 0.25, MinRequests: 10, WindowSeconds: 60, OpenSeconds: 30,
		},
	}
	e.FailingSince = &failing
	// Not stored: read back as nil.
	e.Breaker = &subscriptions.BreakerState{State: "open", Reason: "5 of 10 failed"}
	require.NoError(t, s.CreateEndpoint(ctx, e))
	want := e
	want.Breaker = nil
	got, err := s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Nothing set: no headers, no breaker settings, not failing.
	plain := endpoint("ep2", "acme")
	require.NoError(t, s.CreateEndpoint(ctx, plain))
	got, err = s.Endpoint(ctx, "ep2")
	require.NoError(t, err)
	require.Equal(t, plain, got)
	require.Nil(t, got.Headers)
	require.Nil(t, got.BreakerSettings)
	require.Nil(t, got.FailingSince)

	// Breaker settings of zeros (the server's defaults) stay set.
	zeros := endpoint("ep3", "acme")
	zeros.BreakerSettings = &subscriptions.BreakerSettings{}
	require.NoError(t, s.CreateEndpoint(ctx, zeros))
	got, err = s.Endpoint(ctx, "ep3")
	require.NoError(t, err)
	require.Equal(t, zeros, got)
	require.NotNil(t, got.BreakerSettings)

	// Every reader returns them.
	list, err := s.ListEndpoints(ctx, "acme", subscriptions.Page{})
	require.NoError(t, err)
	require.Equal(t, []subscriptions.Endpoint{want, plain, zeros}, list)
	_, list, err = s.PartnerEndpoints(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []subscriptions.Endpoint{want, plain, zeros}, list)
	require.NoError(t, s.AllEndpoints(ctx, func(_ subscriptions.Partner, es []subscriptions.Endpoint) {
		list = es
	}))
	require.Equal(t, []subscriptions.Endpoint{want, plain, zeros}, list)

	// UpdateEndpoint saves options and FailingSince, set or cleared.
	e = want
	e.TimeoutSeconds, e.RateLimit = 5, 0
	e.Headers = map[string]string{"X-Other": "1"}
	e.BreakerSettings = nil
	e.FailingSince = nil
	require.NoError(t, s.UpdateEndpoint(ctx, e))
	got, err = s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, e, got)
	plain.Options = subscriptions.Options{MaxConcurrency: 1}
	plain.FailingSince = &failing
	require.NoError(t, s.UpdateEndpoint(ctx, plain))
	got, err = s.Endpoint(ctx, "ep2")
	require.NoError(t, err)
	require.Equal(t, plain, got)
}

func testEndpointFailing(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	e := endpoint("ep1", "acme")
	require.NoError(t, s.CreateEndpoint(ctx, e))
	first := micro(time.Now().Add(-time.Minute))

	// The first failure's time is kept.
	since, err := s.MarkEndpointFailing(ctx, "ep1", first)
	require.NoError(t, err)
	require.Equal(t, first, since)
	since, err = s.MarkEndpointFailing(ctx, "ep1", first.Add(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, first, since)
	got, err := s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, &first, got.FailingSince)
	require.Equal(t, e.UpdatedAt, got.UpdatedAt, "health is not an edit")

	_, err = s.MarkEndpointFailing(ctx, "nobody", first)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// Healthy clears it; clearing again, or an unknown endpoint, is
	// no error.
	require.NoError(t, s.MarkEndpointHealthy(ctx, "ep1"))
	got, err = s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Nil(t, got.FailingSince)
	require.Equal(t, e.UpdatedAt, got.UpdatedAt)
	require.NoError(t, s.MarkEndpointHealthy(ctx, "ep1"))
	require.NoError(t, s.MarkEndpointHealthy(ctx, "nobody"))

	// Concurrent failures agree on one time, the one that was stored.
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		seen   = map[time.Time]bool{}
		errs   []error
		base   = micro(time.Now())
		stored time.Time
	)
	for i := range 8 {
		wg.Go(func() {
			since, err := s.MarkEndpointFailing(ctx, "ep1", base.Add(time.Duration(i)*time.Second))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			seen[since] = true
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, seen, 1)
	for v := range seen {
		stored = v
	}
	got, err = s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.Equal(t, &stored, got.FailingSince)
}

func testAllEndpoints(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	// Several reads, the last one partial.
	store.SetAllEndpointsBatch(s, 4)
	const partners = 11
	want := map[string][]string{}
	for i := range partners {
		id := fmt.Sprintf("p%02d", i)
		require.NoError(t, s.CreatePartner(ctx, partner(id)))
		want[id] = nil
		for j := range i % 3 {
			eid := fmt.Sprintf("e%02d-%d", i, j)
			require.NoError(t, s.CreateEndpoint(ctx, endpoint(eid, id)))
			want[id] = append(want[id], eid)
		}
	}
	got := map[string][]string{}
	var order []string
	err := s.AllEndpoints(ctx, func(p subscriptions.Partner, es []subscriptions.Endpoint) {
		order = append(order, p.ID)
		require.NotContains(t, got, p.ID, "partner seen twice")
		got[p.ID] = nil
		for _, e := range es {
			require.Equal(t, p.ID, e.PartnerID)
			got[p.ID] = append(got[p.ID], e.ID)
		}
	})
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.True(t, slices.IsSorted(order))
}

func testDisableEndpoint(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreatePartner(ctx, partner("acme")))
	require.NoError(t, s.CreateEndpoint(ctx, endpoint("ep1", "acme")))
	changed, err := s.DisableEndpoint(ctx, "ep1", "failing")
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = s.DisableEndpoint(ctx, "ep1", "gone")
	require.NoError(t, err)
	require.False(t, changed, "only the first of many deciders changes it")
	e, err := s.Endpoint(ctx, "ep1")
	require.NoError(t, err)
	require.True(t, e.Disabled)
	require.Equal(t, "failing", e.DisabledReason)
	changed, err = s.DisableEndpoint(ctx, "nope", "gone")
	require.NoError(t, err)
	require.False(t, changed)
}

// BenchmarkAllEndpoints reads 100,000 endpoints of 1,000 partners, the
// matcher's start-up load.
func BenchmarkAllEndpoints(b *testing.B) {
	const partners, perPartner = 1000, 100
	for _, backend := range []string{"postgres", "sqlite"} {
		b.Run(backend, func(b *testing.B) {
			url := storetest.SQLite(b)
			if backend == "postgres" {
				url = storetest.Postgres(b)
			}
			ctx := b.Context()
			s, err := store.Open(ctx, url, store.WithKeyring(testKeys))
			require.NoError(b, err)
			b.Cleanup(func() { _ = s.Close() })
			require.NoError(b, s.Migrate(ctx))

			ids := make(chan int)
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for i := range ids {
						id := fmt.Sprintf("p%04d", i)
						require.NoError(b, s.CreatePartner(ctx, partner(id)))
						for j := range perPartner {
							e := endpoint(fmt.Sprintf("e%04d-%03d", i, j), id)
							e.EventTypes = []string{"shipment.created", "shipment.milestone.*"}
							e.Filter = subscriptions.Filter{"shipment.mode": {"ocean"}}
							require.NoError(b, s.CreateEndpoint(ctx, e))
						}
					}
				})
			}
			for i := range partners {
				ids <- i
			}
			close(ids)
			wg.Wait()

			b.ResetTimer()
			for b.Loop() {
				n := 0
				require.NoError(b, s.AllEndpoints(ctx, func(_ subscriptions.Partner, es []subscriptions.Endpoint) { n += len(es) }))
				require.Equal(b, partners*perPartner, n)
			}
		})
	}
}
