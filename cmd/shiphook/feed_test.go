package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/openapicheck"
)

// feedOut is the answer of GET …/feed.
type feedOut struct {
	Data       []envelopeOut `json:"data"`
	NextCursor string        `json:"next_cursor"`
}

// envelopeOut is a message of a feed as a partner reads it.
type envelopeOut struct {
	ID        string `json:"id"`
	Sequence  int    `json:"sequence"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		EventID  string `json:"event_id"`
		Role     string `json:"role"`
		Shipment struct {
			ID string `json:"id"`
		} `json:"shipment"`
	} `json:"data"`
}

// feedFixture is a server with partners acme and globex, a key of each,
// acme's pull endpoint (every event type) and globex's webhook endpoint
// (shipment.created only).
type feedFixture struct {
	s                  *server
	acmeKey, globexKey string
	pull, hook         endpointOut
}

func newFeedFixture(t *testing.T, s *server) feedFixture {
	t.Helper()
	f := feedFixture{s: s}
	for _, p := range []map[string]any{{"id": "acme", "name": "Acme"}, {"id": "globex", "name": "Globex"}} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, p, nil))
	}
	f.acmeKey, f.globexKey = partnerKey(t, s, "acme"), partnerKey(t, s, "globex")
	var kind struct {
		Kind string `json:"kind"`
		URL  string `json:"url"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", f.acmeKey,
		map[string]any{"kind": "pull", "description": "our ERP reads this"}, &f.pull))
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/endpoints/"+f.pull.ID, f.acmeKey, nil, &kind))
	require.Equal(t, "pull", kind.Kind)
	require.Empty(t, kind.URL)
	// A webhook endpoint beside it, for the requests a feed refuses; it
	// subscribes to no type the tests post, so that they deliver nothing.
	f.hook = createEndpoint(t, s, newReceiver(t), f.globexKey, "globex", "/globex", map[string]any{"event_types": []string{"shipment.created"}})
	return f
}

// feedURL is the URL of acme's pull endpoint's feed with query q.
func (f feedFixture) feedURL(q url.Values) string {
	return f.s.URL + "/v1/partners/acme/endpoints/" + f.pull.ID + "/feed?" + q.Encode()
}

// read reads one page of the feed after cursor ("": from the first unread).
func (f feedFixture) read(t *testing.T, cursor string, limit int) feedOut {
	t.Helper()
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if cursor != "" {
		q.Set("after", cursor)
	}
	var out feedOut
	require.Equal(t, http.StatusOK, call(t, "GET", f.feedURL(q), f.acmeKey, nil, &out))
	return out
}

// postEvents posts n events naming acme and globex, in batches of 500, and
// returns their ids.
func (f feedFixture) postEvents(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for start := 0; start < n; start += 500 {
		var evs []any
		for i := start; i < min(start+500, n); i++ {
			evs = append(evs, event(i, fmt.Sprintf("src-%d", i)))
		}
		var out struct {
			Data []struct {
				Status int    `json:"status"`
				ID     string `json:"id"`
			} `json:"data"`
		}
		require.Equal(t, http.StatusOK, call(t, "POST", f.s.URL+"/v1/events/batch", adminKey, map[string]any{"events": evs}, &out))
		for _, it := range out.Data {
			require.Equal(t, http.StatusAccepted, it.Status)
			ids = append(ids, it.ID)
		}
	}
	return ids
}

// TestFeed is the test: 1,000 events to a pull endpoint, read in
// pages of 100 by a reader that crashes after its fifth page and starts
// again from the last cursor it acknowledged.
func TestFeed(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, env map[string]string) {
		f := newFeedFixture(t, startServer(t, "serve", env))
		posted := f.postEvents(t, 1000)

		// A batch's fan-out may be queued rather than made at ingest.
		var health feedHealthOut
		require.Eventually(t, func() bool { health = f.health(t); return health.Feed.Unread == 1000 }, time.Minute, 50*time.Millisecond,
			"every message waits unread")
		require.NotNil(t, health.Feed.OldestUnreadAgeSeconds)
		require.Nil(t, health.Feed.LastReadAt)

		t.Run("a reader that crashes after page 5 reads every message, in order, none lost", func(t *testing.T) {
			f.checkCrashingReader(t, posted)
		})
		t.Run("the log shows every message succeeded, the read as its attempt", func(t *testing.T) {
			f.checkLogAfterReads(t)
		})
		t.Run("hostile and wrong requests get a clear 4xx", func(t *testing.T) { f.checkFeedErrors(t) })
		t.Run("a pull endpoint refuses what a webhook endpoint takes", func(t *testing.T) { f.checkPullEndpointInput(t) })
	})
}

