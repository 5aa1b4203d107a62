package store_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestSources checks sources, the items of their payloads stored with
// their events, and API keys bound to a source, on each backend.
func TestSources(t *testing.T) {
	exercise(t, []contractTest{
		{"CRUD", testSourcesCRUD},
		{"SecretSealed", testSourceSecretSealed},
		{"SecretResealed", testSourceSecretResealed},
		{"Items", testSourceItems},
		{"ItemsResolved", testItemsResolved},
		{"BoundKeys", testBoundKeys},
	})
}

func source(id string, format sources.Format) sources.Source {
	now := micro(time.Now())
	src := sources.Source{ID: id, Name: "Source " + id, Format: format, CreatedAt: now, UpdatedAt: now}
	switch format {
	case sources.FormatDCSA:
		src.Secret = sources.NewSecret()
	case sources.FormatMapped:
		src.Mapping = &sources.MappingSpec{Program: "{id: .msg_id}", Codes: map[string]map[string]string{"status": {"A": "shipment.arrived"}}}
	}
	return src
}

func testSourcesCRUD(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	a, b, c := source("src_a", sources.FormatShiphook), source("src_b", sources.FormatDCSA), source("src_c", sources.FormatMapped)
	for _, src := range []sources.Source{a, b, c} {
		require.NoError(t, s.CreateSource(ctx, src))
	}
	require.ErrorIs(t, s.CreateSource(ctx, a), subscriptions.ErrConflict)
	for _, want := range []sources.Source{a, b, c} {
		got, err := s.Source(ctx, want.ID)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := s.Source(ctx, "src_none")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	list, err := s.ListSources(ctx, subscriptions.Page{After: "src_a", Limit: 5})
	require.NoError(t, err)
	require.Equal(t, []sources.Source{b, c}, list)

	c.Name, c.Mapping = "renamed", &sources.MappingSpec{Program: ".", Codes: map[string]map[string]string{}}
	c.UpdatedAt = c.UpdatedAt.Add(1000)
	require.NoError(t, s.UpdateSource(ctx, c))
	got, err := s.Source(ctx, "src_c")
	require.NoError(t, err)
	require.Equal(t, "renamed", got.Name)
	require.Equal(t, ".", got.Mapping.Program)
	require.ErrorIs(t, s.UpdateSource(ctx, source("src_none", sources.FormatShiphook)), subscriptions.ErrNotFound)

	require.NoError(t, s.DeleteSource(ctx, "src_a"))
	require.ErrorIs(t, s.DeleteSource(ctx, "src_a"), subscriptions.ErrNotFound)
}

// A DCSA source's secret is kept sealed, bound to its source: the column
// does not hold it, and a store without the keyring does not open it.
func testSourceSecretSealed(t *testing.T, db backend) {
	t.Parallel()
	url := db.databaseURL(t)
	s := db.open(t, url)
	ctx := t.Context()
	require.NoError(t, s.Migrate(ctx))
	src := source("src_d", sources.FormatDCSA)
	require.NoError(t, s.CreateSource(ctx, src))

	plain := db.openWith(t, url)
	stored, err := store.SourceSecretColumn(ctx, s, "src_d")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(stored, "enc:v1:"), stored)
	require.NotContains(t, stored, src.Secret)
	_, err = plain.Source(ctx, "src_d")
	require.ErrorIs(t, err, store.ErrCannotOpen)
}

