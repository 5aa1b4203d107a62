package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestStore is the conformance suite: every subtest runs against each
// backend, on a database of its own.
func TestStore(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			databaseURL := func(t *testing.T) string {
				t.Helper()
				if backend == "postgres" {
					return storetest.Postgres(t)
				}
				return storetest.SQLite(t)
			}
			open := func(t *testing.T, url string) *store.Store {
				t.Helper()
				s, err := store.Open(t.Context(), url)
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, s.Close()) })
				require.Equal(t, backend, s.Dialect())
				return s
			}
			setup := func(t *testing.T) (*store.Store, context.Context) {
				t.Helper()
				t.Parallel()
				s := open(t, databaseURL(t))
				require.NoError(t, s.Migrate(t.Context()))
				return s, t.Context()
			}

			t.Run("Migrate", func(t *testing.T) {
				t.Parallel()
				url := databaseURL(t)
				stores := []*store.Store{open(t, url), open(t, url), open(t, url)}
				ctx := t.Context()
				var wg sync.WaitGroup
				errs := make([]error, len(stores))
				for i, s := range stores {
					wg.Go(func() { errs[i] = s.Migrate(ctx) })
				}
				wg.Wait()
				for _, err := range errs {
					require.NoError(t, err)
				}
				require.NoError(t, stores[0].Migrate(ctx))
				require.NoError(t, stores[0].Ping(ctx))
				require.NoError(t, stores[1].CreatePartner(ctx, partner("p1")))
			})

			t.Run("Partners", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("DeletePartnerCascades", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("Endpoints", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("EndpointOptions", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("EndpointFailing", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("AllEndpoints", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("APIKeys", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("Pagination", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("InsertEvents", func(t *testing.T) {
				s, ctx := setup(t)
				a := event("evt_a")
				a.SourceID = "tms-1"
				b := event("evt_b")
				b.IdempotencyKey = "key-1"
				c := event("evt_c") // no source id, no key
				res, err := s.InsertEvents(ctx, []dispatcher.Event{a, b, c})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Insert{{ID: "evt_a", Created: true}, {ID: "evt_b", Created: true}, {ID: "evt_c", Created: true}}, res)

				bySource := event("evt_d")
				bySource.SourceID = "tms-1"
				byKey := event("evt_e")
				byKey.IdempotencyKey = "key-1"
				fresh := event("evt_f") // no source id or key: never a duplicate
				first := event("evt_g")
				first.SourceID = "tms-2"
				second := event("evt_h")
				second.SourceID = "tms-2"
				keyFirst := event("evt_i")
				keyFirst.IdempotencyKey = "key-2"
				keySecond := event("evt_j")
				keySecond.IdempotencyKey = "key-2"
				sameID := event("evt_c")
				res, err = s.InsertEvents(ctx, []dispatcher.Event{bySource, byKey, fresh, first, second, keyFirst, keySecond, sameID})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Insert{
					{ID: "evt_a"},
					{ID: "evt_b"},
					{ID: "evt_f", Created: true},
					{ID: "evt_g", Created: true},
					{ID: "evt_g"},
					{ID: "evt_i", Created: true},
					{ID: "evt_i"},
					{ID: "evt_c"},
				}, res)
				for _, id := range []string{"evt_d", "evt_e", "evt_h", "evt_j"} {
					_, err := s.Event(ctx, id)
					require.ErrorIs(t, err, subscriptions.ErrNotFound)
				}

				res, err = s.InsertEvents(ctx, nil)
				require.NoError(t, err)
				require.Empty(t, res)
			})

			t.Run("InsertEventsDuplicatesInBatch", func(t *testing.T) {
				s, ctx := setup(t)
				withKeys := func(id, sourceID, key string) dispatcher.Event {
					e := event(id)
					e.SourceID, e.IdempotencyKey = sourceID, key
					return e
				}
				_, err := s.InsertEvents(ctx, []dispatcher.Event{withKeys("evt_w", "", "key-w"), withKeys("evt_z", "src-z", "")})
				require.NoError(t, err)

				res, err := s.InsertEvents(ctx, []dispatcher.Event{
					withKeys("evt_1", "src-1", "key-1"),
					withKeys("evt_2", "src-1", ""), // the source of evt_1
					withKeys("evt_3", "", "key-1"), // the key of evt_1
					withKeys("evt_4", "src-4", ""),
					withKeys("evt_5", "", "key-5"),
					withKeys("evt_6", "src-4", "key-5"), // both: the source decides
					withKeys("evt_7", "src-7", "key-w"), // the key of evt_w, stored before
					withKeys("evt_8", "src-7", ""),      // the source of evt_7, which was not stored
					withKeys("evt_a", "src-z", ""),      // the source of evt_z, stored before
					withKeys("evt_a", "src-a", ""),      // the id of the evt_a above, which was not stored
					withKeys("evt_b", "src-b", "key-b"),
					withKeys("evt_b", "src-b", "key-b"), // all the same
					withKeys("evt_c", "src-c", ""),
					withKeys("evt_c", "src-c2", "key-c2"), // the id of evt_c
				})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Insert{
					{ID: "evt_1", Created: true},
					{ID: "evt_1"},
					{ID: "evt_1"},
					{ID: "evt_4", Created: true},
					{ID: "evt_5", Created: true},
					{ID: "evt_4"},
					{ID: "evt_w"},
					{ID: "evt_8", Created: true},
					{ID: "evt_z"},
					{ID: "evt_a", Created: true},
					{ID: "evt_b", Created: true},
					{ID: "evt_b"},
					{ID: "evt_c", Created: true},
					{ID: "evt_c"},
				}, res)
				for _, id := range []string{"evt_2", "evt_3", "evt_6", "evt_7"} {
					_, err := s.Event(ctx, id)
					require.ErrorIs(t, err, subscriptions.ErrNotFound)
				}
				for id, sourceID := range map[string]string{"evt_8": "src-7", "evt_a": "src-a", "evt_c": "src-c"} {
					got, err := s.Event(ctx, id)
					require.NoError(t, err)
					require.Equal(t, sourceID, got.SourceID, id)
				}

				// One event, stored or not.
				res, err = s.InsertEvents(ctx, []dispatcher.Event{withKeys("evt_9", "src-1", "")})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Insert{{ID: "evt_1"}}, res)
				res, err = s.InsertEvents(ctx, []dispatcher.Event{withKeys("evt_9", "src-9", "")})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Insert{{ID: "evt_9", Created: true}}, res)
			})

			t.Run("InsertEventsManyStatements", func(t *testing.T) {
				s, ctx := setup(t)
				// More than two statements' worth (400 events each).
				const n = 1000
				first := event("evt_0000")
				first.SourceID = "src-first"
				_, err := s.InsertEvents(ctx, []dispatcher.Event{first})
				require.NoError(t, err)

				evs := make([]dispatcher.Event, n)
				want := make([]dispatcher.Insert, n)
				for i := range evs {
					evs[i] = event(fmt.Sprintf("evt_%04d", i+1))
					evs[i].SourceID = fmt.Sprintf("src-%04d", i+1)
					evs[i].IdempotencyKey = fmt.Sprintf("key-%04d", i+1)
					want[i] = dispatcher.Insert{ID: evs[i].ID, Created: true}
				}
				// Repeats across statements, and of an event stored before.
				evs[900].SourceID, want[900] = evs[10].SourceID, dispatcher.Insert{ID: evs[10].ID}
				evs[399].SourceID, want[399] = first.SourceID, dispatcher.Insert{ID: first.ID}
				// The key of evs[399], which was not stored: stored.
				evs[450].IdempotencyKey = evs[399].IdempotencyKey
				evs[800].IdempotencyKey, want[800] = evs[399].IdempotencyKey, dispatcher.Insert{ID: evs[450].ID}
				res, err := s.InsertEvents(ctx, evs)
				require.NoError(t, err)
				require.Equal(t, want, res)
				all, err := s.ListEvents(ctx, dispatcher.EventQuery{Page: subscriptions.Page{Limit: 2 * n}})
				require.NoError(t, err)
				require.Len(t, all, 1+n-3)

				// An event without an id fails the batch before anything is stored.
				more := make([]dispatcher.Event, n)
				for i := range more {
					more[i] = event(fmt.Sprintf("evt_more_%04d", i))
				}
				more[n-1].ID = ""
				_, err = s.InsertEvents(ctx, more)
				require.Error(t, err)
				_, err = s.Event(ctx, more[0].ID)
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
			})

			t.Run("InsertEventsWithMessages", func(t *testing.T) {
				s, ctx := setup(t)
				now := micro(time.Now())
				lease := now.Add(time.Minute)
				fanned := func(id, sourceID string, endpoints ...string) dispatcher.Event {
					e := event(id)
					e.SourceID, e.FannedOutAt = sourceID, &now
					for _, ep := range endpoints {
						e.Messages = append(e.Messages, message("msg_"+id+"_"+ep, e, endpoint(ep, "acme")))
					}
					return e
				}
				messagesOf := func(t *testing.T, ids ...string) map[string]dispatcher.Message {
					t.Helper()
					ms, err := s.MessagesOfEvents(ctx, ids)
					require.NoError(t, err)
					out := map[string]dispatcher.Message{}
					for _, m := range ms {
						out[m.ID] = m
					}
					return out
				}

				// Stored with their events, as given; a repeat's are not.
				a := fanned("evt_a", "src-a", "ep1", "ep2")
				a.Messages[0].Status, a.Messages[0].LeaseUntil = dispatcher.StatusDelivering, &lease
				a.Messages[1].Status, a.Messages[1].NextAttemptAt = dispatcher.StatusHeld, nil
				b := fanned("evt_b", "") // matched no endpoint
				c := fanned("evt_c", "src-a", "ep1")
				res, err := s.InsertEvents(ctx, []dispatcher.Event{a, b, c})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Insert{{ID: "evt_a", Created: true}, {ID: "evt_b", Created: true}, {ID: "evt_a"}}, res)
				got := messagesOf(t, "evt_a", "evt_b", "evt_c")
				require.Len(t, got, 2)
				require.Equal(t, dispatcher.StatusDelivering, got["msg_evt_a_ep1"].Status)
				require.Equal(t, lease, *got["msg_evt_a_ep1"].LeaseUntil)
				require.Equal(t, dispatcher.StatusHeld, got["msg_evt_a_ep2"].Status)
				require.Nil(t, got["msg_evt_a_ep2"].NextAttemptAt)
				for _, id := range []string{"evt_a", "evt_b"} {
					ev, err := s.Event(ctx, id)
					require.NoError(t, err)
					require.NotNil(t, ev.FannedOutAt, id)
				}
				unfanned, err := s.UnfannedEvents(ctx, now.Add(time.Hour), 10)
				require.NoError(t, err)
				require.Empty(t, unfanned)
				// A fan-out of the event again (by the reconciler, say) finds
				// no message of it pending: one is claimed, one held.
				due, err := s.FanOut(ctx, "evt_a", nil)
				require.NoError(t, err)
				require.Empty(t, due)

				// Single events stored at the same moment, in one statement.
				ins, errs := store.InsertEventBatch(ctx, s, []dispatcher.Event{
					fanned("evt_d", "src-d", "ep1"), fanned("evt_e", "src-a", "ep1"), fanned("evt_f", "", "ep1", "ep2"),
				})
				for _, err := range errs {
					require.NoError(t, err)
				}
				require.Equal(t, []dispatcher.Insert{{ID: "evt_d", Created: true}, {ID: "evt_a"}, {ID: "evt_f", Created: true}}, ins)
				require.Len(t, messagesOf(t, "evt_d", "evt_e", "evt_f"), 3)

				// More events than one statement takes (a transaction, then),
				// and many messages in one statement.
				var many, wide []dispatcher.Event
				var manyIDs []string
				for i := range 401 {
					many = append(many, fanned(fmt.Sprintf("evt_many%03d", i), "", "ep1", "ep2", "ep3"))
					manyIDs = append(manyIDs, many[i].ID)
				}
				many = append(many, fanned("evt_many_repeat", "src-d", "ep1"))
				for i := range 3 {
					var eps []string
					for j := range 400 {
						eps = append(eps, fmt.Sprintf("ep%03d", j))
					}
					wide = append(wide, fanned(fmt.Sprintf("evt_wide%d", i), "", eps...))
				}
				for _, evs := range [][]dispatcher.Event{many, wide} {
					res, err = s.InsertEvents(ctx, evs)
					require.NoError(t, err)
					for i, r := range res {
						require.Equal(t, evs[i].ID != "evt_many_repeat", r.Created, evs[i].ID)
					}
				}
				require.Len(t, messagesOf(t, append(manyIDs, "evt_many_repeat")...), 1203)
				require.Len(t, messagesOf(t, "evt_wide0", "evt_wide1", "evt_wide2"), 1200)

				// A message that repeats an (event, endpoint), or is of another
				// event, fails the call, and nothing of it is stored.
				bad := fanned("evt_bad", "", "ep1", "ep1")
				for _, evs := range [][]dispatcher.Event{{bad}, {bad, event("evt_bad_2")}, append(many[:401:401], bad)} {
					_, err = s.InsertEvents(ctx, evs)
					require.Error(t, err)
					_, err = s.Event(ctx, "evt_bad")
					require.ErrorIs(t, err, subscriptions.ErrNotFound)
				}
				other := fanned("evt_other", "", "ep1")
				other.Messages[0].EventID = "evt_a"
				_, err = s.InsertEvents(ctx, []dispatcher.Event{other})
				require.ErrorContains(t, err, "is of event evt_a")
				require.Len(t, messagesOf(t, "evt_bad", "evt_bad_2", "evt_other"), 0)
			})

			t.Run("EventRoundTrip", func(t *testing.T) {
				s, ctx := setup(t)
				e := event("evt_1")
				e.SourceID, e.IdempotencyKey = "src", "idem"
				e.Shipment = dispatcher.Shipment{ID: "shp_1", Mode: "ocean", Origin: "CNSHA", Destination: "NLRTM", Carrier: "MAEU",
					References: map[string]string{"po": "4711", "bl": "MAEU123"}}
				e.Parties = []dispatcher.Party{{PartnerID: "acme", Role: "consignee"}, {PartnerID: "beta", Role: "carrier"}}
				e.Data = json.RawMessage(`{"z": 1, "a": [1.50, 2e3, "ü"], "nested": {"k": null}}`)
				// A time zone and nanoseconds: stored to the microsecond, read as UTC.
				e.OccurredAt = time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))
				_, err := s.InsertEvents(ctx, []dispatcher.Event{e})
				require.NoError(t, err)

				got, err := s.Event(ctx, "evt_1")
				require.NoError(t, err)
				require.Equal(t, time.UTC, got.OccurredAt.Location())
				require.True(t, got.OccurredAt.Equal(e.OccurredAt.Truncate(time.Microsecond)), got.OccurredAt)
				require.Equal(t, e.OccurredAt.UTC().Truncate(time.Microsecond), got.OccurredAt)
				require.JSONEq(t, string(e.Data), string(got.Data))
				require.Equal(t, string(e.Data), string(got.Data), "data is kept byte for byte")
				require.Equal(t, e.Shipment, got.Shipment)
				require.Equal(t, e.Parties, got.Parties)
				require.Equal(t, e.SourceID, got.SourceID)
				require.Equal(t, e.IdempotencyKey, got.IdempotencyKey)
				require.Equal(t, e.Type, got.Type)
				require.Equal(t, e.CreatedAt, got.CreatedAt)
				require.Nil(t, got.FannedOutAt)

				_, err = s.Event(ctx, "nothing")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
			})

			t.Run("FanOut", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				e1, e2, e3 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta")
				msgs := []dispatcher.Message{message("msg3", ev, e3), message("msg1", ev, e1), message("msg2", ev, e2)}
				got, err := s.FanOut(ctx, ev.ID, msgs)
				require.NoError(t, err)
				require.Equal(t, []string{"msg1", "msg2", "msg3"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
				want := msgs[1]
				require.Equal(t, want, got[0])

				stored, err := s.Event(ctx, ev.ID)
				require.NoError(t, err)
				require.NotNil(t, stored.FannedOutAt)
				fannedAt := *stored.FannedOutAt

				// Again, with new message ids for the same endpoints: the first
				// messages stay; one that is no longer pending is not returned.
				require.NoError(t, s.SetMessageStatus(ctx, "msg3", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
				again := []dispatcher.Message{message("msgX", ev, e1), message("msgY", ev, e2), message("msgZ", ev, e3)}
				got, err = s.FanOut(ctx, ev.ID, again)
				require.NoError(t, err)
				require.Equal(t, []string{"msg1", "msg2"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
				all, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
				require.NoError(t, err)
				require.Len(t, all, 3)
				stored, err = s.Event(ctx, ev.ID)
				require.NoError(t, err)
				require.Equal(t, fannedAt, *stored.FannedOutAt, "fanned_out_at is set once")

				// No messages: the event is still marked.
				lonely := insertEvent(t, s, event("evt_2"))
				got, err = s.FanOut(ctx, lonely.ID, nil)
				require.NoError(t, err)
				require.Empty(t, got)
				stored, err = s.Event(ctx, lonely.ID)
				require.NoError(t, err)
				require.NotNil(t, stored.FannedOutAt)

				_, err = s.FanOut(ctx, "evt_none", nil)
				require.ErrorIs(t, err, subscriptions.ErrNotFound)

				// A pending message without a next attempt time is due at once.
				third := insertEvent(t, s, event("evt_3"))
				m := message("msg4", third, e1)
				m.NextAttemptAt = nil
				got, err = s.FanOut(ctx, third.ID, []dispatcher.Message{m})
				require.NoError(t, err)
				require.Len(t, got, 1)
				require.NotNil(t, got[0].NextAttemptAt)
				require.Equal(t, m.CreatedAt, *got[0].NextAttemptAt)
			})

			t.Run("FanOutAgain", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				e1, e2, e3, e4 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta"), endpoint("ep4", "beta")
				got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_b", ev, e2), message("msg_d", ev, e4)})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_b", "msg_d"}, ids(got, func(m dispatcher.Message) string { return m.ID }))

				// Only new messages, of an event fanned out before (as a replay
				// to one more endpoint makes): the old ones come back too.
				got, err = s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_c", ev, e3)})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_b", "msg_c", "msg_d"}, ids(got, func(m dispatcher.Message) string { return m.ID }))

				// Some new and some not: every pending one, in id order.
				require.NoError(t, s.SetMessageStatus(ctx, "msg_d", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
				got, err = s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_x", ev, e2), message("msg_a", ev, e1)})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_a", "msg_b", "msg_c"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
				stored, err := s.Message(ctx, "msg_b")
				require.NoError(t, err)
				require.Equal(t, stored, got[1])
				_, err = s.Message(ctx, "msg_x")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)

				// A first fan-out: two messages to one endpoint keep the first,
				// and a message that is not pending is not returned.
				fresh := insertEvent(t, s, event("evt_2"))
				done := message("msg_f3", fresh, e3)
				done.Status = dispatcher.StatusSucceeded
				got, err = s.FanOut(ctx, fresh.ID, []dispatcher.Message{
					message("msg_f2", fresh, e2), done, message("msg_f1", fresh, e1),
				})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_f1", "msg_f2"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
				stored, err = s.Message(ctx, "msg_f1")
				require.NoError(t, err)
				require.Equal(t, stored, got[0])

				// A message id that another event's message holds.
				other := insertEvent(t, s, event("evt_3"))
				_, err = s.FanOut(ctx, other.ID, []dispatcher.Message{message("msg_a", other, e1)})
				require.ErrorIs(t, err, subscriptions.ErrConflict)
				unmarked, err := s.Event(ctx, other.ID)
				require.NoError(t, err)
				require.Nil(t, unmarked.FannedOutAt, "a failed fan-out leaves the event unmarked")
			})

			t.Run("FanOutClaimed", func(t *testing.T) {
				s, ctx := setup(t)
				e1, e2, e3 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta")
				msgIDs := func(got []dispatcher.Message) []string {
					return ids(got, func(m dispatcher.Message) string { return m.ID })
				}
				claimed := func(id string, ev dispatcher.Event, ep subscriptions.Endpoint) dispatcher.Message {
					m := message(id, ev, ep)
					lease := micro(time.Now().Add(time.Minute))
					m.Status, m.LeaseUntil = dispatcher.StatusDelivering, &lease
					return m
				}

				// A first fan-out returns the messages it stored claimed,
				// as stored, with the pending ones.
				ev := insertEvent(t, s, event("evt_1"))
				mine := claimed("msg_1a", ev, e1)
				got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg_1b", ev, e2), mine})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_1a", "msg_1b"}, msgIDs(got))
				require.Equal(t, mine, got[0])

				// Nobody else can claim it while its lease holds.
				_, ok, err := s.ClaimMessage(ctx, mine.ID, 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.False(t, ok)

				// Another fan-out of the event returns the pending ones
				// only: the claimed message is not its own. Nor is one it
				// tried to store for an endpoint that has one.
				got, err = s.FanOut(ctx, ev.ID, []dispatcher.Message{claimed("msg_1c", ev, e1), claimed("msg_1d", ev, e3)})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_1b", "msg_1d"}, msgIDs(got), "its own new claimed message, and the pending one")
				_, err = s.Message(ctx, "msg_1c")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
				got, err = s.FanOut(ctx, ev.ID, nil)
				require.NoError(t, err)
				require.Equal(t, []string{"msg_1b"}, msgIDs(got))

				// The same when the event was marked before any message
				// existed.
				at := micro(time.Now().Add(-time.Hour))
				pre := event("evt_2")
				pre.FannedOutAt = &at
				insertEvent(t, s, pre)
				got, err = s.FanOut(ctx, pre.ID, []dispatcher.Message{claimed("msg_2a", pre, e1)})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_2a"}, msgIDs(got))
			})

			t.Run("ConcurrentFanOut", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				var (
					wg   sync.WaitGroup
					got  = make([][]string, 8)
					errs = make([]error, 8)
				)
				for i := range got {
					wg.Go(func() {
						// Each to its own endpoint and to a shared one.
						msgs := []dispatcher.Message{
							message(fmt.Sprintf("msg_%d", i), ev, endpoint(fmt.Sprintf("ep%d", i), "acme")),
							message(fmt.Sprintf("msg_shared_%d", i), ev, endpoint("ep_shared", "acme")),
						}
						pending, err := s.FanOut(ctx, ev.ID, msgs)
						got[i], errs[i] = ids(pending, func(m dispatcher.Message) string { return m.ID }), err
					})
				}
				wg.Wait()
				all, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
				require.NoError(t, err)
				require.Len(t, all, len(got)+1)
				for i := range got {
					require.NoError(t, errs[i])
					// Everything stored before it, and its own messages.
					require.Contains(t, got[i], fmt.Sprintf("msg_%d", i))
					require.True(t, slices.IsSorted(got[i]), got[i])
					require.Len(t, slices.DeleteFunc(slices.Clone(got[i]), func(id string) bool {
						return !strings.HasPrefix(id, "msg_shared_")
					}), 1, got[i])
				}
			})

			t.Run("FanOutFirst", func(t *testing.T) {
				s, ctx := setup(t)
				e1, e2, e3 := endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "beta")
				msgIDs := func(got []dispatcher.Message) []string {
					return ids(got, func(m dispatcher.Message) string { return m.ID })
				}

				// Every column is stored as given, and comes back as stored.
				ev := insertEvent(t, s, event("evt_1"))
				retried := message("msg_1a", ev, e1)
				lease := retried.CreatedAt.Add(time.Minute)
				retried.Attempts, retried.LeaseUntil = 3, &lease
				retried.LastStatusCode, retried.LastErrorClass = 503, dispatcher.ErrorClass("http_5xx")
				retried.UpdatedAt = retried.CreatedAt.Add(time.Second)
				failed := message("msg_1b", ev, e2)
				failed.Status, failed.NextAttemptAt = dispatcher.StatusFailed, nil
				got, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{failed, retried})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Message{retried}, got)
				stored, err := s.Message(ctx, failed.ID)
				require.NoError(t, err)
				require.Equal(t, failed, stored)

				// Two messages to one endpoint: one is stored, and returned.
				dup := insertEvent(t, s, event("evt_2"))
				got, err = s.FanOut(ctx, dup.ID, []dispatcher.Message{message("msg_2a", dup, e1), message("msg_2b", dup, e1)})
				require.NoError(t, err)
				require.Len(t, got, 1)
				all, err := s.MessagesOfEvents(ctx, []string{dup.ID})
				require.NoError(t, err)
				require.Equal(t, got, all)

				// No message pending: none returned, all stored, the event
				// marked; a later fan-out returns them once they are.
				quiet := insertEvent(t, s, event("evt_3"))
				done := message("msg_3a", quiet, e1)
				done.Status = dispatcher.StatusSucceeded
				got, err = s.FanOut(ctx, quiet.ID, []dispatcher.Message{done})
				require.NoError(t, err)
				require.Empty(t, got)
				marked, err := s.Event(ctx, quiet.ID)
				require.NoError(t, err)
				require.NotNil(t, marked.FannedOutAt)
				_, err = s.RetryMessage(ctx, done.ID, time.Now())
				require.NoError(t, err)
				got, err = s.FanOut(ctx, quiet.ID, nil)
				require.NoError(t, err)
				require.Equal(t, []string{"msg_3a"}, msgIDs(got))

				// An event stored as fanned out, without messages: a fan-out
				// stores them and keeps the time.
				at := micro(time.Now().Add(-time.Hour))
				pre := event("evt_4")
				pre.FannedOutAt = &at
				insertEvent(t, s, pre)
				got, err = s.FanOut(ctx, pre.ID, []dispatcher.Message{message("msg_4b", pre, e2), message("msg_4a", pre, e1)})
				require.NoError(t, err)
				require.Equal(t, []string{"msg_4a", "msg_4b"}, msgIDs(got))
				marked, err = s.Event(ctx, pre.ID)
				require.NoError(t, err)
				require.Equal(t, at, *marked.FannedOutAt)

				// A missing event: nothing is stored.
				_, err = s.FanOut(ctx, "evt_none", []dispatcher.Message{message("msg_none", event("evt_none"), e1)})
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
				_, err = s.Message(ctx, "msg_none")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)

				// A message id that another event's message holds, among
				// others: nothing is stored and the event stays unmarked.
				clash := insertEvent(t, s, event("evt_5"))
				_, err = s.FanOut(ctx, clash.ID, []dispatcher.Message{
					message("msg_5a", clash, e1), message("msg_1a", clash, e2), message("msg_5c", clash, e3),
				})
				require.ErrorIs(t, err, subscriptions.ErrConflict)
				unmarked, err := s.Event(ctx, clash.ID)
				require.NoError(t, err)
				require.Nil(t, unmarked.FannedOutAt)
				all, err = s.MessagesOfEvents(ctx, []string{clash.ID})
				require.NoError(t, err)
				require.Empty(t, all)
			})

			t.Run("FanOutManyMessages", func(t *testing.T) {
				s, ctx := setup(t)
				// Around the size of one INSERT (100 messages).
				for _, n := range []int{100, 101, 250} {
					ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", n)))
					var msgs []dispatcher.Message
					for i := range n {
						// Endpoint order differs from id order.
						ep := endpoint(fmt.Sprintf("ep%03d", n-i), "acme")
						msgs = append(msgs, message(fmt.Sprintf("msg_%d_%03d", n, i), ev, ep))
					}
					got, err := s.FanOut(ctx, ev.ID, msgs)
					require.NoError(t, err)
					require.Equal(t, ids(msgs, func(m dispatcher.Message) string { return m.ID }),
						ids(got, func(m dispatcher.Message) string { return m.ID }))
					require.Equal(t, msgs, got)
					marked, err := s.Event(ctx, ev.ID)
					require.NoError(t, err)
					require.NotNil(t, marked.FannedOutAt)

					// Again, with other ids: the stored ones come back.
					again := slices.Clone(msgs)
					for i := range again {
						again[i].ID += "_again"
					}
					got, err = s.FanOut(ctx, ev.ID, again)
					require.NoError(t, err)
					require.Equal(t, msgs, got)
				}

				// A message id conflict past the first INSERT: nothing is
				// stored and the event stays unmarked.
				clash := insertEvent(t, s, event("evt_clash"))
				var msgs []dispatcher.Message
				for i := range 150 {
					msgs = append(msgs, message(fmt.Sprintf("msg_clash_%03d", i), clash, endpoint(fmt.Sprintf("ep%03d", i), "acme")))
				}
				msgs[120].ID = "msg_250_000"
				_, err := s.FanOut(ctx, clash.ID, msgs)
				require.ErrorIs(t, err, subscriptions.ErrConflict)
				unmarked, err := s.Event(ctx, clash.ID)
				require.NoError(t, err)
				require.Nil(t, unmarked.FannedOutAt)
				stored, err := s.MessagesOfEvents(ctx, []string{clash.ID})
				require.NoError(t, err)
				require.Empty(t, stored)
			})

			t.Run("ConcurrentFanOutMixed", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				const shared = 120
				var (
					wg   sync.WaitGroup
					got  = make([][]string, 8)
					errs = make([]error, 8)
				)
				for i := range got {
					wg.Go(func() {
						// Each to its own endpoint and to shared ones: few, or
						// more than one INSERT holds.
						msgs := []dispatcher.Message{message(fmt.Sprintf("msg_%d", i), ev, endpoint(fmt.Sprintf("ep%d", i), "acme"))}
						n := 2
						if i%2 == 1 {
							n = shared
						}
						for j := range n {
							msgs = append(msgs, message(fmt.Sprintf("msg_shared_%d_%03d", i, j), ev,
								endpoint(fmt.Sprintf("ep_shared_%03d", j), "acme")))
						}
						pending, err := s.FanOut(ctx, ev.ID, msgs)
						got[i], errs[i] = ids(pending, func(m dispatcher.Message) string { return m.ID }), err
					})
				}
				wg.Wait()
				all, err := s.MessagesOfEvents(ctx, []string{ev.ID})
				require.NoError(t, err)
				require.Len(t, all, len(got)+shared)
				for i := range got {
					require.NoError(t, errs[i])
					// Everything stored before it, and its own messages.
					require.Contains(t, got[i], fmt.Sprintf("msg_%d", i))
					require.True(t, slices.IsSorted(got[i]), got[i])
					require.GreaterOrEqual(t, len(got[i]), 3, got[i])
				}
			})

			t.Run("UnfannedEvents", func(t *testing.T) {
				s, ctx := setup(t)
				base := micro(time.Now().Add(-time.Hour))
				var evs []dispatcher.Event
				for i := range 5 {
					e := event(fmt.Sprintf("evt_%d", i))
					e.CreatedAt = base.Add(time.Duration(5-i) * time.Minute) // evt_4 is oldest
					evs = append(evs, e)
				}
				_, err := s.InsertEvents(ctx, evs)
				require.NoError(t, err)
				_, err = s.FanOut(ctx, "evt_2", nil)
				require.NoError(t, err)

				got, err := s.UnfannedEvents(ctx, time.Now(), 10)
				require.NoError(t, err)
				require.Equal(t, []string{"evt_4", "evt_3", "evt_1", "evt_0"}, got)
				got, err = s.UnfannedEvents(ctx, time.Now(), 2)
				require.NoError(t, err)
				require.Equal(t, []string{"evt_4", "evt_3"}, got)
				got, err = s.UnfannedEvents(ctx, base.Add(2*time.Minute), 10)
				require.NoError(t, err)
				require.Equal(t, []string{"evt_4"}, got)
			})

			t.Run("ClaimMessage", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
				require.NoError(t, err)

				lease := micro(time.Now().Add(time.Minute))
				m, ok, err := s.ClaimMessage(ctx, "msg1", 0, lease)
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, dispatcher.StatusDelivering, m.Status)
				require.Equal(t, lease, *m.LeaseUntil)

				m, ok, err = s.ClaimMessage(ctx, "msg1", 0, lease)
				require.NoError(t, err)
				require.False(t, ok, "claimed twice")
				require.Equal(t, dispatcher.StatusDelivering, m.Status)

				// A lease that has run out can be claimed again.
				require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusPending}))
				_, ok, err = s.ClaimMessage(ctx, "msg1", 1, lease)
				require.NoError(t, err)
				require.False(t, ok, "wrong attempt count")
				_, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(-time.Second))
				require.NoError(t, err)
				require.True(t, ok)
				m, ok, err = s.ClaimMessage(ctx, "msg1", 0, lease)
				require.NoError(t, err)
				require.True(t, ok, "expired lease")
				require.Equal(t, lease, *m.LeaseUntil)

				require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
				_, ok, err = s.ClaimMessage(ctx, "msg1", 0, lease)
				require.NoError(t, err)
				require.False(t, ok)

				_, _, err = s.ClaimMessage(ctx, "nothing", 0, lease)
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
			})

			t.Run("ConcurrentClaim", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
				require.NoError(t, err)
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					wins int
					errs []error
				)
				for range 10 {
					wg.Go(func() {
						_, ok, err := s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							errs = append(errs, err)
						}
						if ok {
							wins++
						}
					})
				}
				wg.Wait()
				require.Empty(t, errs)
				require.Equal(t, 1, wins)
			})

			t.Run("InsertEventBatches", func(t *testing.T) {
				// Single events stored at the same moment go in one
				// statement, as if stored one after the other.
				s, ctx := setup(t)
				keyed := func(id, key string) dispatcher.Event {
					e := event(id)
					e.IdempotencyKey = key
					return e
				}
				ins, errs := store.InsertEventBatch(ctx, s, []dispatcher.Event{keyed("evt_a", "k1"), keyed("evt_b", "k2"), keyed("evt_c", "k1")})
				for _, err := range errs {
					require.NoError(t, err)
				}
				require.Equal(t, []dispatcher.Insert{{ID: "evt_a", Created: true}, {ID: "evt_b", Created: true}, {ID: "evt_a"}}, ins)

				// One faulty event fails alone.
				ins, errs = store.InsertEventBatch(ctx, s, []dispatcher.Event{event("evt_d"), event(""), keyed("evt_e", "k2")})
				require.NoError(t, errs[0])
				require.Error(t, errs[1])
				require.NoError(t, errs[2])
				require.Equal(t, dispatcher.Insert{ID: "evt_d", Created: true}, ins[0])
				require.Equal(t, dispatcher.Insert{ID: "evt_b"}, ins[2])
				_, err := s.Event(ctx, "evt_d")
				require.NoError(t, err)
				_, err = s.Event(ctx, "evt_e")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)

				// Many callers at once, some with the same key: one event per
				// key is stored, and every caller learns its id.
				var (
					wg      sync.WaitGroup
					mu      sync.Mutex
					ids     = map[string]map[string]bool{}
					created = map[string]int{}
				)
				for i := range 80 {
					wg.Go(func() {
						key := fmt.Sprintf("many-%d", i%20)
						res, err := s.InsertEvents(ctx, []dispatcher.Event{keyed(fmt.Sprintf("evt_many_%02d", i), key)})
						require.NoError(t, err)
						mu.Lock()
						defer mu.Unlock()
						if ids[key] == nil {
							ids[key] = map[string]bool{}
						}
						ids[key][res[0].ID] = true
						if res[0].Created {
							created[key]++
						}
					})
				}
				wg.Wait()
				require.Len(t, ids, 20)
				for key, got := range ids {
					require.Len(t, got, 1, "callers with key %s were told different ids", key)
					require.Equal(t, 1, created[key], key)
				}
			})

			t.Run("BatchStatements", func(t *testing.T) {
				// A batch works on its own: a batch that fails falls back
				// to one statement per call, which would hide a broken one.
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme")),
					message("msg2", ev, endpoint("ep2", "acme")), message("msg3", ev, endpoint("ep3", "acme"))})
				require.NoError(t, err)
				won, err := store.ClaimMany(ctx, s, []string{"msg1", "msg2", "msg3"}, []int{0, 0, 1}, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.ElementsMatch(t, []string{"msg1", "msg2"}, won)

				ok := dispatcher.Outcome{Status: dispatcher.StatusSucceeded}
				att := func(id, msg string) dispatcher.Attempt {
					return dispatcher.Attempt{ID: id, MessageID: msg, Trigger: "scheduled", URL: "https://example.com/hook",
						StartedAt: micro(time.Now()), StatusCode: 200}
				}
				found, err := store.RecordMany(ctx, s, []dispatcher.Attempt{att("att1", "msg1"), att("att2", "msg2"), att("att3", "nothing")},
					[]dispatcher.Outcome{ok, ok, ok})
				require.NoError(t, err)
				require.Equal(t, map[string]bool{"msg1": true, "msg2": true}, found)
				for _, id := range []string{"msg1", "msg2"} {
					m, err := s.Message(ctx, id)
					require.NoError(t, err)
					require.Equal(t, dispatcher.StatusSucceeded, m.Status)
					require.Equal(t, 1, m.Attempts)
				}
			})

			t.Run("FanOutBatches", func(t *testing.T) {
				// First fan-outs made at the same moment go in one
				// transaction on PostgreSQL; each caller still gets the
				// answer FanOut alone would have given.
				if backend != "postgres" {
					t.Skip("SQLite makes each fan-out in a transaction of its own")
				}
				s, ctx := setup(t)
				e1, e3 := insertEvent(t, s, event("evt_1")), insertEvent(t, s, event("evt_3"))
				insertEvent(t, s, event("evt_2"))
				ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
				_, err := s.FanOut(ctx, e3.ID, []dispatcher.Message{message("msg_30", e3, ep1)})
				require.NoError(t, err)

				pending, firsts, errs := store.FanOutBatch(ctx, s, []string{"evt_1", "evt_2", "evt_3", "evt_1", "nothing"},
					[][]dispatcher.Message{
						{message("msg_12", e1, ep1), message("msg_11", e1, ep2)},
						nil,
						{message("msg_31", e3, ep2)},
						{message("msg_13", e1, ep1)},
						{message("msg_x", dispatcher.Event{ID: "nothing"}, ep1)},
					})
				for _, err := range errs {
					require.NoError(t, err)
				}
				require.Equal(t, []bool{true, true, false, false, false}, firsts)
				msgID := func(m dispatcher.Message) string { return m.ID }
				require.Equal(t, []string{"msg_11", "msg_12"}, ids(pending[0], msgID))
				require.Equal(t, dispatcher.StatusPending, pending[0][0].Status)
				require.Equal(t, "ep2", pending[0][0].EndpointID)
				for _, p := range pending[1:] {
					require.Empty(t, p)
				}
				all, err := s.MessagesOfEvents(ctx, []string{"evt_1", "evt_2", "evt_3"})
				require.NoError(t, err)
				require.ElementsMatch(t, []string{"msg_11", "msg_12", "msg_30"}, ids(all, msgID))
				for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
					ev, err := s.Event(ctx, id)
					require.NoError(t, err)
					require.NotNil(t, ev.FannedOutAt, id)
				}

				// The batch alone, without the fallback.
				e4, e5 := insertEvent(t, s, event("evt_4")), insertEvent(t, s, event("evt_5"))
				firsts, err = store.FanOutMany(ctx, s, []string{"evt_5", "evt_4", "evt_1"},
					[][]dispatcher.Message{{message("msg_51", e5, ep1), message("msg_52", e5, ep2)}, {message("msg_41", e4, ep1)},
						{message("msg_14", e1, ep2)}})
				require.NoError(t, err)
				require.Equal(t, []bool{true, true, false}, firsts)
				all, err = s.MessagesOfEvents(ctx, []string{"evt_4", "evt_5"})
				require.NoError(t, err)
				require.ElementsMatch(t, []string{"msg_41", "msg_51", "msg_52"}, ids(all, msgID))
			})

			t.Run("MarkFirstByPrimaryKey", func(t *testing.T) {
				// Statistics taken while every event was fanned out, then a
				// burst of events waiting: marking one must still find it by
				// primary key, not read through every waiting event.
				if backend != "postgres" {
					t.Skip("the plan checked is PostgreSQL's")
				}
				s, ctx := setup(t)
				batch := func(from, n int) []dispatcher.Event {
					evs := make([]dispatcher.Event, n)
					for i := range evs {
						evs[i] = event(fmt.Sprintf("evt_%05d", from+i))
					}
					return evs
				}
				_, err := s.InsertEvents(ctx, batch(0, 200))
				require.NoError(t, err)
				for i := range 200 {
					_, err := s.FanOut(ctx, fmt.Sprintf("evt_%05d", i), nil)
					require.NoError(t, err)
				}
				require.NoError(t, store.Analyze(ctx, s))
				for from := 200; from < 5200; from += 500 {
					_, err := s.InsertEvents(ctx, batch(from, 500))
					require.NoError(t, err)
				}
				plan, err := store.MarkFirstPlan(ctx, s, "evt_03000")
				require.NoError(t, err)
				require.Contains(t, plan, "events_pkey", plan)
			})

			t.Run("Batches", func(t *testing.T) {
				// Claims and attempt records made at the same moment go in
				// one transaction; each caller still gets its own answer.
				s, ctx := setup(t)
				fannedOut(t, s, 5)

				lease := micro(time.Now().Add(time.Minute))
				ms, oks, errs := store.ClaimBatch(ctx, s, []string{"msg3", "msg1", "msg1", "msg2", "nothing", "msg4", "msg5"},
					[]int{0, 0, 0, 1, 0, 0, 0}, lease)
				require.Equal(t, []bool{true, true, false, false, false, true, true}, oks)
				for i, err := range errs {
					if i == 4 {
						require.ErrorIs(t, err, subscriptions.ErrNotFound)
						continue
					}
					require.NoError(t, err)
				}
				for _, i := range []int{0, 1, 5} {
					require.Equal(t, dispatcher.StatusDelivering, ms[i].Status, ms[i].ID)
					require.Equal(t, lease, *ms[i].LeaseUntil)
				}
				require.Equal(t, "msg1", ms[2].ID)
				require.Equal(t, dispatcher.StatusDelivering, ms[2].Status, "the loser sees the message as it stands")
				require.Equal(t, dispatcher.StatusPending, ms[3].Status, "wrong attempt count: not claimed")

				next := micro(time.Now().Add(time.Minute))
				att := func(id, msg string, number, code int) dispatcher.Attempt {
					a := dispatcher.Attempt{ID: id, MessageID: msg, Number: number, Trigger: "scheduled", URL: "https://example.com/hook",
						StartedAt: micro(time.Now()), DurationMS: 5, StatusCode: code}
					if code >= 500 {
						a.ErrorClass, a.Error = dispatcher.ErrorHTTPStatus, "503 Service Unavailable"
					}
					return a
				}
				ok := dispatcher.Outcome{Status: dispatcher.StatusSucceeded}
				retry := dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}
				errs = store.RecordBatch(ctx, s,
					[]dispatcher.Attempt{att("att_a", "msg3", 0, 503), att("att_b", "msg1", 1, 200), att("att_c", "nothing", 1, 200),
						att("att_d", "msg3", 0, 200), att("att_e", "msg4", 0, 503)},
					[]dispatcher.Outcome{retry, ok, ok, ok, retry})
				require.NoError(t, errs[0])
				require.NoError(t, errs[1])
				require.ErrorIs(t, errs[2], subscriptions.ErrNotFound)
				require.NoError(t, errs[3], "a second record of one message in a batch")
				require.NoError(t, errs[4])

				m, err := s.Message(ctx, "msg3")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusSucceeded, m.Status, "records of one message apply in the order given")
				require.Equal(t, 2, m.Attempts)
				atts, err := s.ListAttempts(ctx, "msg3", subscriptions.Page{})
				require.NoError(t, err)
				require.Len(t, atts, 2)
				require.Equal(t, []int{1, 2}, []int{atts[0].Number, atts[1].Number}, "a zero Number is the message's count")
				require.Equal(t, []string{"ep3", "ep3"}, []string{atts[0].EndpointID, atts[1].EndpointID})
				require.Equal(t, "acme", atts[0].PartnerID)
				m, err = s.Message(ctx, "msg4")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusPending, m.Status)
				require.Equal(t, next, *m.NextAttemptAt)
				require.Nil(t, m.LeaseUntil)
				require.Equal(t, 503, m.LastStatusCode)
				require.Equal(t, dispatcher.ErrorHTTPStatus, m.LastErrorClass)
				m, err = s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusSucceeded, m.Status)

				// A faulty record (an attempt id taken) fails alone; the rest
				// of its batch is recorded.
				errs = store.RecordBatch(ctx, s,
					[]dispatcher.Attempt{att("att_f", "msg5", 1, 200), att("att_b", "msg2", 1, 200)},
					[]dispatcher.Outcome{ok, ok})
				require.NoError(t, errs[0])
				require.ErrorIs(t, errs[1], subscriptions.ErrConflict)
				m, err = s.Message(ctx, "msg5")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusSucceeded, m.Status)
				m, err = s.Message(ctx, "msg2")
				require.NoError(t, err)
				require.Equal(t, 0, m.Attempts, "the failed record changed nothing")

				// Many callers at once: every claim and record lands once.
				var evMsgs []dispatcher.Message
				ev2 := insertEvent(t, s, event("evt_2"))
				for i := range 60 {
					evMsgs = append(evMsgs, message(fmt.Sprintf("many%02d", i), ev2, endpoint(fmt.Sprintf("ep%02d", i), "acme")))
				}
				_, err = s.FanOut(ctx, ev2.ID, evMsgs)
				require.NoError(t, err)
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					wins = map[string]int{}
				)
				for _, msg := range evMsgs {
					for range 2 {
						wg.Go(func() {
							_, ok, err := s.ClaimMessage(ctx, msg.ID, 0, lease)
							if err != nil || !ok {
								require.NoError(t, err)
								return
							}
							mu.Lock()
							wins[msg.ID]++
							mu.Unlock()
							require.NoError(t, s.RecordAttempt(ctx, att("att_"+msg.ID, msg.ID, 1, 200), dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
						})
					}
				}
				wg.Wait()
				require.Len(t, wins, 60)
				for id, n := range wins {
					require.Equal(t, 1, n, id)
					m, err := s.Message(ctx, id)
					require.NoError(t, err)
					require.Equal(t, dispatcher.StatusSucceeded, m.Status)
					require.Equal(t, 1, m.Attempts)
				}
			})

			t.Run("RecordAttempt", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				ep := endpoint("ep1", "acme")
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, ep)})
				require.NoError(t, err)
				_, ok, err := s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)

				next := micro(time.Now().Add(5 * time.Second))
				a := dispatcher.Attempt{
					ID: "att1", MessageID: "msg1", EndpointID: ep.ID, PartnerID: ep.PartnerID, Number: 1,
					Trigger: "scheduled", URL: ep.URL, StartedAt: micro(time.Now()), DurationMS: 120,
					StatusCode: 503, ResponseBody: "busy", ResponseHeaders: map[string]string{"Retry-After": "5"},
					ErrorClass: dispatcher.ErrorHTTPStatus, Error: "503 Service Unavailable",
				}
				require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}))
				m, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusPending, m.Status)
				require.Equal(t, 1, m.Attempts)
				require.Equal(t, next, *m.NextAttemptAt)
				require.Nil(t, m.LeaseUntil)
				atts, err := s.ListAttempts(ctx, "msg1", subscriptions.Page{})
				require.NoError(t, err)
				require.Equal(t, []dispatcher.Attempt{a}, atts)

				// Number, endpoint and partner default to the message's.
				_, ok, err = s.ClaimMessage(ctx, "msg1", 1, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)
				b := dispatcher.Attempt{ID: "att2", MessageID: "msg1", Trigger: "scheduled", URL: ep.URL, StartedAt: micro(time.Now()), StatusCode: 200}
				require.NoError(t, s.RecordAttempt(ctx, b, dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
				m, err = s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusSucceeded, m.Status)
				require.Equal(t, 2, m.Attempts)
				require.Nil(t, m.NextAttemptAt)
				atts, err = s.ListAttempts(ctx, "msg1", subscriptions.Page{})
				require.NoError(t, err)
				require.Len(t, atts, 2)
				require.Equal(t, 2, atts[1].Number)
				require.Equal(t, "ep1", atts[1].EndpointID)
				require.Equal(t, "acme", atts[1].PartnerID)
				require.Nil(t, atts[1].ResponseHeaders)

				c := a
				c.ID, c.MessageID = "att3", "nothing"
				require.ErrorIs(t, s.RecordAttempt(ctx, c, dispatcher.Outcome{Status: dispatcher.StatusFailed}), subscriptions.ErrNotFound)
				_, err = s.Attempt(ctx, "att3")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)

				// A repeated attempt id changes nothing.
				d := b
				d.ErrorClass = dispatcher.ErrorTimeout
				err = s.RecordAttempt(ctx, d, dispatcher.Outcome{Status: dispatcher.StatusFailed})
				require.ErrorIs(t, err, subscriptions.ErrConflict)
				require.ErrorContains(t, err, "att2")
				again, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, m, again)
				require.ErrorIs(t, s.SetMessageStatus(ctx, "nothing", dispatcher.Outcome{Status: dispatcher.StatusFailed}), subscriptions.ErrNotFound)
				_, err = s.Message(ctx, "nothing")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
			})

			t.Run("SetMessageStatus", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
				require.NoError(t, err)
				_, ok, err := s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)

				require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusDisabled}))
				m, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusDisabled, m.Status)
				require.Nil(t, m.NextAttemptAt)
				require.Nil(t, m.LeaseUntil)
				require.Zero(t, m.Attempts)

				next := micro(time.Now().Add(time.Hour))
				require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}))
				m, err = s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusPending, m.Status)
				require.Equal(t, next, *m.NextAttemptAt)

				// Held: no next attempt, even if the outcome names one, and
				// no lease; set directly or by an attempt.
				_, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)
				require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusHeld, NextAttemptAt: &next}))
				m, err = s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusHeld, m.Status)
				require.Nil(t, m.NextAttemptAt)
				require.Nil(t, m.LeaseUntil)
				require.Zero(t, m.Attempts)
				a := dispatcher.Attempt{ID: "att1", MessageID: "msg1", Trigger: "scheduled", URL: "https://example.com/hook",
					StartedAt: micro(time.Now()), StatusCode: 503, ErrorClass: dispatcher.ErrorHTTPStatus}
				require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusHeld, NextAttemptAt: &next}))
				m, err = s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusHeld, m.Status)
				require.Nil(t, m.NextAttemptAt)
				require.Equal(t, 1, m.Attempts)
			})

			t.Run("DeferMessage", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
				require.NoError(t, err)
				later := micro(time.Now().Add(time.Minute))
				ok, err := s.DeferMessage(ctx, "msg1", 1, later)
				require.NoError(t, err)
				require.False(t, ok, "a stale attempt count defers nothing")
				ok, err = s.DeferMessage(ctx, "msg1", 0, later)
				require.NoError(t, err)
				require.True(t, ok)
				m, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusPending, m.Status)
				require.Equal(t, later, *m.NextAttemptAt)
				require.Zero(t, m.Attempts, "deferring spends no attempt")
				_, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)
				ok, err = s.DeferMessage(ctx, "msg1", 0, later)
				require.NoError(t, err)
				require.False(t, ok, "a message being delivered is not deferred")
			})

			t.Run("DeferBatch", func(t *testing.T) {
				// Deferrals made at the same moment go in one transaction;
				// each caller still learns whether its message moved.
				s, ctx := setup(t)
				fannedOut(t, s, 4)
				_, ok, err := s.ClaimMessage(ctx, "msg4", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)

				later := micro(time.Now().Add(time.Minute))
				moved, errs := store.DeferBatch(ctx, s, []string{"msg3", "msg1", "msg2", "nothing", "msg4", "msg1"},
					[]int{0, 0, 1, 0, 0, 0}, later)
				for _, err := range errs {
					require.NoError(t, err)
				}
				require.Equal(t, []bool{true, true, false, false, false, true}, moved,
					"a stale attempt count, an unknown message and one being delivered move nothing; a repeat moves again")
				for id, want := range map[string]bool{"msg1": true, "msg2": false, "msg3": true} {
					m, err := s.Message(ctx, id)
					require.NoError(t, err)
					require.Equal(t, dispatcher.StatusPending, m.Status, id)
					require.Equal(t, want, *m.NextAttemptAt == later, id)
				}

				// The batch itself, without the fallback to one at a time.
				further := micro(later.Add(time.Minute))
				moved, err = store.DeferMany(ctx, s, []string{"msg2", "msg3", "msg4"}, []int{0, 0, 0}, further)
				require.NoError(t, err)
				require.Equal(t, []bool{true, true, false}, moved)
			})

			t.Run("HoldMessage", func(t *testing.T) {
				s, ctx := setup(t)
				fannedOut(t, s, 4)
				// msg5: pending with a stale lease, which a hold clears.
				ev := insertEvent(t, s, event("evt_2"))
				stale := message("msg5", ev, endpoint("ep5", "acme"))
				lease := micro(time.Now().Add(-time.Minute))
				stale.LeaseUntil = &lease
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{stale})
				require.NoError(t, err)
				_, ok, err := s.ClaimMessage(ctx, "msg2", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)
				require.NoError(t, s.SetMessageStatus(ctx, "msg3", dispatcher.Outcome{Status: dispatcher.StatusSucceeded}))
				before, err := s.Message(ctx, "msg1")
				require.NoError(t, err)

				start := micro(time.Now())
				ok, err = s.HoldMessage(ctx, "msg1", 1)
				require.NoError(t, err)
				require.False(t, ok, "a stale attempt count holds nothing")
				ok, err = s.HoldMessage(ctx, "msg1", 0)
				require.NoError(t, err)
				require.True(t, ok)
				m, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusHeld, m.Status)
				require.Nil(t, m.NextAttemptAt)
				require.Nil(t, m.LeaseUntil)
				require.False(t, m.UpdatedAt.Before(start), "updated_at is now")
				want := before
				want.Status, want.NextAttemptAt, want.UpdatedAt = dispatcher.StatusHeld, nil, m.UpdatedAt
				require.Equal(t, want, m, "holding spends no attempt and keeps the rest")
				ok, err = s.HoldMessage(ctx, "msg5", 0)
				require.NoError(t, err)
				require.True(t, ok)
				m, err = s.Message(ctx, "msg5")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusHeld, m.Status)
				require.Nil(t, m.LeaseUntil)

				for id, why := range map[string]string{
					"msg1":    "a held message is not held again",
					"msg2":    "a message being delivered is not held",
					"msg3":    "a message that succeeded is not held",
					"nothing": "an unknown message is not held",
				} {
					ok, err := s.HoldMessage(ctx, id, 0)
					require.NoError(t, err, id)
					require.False(t, ok, why)
				}
				for id, st := range map[string]dispatcher.Status{"msg2": dispatcher.StatusDelivering, "msg3": dispatcher.StatusSucceeded} {
					m, err := s.Message(ctx, id)
					require.NoError(t, err)
					require.Equal(t, st, m.Status, id)
				}

				// Held messages are never due, nor claimed or deferred: they
				// wait for WakeHeld. The pending msg4, and msg2 once its lease
				// runs out, show that DueMessages would return a message that
				// is.
				msgID := func(m dispatcher.Message) string { return m.ID }
				due, err := s.DueMessages(ctx, time.Now().Add(365*24*time.Hour), 100)
				require.NoError(t, err)
				require.Equal(t, []string{"msg4", "msg2"}, ids(due, msgID))
				pending, err := s.FanOut(ctx, "evt_1", nil)
				require.NoError(t, err)
				require.Equal(t, []string{"msg4"}, ids(pending, msgID), "FanOut returns the pending messages, not the held")
				m, ok, err = s.ClaimMessage(ctx, "msg1", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.False(t, ok)
				require.Equal(t, dispatcher.StatusHeld, m.Status)
				ok, err = s.DeferMessage(ctx, "msg1", 0, time.Now())
				require.NoError(t, err)
				require.False(t, ok)
			})

			t.Run("HoldBatch", func(t *testing.T) {
				// Holds and deferrals made at the same moment go in one
				// transaction; each caller still learns whether its message
				// moved.
				s, ctx := setup(t)
				fannedOut(t, s, 5)
				msg5, ok, err := s.ClaimMessage(ctx, "msg5", 0, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)
				msg2, err := s.Message(ctx, "msg2")
				require.NoError(t, err)

				later := micro(time.Now().Add(time.Minute))
				moved, errs := store.HoldBatch(ctx, s, []string{"msg3", "msg1", "msg2", "nothing", "msg5", "msg4", "msg1"},
					[]int{0, 0, 1, 0, 0, 0, 0}, []bool{true, false, true, true, true, false, true}, later)
				for _, err := range errs {
					require.NoError(t, err)
				}
				require.Equal(t, []bool{true, true, false, false, false, true, true}, moved,
					"a stale attempt count, an unknown message and one being delivered move nothing; msg1 is deferred, then held")
				for id, want := range map[string]struct {
					status dispatcher.Status
					next   *time.Time
				}{
					"msg1": {dispatcher.StatusHeld, nil},
					"msg2": {dispatcher.StatusPending, msg2.NextAttemptAt},
					"msg3": {dispatcher.StatusHeld, nil},
					"msg4": {dispatcher.StatusPending, &later},
					"msg5": {dispatcher.StatusDelivering, msg5.NextAttemptAt},
				} {
					m, err := s.Message(ctx, id)
					require.NoError(t, err)
					require.Equal(t, want.status, m.Status, id)
					require.Equal(t, want.next, m.NextAttemptAt, id)
				}

				// The batch itself, without the fallback to one at a time.
				further := micro(later.Add(time.Minute))
				moved, err = store.HoldMany(ctx, s, []string{"msg4", "msg2", "msg3"}, []int{0, 0, 0}, []bool{true, false, true}, further)
				require.NoError(t, err)
				require.Equal(t, []bool{true, true, false}, moved)
				m, err := s.Message(ctx, "msg4")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusHeld, m.Status)
				require.Nil(t, m.NextAttemptAt)
				m, err = s.Message(ctx, "msg2")
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusPending, m.Status)
				require.Equal(t, further, *m.NextAttemptAt)
			})

			t.Run("HeldEndpoints", func(t *testing.T) {
				s, ctx := setup(t)
				got, err := s.HeldEndpoints(ctx)
				require.NoError(t, err)
				require.Empty(t, got)

				// Per event, a message to each endpoint: all of ep_c's and
				// ep_a's held, one of EP_Z's (byte order puts it first), none
				// of ep_b's. They are held in each of the three ways.
				eps := []subscriptions.Endpoint{endpoint("ep_c", "acme"), endpoint("ep_b", "acme"), endpoint("EP_Z", "beta"),
					endpoint("ep_a", "acme")}
				for i := range 4 {
					ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
					var msgs []dispatcher.Message
					for _, ep := range eps {
						m := message(fmt.Sprintf("msg_%d_%s", i, ep.ID), ev, ep)
						if ep.ID == "ep_c" {
							m.Status, m.NextAttemptAt = dispatcher.StatusHeld, nil
						}
						msgs = append(msgs, m)
					}
					_, err := s.FanOut(ctx, ev.ID, msgs)
					require.NoError(t, err)
					ok, err := s.HoldMessage(ctx, fmt.Sprintf("msg_%d_ep_a", i), 0)
					require.NoError(t, err)
					require.True(t, ok)
				}
				require.NoError(t, s.SetMessageStatus(ctx, "msg_2_EP_Z", dispatcher.Outcome{Status: dispatcher.StatusHeld}))
				// Messages of other states, and failed ones of another
				// endpoint, do not count.
				require.NoError(t, s.SetMessageStatus(ctx, "msg_1_ep_b", dispatcher.Outcome{Status: dispatcher.StatusFailed}))
				require.NoError(t, s.SetMessageStatus(ctx, "msg_3_ep_b", dispatcher.Outcome{Status: dispatcher.StatusDisabled}))

				got, err = s.HeldEndpoints(ctx)
				require.NoError(t, err)
				require.Equal(t, []string{"EP_Z", "ep_a", "ep_c"}, got)

				// An endpoint leaves once its held messages are woken.
				at := micro(time.Now())
				woken, err := s.WakeHeld(ctx, "EP_Z", "", 10, at)
				require.NoError(t, err)
				require.Len(t, woken, 1)
				got, err = s.HeldEndpoints(ctx)
				require.NoError(t, err)
				require.Equal(t, []string{"ep_a", "ep_c"}, got)
				woken, err = s.WakeHeld(ctx, "ep_c", "", 2, at)
				require.NoError(t, err)
				require.Len(t, woken, 2)
				got, err = s.HeldEndpoints(ctx)
				require.NoError(t, err)
				require.Equal(t, []string{"ep_a", "ep_c"}, got, "ep_c still has two held")
				for _, ep := range []string{"ep_c", "ep_a"} {
					_, err := s.WakeHeld(ctx, ep, "", 10, at)
					require.NoError(t, err)
				}
				got, err = s.HeldEndpoints(ctx)
				require.NoError(t, err)
				require.Empty(t, got)
			})

			t.Run("WakeHeld", func(t *testing.T) {
				s, ctx := setup(t)
				ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "beta")
				lease := micro(time.Now().Add(time.Minute))
				statuses := []dispatcher.Status{
					dispatcher.StatusHeld, dispatcher.StatusPending, dispatcher.StatusHeld, dispatcher.StatusFailed,
					dispatcher.StatusHeld, dispatcher.StatusHeld, dispatcher.StatusSucceeded, dispatcher.StatusHeld,
					dispatcher.StatusDisabled, dispatcher.StatusHeld, dispatcher.StatusHeld,
				}
				// Per event: ep1's message in the status given, and a held
				// message of ep2. Ids in an order of their own, not that of
				// creation.
				for i, st := range statuses {
					ev := insertEvent(t, s, event(fmt.Sprintf("evt_%02d", i)))
					m := message(fmt.Sprintf("msg_%02d_ep1", (i*7)%len(statuses)), ev, ep1)
					m.Status, m.Attempts = st, i%3
					m.LastStatusCode, m.LastErrorClass = 503, dispatcher.ErrorHTTPStatus
					if st != dispatcher.StatusPending {
						m.NextAttemptAt = nil
					}
					if i == 0 {
						m.LeaseUntil = &lease // a stale lease, replaced on waking
					}
					other := message(fmt.Sprintf("msg_%02d_ep2", i), ev, ep2)
					other.Status, other.NextAttemptAt = dispatcher.StatusHeld, nil
					_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m, other})
					require.NoError(t, err)
				}
				before, err := s.ListMessages(ctx, dispatcher.MessageQuery{Page: subscriptions.Page{Limit: 100}})
				require.NoError(t, err)
				heldOf := func(ep string) []string {
					var out []string
					for _, m := range before {
						if m.EndpointID == ep && m.Status == dispatcher.StatusHeld {
							out = append(out, m.ID)
						}
					}
					slices.Sort(out)
					return out
				}
				held1, held2 := heldOf("ep1"), heldOf("ep2")
				require.Len(t, held1, 7)
				require.Len(t, held2, 11)

				// ep1's, in pages of 3, claimed.
				at := micro(time.Now().Add(10 * time.Second))
				start := micro(time.Now())
				var (
					woken  []string
					sizes  []int
					cursor string
				)
				for range 10 {
					ms, err := s.WakeHeld(ctx, "ep1", cursor, 3, at)
					require.NoError(t, err)
					sizes = append(sizes, len(ms))
					if len(ms) == 0 {
						break
					}
					for _, m := range ms {
						require.Equal(t, dispatcher.StatusDelivering, m.Status)
						require.Equal(t, &at, m.LeaseUntil)
						require.Nil(t, m.NextAttemptAt)
						require.False(t, m.UpdatedAt.Before(start), "updated_at is now")
						stored, err := s.Message(ctx, m.ID)
						require.NoError(t, err)
						require.Equal(t, m, stored)
					}
					woken = append(woken, ids(ms, func(m dispatcher.Message) string { return m.ID })...)
					cursor = ms[len(ms)-1].ID
				}
				require.Equal(t, []int{3, 3, 1, 0}, sizes)
				require.Equal(t, held1, woken, "in id order, each once")

				// Everything else is as it was, ep2's held messages included;
				// the woken keep their attempt counts and last results.
				for _, m := range before {
					stored, err := s.Message(ctx, m.ID)
					require.NoError(t, err)
					if slices.Contains(held1, m.ID) {
						m.Status, m.LeaseUntil, m.UpdatedAt = dispatcher.StatusDelivering, &at, stored.UpdatedAt
					}
					require.Equal(t, m, stored)
				}
				due, err := s.DueMessages(ctx, at.Add(time.Microsecond), 100)
				require.NoError(t, err)
				for _, id := range held1 {
					require.Contains(t, ids(due, func(m dispatcher.Message) string { return m.ID }), id)
				}

				// Woken messages are not woken again.
				ms, err := s.WakeHeld(ctx, "ep1", "", 100, at)
				require.NoError(t, err)
				require.Empty(t, ms)

				// ep2's from a cursor: only ids after it; then the rest, with
				// the default limit.
				ms, err = s.WakeHeld(ctx, "ep2", held2[4], 100, at)
				require.NoError(t, err)
				require.Equal(t, held2[5:], ids(ms, func(m dispatcher.Message) string { return m.ID }))
				ms, err = s.WakeHeld(ctx, "ep2", "", 0, at)
				require.NoError(t, err)
				require.Equal(t, held2[:5], ids(ms, func(m dispatcher.Message) string { return m.ID }))
				left, err := s.ListMessages(ctx, dispatcher.MessageQuery{Status: dispatcher.StatusHeld})
				require.NoError(t, err)
				require.Empty(t, left)

				ms, err = s.WakeHeld(ctx, "nobody", "", 10, at)
				require.NoError(t, err)
				require.Empty(t, ms)
			})

			t.Run("ConcurrentWakeHeld", func(t *testing.T) {
				// Workers waking one endpoint at once, each from the start:
				// every held message is woken, and returned, exactly once.
				s, ctx := setup(t)
				ep := endpoint("ep1", "acme")
				const n = 120
				evs := insertEvents(t, s, n)
				var held []string
				for _, ev := range evs {
					m := message(strings.Replace(ev.ID, "evt", "msg", 1), ev, ep)
					m.Status, m.NextAttemptAt = dispatcher.StatusHeld, nil
					_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
					require.NoError(t, err)
					held = append(held, m.ID)
				}

				at := micro(time.Now())
				const workers = 8
				woken := make([][]string, workers)
				errs := make([]error, workers)
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						for range n {
							ms, err := s.WakeHeld(ctx, "ep1", "", 7, at)
							if err != nil {
								errs[w] = err
								return
							}
							woken[w] = append(woken[w], ids(ms, func(m dispatcher.Message) string { return m.ID })...)
							if len(ms) > 0 {
								continue
							}
							// Empty: the others took this batch, or none is left.
							left, err := s.ListMessages(ctx, dispatcher.MessageQuery{EndpointID: "ep1", Status: dispatcher.StatusHeld,
								Page: subscriptions.Page{Limit: 1}})
							if err != nil || len(left) == 0 {
								errs[w] = err
								return
							}
						}
					})
				}
				wg.Wait()
				var all []string
				for w := range workers {
					require.NoError(t, errs[w])
					all = append(all, woken[w]...)
				}
				slices.Sort(all)
				require.Equal(t, held, all)
			})

			t.Run("HeldPlans", func(t *testing.T) {
				// HeldEndpoints descends messages_held once per endpoint, and
				// WakeHeld reads one range of it from the cursor, however
				// many messages are held. PostgreSQL plans by its
				// statistics: it gets 4,000 messages, three quarters of them
				// held over three endpoints, with statistics taken either
				// with them held or before any was (as when a backlog
				// begins, which made the planner read and sort every held
				// message from messages_status while the predicate of
				// messages_held was status = 'held').
				for _, analyzedHeld := range []bool{true, false} {
					t.Run(fmt.Sprintf("analyzed held %t", analyzedHeld), func(t *testing.T) {
						s, _ := setup(t)
						if backend == "postgres" {
							heldPlansFixture(t, s, analyzedHeld)
						}
						checkHeldPlans(t, s, backend)
					})
				}
			})

			t.Run("DisableEndpoint", func(t *testing.T) {
				s, ctx := setup(t)
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
			})

			t.Run("DueMessages", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				now := micro(time.Now())
				at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
				var msgs []dispatcher.Message
				for i, next := range []time.Duration{-3 * time.Minute, -time.Minute, time.Minute, -5 * time.Minute, -2 * time.Minute, -4 * time.Minute} {
					m := message(fmt.Sprintf("msg%d", i), ev, endpoint(fmt.Sprintf("ep%d", i), "acme"))
					m.NextAttemptAt = at(next)
					msgs = append(msgs, m)
				}
				_, err := s.FanOut(ctx, ev.ID, msgs)
				require.NoError(t, err)
				// msg3: delivering, lease ran out 30 s ago (due at -30s).
				_, ok, err := s.ClaimMessage(ctx, "msg3", 0, *at(-30 * time.Second))
				require.NoError(t, err)
				require.True(t, ok)
				// msg4: delivering, lease still running.
				_, ok, err = s.ClaimMessage(ctx, "msg4", 0, *at(90 * time.Second))
				require.NoError(t, err)
				require.True(t, ok)
				// msg5: done.
				require.NoError(t, s.SetMessageStatus(ctx, "msg5", dispatcher.Outcome{Status: dispatcher.StatusFailed}))

				got, err := s.DueMessages(ctx, now, 10)
				require.NoError(t, err)
				require.Equal(t, []string{"msg0", "msg1", "msg3"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
				got, err = s.DueMessages(ctx, now, 2)
				require.NoError(t, err)
				require.Equal(t, []string{"msg0", "msg1"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
				got, err = s.DueMessages(ctx, now.Add(2*time.Minute), 10)
				require.NoError(t, err)
				require.Equal(t, []string{"msg0", "msg1", "msg3", "msg2", "msg4"}, ids(got, func(m dispatcher.Message) string { return m.ID }))
			})

			t.Run("ListMessages", func(t *testing.T) {
				s, ctx := setup(t)
				base := micro(time.Now().Add(-time.Hour))
				eps := []subscriptions.Endpoint{endpoint("ep_a1", "acme"), endpoint("ep_a2", "acme"), endpoint("ep_b1", "beta")}
				var all []dispatcher.Message
				for i := range 12 {
					e := event(fmt.Sprintf("evt_%02d", i))
					if i%2 == 1 {
						e.Type = "shipment.delivered"
					}
					e.Shipment.ID = fmt.Sprintf("shp_%d", i%3)
					e = insertEvent(t, s, e)
					var msgs []dispatcher.Message
					for j, ep := range eps {
						m := message(fmt.Sprintf("msg_%02d_%d", i, j), e, ep)
						m.CreatedAt = base.Add(time.Duration(i) * time.Minute)
						m.UpdatedAt = m.CreatedAt
						switch i % 4 {
						case 0:
							m.Status = dispatcher.StatusFailed
							m.NextAttemptAt = nil
						case 2:
							m.Status = dispatcher.StatusHeld
							m.NextAttemptAt = nil
						}
						msgs = append(msgs, m)
					}
					_, err := s.FanOut(ctx, e.ID, msgs)
					require.NoError(t, err)
					all = append(all, msgs...)
				}
				// Newest first.
				slices.Reverse(all)
				list := func(q dispatcher.MessageQuery) []string {
					t.Helper()
					q.Limit = 100
					ms, err := s.ListMessages(ctx, q)
					require.NoError(t, err)
					return ids(ms, func(m dispatcher.Message) string { return m.ID })
				}
				want := func(keep func(m dispatcher.Message) bool) []string {
					var out []string
					for _, m := range all {
						if keep(m) {
							out = append(out, m.ID)
						}
					}
					return out
				}
				since, until := base.Add(3*time.Minute), base.Add(7*time.Minute)
				for name, tc := range map[string]struct {
					q    dispatcher.MessageQuery
					keep func(m dispatcher.Message) bool
				}{
					"all":      {dispatcher.MessageQuery{}, func(dispatcher.Message) bool { return true }},
					"partner":  {dispatcher.MessageQuery{PartnerID: "acme"}, func(m dispatcher.Message) bool { return m.PartnerID == "acme" }},
					"endpoint": {dispatcher.MessageQuery{EndpointID: "ep_a2"}, func(m dispatcher.Message) bool { return m.EndpointID == "ep_a2" }},
					"type":     {dispatcher.MessageQuery{EventType: "shipment.delivered"}, func(m dispatcher.Message) bool { return m.EventType == "shipment.delivered" }},
					"shipment": {dispatcher.MessageQuery{ShipmentID: "shp_1"}, func(m dispatcher.Message) bool { return m.ShipmentID == "shp_1" }},
					"status":   {dispatcher.MessageQuery{Status: dispatcher.StatusFailed}, func(m dispatcher.Message) bool { return m.Status == dispatcher.StatusFailed }},
					"held":     {dispatcher.MessageQuery{Status: dispatcher.StatusHeld}, func(m dispatcher.Message) bool { return m.Status == dispatcher.StatusHeld }},
					"since":    {dispatcher.MessageQuery{Since: &since}, func(m dispatcher.Message) bool { return !m.CreatedAt.Before(since) }},
					"until":    {dispatcher.MessageQuery{Until: &until}, func(m dispatcher.Message) bool { return m.CreatedAt.Before(until) }},
					"endpoint held": {
						dispatcher.MessageQuery{EndpointID: "ep_a2", Status: dispatcher.StatusHeld},
						func(m dispatcher.Message) bool { return m.EndpointID == "ep_a2" && m.Status == dispatcher.StatusHeld },
					},
					"combined": {
						dispatcher.MessageQuery{PartnerID: "acme", Status: dispatcher.StatusPending, Since: &since, Until: &until},
						func(m dispatcher.Message) bool {
							return m.PartnerID == "acme" && m.Status == dispatcher.StatusPending && !m.CreatedAt.Before(since) && m.CreatedAt.Before(until)
						},
					},
				} {
					w := want(tc.keep)
					require.NotEmpty(t, w, name)
					require.Equal(t, w, list(tc.q), name)
				}

				// Pages of 5, each older than the last.
				var paged []string
				q := dispatcher.MessageQuery{PartnerID: "acme"}
				q.Limit = 5
				for {
					ms, err := s.ListMessages(ctx, q)
					require.NoError(t, err)
					require.LessOrEqual(t, len(ms), 5)
					paged = append(paged, ids(ms, func(m dispatcher.Message) string { return m.ID })...)
					if len(ms) < 5 {
						break
					}
					q.After = ms[len(ms)-1].ID
				}
				require.Equal(t, want(func(m dispatcher.Message) bool { return m.PartnerID == "acme" }), paged)

				ms, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
				require.NoError(t, err)
				require.Len(t, ms, 36)
				require.Equal(t, all[0], ms[0])
				require.Equal(t, time.UTC, ms[0].CreatedAt.Location())
			})

			t.Run("ListAttempts", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
				require.NoError(t, err)
				for _, n := range []int{3, 1, 4, 2, 5} {
					a := dispatcher.Attempt{ID: fmt.Sprintf("att%d", 10-n), MessageID: "msg1", Number: n, Trigger: "manual",
						URL: "https://example.com", StartedAt: micro(time.Now())}
					require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending}))
				}
				atts, err := s.ListAttempts(ctx, "msg1", subscriptions.Page{})
				require.NoError(t, err)
				require.Equal(t, []int{1, 2, 3, 4, 5}, ids(atts, func(a dispatcher.Attempt) int { return a.Number }))

				atts, err = s.ListAttempts(ctx, "msg1", subscriptions.Page{Limit: 2})
				require.NoError(t, err)
				require.Equal(t, []int{1, 2}, ids(atts, func(a dispatcher.Attempt) int { return a.Number }))
				atts, err = s.ListAttempts(ctx, "msg1", subscriptions.Page{After: atts[1].ID, Limit: 2})
				require.NoError(t, err)
				require.Equal(t, []int{3, 4}, ids(atts, func(a dispatcher.Attempt) int { return a.Number }))

				atts, err = s.ListAttempts(ctx, "nothing", subscriptions.Page{})
				require.NoError(t, err)
				require.Empty(t, atts)
				m, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, 5, m.Attempts)
			})

			t.Run("ResumeMessages", func(t *testing.T) {
				s, ctx := setup(t)
				ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
				lease := micro(time.Now().Add(time.Minute))
				// Per event: ep1's message in the status given, and a disabled
				// message of ep2.
				for i, st := range []dispatcher.Status{
					dispatcher.StatusDisabled, dispatcher.StatusPending, dispatcher.StatusDisabled,
					dispatcher.StatusFailed, dispatcher.StatusSucceeded, dispatcher.StatusDelivering,
					dispatcher.StatusDisabled,
				} {
					ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
					// Ids that do not sort in the order the messages were made.
					m := message(fmt.Sprintf("msg_%d_ep1", 7-i), ev, ep1)
					m.Status, m.Attempts = st, i
					if st != dispatcher.StatusPending {
						m.NextAttemptAt = nil
					}
					if st == dispatcher.StatusDelivering || i == 6 {
						m.LeaseUntil = &lease // a stale lease on the last disabled one
					}
					other := message(fmt.Sprintf("msg_%d_ep2", i), ev, ep2)
					other.Status, other.NextAttemptAt = dispatcher.StatusDisabled, nil
					_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m, other})
					require.NoError(t, err)
				}
				before, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
				require.NoError(t, err)
				require.Len(t, before, 14)

				at := micro(time.Now().Add(10 * time.Second))
				start := micro(time.Now())
				got, err := s.ResumeMessages(ctx, "ep1", at)
				require.NoError(t, err)
				resumed := []string{"msg_1_ep1", "msg_5_ep1", "msg_7_ep1"}
				require.Equal(t, resumed, ids(got, func(m dispatcher.Message) string { return m.ID }))
				for _, m := range got {
					require.Equal(t, dispatcher.StatusPending, m.Status)
					require.Equal(t, &at, m.NextAttemptAt)
					require.Nil(t, m.LeaseUntil)
					require.False(t, m.UpdatedAt.Before(start), "updated_at is now")
					stored, err := s.Message(ctx, m.ID)
					require.NoError(t, err)
					require.Equal(t, m, stored)
				}
				// Everything else is as it was, ep2's disabled messages included.
				for _, m := range before {
					if slices.Contains(resumed, m.ID) {
						want := m
						want.Status, want.NextAttemptAt, want.LeaseUntil = dispatcher.StatusPending, &at, nil
						stored, err := s.Message(ctx, m.ID)
						require.NoError(t, err)
						want.UpdatedAt = stored.UpdatedAt
						require.Equal(t, want, stored, "attempts and the rest are kept")
						continue
					}
					stored, err := s.Message(ctx, m.ID)
					require.NoError(t, err)
					require.Equal(t, m, stored)
				}
				// Due at at.
				due, err := s.DueMessages(ctx, at.Add(time.Microsecond), 100)
				require.NoError(t, err)
				for _, id := range resumed {
					require.Contains(t, ids(due, func(m dispatcher.Message) string { return m.ID }), id)
				}

				got, err = s.ResumeMessages(ctx, "ep1", at)
				require.NoError(t, err)
				require.Empty(t, got)
				got, err = s.ResumeMessages(ctx, "nobody", at)
				require.NoError(t, err)
				require.Empty(t, got)
			})

			t.Run("EndpointHealth", func(t *testing.T) {
				s, ctx := setup(t)
				now := micro(time.Now())
				ev := insertEvent(t, s, event("evt_1"))
				eps := []subscriptions.Endpoint{endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "acme"), endpoint("ep4", "acme")}
				var msgs []dispatcher.Message
				for _, ep := range eps {
					msgs = append(msgs, message("msg_"+ep.ID, ev, ep))
				}
				_, err := s.FanOut(ctx, ev.ID, msgs)
				require.NoError(t, err)

				type at struct {
					ep  string
					ago time.Duration // before now
					ok  bool
				}
				// Recorded out of time order, with ids that sort neither way.
				attempts := map[string]at{
					// ep1: successes and failures, some outside the day, the
					// last success within the hour, three failures after it,
					// and a success after now, which does not count yet.
					"att_k": {"ep1", 30 * time.Hour, true},
					"att_c": {"ep1", 26 * time.Hour, false},
					"att_h": {"ep1", 24 * time.Hour, false}, // the day's first microsecond
					"att_a": {"ep1", 10 * time.Hour, true},
					"att_m": {"ep1", 5 * time.Hour, false},
					"att_e": {"ep1", 40 * time.Minute, true},
					"att_j": {"ep1", 30 * time.Minute, false},
					"att_b": {"ep1", 20 * time.Minute, false},
					"att_f": {"ep1", 5 * time.Minute, false},
					"att_d": {"ep1", -10 * time.Minute, true},
					// ep2: never succeeded.
					"att_l": {"ep2", 72 * time.Hour, false},
					"att_g": {"ep2", 2 * time.Hour, false},
					// ep3: never failed.
					"att_i": {"ep3", 90 * time.Minute, true},
					"att_n": {"ep3", time.Minute, true},
				}
				stored := map[string]dispatcher.Attempt{}
				for id, a := range attempts {
					att := dispatcher.Attempt{ID: id, MessageID: "msg_" + a.ep, EndpointID: a.ep, PartnerID: "acme",
						Trigger: "scheduled", URL: "https://example.com/hooks/" + a.ep, StartedAt: now.Add(-a.ago),
						DurationMS: 80, StatusCode: 200}
					if !a.ok {
						att.StatusCode, att.ResponseBody = 500, "oops"
						att.ResponseHeaders = map[string]string{"Content-Type": "text/plain"}
						att.ErrorClass, att.Error = dispatcher.ErrorHTTPStatus, "500 Internal Server Error"
					}
					require.NoError(t, s.RecordAttempt(ctx, att, dispatcher.Outcome{Status: dispatcher.StatusPending}))
					atts, err := s.ListAttempts(ctx, att.MessageID, subscriptions.Page{Limit: 100})
					require.NoError(t, err)
					i := slices.IndexFunc(atts, func(a dispatcher.Attempt) bool { return a.ID == id })
					require.GreaterOrEqual(t, i, 0)
					stored[id] = atts[i]
				}
				ago := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
				failure := func(id string) *dispatcher.Attempt { a := stored[id]; return &a }

				for _, tc := range []struct {
					ep   string
					want dispatcher.Health
				}{
					{"ep1", dispatcher.Health{
						AttemptsHour: 4, SucceededHour: 1, AttemptsDay: 7, SucceededDay: 2,
						ConsecutiveFailures: 3, LastSuccessAt: ago(40 * time.Minute), LastFailure: failure("att_f"),
					}},
					{"ep2", dispatcher.Health{
						AttemptsDay: 1, ConsecutiveFailures: 2, LastFailure: failure("att_g"),
					}},
					{"ep3", dispatcher.Health{
						AttemptsHour: 1, SucceededHour: 1, AttemptsDay: 2, SucceededDay: 2, LastSuccessAt: ago(time.Minute),
					}},
					{"ep4", dispatcher.Health{}},
					{"nobody", dispatcher.Health{}},
				} {
					h, err := s.EndpointHealth(ctx, tc.ep, now)
					require.NoError(t, err, tc.ep)
					require.Equal(t, tc.want, h, tc.ep)
				}

				// Later, the success after the old now ends ep1's run of
				// failures, and the day's first attempt has left the day.
				later := now.Add(15 * time.Minute)
				h, err := s.EndpointHealth(ctx, "ep1", later)
				require.NoError(t, err)
				require.Equal(t, dispatcher.Health{
					AttemptsHour: 5, SucceededHour: 2, AttemptsDay: 7, SucceededDay: 3,
					LastSuccessAt: ago(-10 * time.Minute), LastFailure: failure("att_f"),
				}, h)
				// As of long ago, only the oldest attempt had been made.
				h, err = s.EndpointHealth(ctx, "ep1", now.Add(-28*time.Hour))
				require.NoError(t, err)
				require.Equal(t, dispatcher.Health{
					AttemptsHour: 0, AttemptsDay: 1, SucceededDay: 1, LastSuccessAt: ago(30 * time.Hour),
				}, h)
			})

			t.Run("ListEvents", func(t *testing.T) {
				s, ctx := setup(t)
				types := []string{
					"shipment.created", "shipment.milestone.departed", "shipment.delivered",
					"shipment.milestone.arrived", "shipment.milestone", "shipment",
					// Just below and above "shipment." in byte order.
					"shipment-x.created", "shipment/x", "shipmentx.created",
				}
				var all []dispatcher.Event
				for i := range 30 {
					e := event(fmt.Sprintf("evt_%02d", i))
					e.Type = types[i%len(types)]
					e.Shipment.ID = fmt.Sprintf("shp_%d", i%4)
					all = append(all, e)
				}
				_, err := s.InsertEvents(ctx, all)
				require.NoError(t, err)
				// Newest first.
				slices.Reverse(all)
				list := func(q dispatcher.EventQuery) []string {
					t.Helper()
					q.Limit = 100
					es, err := s.ListEvents(ctx, q)
					require.NoError(t, err)
					return ids(es, func(e dispatcher.Event) string { return e.ID })
				}
				want := func(keep func(e dispatcher.Event) bool) []string {
					out := []string{}
					for _, e := range all {
						if keep(e) {
							out = append(out, e.ID)
						}
					}
					return out
				}
				// Wildcards select what an endpoint with that event type gets.
				matches := func(pattern string) func(e dispatcher.Event) bool {
					return func(e dispatcher.Event) bool { return subscriptions.TypeMatches(pattern, e.Type) }
				}
				for _, tc := range []struct {
					q    dispatcher.EventQuery
					keep func(e dispatcher.Event) bool
					n    int
				}{
					{dispatcher.EventQuery{}, func(dispatcher.Event) bool { return true }, 30},
					{dispatcher.EventQuery{Type: "*"}, func(dispatcher.Event) bool { return true }, 30},
					{dispatcher.EventQuery{Type: "shipment.milestone"}, matches("shipment.milestone"), 3},
					{dispatcher.EventQuery{Type: "shipment"}, matches("shipment"), 3},
					{dispatcher.EventQuery{Type: "shipment.*"}, matches("shipment.*"), 18},
					{dispatcher.EventQuery{Type: "shipment.milestone.*"}, matches("shipment.milestone.*"), 7},
					{dispatcher.EventQuery{Type: "shipment.nothing.*"}, matches("shipment.nothing.*"), 0},
					{dispatcher.EventQuery{Type: "shipment.unknown"}, matches("shipment.unknown"), 0},
					{dispatcher.EventQuery{ShipmentID: "shp_1"}, func(e dispatcher.Event) bool { return e.Shipment.ID == "shp_1" }, 8},
					{
						dispatcher.EventQuery{Type: "shipment.milestone.*", ShipmentID: "shp_3"},
						func(e dispatcher.Event) bool {
							return e.Shipment.ID == "shp_3" && subscriptions.TypeMatches("shipment.milestone.*", e.Type)
						},
						2,
					},
				} {
					w := want(tc.keep)
					require.Len(t, w, tc.n, "%+v", tc.q)
					require.Equal(t, w, list(tc.q), "%+v", tc.q)
				}

				// Pages of 4, each older than the last.
				var paged []string
				q := dispatcher.EventQuery{Type: "shipment.*"}
				q.Limit = 4
				for range 10 {
					es, err := s.ListEvents(ctx, q)
					require.NoError(t, err)
					require.LessOrEqual(t, len(es), 4)
					paged = append(paged, ids(es, func(e dispatcher.Event) string { return e.ID })...)
					if len(es) < 4 {
						break
					}
					q.After = es[len(es)-1].ID
				}
				require.Equal(t, want(matches("shipment.*")), paged)
				q = dispatcher.EventQuery{ShipmentID: "shp_2"}
				q.After = "evt_14"
				require.Equal(t, []string{"evt_10", "evt_06", "evt_02"}, list(q))

				// Whole events, as Event returns them.
				es, err := s.ListEvents(ctx, dispatcher.EventQuery{Type: "shipment.delivered"})
				require.NoError(t, err)
				require.NotEmpty(t, es)
				for _, e := range es {
					stored, err := s.Event(ctx, e.ID)
					require.NoError(t, err)
					require.Equal(t, stored, e)
				}

				// Limit 0 is 50.
				var more []dispatcher.Event
				for i := range 30 {
					more = append(more, event(fmt.Sprintf("evt_x%02d", i)))
				}
				_, err = s.InsertEvents(ctx, more)
				require.NoError(t, err)
				es, err = s.ListEvents(ctx, dispatcher.EventQuery{})
				require.NoError(t, err)
				require.Len(t, es, 50)
				require.Equal(t, "evt_x29", es[0].ID)
			})

			t.Run("LastAttemptOfMessage", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				ep := endpoint("ep1", "acme")
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, ep)})
				require.NoError(t, err)
				m, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Zero(t, m.LastStatusCode)
				require.Equal(t, dispatcher.ErrorNone, m.LastErrorClass)

				// Every reader of messages returns the last attempt's result.
				readers := map[string]func() dispatcher.Message{
					"Message": func() dispatcher.Message {
						m, err := s.Message(ctx, "msg1")
						require.NoError(t, err)
						return m
					},
					"MessageOf": func() dispatcher.Message {
						m, err := s.MessageOf(ctx, "evt_1", "ep1")
						require.NoError(t, err)
						return m
					},
					"MessagesOfEvents": func() dispatcher.Message {
						ms, err := s.MessagesOfEvents(ctx, []string{"evt_1"})
						require.NoError(t, err)
						require.Len(t, ms, 1)
						return ms[0]
					},
					"ListMessages": func() dispatcher.Message {
						ms, err := s.ListMessages(ctx, dispatcher.MessageQuery{})
						require.NoError(t, err)
						require.Len(t, ms, 1)
						return ms[0]
					},
				}
				check := func(code int, class dispatcher.ErrorClass) {
					t.Helper()
					for name, read := range readers {
						m := read()
						require.Equal(t, code, m.LastStatusCode, name)
						require.Equal(t, class, m.LastErrorClass, name)
					}
				}
				attempt := func(id string, code int, class dispatcher.ErrorClass, o dispatcher.Outcome) {
					t.Helper()
					a := dispatcher.Attempt{ID: id, MessageID: "msg1", Trigger: "scheduled", URL: ep.URL, StartedAt: micro(time.Now()),
						StatusCode: code, ErrorClass: class}
					require.NoError(t, s.RecordAttempt(ctx, a, o))
				}
				next := micro(time.Now().Add(-time.Second))
				pending := dispatcher.Outcome{Status: dispatcher.StatusPending, NextAttemptAt: &next}

				attempt("att1", 503, dispatcher.ErrorHTTPStatus, pending)
				check(503, dispatcher.ErrorHTTPStatus)
				due, err := s.DueMessages(ctx, time.Now(), 10)
				require.NoError(t, err)
				require.Len(t, due, 1)
				require.Equal(t, 503, due[0].LastStatusCode)
				claimed, ok, err := s.ClaimMessage(ctx, "msg1", 1, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, dispatcher.ErrorHTTPStatus, claimed.LastErrorClass)

				// No response at all: no status code.
				attempt("att2", 0, dispatcher.ErrorConnect, pending)
				check(0, dispatcher.ErrorConnect)
				// Other status changes keep it.
				require.NoError(t, s.SetMessageStatus(ctx, "msg1", dispatcher.Outcome{Status: dispatcher.StatusDisabled}))
				check(0, dispatcher.ErrorConnect)
				attempt("att3", 204, dispatcher.ErrorNone, dispatcher.Outcome{Status: dispatcher.StatusSucceeded})
				check(204, dispatcher.ErrorNone)

				// FanOut stores what it is given.
				ev2 := insertEvent(t, s, event("evt_2"))
				m = message("msg2", ev2, ep)
				m.LastStatusCode, m.LastErrorClass = 410, dispatcher.ErrorHTTPStatus
				_, err = s.FanOut(ctx, ev2.ID, []dispatcher.Message{m})
				require.NoError(t, err)
				got, err := s.Message(ctx, "msg2")
				require.NoError(t, err)
				require.Equal(t, m, got)
			})

			t.Run("ListMessagesCombinations", func(t *testing.T) {
				s, ctx := setup(t)
				base := micro(time.Now().Add(-time.Hour))
				eps := []subscriptions.Endpoint{endpoint("ep_a1", "acme"), endpoint("ep_a2", "acme"), endpoint("ep_b1", "beta")}
				classes := []dispatcher.ErrorClass{dispatcher.ErrorNone, dispatcher.ErrorTimeout, dispatcher.ErrorHTTPStatus, dispatcher.ErrorNone, dispatcher.ErrorConnect}
				var all []dispatcher.Message
				n := 0
				for i := range 10 {
					e := event(fmt.Sprintf("evt_%02d", i))
					if i%2 == 1 {
						e.Type = "shipment.delivered"
					}
					e.Shipment.ID = fmt.Sprintf("shp_%d", i%3)
					e = insertEvent(t, s, e)
					var msgs []dispatcher.Message
					for j, ep := range eps {
						m := message(fmt.Sprintf("msg_%02d_%d", i, j), e, ep)
						m.CreatedAt = base.Add(time.Duration(i) * time.Minute)
						m.UpdatedAt = m.CreatedAt
						msgs = append(msgs, m)
					}
					_, err := s.FanOut(ctx, e.ID, msgs)
					require.NoError(t, err)
					for k := range msgs {
						m := &msgs[k]
						n++
						class := classes[n%len(classes)]
						status := dispatcher.StatusPending
						switch {
						case n%4 == 0:
							status = dispatcher.StatusFailed
						case class == dispatcher.ErrorNone && n%3 == 0:
							status = dispatcher.StatusSucceeded
						}
						if n%7 == 0 {
							continue // no attempt yet
						}
						a := dispatcher.Attempt{ID: fmt.Sprintf("att_%03d", n), MessageID: m.ID, Trigger: "scheduled",
							URL: "https://example.com", StartedAt: m.CreatedAt, StatusCode: 500, ErrorClass: class}
						if class == dispatcher.ErrorNone {
							a.StatusCode = 200
						}
						require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: status}))
						m.Status, m.LastErrorClass = status, class
					}
					all = append(all, msgs...)
				}
				slices.Reverse(all)

				since, until := base.Add(2*time.Minute), base.Add(8*time.Minute)
				type filter struct {
					set  func(q *dispatcher.MessageQuery)
					keep func(m dispatcher.Message) bool
				}
				filters := []filter{
					{func(q *dispatcher.MessageQuery) { q.PartnerID = "acme" }, func(m dispatcher.Message) bool { return m.PartnerID == "acme" }},
					{func(q *dispatcher.MessageQuery) { q.EndpointID = "ep_a2" }, func(m dispatcher.Message) bool { return m.EndpointID == "ep_a2" }},
					{func(q *dispatcher.MessageQuery) { q.EventType = "shipment.delivered" }, func(m dispatcher.Message) bool { return m.EventType == "shipment.delivered" }},
					{func(q *dispatcher.MessageQuery) { q.ShipmentID = "shp_1" }, func(m dispatcher.Message) bool { return m.ShipmentID == "shp_1" }},
					{func(q *dispatcher.MessageQuery) { q.Status = dispatcher.StatusFailed }, func(m dispatcher.Message) bool { return m.Status == dispatcher.StatusFailed }},
					{func(q *dispatcher.MessageQuery) { q.ErrorClass = dispatcher.ErrorTimeout }, func(m dispatcher.Message) bool { return m.LastErrorClass == dispatcher.ErrorTimeout }},
					{func(q *dispatcher.MessageQuery) { q.Since = &since }, func(m dispatcher.Message) bool { return !m.CreatedAt.Before(since) }},
					{func(q *dispatcher.MessageQuery) { q.Until = &until }, func(m dispatcher.Message) bool { return m.CreatedAt.Before(until) }},
				}
				// Each filter alone selects some but not all.
				for i, f := range filters {
					var q dispatcher.MessageQuery
					f.set(&q)
					w := keepIDs(all, f.keep, func(m dispatcher.Message) string { return m.ID })
					require.NotEmpty(t, w, "filter %d", i)
					require.Less(t, len(w), len(all), "filter %d", i)
				}
				// Every combination, read whole and in pages of 4.
				for mask := range 1 << len(filters) {
					var q dispatcher.MessageQuery
					var keeps []func(m dispatcher.Message) bool
					for i, f := range filters {
						if mask&(1<<i) != 0 {
							f.set(&q)
							keeps = append(keeps, f.keep)
						}
					}
					want := keepIDs(all, func(m dispatcher.Message) bool {
						for _, keep := range keeps {
							if !keep(m) {
								return false
							}
						}
						return true
					}, func(m dispatcher.Message) string { return m.ID })
					q.Limit = 100
					ms, err := s.ListMessages(ctx, q)
					require.NoError(t, err)
					require.Equal(t, want, ids(ms, func(m dispatcher.Message) string { return m.ID }), "%+v", q)

					q.Limit = 4
					paged := []string{}
					for range 100 {
						ms, err := s.ListMessages(ctx, q)
						require.NoError(t, err)
						paged = append(paged, ids(ms, func(m dispatcher.Message) string { return m.ID })...)
						if len(ms) < 4 {
							break
						}
						q.After = ms[len(ms)-1].ID
					}
					require.Equal(t, want, paged, "pages of %+v", q)
				}
			})

			t.Run("SearchAttempts", func(t *testing.T) {
				s, ctx := setup(t)
				base := micro(time.Now().Add(-time.Hour))
				eps := []subscriptions.Endpoint{endpoint("ep_a1", "acme"), endpoint("ep_a2", "acme"), endpoint("ep_b1", "beta")}
				var msgs []dispatcher.Message
				for i := range 2 {
					ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
					var evMsgs []dispatcher.Message
					for j, ep := range eps {
						evMsgs = append(evMsgs, message(fmt.Sprintf("msg_%d_%d", i, j), ev, ep))
					}
					_, err := s.FanOut(ctx, ev.ID, evMsgs)
					require.NoError(t, err)
					msgs = append(msgs, evMsgs...)
				}
				classes := []dispatcher.ErrorClass{dispatcher.ErrorNone, dispatcher.ErrorTimeout, dispatcher.ErrorHTTPStatus, dispatcher.ErrorNone, dispatcher.ErrorConnect, dispatcher.ErrorTimeout}
				var all []dispatcher.Attempt
				for i := range 30 {
					m := msgs[i%len(msgs)]
					a := dispatcher.Attempt{
						// Ids that sort neither in the order of recording nor in
						// that of StartedAt.
						ID: fmt.Sprintf("att_%02d", (i*7)%30), MessageID: m.ID, EndpointID: m.EndpointID, PartnerID: m.PartnerID,
						Number: i/len(msgs) + 1, Trigger: "scheduled", URL: "https://example.com/" + m.EndpointID,
						StartedAt: base.Add(time.Duration((i*11)%30) * time.Minute), DurationMS: int64(i), StatusCode: 200,
						ErrorClass: classes[i%len(classes)],
					}
					if a.ErrorClass != dispatcher.ErrorNone {
						a.StatusCode, a.Error = 0, "failed"
					}
					require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending}))
					all = append(all, a)
				}
				slices.SortFunc(all, func(a, b dispatcher.Attempt) int { return strings.Compare(b.ID, a.ID) })

				// Whole attempts, and Attempt returns the same.
				got, err := s.SearchAttempts(ctx, dispatcher.AttemptQuery{Page: subscriptions.Page{Limit: 100}})
				require.NoError(t, err)
				require.Equal(t, all, got)
				for _, a := range all[:5] {
					one, err := s.Attempt(ctx, a.ID)
					require.NoError(t, err)
					require.Equal(t, a, one)
				}
				_, err = s.Attempt(ctx, "att_none")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
				// Limit 0 is 50 (here all 30).
				got, err = s.SearchAttempts(ctx, dispatcher.AttemptQuery{})
				require.NoError(t, err)
				require.Len(t, got, 30)

				since, until := base.Add(5*time.Minute), base.Add(20*time.Minute)
				type filter struct {
					set  func(q *dispatcher.AttemptQuery)
					keep func(a dispatcher.Attempt) bool
				}
				filters := []filter{
					{func(q *dispatcher.AttemptQuery) { q.PartnerID = "acme" }, func(a dispatcher.Attempt) bool { return a.PartnerID == "acme" }},
					{func(q *dispatcher.AttemptQuery) { q.EndpointID = "ep_a2" }, func(a dispatcher.Attempt) bool { return a.EndpointID == "ep_a2" }},
					{func(q *dispatcher.AttemptQuery) { q.MessageID = "msg_1_1" }, func(a dispatcher.Attempt) bool { return a.MessageID == "msg_1_1" }},
					{func(q *dispatcher.AttemptQuery) { q.ErrorClass = dispatcher.ErrorTimeout }, func(a dispatcher.Attempt) bool { return a.ErrorClass == dispatcher.ErrorTimeout }},
					{func(q *dispatcher.AttemptQuery) { q.Failed = true }, func(a dispatcher.Attempt) bool { return a.ErrorClass != dispatcher.ErrorNone }},
					{func(q *dispatcher.AttemptQuery) { q.Since = &since }, func(a dispatcher.Attempt) bool { return !a.StartedAt.Before(since) }},
					{func(q *dispatcher.AttemptQuery) { q.Until = &until }, func(a dispatcher.Attempt) bool { return a.StartedAt.Before(until) }},
				}
				for i, f := range filters {
					var q dispatcher.AttemptQuery
					f.set(&q)
					w := keepIDs(all, f.keep, func(a dispatcher.Attempt) string { return a.ID })
					require.NotEmpty(t, w, "filter %d", i)
					require.Less(t, len(w), len(all), "filter %d", i)
				}
				for mask := range 1 << len(filters) {
					var q dispatcher.AttemptQuery
					var keeps []func(a dispatcher.Attempt) bool
					for i, f := range filters {
						if mask&(1<<i) != 0 {
							f.set(&q)
							keeps = append(keeps, f.keep)
						}
					}
					want := keepIDs(all, func(a dispatcher.Attempt) bool {
						for _, keep := range keeps {
							if !keep(a) {
								return false
							}
						}
						return true
					}, func(a dispatcher.Attempt) string { return a.ID })
					q.Limit = 100
					as, err := s.SearchAttempts(ctx, q)
					require.NoError(t, err)
					require.Equal(t, want, ids(as, func(a dispatcher.Attempt) string { return a.ID }), "%+v", q)

					q.Limit = 4
					paged := []string{}
					for range 100 {
						as, err := s.SearchAttempts(ctx, q)
						require.NoError(t, err)
						paged = append(paged, ids(as, func(a dispatcher.Attempt) string { return a.ID })...)
						if len(as) < 4 {
							break
						}
						q.After = as[len(as)-1].ID
					}
					require.Equal(t, want, paged, "pages of %+v", q)
				}
			})

			t.Run("RetryMessage", func(t *testing.T) {
				s, ctx := setup(t)
				ep := endpoint("ep1", "acme")
				statuses := []dispatcher.Status{dispatcher.StatusFailed, dispatcher.StatusSucceeded, dispatcher.StatusDisabled, dispatcher.StatusPending}
				for i, st := range statuses {
					ev := insertEvent(t, s, event(fmt.Sprintf("evt_%d", i)))
					m := message(fmt.Sprintf("msg_%d", i), ev, ep)
					m.Status, m.Attempts = st, 3
					m.LastStatusCode, m.LastErrorClass = 500, dispatcher.ErrorHTTPStatus
					if st != dispatcher.StatusPending {
						m.NextAttemptAt = nil
					}
					_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
					require.NoError(t, err)
				}
				at := micro(time.Now().Add(time.Second))
				for i := range statuses {
					id := fmt.Sprintf("msg_%d", i)
					before, err := s.Message(ctx, id)
					require.NoError(t, err)
					start := micro(time.Now())
					got, err := s.RetryMessage(ctx, id, at)
					require.NoError(t, err, statuses[i])
					want := before
					want.Status, want.NextAttemptAt, want.LeaseUntil = dispatcher.StatusPending, &at, nil
					want.UpdatedAt = got.UpdatedAt
					require.Equal(t, want, got, "attempts and the last result are kept")
					require.False(t, got.UpdatedAt.Before(start))
					stored, err := s.Message(ctx, id)
					require.NoError(t, err)
					require.Equal(t, got, stored)
				}

				// Delivering with a live lease: an attempt is under way.
				_, ok, err := s.ClaimMessage(ctx, "msg_0", 3, time.Now().Add(time.Minute))
				require.NoError(t, err)
				require.True(t, ok)
				before, err := s.Message(ctx, "msg_0")
				require.NoError(t, err)
				_, err = s.RetryMessage(ctx, "msg_0", at)
				require.ErrorIs(t, err, subscriptions.ErrConflict)
				require.ErrorContains(t, err, "msg_0")
				after, err := s.Message(ctx, "msg_0")
				require.NoError(t, err)
				require.Equal(t, before, after)

				// Delivering with a lease run out: the attempt is presumed lost.
				_, ok, err = s.ClaimMessage(ctx, "msg_1", 3, time.Now().Add(-time.Second))
				require.NoError(t, err)
				require.True(t, ok)
				got, err := s.RetryMessage(ctx, "msg_1", at)
				require.NoError(t, err)
				require.Equal(t, dispatcher.StatusPending, got.Status)
				require.Nil(t, got.LeaseUntil)

				_, err = s.RetryMessage(ctx, "nothing", at)
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
			})

			t.Run("MessagesOfEvents", func(t *testing.T) {
				s, ctx := setup(t)
				e1, e2 := endpoint("ep1", "acme"), endpoint("ep2", "beta")
				var evs []dispatcher.Event
				for i := range 3 {
					evs = append(evs, insertEvent(t, s, event(fmt.Sprintf("evt_%d", i))))
				}
				// Ids that sort neither by event nor by endpoint.
				for i, ev := range evs {
					_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{
						message(fmt.Sprintf("msg_%d", 5-i), ev, e1),
						message(fmt.Sprintf("msg_%d", i), ev, e2),
					})
					require.NoError(t, err)
				}
				of := func(eventIDs ...string) []string {
					t.Helper()
					ms, err := s.MessagesOfEvents(ctx, eventIDs)
					require.NoError(t, err)
					for _, m := range ms {
						stored, err := s.Message(ctx, m.ID)
						require.NoError(t, err)
						require.Equal(t, stored, m)
					}
					return ids(ms, func(m dispatcher.Message) string { return m.ID })
				}
				require.Equal(t, []string{"msg_0", "msg_1", "msg_2", "msg_3", "msg_4", "msg_5"}, of("evt_0", "evt_1", "evt_2"))
				require.Equal(t, []string{"msg_0", "msg_2", "msg_3", "msg_5"}, of("evt_2", "evt_0", "evt_0", "evt_none"))
				require.Empty(t, of("evt_none"))
				require.Empty(t, of())

				// More events than one statement reads: several reads, the
				// last one partial, merged in id order.
				store.SetEventsBatch(s, 4)
				var many []dispatcher.Event
				for i := range 11 {
					many = append(many, event(fmt.Sprintf("evt_m%02d", i)))
				}
				_, err := s.InsertEvents(ctx, many)
				require.NoError(t, err)
				var want, eventIDs []string
				for i, ev := range many {
					id, other := fmt.Sprintf("msg_m%02d", (i*7)%len(many)), fmt.Sprintf("msg_n%02d", 10-i)
					_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message(id, ev, e1), message(other, ev, e2)})
					require.NoError(t, err)
					want = append(want, id, other)
					eventIDs = append(eventIDs, ev.ID, ev.ID)
				}
				want = append(want, "msg_0", "msg_5") // evt_0's
				slices.Sort(want)
				slices.Reverse(eventIDs)
				require.Equal(t, want, of(append(eventIDs, "evt_0", "evt_none")...))
			})

			t.Run("MessageOf", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				other := insertEvent(t, s, event("evt_2"))
				e1, e2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, e1), message("msg2", ev, e2)})
				require.NoError(t, err)
				_, err = s.FanOut(ctx, other.ID, []dispatcher.Message{message("msg3", other, e1)})
				require.NoError(t, err)

				m, err := s.MessageOf(ctx, "evt_1", "ep2")
				require.NoError(t, err)
				stored, err := s.Message(ctx, "msg2")
				require.NoError(t, err)
				require.Equal(t, stored, m)
				m, err = s.MessageOf(ctx, "evt_2", "ep1")
				require.NoError(t, err)
				require.Equal(t, "msg3", m.ID)

				_, err = s.MessageOf(ctx, "evt_2", "ep2")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
				_, err = s.MessageOf(ctx, "evt_none", "ep1")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
			})

			t.Run("StaleRecoverJobs", func(t *testing.T) {
				s, ctx := setup(t)
				now := micro(time.Now())
				mk := func(id, endpoint string, updated time.Time) {
					_, created, err := s.CreateRecoverJob(ctx, dispatcher.RecoverJob{ID: id, EndpointID: endpoint, PartnerID: "acme",
						Since: now.Add(-time.Hour), Status: "running", CreatedAt: updated, UpdatedAt: updated})
					require.NoError(t, err)
					require.True(t, created)
				}
				mk("rj_old", "ep1", now.Add(-time.Minute))
				mk("rj_new", "ep2", now)
				mk("rj_done", "ep3", now.Add(-time.Hour))
				done, err := s.RecoverJob(ctx, "rj_done")
				require.NoError(t, err)
				done.Status = "done"
				require.NoError(t, s.UpdateRecoverJob(ctx, done))
				ids, err := s.StaleRecoverJobs(ctx, now.Add(-10*time.Second), 10)
				require.NoError(t, err)
				require.Equal(t, []string{"rj_old"}, ids, "only running jobs without recent progress")
			})

			t.Run("RecoverJobs", func(t *testing.T) {
				s, ctx := setup(t)
				since := micro(time.Now().Add(-24 * time.Hour))
				until := micro(time.Now())
				job := func(id string, until *time.Time) dispatcher.RecoverJob {
					now := micro(time.Now())
					return dispatcher.RecoverJob{ID: id, EndpointID: "ep1", PartnerID: "acme", Since: since, Until: until,
						Status: "running", Total: 12, CreatedAt: now, UpdatedAt: now}
				}
				j1 := job("rj_1", &until)
				got, created, err := s.CreateRecoverJob(ctx, j1)
				require.NoError(t, err)
				require.True(t, created)
				require.Equal(t, j1, got)
				stored, err := s.RecoverJob(ctx, "rj_1")
				require.NoError(t, err)
				require.Equal(t, j1, stored)

				// The same endpoint and range while it runs: the running one.
				got, created, err = s.CreateRecoverJob(ctx, job("rj_2", &until))
				require.NoError(t, err)
				require.False(t, created)
				require.Equal(t, j1, got)
				_, err = s.RecoverJob(ctx, "rj_2")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
				// Retrying a create with the same id is the same.
				got, created, err = s.CreateRecoverJob(ctx, j1)
				require.NoError(t, err)
				require.False(t, created)
				require.Equal(t, j1, got)

				// Another range, end or endpoint is another job; so is an
				// open end.
				open := job("rj_3", nil)
				got, created, err = s.CreateRecoverJob(ctx, open)
				require.NoError(t, err)
				require.True(t, created)
				require.Equal(t, open, got)
				got, created, err = s.CreateRecoverJob(ctx, job("rj_4", nil))
				require.NoError(t, err)
				require.False(t, created)
				require.Equal(t, "rj_3", got.ID)
				later := until.Add(time.Hour)
				_, created, err = s.CreateRecoverJob(ctx, job("rj_5", &later))
				require.NoError(t, err)
				require.True(t, created)
				elsewhere := job("rj_6", &until)
				elsewhere.EndpointID = "ep2"
				_, created, err = s.CreateRecoverJob(ctx, elsewhere)
				require.NoError(t, err)
				require.True(t, created)
				earlier := job("rj_7", &until)
				earlier.Since = since.Add(-time.Hour)
				_, created, err = s.CreateRecoverJob(ctx, earlier)
				require.NoError(t, err)
				require.True(t, created)

				// A taken id of another range is a conflict.
				taken := job("rj_1", &later)
				taken.Since = since.Add(time.Minute)
				_, _, err = s.CreateRecoverJob(ctx, taken)
				require.ErrorIs(t, err, subscriptions.ErrConflict)
				_, _, err = s.CreateRecoverJob(ctx, dispatcher.RecoverJob{EndpointID: "ep1"})
				require.Error(t, err)

				// Defaults: running, created and updated now.
				start := micro(time.Now())
				got, created, err = s.CreateRecoverJob(ctx, dispatcher.RecoverJob{ID: "rj_8", EndpointID: "ep3", PartnerID: "acme", Since: since})
				require.NoError(t, err)
				require.True(t, created)
				require.Equal(t, "running", got.Status)
				require.False(t, got.CreatedAt.Before(start))
				require.Equal(t, got.CreatedAt, got.UpdatedAt)
				require.Nil(t, got.Until)
				require.Nil(t, got.FinishedAt)

				// Progress, then done.
				j1.Requeued, j1.Cursor = 5, "msg_0005"
				j1.UpdatedAt = micro(time.Now().Add(time.Second))
				require.NoError(t, s.UpdateRecoverJob(ctx, j1))
				stored, err = s.RecoverJob(ctx, "rj_1")
				require.NoError(t, err)
				require.Equal(t, j1, stored)
				finished := micro(time.Now().Add(2 * time.Second))
				j1.Status, j1.Requeued, j1.Cursor, j1.UpdatedAt, j1.FinishedAt = "done", 12, "msg_0012", finished, &finished
				j1.Total = 13
				j1.PartnerID, j1.Since = "ignored", since.Add(time.Hour) // not saved
				require.NoError(t, s.UpdateRecoverJob(ctx, j1))
				stored, err = s.RecoverJob(ctx, "rj_1")
				require.NoError(t, err)
				j1.PartnerID, j1.Since = "acme", since
				require.Equal(t, j1, stored)

				// Done, the range can be recovered again.
				j2 := job("rj_2", &until)
				got, created, err = s.CreateRecoverJob(ctx, j2)
				require.NoError(t, err)
				require.True(t, created)
				require.Equal(t, j2, got)
				// Two running jobs of one range cannot be made by an update.
				j1.Status, j1.FinishedAt = "running", nil
				require.ErrorIs(t, s.UpdateRecoverJob(ctx, j1), subscriptions.ErrConflict)

				require.ErrorIs(t, s.UpdateRecoverJob(ctx, job("rj_none", nil)), subscriptions.ErrNotFound)
				_, err = s.RecoverJob(ctx, "rj_none")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)
			})

			t.Run("ConcurrentRecoverJobs", func(t *testing.T) {
				s, ctx := setup(t)
				since := micro(time.Now().Add(-time.Hour))
				for round, until := range []*time.Time{nil, &since} {
					const callers = 12
					var (
						wg      sync.WaitGroup
						results = make([]dispatcher.RecoverJob, callers)
						made    = make([]bool, callers)
						errs    = make([]error, callers)
					)
					for i := range callers {
						wg.Go(func() {
							j := dispatcher.RecoverJob{ID: fmt.Sprintf("rj_%d_%02d", round, i), EndpointID: "ep1", PartnerID: "acme",
								Since: since.Add(-time.Hour), Until: until}
							results[i], made[i], errs[i] = s.CreateRecoverJob(ctx, j)
						})
					}
					wg.Wait()
					var winners []string
					for i := range callers {
						require.NoError(t, errs[i])
						require.Equal(t, results[0].ID, results[i].ID)
						if made[i] {
							winners = append(winners, results[i].ID)
						}
					}
					require.Len(t, winners, 1)
					require.Equal(t, fmt.Sprintf("rj_%d", round), winners[0][:4])
				}
			})

			t.Run("RequeueFailed", func(t *testing.T) {
				s, ctx := setup(t)
				base := micro(time.Now().Add(-time.Hour))
				ep1, ep2 := endpoint("ep1", "acme"), endpoint("ep2", "acme")
				lease := micro(time.Now().Add(time.Minute))
				type row struct {
					ep      subscriptions.Endpoint
					minute  int
					status  dispatcher.Status
					attempt int
				}
				var rows []row
				for i := range 20 {
					st := dispatcher.StatusFailed
					switch i % 5 {
					case 1:
						st = dispatcher.StatusSucceeded
					case 3:
						st = dispatcher.StatusPending
					}
					rows = append(rows, row{ep1, i, st, i % 4})
				}
				rows = append(rows, row{ep2, 5, dispatcher.StatusFailed, 2}, row{ep2, 6, dispatcher.StatusFailed, 2})
				for i, r := range rows {
					ev := insertEvent(t, s, event(fmt.Sprintf("evt_%02d", i)))
					// Ids in an order of their own, not that of creation.
					m := message(fmt.Sprintf("msg_%02d", (i*13)%len(rows)), ev, r.ep)
					m.Status, m.Attempts = r.status, r.attempt
					m.CreatedAt = base.Add(time.Duration(r.minute) * time.Minute)
					m.UpdatedAt = m.CreatedAt
					m.LastStatusCode, m.LastErrorClass = 500, dispatcher.ErrorHTTPStatus
					if r.status != dispatcher.StatusPending {
						m.NextAttemptAt = nil
					}
					if i == 0 {
						m.LeaseUntil = &lease // a stale lease, cleared on requeue
					}
					_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{m})
					require.NoError(t, err)
				}
				before, err := s.ListMessages(ctx, dispatcher.MessageQuery{Page: subscriptions.Page{Limit: 100}})
				require.NoError(t, err)
				failedIn := func(since time.Time, until *time.Time) []string {
					var out []string
					for _, m := range before {
						if m.EndpointID == "ep1" && m.Status == dispatcher.StatusFailed && !m.CreatedAt.Before(since) &&
							(until == nil || m.CreatedAt.Before(*until)) {
							out = append(out, m.ID)
						}
					}
					slices.Sort(out)
					return out
				}
				since, until := base.Add(4*time.Minute), base.Add(15*time.Minute)
				for _, tc := range []struct {
					since time.Time
					until *time.Time
					n     int
				}{
					{base, nil, 12},
					{since, &until, 7},
					{since, nil, 10},
					{base, &since, 2},
					{until, &until, 0},
				} {
					require.Len(t, failedIn(tc.since, tc.until), tc.n)
					n, err := s.CountFailed(ctx, "ep1", tc.since, tc.until)
					require.NoError(t, err)
					require.Equal(t, tc.n, n, "%s %v", tc.since, tc.until)
				}
				n, err := s.CountFailed(ctx, "nobody", base, nil)
				require.NoError(t, err)
				require.Zero(t, n)

				// [since, until) in batches of 3, as a recover job would.
				at := micro(time.Now().Add(time.Second))
				start := micro(time.Now())
				var (
					requeued []string
					cursor   string
				)
				for range 10 {
					ms, err := s.RequeueFailed(ctx, "ep1", since, &until, cursor, 3, at)
					require.NoError(t, err)
					require.LessOrEqual(t, len(ms), 3)
					if len(ms) == 0 {
						break
					}
					for _, m := range ms {
						require.Equal(t, dispatcher.StatusPending, m.Status)
						require.Equal(t, &at, m.NextAttemptAt)
						require.Nil(t, m.LeaseUntil)
						require.False(t, m.UpdatedAt.Before(start))
						stored, err := s.Message(ctx, m.ID)
						require.NoError(t, err)
						require.Equal(t, m, stored)
					}
					requeued = append(requeued, ids(ms, func(m dispatcher.Message) string { return m.ID })...)
					cursor = ms[len(ms)-1].ID
				}
				want := failedIn(since, &until)
				require.Equal(t, want, requeued)
				n, err = s.CountFailed(ctx, "ep1", since, &until)
				require.NoError(t, err)
				require.Zero(t, n)

				// Everything else is as it was; the requeued keep their
				// attempt counts and last results.
				for _, m := range before {
					stored, err := s.Message(ctx, m.ID)
					require.NoError(t, err)
					if slices.Contains(want, m.ID) {
						m.Status, m.NextAttemptAt, m.LeaseUntil, m.UpdatedAt = dispatcher.StatusPending, &at, nil, stored.UpdatedAt
					}
					require.Equal(t, m, stored)
				}

				// The rest of the endpoint, open-ended, from a cursor: only ids
				// after it.
				rest := slices.DeleteFunc(failedIn(base, nil), func(id string) bool { return slices.Contains(want, id) })
				require.Len(t, rest, 5)
				ms, err := s.RequeueFailed(ctx, "ep1", base, nil, rest[1], 100, at)
				require.NoError(t, err)
				require.Equal(t, rest[2:], ids(ms, func(m dispatcher.Message) string { return m.ID }))
				ms, err = s.RequeueFailed(ctx, "ep1", base, nil, "", 0, at)
				require.NoError(t, err)
				require.Equal(t, rest[:2], ids(ms, func(m dispatcher.Message) string { return m.ID }))
				n, err = s.CountFailed(ctx, "ep1", base, nil)
				require.NoError(t, err)
				require.Zero(t, n)
				n, err = s.CountFailed(ctx, "ep2", base, nil)
				require.NoError(t, err)
				require.Equal(t, 2, n, "another endpoint's stay failed")
			})

			t.Run("PurgeAttempts", func(t *testing.T) {
				s, ctx := setup(t)
				ev := insertEvent(t, s, event("evt_1"))
				_, err := s.FanOut(ctx, ev.ID, []dispatcher.Message{message("msg1", ev, endpoint("ep1", "acme"))})
				require.NoError(t, err)
				base := micro(time.Now().Add(-10 * 24 * time.Hour))
				// att_00 … att_09 started a day apart, recorded out of order.
				for _, day := range []int{3, 7, 0, 9, 5, 1, 8, 2, 6, 4} {
					a := dispatcher.Attempt{ID: fmt.Sprintf("att_%02d", 9-day), MessageID: "msg1", Trigger: "scheduled",
						URL: "https://example.com", StartedAt: base.Add(time.Duration(day) * 24 * time.Hour)}
					require.NoError(t, s.RecordAttempt(ctx, a, dispatcher.Outcome{Status: dispatcher.StatusPending}))
				}
				msg, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				left := func() []string {
					t.Helper()
					as, err := s.SearchAttempts(ctx, dispatcher.AttemptQuery{})
					require.NoError(t, err)
					return ids(as, func(a dispatcher.Attempt) string { return a.ID })
				}

				// Those that started before day 6, three at a time, oldest first.
				cutoff := base.Add(6 * 24 * time.Hour)
				n, err := s.PurgeAttempts(ctx, cutoff, 3)
				require.NoError(t, err)
				require.Equal(t, 3, n)
				require.Equal(t, []string{"att_06", "att_05", "att_04", "att_03", "att_02", "att_01", "att_00"}, left())
				n, err = s.PurgeAttempts(ctx, cutoff, 3)
				require.NoError(t, err)
				require.Equal(t, 3, n)
				n, err = s.PurgeAttempts(ctx, cutoff, 3)
				require.NoError(t, err)
				require.Equal(t, 0, n)
				require.Equal(t, []string{"att_03", "att_02", "att_01", "att_00"}, left())
				_, err = s.Attempt(ctx, "att_09")
				require.ErrorIs(t, err, subscriptions.ErrNotFound)

				// The message stays as it was.
				stored, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, msg, stored)
				require.Equal(t, 10, stored.Attempts)

				// Limit 0 is 50: all the rest.
				n, err = s.PurgeAttempts(ctx, time.Now(), 0)
				require.NoError(t, err)
				require.Equal(t, 4, n)
				require.Empty(t, left())
			})

			t.Run("PurgePayloads", func(t *testing.T) {
				s, ctx := setup(t)
				base := micro(time.Now().Add(-10 * 24 * time.Hour))
				var evs []dispatcher.Event
				for _, day := range []int{3, 7, 0, 9, 5, 1, 8, 2, 6, 4} {
					e := event(fmt.Sprintf("evt_%02d", 9-day))
					e.CreatedAt = base.Add(time.Duration(day) * 24 * time.Hour)
					evs = append(evs, e)
				}
				_, err := s.InsertEvents(ctx, evs)
				require.NoError(t, err)
				_, err = s.FanOut(ctx, "evt_09", []dispatcher.Message{message("msg1", evs[2], endpoint("ep1", "acme"))})
				require.NoError(t, err)
				msg, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				beforeAll := map[string]dispatcher.Event{}
				for _, e := range evs {
					stored, err := s.Event(ctx, e.ID)
					require.NoError(t, err)
					require.Nil(t, stored.PurgedAt)
					beforeAll[e.ID] = stored
				}
				purged := func() []string {
					t.Helper()
					var out []string
					for id := range beforeAll {
						e, err := s.Event(ctx, id)
						require.NoError(t, err)
						if e.PurgedAt != nil {
							out = append(out, id)
						}
					}
					slices.Sort(out)
					return out
				}

				// Those created before day 5, two at a time, oldest first.
				cutoff := base.Add(5 * 24 * time.Hour)
				start := micro(time.Now())
				n, err := s.PurgePayloads(ctx, cutoff, 2)
				require.NoError(t, err)
				require.Equal(t, 2, n)
				require.Equal(t, []string{"evt_08", "evt_09"}, purged())
				for _, want := range []int{2, 1} {
					n, err = s.PurgePayloads(ctx, cutoff, 2)
					require.NoError(t, err)
					require.Equal(t, want, n)
				}
				n, err = s.PurgePayloads(ctx, cutoff, 2)
				require.NoError(t, err)
				require.Equal(t, 0, n, "purged events are not purged again")
				require.Equal(t, []string{"evt_05", "evt_06", "evt_07", "evt_08", "evt_09"}, purged())

				for id, before := range beforeAll {
					e, err := s.Event(ctx, id)
					require.NoError(t, err)
					if e.PurgedAt == nil {
						require.Equal(t, before, e)
						continue
					}
					require.False(t, e.PurgedAt.Before(start))
					require.False(t, e.PurgedAt.After(time.Now()))
					require.Equal(t, `{}`, string(e.Data))
					// The summary stays.
					want := before
					want.Data, want.PurgedAt = json.RawMessage(`{}`), e.PurgedAt
					require.Equal(t, want, e)
				}
				es, err := s.ListEvents(ctx, dispatcher.EventQuery{})
				require.NoError(t, err)
				for _, e := range es {
					require.Equal(t, slices.Contains(purged(), e.ID), e.PurgedAt != nil, e.ID)
				}
				stored, err := s.Message(ctx, "msg1")
				require.NoError(t, err)
				require.Equal(t, msg, stored, "messages stay")

				// Limit 0 is 50: all the rest.
				n, err = s.PurgePayloads(ctx, time.Now(), 0)
				require.NoError(t, err)
				require.Equal(t, 5, n)
			})
		})
	}
}

