package api

import (
	"cmp"
	"context"
	"slices"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// The sources and items of fakeStore.

func (f *fakeStore) CreateSource(_ context.Context, s sources.Source) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sources[s.ID]; ok {
		return subscriptions.ErrConflict
	}
	f.sources[s.ID] = s
	return nil
}

func (f *fakeStore) Source(_ context.Context, id string) (sources.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sources[id]
	if !ok {
		return s, subscriptions.ErrNotFound
	}
	return s, nil
}

func (f *fakeStore) ListSources(_ context.Context, page subscriptions.Page) ([]sources.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sources.Source
	for _, s := range f.sources {
		if s.ID > page.After {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b sources.Source) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(len(out), page.Limit)], nil
}

func (f *fakeStore) UpdateSource(_ context.Context, s sources.Source) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sources[s.ID]; !ok {
		return subscriptions.ErrNotFound
	}
	f.sources[s.ID] = s
	return nil
}

func (f *fakeStore) DeleteSource(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sources[id]; !ok {
		return subscriptions.ErrNotFound
	}
	delete(f.sources, id)
	return nil
}

// SaveSourceItems stores events as InsertEvents does, then the items with
// their event ids; an item stored before is replaced but for its original.
func (f *fakeStore) SaveSourceItems(ctx context.Context, items []dispatcher.SourceItem, events []dispatcher.Event) ([]dispatcher.Insert, error) {
	res, err := f.InsertEvents(ctx, events)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range items {
		it.EventIDs = []string{}
		for j, r := range res {
			if events[j].SourceItemID == it.ID {
				it.EventIDs = append(it.EventIDs, r.ID)
			}
		}
		if i := slices.IndexFunc(f.items, func(o dispatcher.SourceItem) bool { return o.ID == it.ID }); i >= 0 {
			it.Original, it.ReceivedAt = f.items[i].Original, f.items[i].ReceivedAt
			f.items[i] = it
			continue
		}
		f.items = append(f.items, it)
	}
	return res, nil
}

func (f *fakeStore) SourceItem(_ context.Context, id string) (dispatcher.SourceItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range f.items {
		if it.ID == id {
			return it, nil
		}
	}
	return dispatcher.SourceItem{}, subscriptions.ErrNotFound
}

// ListSourceItems returns items newest first, as the stores do.
func (f *fakeStore) ListSourceItems(_ context.Context, q dispatcher.ItemQuery) ([]dispatcher.SourceItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dispatcher.SourceItem
	for _, it := range slices.Backward(f.items) {
		if it.SourceID == q.SourceID && (q.Status == "" || it.Status == q.Status) && (q.After == "" || it.ID < q.After) {
			out = append(out, it)
		}
	}
	return out[:min(len(out), q.Limit)], nil
}

func (f *fakeStore) Event(_ context.Context, id string) (dispatcher.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.events {
		if ev.ID == id {
			return ev, nil
		}
	}
	return dispatcher.Event{}, subscriptions.ErrNotFound
}

// storedItems returns the items stored so far.
func (f *fakeStore) storedItems() []dispatcher.SourceItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items)
}

func (f *fakeStore) storedEvents() []dispatcher.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}