func testSourceItems(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreateSource(ctx, source("src_a", sources.FormatShiphook)))
	now := micro(time.Now())
	ok := dispatcher.SourceItem{ID: "itm_1", SourceID: "src_a", ReceivedAt: now, Status: dispatcher.ItemAccepted,
		Original: json.RawMessage(`{"id":"e1", "note":"kept as sent"}`)}
	bad := dispatcher.SourceItem{ID: "itm_2", SourceID: "src_a", ReceivedAt: now, Status: dispatcher.ItemUnmapped,
		Error: &dispatcher.ItemError{Code: "untranslatable", Message: "no status"}, Original: json.RawMessage(`{"x":1}`)}
	e1, e2 := event("evt_1"), event("evt_2")
	e1.SourceID, e1.SourceItemID = "e1", "itm_1"
	e2.SourceItemID = "itm_1"
	res, err := s.SaveSourceItems(ctx, []dispatcher.SourceItem{ok, bad}, []dispatcher.Event{e1, e2})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{{ID: "evt_1", Created: true}, {ID: "evt_2", Created: true}}, res)

	got, err := s.SourceItem(ctx, "itm_1")
	require.NoError(t, err)
	ok.EventIDs = []string{"evt_1", "evt_2"}
	require.Equal(t, ok, got)
	ev, err := s.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, "itm_1", ev.SourceItemID)

	// A replay of the unmapped item: its event repeats evt_1 by its
	// source id, and the item points at the first event.
	again := event("evt_3")
	again.SourceID, again.SourceItemID = "e1", "itm_2"
	bad.Status, bad.Error, bad.Original = dispatcher.ItemAccepted, nil, json.RawMessage(`{"changed":true}`)
	res, err = s.SaveSourceItems(ctx, []dispatcher.SourceItem{bad}, []dispatcher.Event{again})
	require.NoError(t, err)
	require.Equal(t, []dispatcher.Insert{{ID: "evt_1"}}, res)
	got, err = s.SourceItem(ctx, "itm_2")
	require.NoError(t, err)
	require.Equal(t, dispatcher.ItemAccepted, got.Status)
	require.Nil(t, got.Error)
	require.Equal(t, []string{"evt_1"}, got.EventIDs)
	require.JSONEq(t, `{"x":1}`, string(got.Original), "a replay keeps the original")

	all, err := s.ListSourceItems(ctx, dispatcher.ItemQuery{SourceID: "src_a"})
	require.NoError(t, err)
	require.Equal(t, []string{"itm_2", "itm_1"}, itemIDs(all))
	page, err := s.ListSourceItems(ctx, dispatcher.ItemQuery{SourceID: "src_a", Page: subscriptions.Page{After: "itm_2", Limit: 1}})
	require.NoError(t, err)
	require.Equal(t, []string{"itm_1"}, itemIDs(page))
	none, err := s.ListSourceItems(ctx, dispatcher.ItemQuery{SourceID: "src_a", Status: dispatcher.ItemUnmapped})
	require.NoError(t, err)
	require.Empty(t, none)

	_, err = s.SaveSourceItems(ctx, []dispatcher.SourceItem{{ID: "itm_9", SourceID: "src_none", ReceivedAt: now,
		Status: dispatcher.ItemIgnored, Original: json.RawMessage(`{}`)}}, nil)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)

	// Deleting the source deletes its items; its events stay.
	require.NoError(t, s.DeleteSource(ctx, "src_a"))
	_, err = s.SourceItem(ctx, "itm_1")
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	_, err = s.Event(ctx, "evt_1")
	require.NoError(t, err)
}

// testItemsResolved checks that an item with an unresolved event is
// listed as unresolved, and becomes accepted when the last of its events
// is resolved, in the same call as the events.
func testItemsResolved(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreateSource(ctx, source("src_a", sources.FormatDCSA)))
	now := micro(time.Now())
	item := func(id string, status dispatcher.ItemStatus) dispatcher.SourceItem {
		return dispatcher.SourceItem{ID: id, SourceID: "src_a", ReceivedAt: now, Status: status, Original: json.RawMessage(`{}`)}
	}
	unresolved := func(id, itemID, container string) dispatcher.Event {
		ev := event(id)
		refs := subscriptions.References{Containers: []string{container}}
		ev.SourceItemID, ev.Shipment, ev.Parties = itemID, dispatcher.Shipment{References: refs}, []dispatcher.Party{}
		ev.Unresolved = &dispatcher.Unresolved{Reason: dispatcher.ReasonNoMatch, References: refs}
		return ev
	}
	// itm_1 has one unresolved event, itm_2 two; itm_3's is resolved.
	done := event("evt_4")
	done.SourceItemID = "itm_3"
	evs := []dispatcher.Event{unresolved("evt_1", "itm_1", "APZU4812090"), unresolved("evt_2", "itm_2", "APZU4812090"),
		unresolved("evt_3", "itm_2", "CSQU3054383"), done}
	_, err := s.SaveSourceItems(ctx, []dispatcher.SourceItem{item("itm_1", dispatcher.ItemUnresolved),
		item("itm_2", dispatcher.ItemUnresolved), item("itm_3", dispatcher.ItemAccepted)}, evs)
	require.NoError(t, err)
	statusIs := func(status dispatcher.ItemStatus, want ...string) {
		t.Helper()
		list, err := s.ListSourceItems(ctx, dispatcher.ItemQuery{SourceID: "src_a", Status: status})
		require.NoError(t, err)
		require.Equal(t, append([]string{}, want...), itemIDs(list), status)
	}
	statusIs(dispatcher.ItemUnresolved, "itm_2", "itm_1")
	statusIs(dispatcher.ItemAccepted, "itm_3")

	resolve := func(ev dispatcher.Event) dispatcher.Event {
		ev.Unresolved, ev.Shipment.ID = nil, "SHP-1"
		ev.Parties = []dispatcher.Party{{PartnerID: "acme", Role: "consignee"}}
		return ev
	}
	changed, err := s.ResolveEvents(ctx, []dispatcher.Event{resolve(evs[0]), resolve(evs[1])})
	require.NoError(t, err)
	require.Equal(t, []string{"evt_1", "evt_2"}, changed)
	statusIs(dispatcher.ItemUnresolved, "itm_2")
	statusIs(dispatcher.ItemAccepted, "itm_3", "itm_1")

	_, err = s.ResolveEvents(ctx, []dispatcher.Event{resolve(evs[2])})
	require.NoError(t, err)
	statusIs(dispatcher.ItemUnresolved)
	statusIs(dispatcher.ItemAccepted, "itm_3", "itm_2", "itm_1")
	got, err := s.SourceItem(ctx, "itm_2")
	require.NoError(t, err)
	require.Equal(t, []string{"evt_2", "evt_3"}, got.EventIDs, "only the status changes")
}