// micro returns t as the store gives it back: UTC, to the microsecond.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func partner(id string) subscriptions.Partner {
	now := micro(time.Now())
	return subscriptions.Partner{ID: id, Name: "Partner " + id, Access: subscriptions.AccessParty, CreatedAt: now, UpdatedAt: now}
}

func endpoint(id, partnerID string) subscriptions.Endpoint {
	now := micro(time.Now())
	return subscriptions.Endpoint{ID: id, PartnerID: partnerID, URL: "https://example.com/hooks/" + id,
		Secret: "whsec_" + id, CreatedAt: now, UpdatedAt: now}
}

func apiKey(id string, role subscriptions.Role, partnerID string) subscriptions.APIKey {
	return subscriptions.APIKey{ID: id, Role: role, PartnerID: partnerID, Name: "key " + id, Hash: "hash-" + id, CreatedAt: micro(time.Now())}
}

func event(id string) dispatcher.Event {
	now := micro(time.Now())
	return dispatcher.Event{
		ID:         id,
		Type:       "shipment.created",
		OccurredAt: now.Add(-time.Minute),
		Shipment:   dispatcher.Shipment{ID: "shp_" + id, Mode: "road"},
		Parties:    []dispatcher.Party{{PartnerID: "acme", Role: "shipper"}},
		Data:       json.RawMessage(`{"weight_kg":12.5}`),
		CreatedAt:  now,
	}
}

