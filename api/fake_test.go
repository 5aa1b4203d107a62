package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// fakeStore keeps in memory what the handlers under test read and write.
// It embeds Store for the rest of the contract: a handler that calls a
// method not faked here panics, and the test fails.
type fakeStore struct {
	Store

	mu        sync.Mutex
	keys      map[string]subscriptions.APIKey // by hash
	partners  map[string]subscriptions.Partner
	endpoints map[string]subscriptions.Endpoint
	messages  []dispatcher.Message
	events    []dispatcher.Event
	// failPartners, when set, is what ListPartners fails with; failKeys,
	// APIKeyByHash; failInserts, InsertEvents.
	failPartners, failKeys, failInserts error
	// pages are the pages ListPartners was asked for.
	pages []subscriptions.Page
	// queries are the queries ListMessages was asked.
	queries []dispatcher.MessageQuery
	// sources and items (sources_test.go), by id.
	sources map[string]sources.Source
	items   []dispatcher.SourceItem
	// shipments are the registered shipments (shipments_test.go).
	shipments map[string]dispatcher.RegisteredShipment
	// eventQueries are the queries ListEvents was asked.
	eventQueries []dispatcher.EventQuery
}

func (f *fakeStore) APIKeyByHash(_ context.Context, hash string) (subscriptions.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failKeys != nil {
		return subscriptions.APIKey{}, f.failKeys
	}
	k, ok := f.keys[hash]
	if !ok {
		return subscriptions.APIKey{}, subscriptions.ErrNotFound
	}
	return k, nil
}

func (f *fakeStore) Partner(_ context.Context, id string) (subscriptions.Partner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.partners[id]
	if !ok {
		return subscriptions.Partner{}, subscriptions.ErrNotFound
	}
	return p, nil
}

func (f *fakeStore) CreatePartner(_ context.Context, p subscriptions.Partner) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.partners[p.ID]; ok {
		return subscriptions.ErrConflict
	}
	f.partners[p.ID] = p
	return nil
}

// ListPartners returns partners by id after page.After, as the stores do.
func (f *fakeStore) ListPartners(_ context.Context, page subscriptions.Page) ([]subscriptions.Partner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages = append(f.pages, page)
	if f.failPartners != nil {
		return nil, f.failPartners
	}
	var out []subscriptions.Partner
	for _, p := range f.partners {
		if p.ID > page.After {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b subscriptions.Partner) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(len(out), page.Limit)], nil
}

func (f *fakeStore) MissingPartners(_ context.Context, ids []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var missing []string
	for _, id := range ids {
		if _, ok := f.partners[id]; !ok {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

func (f *fakeStore) Endpoint(_ context.Context, id string) (subscriptions.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.endpoints[id]
	if !ok {
		return subscriptions.Endpoint{}, subscriptions.ErrNotFound
	}
	return e, nil
}

func (f *fakeStore) CreateEndpoint(_ context.Context, e subscriptions.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.endpoints[e.ID]; ok {
		return subscriptions.ErrConflict
	}
	f.endpoints[e.ID] = e
	return nil
}

func (f *fakeStore) UpdateEndpoint(_ context.Context, e subscriptions.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.endpoints[e.ID]; !ok {
		return subscriptions.ErrNotFound
	}
	f.endpoints[e.ID] = e
	return nil
}

// ListEndpoints returns partnerID's endpoints by id after page.After, as
// the stores do.
func (f *fakeStore) ListEndpoints(_ context.Context, partnerID string, page subscriptions.Page) ([]subscriptions.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []subscriptions.Endpoint
	for _, e := range f.endpoints {
		if e.PartnerID == partnerID && e.ID > page.After {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b subscriptions.Endpoint) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(len(out), page.Limit)], nil
}

// endpoint returns the stored endpoint id, as the store keeps it.
func (f *fakeStore) endpoint(t *testing.T, id string) subscriptions.Endpoint {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.endpoints[id]
	require.True(t, ok, "endpoint %s is stored", id)
	return e
}

// fakeNotifier records the partners whose endpoints changed.
type fakeNotifier struct {
	mu       sync.Mutex
	partners []string
}

func (n *fakeNotifier) Changed(_ context.Context, partnerID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.partners = append(n.partners, partnerID)
}

func (f *fakeStore) Message(_ context.Context, id string) (dispatcher.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.messages {
		if m.ID == id {
			return m, nil
		}
	}
	return dispatcher.Message{}, subscriptions.ErrNotFound
}

// ListMessages returns the messages of q.PartnerID (all if empty).
func (f *fakeStore) ListMessages(_ context.Context, q dispatcher.MessageQuery) ([]dispatcher.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	var out []dispatcher.Message
	for _, m := range f.messages {
		if q.PartnerID == "" || m.PartnerID == q.PartnerID {
			out = append(out, m)
		}
	}
	return out, nil
}

// InsertEvents skips an event whose SourceID was seen, as the stores do.
func (f *fakeStore) InsertEvents(_ context.Context, evs []dispatcher.Event) ([]dispatcher.Insert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failInserts != nil {
		return nil, f.failInserts
	}
	out := make([]dispatcher.Insert, len(evs))
	for i, ev := range evs {
		j := slices.IndexFunc(f.events, func(e dispatcher.Event) bool { return ev.SourceID != "" && e.SourceID == ev.SourceID })
		if j >= 0 {
			out[i] = dispatcher.Insert{ID: f.events[j].ID}
			continue
		}
		f.events = append(f.events, ev)
		out[i] = dispatcher.Insert{ID: ev.ID, Created: true}
	}
	return out, nil
}

// fakeQueue records the events whose fan-out was enqueued.
type fakeQueue struct {
	mu  sync.Mutex
	ids []string
}

func (q *fakeQueue) EnqueueFanout(_ context.Context, ids ...string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids = append(q.ids, ids...)
	return nil
}

func (q *fakeQueue) enqueued() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.ids)
}

// The API keys of the test server.
const (
	adminKey   = "shk_admin"
	ingestKey  = "shk_ingest"
	acmeKey    = "shk_acme"
	partnerIDA = "acme"
	partnerIDG = "globex"
)

type testAPI struct {
	http.Handler
	store *fakeStore
	queue *fakeQueue
}

// newTestAPI returns the whole router over a fakeStore holding partners
// acme and globex, one message to each, and the keys above.
func newTestAPI(t testing.TB) testAPI {
	t.Helper()
	now := time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC)
	st := &fakeStore{
		keys:      map[string]subscriptions.APIKey{},
		sources:   map[string]sources.Source{},
		endpoints: map[string]subscriptions.Endpoint{},
		partners: map[string]subscriptions.Partner{
			partnerIDA: {ID: partnerIDA, Name: "Acme", Access: subscriptions.AccessParty, CreatedAt: now, UpdatedAt: now},
			partnerIDG: {ID: partnerIDG, Name: "Globex", Access: subscriptions.AccessParty, CreatedAt: now, UpdatedAt: now},
		},
		messages: []dispatcher.Message{
			{ID: "msg_acme", PartnerID: partnerIDA, EndpointID: "ep_a", EventID: "evt_1", Status: dispatcher.StatusSucceeded, CreatedAt: now, UpdatedAt: now},
			{ID: "msg_globex", PartnerID: partnerIDG, EndpointID: "ep_g", EventID: "evt_1", Status: dispatcher.StatusFailed, CreatedAt: now, UpdatedAt: now},
		},
	}
	for key, k := range map[string]subscriptions.APIKey{
		adminKey:  {ID: "key_admin", Role: subscriptions.RoleAdmin},
		ingestKey: {ID: "key_ingest", Role: subscriptions.RoleIngest},
		acmeKey:   {ID: "key_acme", Role: subscriptions.RolePartner, PartnerID: partnerIDA},
	} {
		st.keys[subscriptions.HashKey(key)] = k
	}
	q := &fakeQueue{}
	h := New(Deps{
		Store:    st,
		Auth:     subscriptions.NewAuth(st),
		Notifier: &fakeNotifier{},
		Ingest:   dispatcher.Ingest{Store: st, Partners: st, Queue: q, ItemStore: st},
		Ready:    []Dependency{{Name: "database", Check: func(context.Context) error { return nil }}},
	})
	return testAPI{Handler: h, store: st, queue: q}
}