func itemIDs(items []dispatcher.SourceItem) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func testBoundKeys(t *testing.T, db backend) {
	s, ctx := db.setup(t)
	require.NoError(t, s.CreateSource(ctx, source("src_a", sources.FormatShiphook)))
	k := apiKey("key_s", subscriptions.RoleIngest, "")
	k.SourceID = "src_a"
	require.NoError(t, s.CreateAPIKey(ctx, k))
	got, err := s.APIKeyByHash(ctx, k.Hash)
	require.NoError(t, err)
	require.Equal(t, k, got)
	list, err := s.ListAPIKeys(ctx, subscriptions.Page{})
	require.NoError(t, err)
	require.Equal(t, []subscriptions.APIKey{k}, list)

	stray := apiKey("key_t", subscriptions.RoleIngest, "")
	stray.SourceID = "src_none"
	err = s.CreateAPIKey(ctx, stray)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
	require.Contains(t, err.Error(), "source src_none")

	// A source's keys go with it.
	require.NoError(t, s.DeleteSource(ctx, "src_a"))
	_, err = s.APIKeyByHash(ctx, k.Hash)
	require.ErrorIs(t, err, subscriptions.ErrNotFound)
}

// A source's secret is counted by CheckSealed and sealed again by Reseal
// with a new first key, after which the new key alone opens it.
func testSourceSecretResealed(t *testing.T, db backend) {
	t.Parallel()
	url := db.databaseURL(t)
	oldKey, newKey := store.NewEncryptionKey(), store.NewEncryptionKey()
	s := db.openWith(t, url, store.WithKeyring(mustKeyring(oldKey)))
	ctx := t.Context()
	require.NoError(t, s.Migrate(ctx))
	src := source("src_d", sources.FormatDCSA)
	require.NoError(t, s.CreateSource(ctx, src))
	require.NoError(t, s.CreateSource(ctx, source("src_p", sources.FormatShiphook)))

	_, err := db.openWith(t, url, store.WithKeyring(mustKeyring(newKey))).CheckSealed(ctx)
	require.ErrorIs(t, err, store.ErrCannotOpen)
	require.Contains(t, err.Error(), "source src_d")

	both := db.openWith(t, url, store.WithKeyring(mustKeyring(newKey+","+oldKey)))
	c, err := both.CheckSealed(ctx)
	require.NoError(t, err)
	require.Equal(t, store.SealCheck{Sources: 1, StaleSources: 1}, c)
	res, err := both.Reseal(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.SourcesRewritten)

	got, err := db.openWith(t, url, store.WithKeyring(mustKeyring(newKey))).Source(ctx, "src_d")
	require.NoError(t, err)
	require.Equal(t, src.Secret, got.Secret)
	c, err = both.CheckSealed(ctx)
	require.NoError(t, err)
	require.Zero(t, c.StaleSources)
}