// insertEvents stores n events, evt_0000 onwards, and returns them.
func insertEvents(t *testing.T, s *store.Store, n int) []dispatcher.Event {
	t.Helper()
	evs := make([]dispatcher.Event, n)
	for i := range evs {
		evs[i] = event(fmt.Sprintf("evt_%04d", i))
	}
	res, err := s.InsertEvents(t.Context(), evs)
	require.NoError(t, err)
	for i, r := range res {
		require.Equal(t, dispatcher.Insert{ID: evs[i].ID, Created: true}, r)
	}
	return evs
}

func insertEvent(t *testing.T, s *store.Store, e dispatcher.Event) dispatcher.Event {
	t.Helper()
	res, err := s.InsertEvents(t.Context(), []dispatcher.Event{e})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{{ID: e.ID, Created: true}}, res)
	return e
}

// fannedOut stores event evt_1 fanned out to n endpoints, ep1 … epN of
// partner acme, as pending messages msg1 … msgN.
func fannedOut(t *testing.T, s *store.Store, n int) {
	t.Helper()
	ev := insertEvent(t, s, event("evt_1"))
	var msgs []dispatcher.Message
	for i := 1; i <= n; i++ {
		msgs = append(msgs, message(fmt.Sprintf("msg%d", i), ev, endpoint(fmt.Sprintf("ep%d", i), "acme")))
	}
	_, err := s.FanOut(t.Context(), ev.ID, msgs)
	require.NoError(t, err)
}