// do sends method path with key (none if empty) and body (JSON-encoded
// unless a string), and returns the status and the body decoded into a
// map.
func (a testAPI) do(t *testing.T, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	status, _, out := a.doHeader(t, method, path, key, body)
	return status, out
}

// doHeader is do that also returns the answer's header.
func (a testAPI) doHeader(t *testing.T, method, path, key string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var r *bytes.Reader
	switch b := body.(type) {
	case nil:
		r = bytes.NewReader(nil)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return a.sendHeader(t, req)
}

// send serves req and returns the status and the body decoded into a map.
func (a testAPI) send(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	status, _, out := a.sendHeader(t, req)
	return status, out
}

// sendHeader is send that also returns the answer's header.
func (a testAPI) sendHeader(t *testing.T, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	var out map[string]any
	if w.Body.Len() > 0 {
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	}
	return w.Code, w.Header(), out
}

// errorOf returns the "error" object of an error answer, checking that it
// has the one shape every error answer has.
func errorOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	require.Len(t, body, 1, "an error answer holds only \"error\": %v", body)
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "%v", body)
	for k := range e {
		require.Contains(t, []string{"code", "message", "field"}, k)
	}
	require.NotEmpty(t, e["code"])
	require.NotEmpty(t, e["message"])
	return e
}

// requireError checks that an answer of status and body is the error
// answer wantStatus with code and field (none if empty), and returns its
// "error" object.
func requireError(t *testing.T, status int, body map[string]any, wantStatus int, code, field string) map[string]any {
	t.Helper()
	require.Equal(t, wantStatus, status, "%v", body)
	e := errorOf(t, body)
	require.Equal(t, code, e["code"])
	if field == "" {
		require.NotContains(t, e, "field")
	} else {
		require.Equal(t, field, e["field"])
	}
	return e
}

var errStoreDown = errors.New("connection refused by db-7.internal")

// EndpointLabels labels the endpoints kept, as the stores do.
func (f *fakeStore) EndpointLabels(_ context.Context, ids []string) (map[string]subscriptions.EndpointLabel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]subscriptions.EndpointLabel{}
	for _, id := range ids {
		if e, ok := f.endpoints[id]; ok {
			out[id] = subscriptions.EndpointLabel{ID: e.ID, PartnerID: e.PartnerID, Kind: e.Kind, URL: e.URL, Description: e.Description}
		}
	}
	return out, nil
}

// PartnerNames names the partners kept, as the stores do.
func (f *fakeStore) PartnerNames(_ context.Context, ids []string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, id := range ids {
		if p, ok := f.partners[id]; ok {
			out[id] = p.Name
		}
	}
	return out, nil
}

// LastErrors finds none: the fake keeps no attempts.
func (f *fakeStore) LastErrors(context.Context, []string) (map[string]string, error) {
	return map[string]string{}, nil
}