// checkCrashingReader reads the feed in pages of 100. After page 5 the
// reader crashes: it loses page 5, which it had not acknowledged (its
// cursor never went back to the server), and starts again from its last
// acknowledged cursor, that of page 4.
func (f feedFixture) checkCrashingReader(t *testing.T, posted []string) {
	var (
		acked  string // the cursor last sent back: everything before it is acknowledged
		read   []envelopeOut
		page5  []envelopeOut
		pages  int
		cursor string
	)
	for {
		page := f.read(t, cursor, 100)
		acked = cursor
		if len(page.Data) == 0 {
			require.Equal(t, cursor, page.NextCursor, "an empty page keeps the cursor")
			break
		}
		require.LessOrEqual(t, len(page.Data), 100)
		pages++
		if pages == 5 && page5 == nil {
			page5 = page.Data
			cursor, pages = acked, 4 // the crash: page 5 is lost, read again from the last acknowledged cursor
			continue
		}
		if pages == 5 {
			require.Equal(t, ids(page5), ids(page.Data), "the page read again after the crash is the page lost")
		}
		read = append(read, page.Data...)
		cursor = page.NextCursor
	}
	require.Equal(t, 10, pages)
	require.Len(t, read, 1000)
	seen := map[string]bool{}
	events := map[string]bool{}
	for _, e := range read {
		require.False(t, seen[e.ID], "message %s read twice by a reader that did not crash over it", e.ID)
		seen[e.ID] = true
		events[e.Data.EventID] = true
		require.Equal(t, "shipper", e.Data.Role)
		require.NotEmpty(t, e.Type)
		require.NotEmpty(t, e.Timestamp)
	}
	for _, id := range posted {
		require.True(t, events[id], "event %s was never read", id)
	}
	// In order: the feed's order is the same on every read, from any cursor.
	again := f.read(t, "", 500)
	require.Empty(t, again.Data, "everything was acknowledged")
	var first feedOut
	zero := "ZmVlZDow" // the cursor of position 0, "feed:0": read everything again
	require.Equal(t, http.StatusOK, call(t, "GET", f.feedURL(url.Values{"after": {zero}, "limit": {"500"}}), f.acmeKey, nil, &first))
	require.Equal(t, ids(read[:500]), ids(first.Data), "a read from the start gives the messages in the order first read")
}

func ids(es []envelopeOut) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// checkLogAfterReads checks that the delivery log shows every message of
// the pull endpoint succeeded, each attempt a read, and the health a feed
// with nothing unread.
func (f feedFixture) checkLogAfterReads(t *testing.T) {
	var succeeded []messageOut
	for cursor := ""; ; {
		q := url.Values{"endpoint_id": {f.pull.ID}, "limit": {"250"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page listOut[messageOut]
		require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+"/v1/partners/acme/messages?"+q.Encode(), f.acmeKey, nil, &page))
		succeeded = append(succeeded, page.Data...)
		if !page.HasMore {
			break
		}
		cursor = *page.NextCursor
	}
	require.Len(t, succeeded, 1000)
	for _, m := range succeeded {
		require.Equal(t, "succeeded", m.Status, "message %s", m.ID)
	}
	for _, m := range succeeded[:20] {
		var atts listOut[attemptOut]
		require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+"/v1/messages/"+m.ID+"/attempts", f.acmeKey, nil, &atts))
		require.Len(t, atts.Data, 1, "one read acknowledged message %s", m.ID)
		require.Equal(t, "read", atts.Data[0].Trigger)
		require.Equal(t, 200, atts.Data[0].StatusCode)
	}
	var read struct {
		Request struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
		Response struct {
			Body string `json:"body"`
		} `json:"response"`
	}
	var atts listOut[attemptOut]
	require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+"/v1/messages/"+succeeded[0].ID+"/attempts", f.acmeKey, nil, &atts))
	require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+"/v1/attempts/"+atts.Data[0].ID, f.acmeKey, nil, &read))
	require.Equal(t, "GET", read.Request.Method, "the read shows as the partner's GET of the feed")
	require.Equal(t, "feed", read.Request.URL)
	require.Contains(t, read.Response.Body, `"id":"`+succeeded[0].ID+`"`, "answered with the message's envelope")
	h := f.health(t)
	require.Zero(t, h.Feed.Unread)
	require.Nil(t, h.Feed.OldestUnreadAgeSeconds)
	require.NotNil(t, h.Feed.LastReadAt)
	require.Equal(t, int64(1000), h.Feed.AckedPosition)
	require.NotEmpty(t, h.Feed.AckedCursor)
}