func message(id string, e dispatcher.Event, ep subscriptions.Endpoint) dispatcher.Message {
	now := micro(time.Now())
	return dispatcher.Message{ID: id, EventID: e.ID, EndpointID: ep.ID, PartnerID: ep.PartnerID, EventType: e.Type,
		ShipmentID: e.Shipment.ID, Status: dispatcher.StatusPending, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now}
}

// pages reads a list three items at a time and returns every id.
func pages(t *testing.T, list func(subscriptions.Page) ([]string, error)) []string {
	t.Helper()
	var out []string
	page := subscriptions.Page{Limit: 3}
	for range 100 {
		got, err := list(page)
		require.NoError(t, err)
		require.LessOrEqual(t, len(got), 3)
		out = append(out, got...)
		if len(got) < 3 {
			return out
		}
		page.After = got[len(got)-1]
	}
	t.Fatal("pagination does not end")
	return nil
}

// keepIDs returns the ids of the items that keep holds, in order.
func keepIDs[T any](items []T, keep func(T) bool, id func(T) string) []string {
	out := []string{}
	for _, it := range items {
		if keep(it) {
			out = append(out, id(it))
		}
	}
	return out
}

func ids[T, K any](items []T, key func(T) K) []K {
	out := make([]K, 0, len(items))
	for _, it := range items {
		out = append(out, key(it))
	}
	return out
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
			s, err := store.Open(ctx, url)
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

func TestOpen(t *testing.T) {
	t.Run("SQLiteCreatesDirectory", func(t *testing.T) {
		dir := t.TempDir()
		for i, url := range []string{
			"sqlite:" + dir + "/a/b/one.db",
			"sqlite://" + dir + "/c/two.db",
			"file:" + dir + "/d/three.db",
			dir + "/e/four.db",
		} {
			s, err := store.Open(t.Context(), url)
			require.NoError(t, err, url)
			require.Equal(t, "sqlite", s.Dialect())
			require.NoError(t, s.Migrate(t.Context()))
			require.NoError(t, s.CreatePartner(t.Context(), partner(fmt.Sprint("p", i))))
			require.NoError(t, s.Close())
		}
		for _, f := range []string{"a/b/one.db", "c/two.db", "d/three.db", "e/four.db"} {
			require.FileExists(t, dir+"/"+f)
		}
	})

	t.Run("SQLiteMemory", func(t *testing.T) {
		s, err := store.Open(t.Context(), "sqlite::memory:")
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		require.NoError(t, s.Migrate(t.Context()))
		require.NoError(t, s.CreatePartner(t.Context(), partner("p")))
		_, err = s.Partner(t.Context(), "p")
		require.NoError(t, err)
	})

	t.Run("PostgresErrorHidesPassword", func(t *testing.T) {
		for _, url := range []string{
			"postgres://shiphook:s3cret-pw@127.0.0.1:1/shiphook?sslmode=disable&connect_timeout=2",
			"postgresql://shiphook@127.0.0.1:1/shiphook?sslmode=disable&password=s3cret-pw&connect_timeout=2",
			"postgres://shiphook:s3cret-pw@127.0.0.1:notaport/x",
		} {
			_, err := store.Open(t.Context(), url)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "s3cret-pw")
			require.Contains(t, err.Error(), "postgres")
		}
	})

	t.Run("SQLiteBadParameter", func(t *testing.T) {
		_, err := store.Open(t.Context(), "sqlite:"+t.TempDir()+"/x.db?_txlock=sometimes")
		require.Error(t, err)
	})
}

