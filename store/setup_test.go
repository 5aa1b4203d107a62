package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// The store's contract is checked by area: each TestXxx of this package
// that calls exercise runs its subtests against both backends, each
// subtest on a database of its own, so that a failing test names its area
// and its backend.

// A backend is a kind of database the store runs on, named as
// Store.Dialect names it.
type backend string

// backends are the kinds of database every contract test runs on.
var backends = []backend{"postgres", "sqlite"}

// databaseURL returns the URL of a new, empty database of this kind: a
// schema of its own in PostgreSQL, a file in a temporary directory for
// SQLite.
func (db backend) databaseURL(t *testing.T) string {
	t.Helper()
	if db == "postgres" {
		return storetest.Postgres(t)
	}
	return storetest.SQLite(t)
}

// testKeys seals the endpoint values of the stores that tests open.
var testKeys = mustKeyring(store.NewEncryptionKey())

func mustKeyring(keys string) *store.Keyring {
	k, err := store.ParseKeyring(keys)
	if err != nil {
		panic(err)
	}
	return k
}

// open opens the database at url with the keyring testKeys, checks that
// it is of this kind, and closes it when t ends.
func (db backend) open(t *testing.T, url string) *store.Store {
	t.Helper()
	return db.openWith(t, url, store.WithKeyring(testKeys))
}

// openWith is open with opts instead of testKeys.
func (db backend) openWith(t *testing.T, url string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, string(db), s.Dialect())
	return s
}

// setup marks t parallel and returns a migrated store on a new database of
// this kind, with t's context.
func (db backend) setup(t *testing.T) (*store.Store, context.Context) {
	t.Helper()
	t.Parallel()
	s := db.open(t, db.databaseURL(t))
	require.NoError(t, s.Migrate(t.Context()))
	return s, t.Context()
}

// A contractTest is one subtest of the contract, run on the backend it is
// given.
type contractTest struct {
	name string
	run  func(t *testing.T, db backend)
}

// exercise runs tests on each backend, as the subtests <backend>/<name> of
// t. t and the backends run in parallel with the other parallel tests, and
// so does each subtest that calls setup.
func exercise(t *testing.T, tests []contractTest) {
	t.Helper()
	t.Parallel()
	for _, db := range backends {
		t.Run(string(db), func(t *testing.T) {
			t.Parallel()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, db) })
			}
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
	return subscriptions.Endpoint{ID: id, PartnerID: partnerID, Kind: subscriptions.KindWebhook, URL: "https://example.com/hooks/" + id,
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

// queryFilter sets one filter on a query of type Q and tells which items
// of type T it keeps.
type queryFilter[Q, T any] struct {
	set  func(q *Q)
	keep func(T) bool
}

// checkFilterCombinations checks that each of filters alone keeps some but
// not all of all, and that list answers every combination of them with
// exactly the items that all of its filters keep, in all's order, read
// whole (a limit of 100) and in pages of 4. page sets a query's limit and
// cursor; id names an item.
func checkFilterCombinations[Q, T any](t *testing.T, all []T, filters []queryFilter[Q, T], id func(T) string,
	page func(q *Q, limit int, after string), list func(q Q) ([]T, error)) {
	t.Helper()
	// Each filter alone selects some but not all.
	for i, f := range filters {
		var q Q
		f.set(&q)
		w := keepIDs(all, f.keep, id)
		require.NotEmpty(t, w, "filter %d", i)
		require.Less(t, len(w), len(all), "filter %d", i)
	}
	// Every combination, read whole and in pages of 4.
	for mask := range 1 << len(filters) {
		var q Q
		var keeps []func(T) bool
		for i, f := range filters {
			if mask&(1<<i) != 0 {
				f.set(&q)
				keeps = append(keeps, f.keep)
			}
		}
		want := keepIDs(all, func(item T) bool {
			for _, keep := range keeps {
				if !keep(item) {
					return false
				}
			}
			return true
		}, id)
		page(&q, 100, "")
		items, err := list(q)
		require.NoError(t, err)
		require.Equal(t, want, ids(items, id), "%+v", q)

		paged := []string{}
		after := ""
		for range 100 {
			page(&q, 4, after)
			items, err := list(q)
			require.NoError(t, err)
			paged = append(paged, ids(items, id)...)
			if len(items) < 4 {
				break
			}
			after = id(items[len(items)-1])
		}
		require.Equal(t, want, paged, "pages of %+v", q)
	}
}