type feedHealthOut struct {
	Feed *struct {
		Unread                 int        `json:"unread"`
		OldestUnreadAgeSeconds *float64   `json:"oldest_unread_age_seconds"`
		LastReadAt             *time.Time `json:"last_read_at"`
		AckedPosition          int64      `json:"acknowledged_position"`
		AckedCursor            string     `json:"acknowledged_cursor"`
	} `json:"feed"`
}

func (f feedFixture) health(t *testing.T) feedHealthOut {
	t.Helper()
	var h feedHealthOut
	require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+"/v1/partners/acme/endpoints/"+f.pull.ID+"/health", f.acmeKey, nil, &h))
	require.NotNil(t, h.Feed, "a pull endpoint's health shows its feed")
	return h
}

// checkFeedErrors sends what a careless or hostile client might.
func (f feedFixture) checkFeedErrors(t *testing.T) {
	type errOut struct {
		Error struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		} `json:"error"`
	}
	for _, tc := range []struct {
		name, key, url string
		status         int
		code, field    string
	}{
		{"a cursor that is not one", f.acmeKey, f.feedURL(url.Values{"after": {"not-a-cursor"}}), 400, "invalid_cursor", "after"},
		{"an empty cursor", f.acmeKey, f.feedURL(url.Values{"after": {""}}), 400, "invalid_cursor", "after"},
		{"a cursor past the feed's end", f.acmeKey, f.feedURL(url.Values{"after": {"ZmVlZDo5OTk5OQ"}}), 400, "invalid_cursor", "after"},
		{"limit 0", f.acmeKey, f.feedURL(url.Values{"limit": {"0"}}), 422, "invalid_field", "limit"},
		{"limit 501", f.acmeKey, f.feedURL(url.Values{"limit": {"501"}}), 422, "invalid_field", "limit"},
		{"limit abc", f.acmeKey, f.feedURL(url.Values{"limit": {"abc"}}), 422, "invalid_field", "limit"},
		{"wait 31", f.acmeKey, f.feedURL(url.Values{"wait": {"31"}}), 422, "invalid_field", "wait"},
		{"wait -1", f.acmeKey, f.feedURL(url.Values{"wait": {"-1"}}), 422, "invalid_field", "wait"},
		{"wait 1h", f.acmeKey, f.feedURL(url.Values{"wait": {"1h"}}), 422, "invalid_field", "wait"},
		{"another partner's endpoint", f.globexKey, f.s.URL + "/v1/partners/acme/endpoints/" + f.pull.ID + "/feed", 404, "not_found", ""},
		{"another partner's endpoint under its own id", f.globexKey, f.s.URL + "/v1/partners/globex/endpoints/" + f.pull.ID + "/feed", 404, "not_found", ""},
		{"a webhook endpoint's feed", f.globexKey, f.s.URL + "/v1/partners/globex/endpoints/" + f.hook.ID + "/feed", 409, "not_a_pull_endpoint", ""},
		{"no key", "", f.feedURL(nil), 401, "", ""},
	} {
		var e errOut
		require.Equal(t, tc.status, call(t, "GET", tc.url, tc.key, nil, &e), tc.name)
		if tc.code != "" {
			require.Equal(t, tc.code, e.Error.Code, tc.name)
			require.Equal(t, tc.field, e.Error.Field, tc.name)
		}
	}
	// Nothing above acknowledged anything: the health is as it was.
	require.Zero(t, f.health(t).Feed.Unread)
	// A pull endpoint's message is read again, never retried.
	var msgs listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+"/v1/partners/acme/messages?limit=1&endpoint_id="+f.pull.ID, f.acmeKey, nil, &msgs))
	require.Len(t, msgs.Data, 1)
	var e errOut
	require.Equal(t, http.StatusConflict, call(t, "POST", f.s.URL+"/v1/messages/"+msgs.Data[0].ID+"/retry", f.acmeKey, nil, &e))
	require.Equal(t, "pull_endpoint", e.Error.Code)
	require.Equal(t, http.StatusConflict, call(t, "POST", f.s.URL+"/v1/partners/acme/endpoints/"+f.pull.ID+"/test", f.acmeKey,
		map[string]any{"type": "shipment.created"}, &e))
	require.Equal(t, "pull_endpoint", e.Error.Code)
}