// TestSQLitePlans checks which index SQLite reads for the filters the APIs
// send. Nothing runs ANALYZE, so SQLite has no statistics and, of indexes
// that serve a query equally well, takes the one created last: the order of
// the migration decides, and an index added later can change these.
// PostgreSQL chooses by its statistics; docs/indexes.md has its plans.
func TestSQLitePlans(t *testing.T) {
	s, err := store.Open(t.Context(), storetest.SQLite(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.Migrate(t.Context()))
	since := time.Now()

	for _, tc := range []struct {
		q     dispatcher.MessageQuery
		index string
	}{
		{dispatcher.MessageQuery{}, "sqlite_autoindex_messages_1"},
		{dispatcher.MessageQuery{PartnerID: "p"}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Page: subscriptions.Page{After: "m"}}, "messages_partner (partner_id=? AND id<?)"},
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e"}, "messages_endpoint "},
		{dispatcher.MessageQuery{PartnerID: "p", ShipmentID: "s"}, "messages_shipment "},
		{dispatcher.MessageQuery{PartnerID: "p", EventType: "t"}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Since: &since}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Status: dispatcher.StatusPending}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Status: dispatcher.StatusFailed}, "messages_partner_failed "},
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e", Status: dispatcher.StatusFailed}, "messages_failed "},
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e", ErrorClass: dispatcher.ErrorTimeout}, "messages_endpoint "},
		{dispatcher.MessageQuery{EndpointID: "e"}, "messages_endpoint "},
		{dispatcher.MessageQuery{ShipmentID: "s"}, "messages_shipment "},
		{dispatcher.MessageQuery{EventType: "t"}, "messages_type "},
		{dispatcher.MessageQuery{ErrorClass: dispatcher.ErrorTLS}, "messages_errors "},
		{dispatcher.MessageQuery{EndpointID: "e", Status: dispatcher.StatusFailed}, "messages_failed "},
		{dispatcher.MessageQuery{EndpointID: "e", Status: dispatcher.StatusHeld}, "messages_endpoint "},
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e", Status: dispatcher.StatusHeld}, "messages_endpoint "},
		{dispatcher.MessageQuery{PartnerID: "p", Status: dispatcher.StatusHeld}, "messages_partner "},
	} {
		plan, err := store.MessagesPlan(t.Context(), s, tc.q)
		require.NoError(t, err)
		require.Contains(t, plan, "USING INDEX "+tc.index, "%+v", tc.q)
		require.NotContains(t, plan, "TEMP B-TREE", "%+v", tc.q)
	}

	for _, tc := range []struct {
		q     dispatcher.AttemptQuery
		index string
	}{
		{dispatcher.AttemptQuery{}, "sqlite_autoindex_attempts_1"},
		{dispatcher.AttemptQuery{PartnerID: "p"}, "attempts_partner "},
		{dispatcher.AttemptQuery{PartnerID: "p", Since: &since}, "attempts_partner "},
		{dispatcher.AttemptQuery{PartnerID: "p", Failed: true}, "attempts_partner_failed "},
		{dispatcher.AttemptQuery{PartnerID: "p", ErrorClass: dispatcher.ErrorTimeout}, "attempts_partner_failed "},
		{dispatcher.AttemptQuery{PartnerID: "p", EndpointID: "e"}, "attempts_endpoint_recent "},
		{dispatcher.AttemptQuery{PartnerID: "p", MessageID: "m"}, "attempts_message "},
		{dispatcher.AttemptQuery{EndpointID: "e"}, "attempts_endpoint_recent "},
		{dispatcher.AttemptQuery{EndpointID: "e", Failed: true}, "attempts_endpoint_recent "},
		{dispatcher.AttemptQuery{MessageID: "m"}, "attempts_message "},
		{dispatcher.AttemptQuery{ErrorClass: dispatcher.ErrorTLS}, "attempts_errors "},
		{dispatcher.AttemptQuery{Failed: true}, "attempts_failed"},
	} {
		plan, err := store.AttemptsPlan(t.Context(), s, tc.q)
		require.NoError(t, err)
		require.Contains(t, plan, "USING INDEX "+tc.index, "%+v", tc.q)
		require.NotContains(t, plan, "TEMP B-TREE", "%+v", tc.q)
	}
}

// heldPlansFixture stores 1,000 events, each with a message to four
// endpoints, those of the first three held and the fourth's succeeded. The
// statistics are taken with them held if analyzedHeld, or else while they
// were still pending.
func heldPlansFixture(t *testing.T, s *store.Store, analyzedHeld bool) {
	t.Helper()
	ctx := t.Context()
	evs := insertEvents(t, s, 1000)
	eps := []subscriptions.Endpoint{endpoint("ep1", "acme"), endpoint("ep2", "acme"), endpoint("ep3", "acme"),
		endpoint("ep4", "acme")}
	var toHold []string
	for _, ev := range evs {
		var msgs []dispatcher.Message
		for i, ep := range eps {
			m := message(fmt.Sprintf("msg_%s_%d", ev.ID, i), ev, ep)
			switch {
			case i == 3:
				m.Status, m.NextAttemptAt = dispatcher.StatusSucceeded, nil
			case analyzedHeld:
				m.Status, m.NextAttemptAt = dispatcher.StatusHeld, nil
			default:
				toHold = append(toHold, m.ID)
			}
			msgs = append(msgs, m)
		}
		_, err := s.FanOut(ctx, ev.ID, msgs)
		require.NoError(t, err)
	}
	require.NoError(t, store.Analyze(ctx, s))
	if len(toHold) > 0 {
		moved, err := store.HoldMany(ctx, s, toHold, make([]int, len(toHold)), slices.Repeat([]bool{true}, len(toHold)), time.Time{})
		require.NoError(t, err)
		require.NotContains(t, moved, false)
	}
}