// checkPullEndpointInput checks what a pull endpoint is created and
// changed with.
func (f feedFixture) checkPullEndpointInput(t *testing.T) {
	type errOut struct {
		Error struct {
			Code    string `json:"code"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"error"`
	}
	eps := f.s.URL + "/v1/partners/acme/endpoints"
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"kind": "pull", "url": "https://example.com/hook"}, "url"},
		{map[string]any{"kind": "pull", "timeout_seconds": 5}, "timeout_seconds"},
		{map[string]any{"kind": "pull", "headers": map[string]string{"X-A": "b"}}, "headers"},
		{map[string]any{"kind": "poll"}, "kind"},
		{map[string]any{"kind": "webhook"}, "url"},
	} {
		var e errOut
		require.Equal(t, http.StatusUnprocessableEntity, call(t, "POST", eps, f.acmeKey, tc.body, &e), "%v", tc.body)
		require.Equal(t, tc.field, e.Error.Field, "%v", tc.body)
	}
	var e errOut
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "PATCH", eps+"/"+f.pull.ID, f.acmeKey, map[string]any{"kind": "webhook"}, &e))
	require.Equal(t, "kind", e.Error.Field)
	require.Contains(t, e.Error.Message, "cannot change after creation")
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "PATCH", eps+"/"+f.pull.ID, f.acmeKey, map[string]any{"url": "https://example.com/x"}, &e))
	require.Equal(t, "url", e.Error.Field)
	// What a pull endpoint does take may change.
	require.Equal(t, http.StatusOK, call(t, "PATCH", eps+"/"+f.pull.ID, f.acmeKey, map[string]any{"description": "read nightly", "kind": "pull"}, nil))
}

// TestFeedLongPoll measures how soon a long-polling read answers after an
// event's 202: each under a second, the median under 100 ms. On
// PostgreSQL the feed is served by an api process and the event fanned
// out by a worker process, so the wake-up crosses Redis; on SQLite, one
// process serves both.
func TestFeedLongPoll(t *testing.T) {
	t.Run("postgres, api and worker processes", func(t *testing.T) {
		env := testEnv(t)
		migrate(t, env)
		api := startServer(t, "api", env)
		startServer(t, "worker", env)
		checkLongPoll(t, newFeedFixture(t, api))
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Chdir(t.TempDir())
		env := embeddedEnv()
		env["SHIPHOOK_ADMIN_KEY"] = adminKey
		checkLongPoll(t, newFeedFixture(t, startServer(t, "serve", env)))
	})
}

func checkLongPoll(t *testing.T, f feedFixture) {
	const rounds = 7
	var (
		latencies []time.Duration
		cursor    = f.read(t, "", 1).NextCursor
	)
	for i := range rounds {
		type answer struct {
			page feedOut
			at   time.Time
			err  error
		}
		got := make(chan answer, 1)
		go func() {
			q := url.Values{"wait": {"10"}, "after": {cursor}}
			req, _ := http.NewRequest("GET", f.feedURL(q), nil)
			req.Header.Set("Authorization", "Bearer "+f.acmeKey)
			resp, err := openapicheck.Client(t).Do(req)
			if err != nil {
				got <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			var a answer
			a.err = json.NewDecoder(resp.Body).Decode(&a.page)
			a.at = time.Now()
			got <- a
		}()
		time.Sleep(300 * time.Millisecond) // the read is waiting by now
		select {
		case a := <-got:
			t.Fatalf("round %d: the read answered before any event: %+v", i, a)
		default:
		}
		require.Equal(t, http.StatusAccepted, call(t, "POST", f.s.URL+"/v1/events", adminKey, event(i, fmt.Sprintf("lp-%d", i)), nil))
		accepted := time.Now()
		var a answer
		select {
		case a = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the long poll did not answer", i)
		}
		require.NoError(t, a.err)
		require.Len(t, a.page.Data, 1, "round %d", i)
		latency := max(a.at.Sub(accepted), 0)
		require.Less(t, latency, time.Second, "round %d", i)
		latencies = append(latencies, latency)
		cursor = a.page.NextCursor
	}
	sorted := slices.Clone(latencies)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	median := sorted[len(sorted)/2]
	t.Logf("long-poll answer after the event's 202: median %v, all %v", median, latencies)
	require.Less(t, median, 100*time.Millisecond, "median of %v", latencies)
}

// TestFeedCommand reads a pull endpoint's feed with "shiphook feed", as
// the README shows: once to the end, then following.
func TestFeedCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	env["SHIPHOOK_ADMIN_KEY"] = adminKey
	f := newFeedFixture(t, startServer(t, "serve", env))
	posted := f.postEvents(t, 3)
	cmdEnv := map[string]string{"SHIPHOOK_URL": f.s.URL, "SHIPHOOK_API_KEY": f.acmeKey}
	feed := func(ctx context.Context, args ...string) (stdout, stderr *lockedBuffer, err error) {
		stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
		args = append([]string{"feed", "--partner", "acme", "--endpoint", f.pull.ID}, args...)
		err = run(ctx, args, func(k string) string { return cmdEnv[k] }, stdout, stderr)
		return stdout, stderr, err
	}
	require.Eventually(t, func() bool { return f.health(t).Feed.Unread == 3 }, 10*time.Second, 20*time.Millisecond)

	out, errOut, err := feed(t.Context(), "--limit", "2")
	require.NoError(t, err, errOut.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	var got []string
	for _, l := range lines {
		var e envelopeOut
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		require.NotEmpty(t, e.ID)
		got = append(got, e.Data.EventID)
	}
	require.ElementsMatch(t, posted, got)
	require.Contains(t, errOut.String(), "cursor: ")
	require.Zero(t, f.health(t).Feed.Unread, "what it printed is acknowledged")

	out, _, err = feed(t.Context())
	require.NoError(t, err)
	require.Empty(t, out.String(), "nothing left to read")

	// Following: a new event is printed as it comes, until interrupted.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var followed *lockedBuffer
	started := make(chan struct{})
	go func() {
		var err error
		stdout := &lockedBuffer{}
		followed = stdout
		close(started)
		err = run(ctx, []string{"feed", "--partner", "acme", "--endpoint", f.pull.ID, "--follow"},
			func(k string) string { return cmdEnv[k] }, stdout, &lockedBuffer{})
		done <- err
	}()
	<-started
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, http.StatusAccepted, call(t, "POST", f.s.URL+"/v1/events", adminKey, event(7, "followed"), nil))
	require.Eventually(t, func() bool { return strings.Count(followed.String(), "\n") == 1 }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	// Errors say what went wrong.
	_, _, err = feed(t.Context(), "--endpoint", f.hook.ID)
	require.ErrorContains(t, err, "404 Not Found: endpoint "+f.hook.ID+" not found (not_found)", "globex's endpoint, with acme's key")
	require.Equal(t, exitRefused, exitCode(err))
	_, _, err = feed(t.Context(), "--after", "nonsense")
	require.ErrorContains(t, err, "invalid_cursor")
	cmdEnv = nil
	_, _, err = feed(t.Context())
	require.ErrorContains(t, err, "give --key")
}

// TestFeedOrdered checks that a pull endpoint ordered by shipment gives
// each message its sequence among its shipment's messages, in the feed's
// order, and that the message log shows it.
func TestFeedOrdered(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, env map[string]string) {
		f := newFeedFixture(t, startServer(t, "serve", env))
		require.Equal(t, http.StatusOK, call(t, "PATCH", f.s.URL+"/v1/partners/acme/endpoints/"+f.pull.ID, f.acmeKey,
			map[string]any{"ordering": "shipment"}, nil))
		shipments := []string{"SHP-A", "SHP-B", "SHP-A", "SHP-A", "SHP-B", "SHP-A", "SHP-B"}
		for i, shp := range shipments {
			ev := event(i, fmt.Sprintf("ord-%d", i))
			ev["shipment"].(map[string]any)["id"] = shp
			require.Equal(t, http.StatusAccepted, call(t, "POST", f.s.URL+"/v1/events", adminKey, ev, nil))
		}
		var got []string
		cursor := ""
		require.Eventually(t, func() bool {
			page := f.read(t, cursor, 3)
			for _, e := range page.Data {
				got = append(got, fmt.Sprintf("%s#%d", e.Data.Shipment.ID, e.Sequence))
			}
			cursor = page.NextCursor
			return len(got) == len(shipments)
		}, 20*time.Second, 20*time.Millisecond)
		require.Equal(t, []string{"SHP-A#1", "SHP-B#1", "SHP-A#2", "SHP-A#3", "SHP-B#2", "SHP-A#4", "SHP-B#3"}, got)

		var log listOut[struct {
			Sequence int `json:"sequence"`
		}]
		require.Equal(t, http.StatusOK, call(t, "GET", f.s.URL+"/v1/partners/acme/messages?shipment_id=SHP-B&endpoint_id="+f.pull.ID, f.acmeKey, nil, &log))
		require.Len(t, log.Data, 3)
		for i, m := range log.Data {
			require.Equal(t, 3-i, m.Sequence, "the log, newest first, shows each message's sequence")
		}
	})
}