// checkHeldPlans checks that HeldEndpoints and WakeHeld read messages_held
// as they should (see the HeldPlans test).
func checkHeldPlans(t *testing.T, s *store.Store, backend string) {
	t.Helper()
	ctx := t.Context()
	endpoints, err := store.HeldEndpointsPlan(ctx, s)
	require.NoError(t, err)
	if backend == "sqlite" {
		// The first endpoint, then each next one.
		require.Equal(t, 2, strings.Count(endpoints, "USING INDEX messages_held"), endpoints)
		require.Contains(t, endpoints, "SCAN messages USING INDEX messages_held;", endpoints)
		require.Contains(t, endpoints, "SEARCH m USING INDEX messages_held (endpoint_id>?)", endpoints)
		wake, err := store.WakeHeldPlan(ctx, s, "ep1", "", false)
		require.NoError(t, err)
		require.Contains(t, wake, "SEARCH messages USING INDEX messages_held ((endpoint_id,id)>(?,?) AND endpoint_id<?)", wake)
		require.NotContains(t, wake, "SCAN messages", wake)
		require.NotContains(t, wake, "TEMP B-TREE", wake)
		return
	}
	// The first endpoint, then a descent for each of the three (the last
	// finding none after ep3).
	require.Len(t, regexp.MustCompile(`Scan using messages_held on`).FindAllString(endpoints, -1), 2, endpoints)
	require.Contains(t, endpoints, "Index Cond: (endpoint_id > held_1.endpoint_id)", endpoints)
	require.Regexp(t, `Scan using messages_held on messages m +\(cost[^;]*loops=3\)`, endpoints)
	require.NotContains(t, endpoints, "Seq Scan", endpoints)
	require.NotContains(t, endpoints, "messages_status", endpoints)
	// From the start of an endpoint, and past its end: either way one range
	// of messages_held, stopped after the batch.
	for _, tc := range []struct {
		endpoint, after string
		generic         bool
	}{{"ep2", "", false}, {"ep1", "msg_zzz", false}, {"ep2", "", true}} {
		wake, err := store.WakeHeldPlan(ctx, s, tc.endpoint, tc.after, tc.generic)
		require.NoError(t, err)
		require.Regexp(t, `Scan using messages_held on messages messages_1`, wake)
		// The batch is then looked up by id.
		require.Regexp(t, `Index Scan using messages_pkey on messages +\(`, wake)
		require.NotContains(t, wake, "messages_status", wake)
		require.Regexp(t, `Index Cond: \(\(ROW\(endpoint_id, id\) > ROW\([^)]*\)\) AND \(endpoint_id <= [^)]*\)\)`, wake)
		require.NotContains(t, wake, "Seq Scan", wake)
		require.NotContains(t, wake, "Sort", wake)
	}
}
