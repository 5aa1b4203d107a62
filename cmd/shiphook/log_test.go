package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logFixture is a server with a known delivery log: acme has an endpoint
// that succeeds and one that fails; globex one that succeeds.
type logFixture struct {
	s                 *server
	rcv               *receiver
	acmeKey, globex   string
	acmeOK, acmeBad   endpointOut
	globexOK          endpointOut
	events            []string // event ids, in the order posted
	failing           *atomic.Bool
	start, afterFirst time.Time
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	env := with(testEnv(t), "SHIPHOOK_RETRY_SCHEDULE", "0s")
	migrate(t, env)
	f := &logFixture{s: startServer(t, "serve", env), rcv: newReceiver(t), failing: &atomic.Bool{}}
	f.failing.Store(true)
	f.rcv.setAnswer("/bad", func(int) int {
		if f.failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	createPartners(t, f.s, "acme", "globex", "initech")
	f.acmeKey, f.globex = partnerKey(t, f.s, "acme"), partnerKey(t, f.s, "globex")
	f.acmeOK = createEndpoint(t, f.s, f.rcv, adminKey, "acme", "/ok", map[string]any{"event_types": []string{"shipment.milestone.*"}})
	f.acmeBad = createEndpoint(t, f.s, f.rcv, adminKey, "acme", "/bad", map[string]any{"event_types": []string{"shipment.invoice.issued"}})
	f.globexOK = createEndpoint(t, f.s, f.rcv, adminKey, "globex", "/globex", map[string]any{})
	f.start = time.Now().UTC()
	for i := 0; i < 10; i++ {
		var acc struct{ ID string }
		require.Equal(t, http.StatusAccepted, call(t, "POST", f.s.URL+"/v1/events", adminKey, event(i, ""), &acc))
		f.events = append(f.events, acc.ID)
		if i == 0 {
			// The first event is delivered before the others begin.
			require.Eventually(t, func() bool {
				ms := list[messageOut](t, f.s, adminKey, "/v1/messages", url.Values{"shipment_id": {"SHP-0000"}})
				return countStatus(ms, "succeeded") == 2
			}, 10*time.Second, 10*time.Millisecond)
			time.Sleep(10 * time.Millisecond)
			f.afterFirst = time.Now().UTC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	// 8 milestones to acme /ok, 2 invoices to acme /bad (failed), 10 to globex.
	require.Eventually(t, func() bool {
		return len(messagesOf(t, f.s, "acme", f.acmeOK.ID)) == 8 && countStatus(messagesOf(t, f.s, "acme", f.acmeBad.ID), "failed") == 2 &&
			countStatus(messagesOf(t, f.s, "globex", f.globexOK.ID), "succeeded") == 10 && countStatus(messagesOf(t, f.s, "acme", f.acmeOK.ID), "succeeded") == 8
	}, 30*time.Second, 50*time.Millisecond)
	return f
}

func countStatus(ms []messageOut, status string) int {
	n := 0
	for _, m := range ms {
		if m.Status == status {
			n++
		}
	}
	return n
}

func list[T any](t testing.TB, s *server, key, path string, q url.Values) []T {
	t.Helper()
	var out listOut[T]
	u := s.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	require.Equal(t, http.StatusOK, call(t, "GET", u, key, nil, &out), u)
	return out.Data
}

// TestLogSearch searches the log of a logFixture: messages and attempts by
// each filter, an attempt in detail, pages and dead letters.
func TestLogSearch(t *testing.T) {
	f := newLogFixture(t)
	t.Run("message filters", func(t *testing.T) { f.checkMessageFilters(t) })
	t.Run("attempt filters and detail", func(t *testing.T) { f.checkAttemptFilters(t) })
	t.Run("pagination is stable while new messages arrive", func(t *testing.T) { f.checkStablePagination(t) })
	t.Run("dead letters", func(t *testing.T) { f.checkDeadLetters(t) })
}

// loggedMessage is a message as the log search lists it.
type loggedMessage struct {
	messageOut
	EventType      string `json:"event_type"`
	ShipmentID     string `json:"shipment_id"`
	LastStatusCode int    `json:"last_status_code"`
	LastErrorClass string `json:"last_error_class"`
}

func (f *logFixture) checkMessageFilters(t *testing.T) {
	t.Helper()
	s := f.s
	all := list[loggedMessage](t, s, adminKey, "/v1/messages", url.Values{"limit": {"250"}})
	require.Len(t, all, 20)
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i-1].ID, all[i].ID, "newest first")
	}
	tests := []struct {
		q    url.Values
		want int
	}{
		{url.Values{"partner_id": {"acme"}}, 10},
		{url.Values{"partner_id": {"globex"}}, 10},
		{url.Values{"status": {"failed"}}, 2},
		{url.Values{"status": {"succeeded"}, "partner_id": {"acme"}}, 8},
		{url.Values{"endpoint_id": {f.acmeBad.ID}}, 2},
		{url.Values{"event_type": {"shipment.invoice.issued"}}, 4},
		{url.Values{"shipment_id": {"SHP-0004"}}, 2},
		{url.Values{"error_class": {"http_status"}}, 2},
		{url.Values{"since": {f.afterFirst.Format(time.RFC3339Nano)}}, 18},
		{url.Values{"until": {f.afterFirst.Format(time.RFC3339Nano)}}, 2},
		{url.Values{"partner_id": {"acme"}, "status": {"failed"}, "shipment_id": {"SHP-0009"}}, 1},
	}
	for _, tt := range tests {
		got := list[loggedMessage](t, s, adminKey, "/v1/messages", tt.q)
		require.Len(t, got, tt.want, tt.q.Encode())
		for _, m := range got {
			if v := tt.q.Get("status"); v != "" {
				require.Equal(t, v, m.Status)
			}
			if v := tt.q.Get("shipment_id"); v != "" {
				require.Equal(t, v, m.ShipmentID)
			}
			if v := tt.q.Get("error_class"); v != "" {
				require.Equal(t, v, m.LastErrorClass)
				require.Equal(t, 500, m.LastStatusCode)
			}
		}
	}
	// The partner route applies the same filters within the partner.
	require.Len(t, list[loggedMessage](t, s, f.acmeKey, "/v1/partners/acme/messages", url.Values{"status": {"failed"}}), 2)
	var e struct {
		Error struct{ Field string } `json:"error"`
	}
	require.Equal(t, 422, call(t, "GET", s.URL+"/v1/messages?error_class=gremlins", adminKey, nil, &e))
	require.Equal(t, "error_class", e.Error.Field)
	require.Equal(t, 422, call(t, "GET", s.URL+"/v1/messages?since=yesterday", adminKey, nil, &e))
	require.Equal(t, "since", e.Error.Field)
}

func (f *logFixture) checkAttemptFilters(t *testing.T) {
	t.Helper()
	s := f.s
	failed := list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"failed": {"true"}})
	require.Len(t, failed, 2)
	require.Len(t, list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"error_class": {"http_status"}}), 2)
	require.Len(t, list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"partner_id": {"globex"}}), 10)
	require.Len(t, list[attemptOut](t, s, f.acmeKey, "/v1/partners/acme/attempts", url.Values{"endpoint_id": {f.acmeOK.ID}}), 8)
	require.Len(t, list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"shipment_id": {"SHP-0004"}}), 2)
	require.Len(t, list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"event_type": {"shipment.invoice.issued"}}), 4)
	require.Len(t, list[attemptOut](t, s, f.acmeKey, "/v1/partners/acme/attempts", url.Values{"event_type": {"shipment.invoice.issued"}}), 2)
	require.Len(t, list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"since": {f.afterFirst.Format(time.RFC3339Nano)}}), 18)
	require.Len(t, list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"until": {f.afterFirst.Format(time.RFC3339Nano)}}), 2)

	var as listOut[struct {
		ID string `json:"id"`
	}]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/attempts?failed=true&limit=1", adminKey, nil, &as))
	var detail struct {
		Trigger string `json:"trigger"`
		Request struct {
			Method  string            `json:"method"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
			Body    string            `json:"body"`
		} `json:"request"`
		Response struct {
			StatusCode int               `json:"status_code"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
		} `json:"response"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/attempts/"+as.Data[0].ID, f.acmeKey, nil, &detail))
	require.Equal(t, "scheduled", detail.Trigger)
	require.Equal(t, "POST", detail.Request.Method)
	require.Equal(t, f.rcv.URL+"/bad", detail.Request.URL)
	require.Contains(t, detail.Request.Body, `"type":"shipment.invoice.issued"`)
	require.Contains(t, detail.Request.Body, `"role":"shipper"`)
	require.NotContains(t, detail.Request.Headers["webhook-signature"], "v1,", "the signature is not shown")
	require.NotContains(t, mustJSON(t, detail), f.acmeBad.Secret)
	require.Equal(t, 500, detail.Response.StatusCode)
	require.Equal(t, `{"ok":true}`, detail.Response.Body)
	require.Equal(t, http.StatusNotFound, call(t, "GET", s.URL+"/v1/attempts/"+as.Data[0].ID, f.globex, nil, nil))
}

func (f *logFixture) checkStablePagination(t *testing.T) {
	t.Helper()
	s := f.s
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		q := url.Values{"limit": {"3"}, "partner_id": {"globex"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out listOut[messageOut]
		require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages?"+q.Encode(), adminKey, nil, &out))
		for _, m := range out.Data {
			seen = append(seen, m.ID)
		}
		if page == 1 {
			// New deliveries land on top of the log, not in the pages.
			require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(20, ""), nil))
		}
		if !out.HasMore {
			break
		}
		cursor = *out.NextCursor
	}
	require.Len(t, seen, 10, "each of the 10 original messages exactly once")
	unique := map[string]bool{}
	for _, id := range seen {
		unique[id] = true
	}
	require.Len(t, unique, 10)
}

func (f *logFixture) checkDeadLetters(t *testing.T) {
	t.Helper()
	s := f.s
	require.Len(t, list[messageOut](t, s, adminKey, "/v1/dead-letters", nil), 2)
	require.Len(t, list[messageOut](t, s, adminKey, "/v1/dead-letters", url.Values{"partner_id": {"globex"}}), 0)
	require.Len(t, list[messageOut](t, s, f.acmeKey, "/v1/partners/acme/endpoints/"+f.acmeBad.ID+"/dead-letters", nil), 2)
	require.Len(t, list[messageOut](t, s, f.acmeKey, "/v1/partners/acme/endpoints/"+f.acmeOK.ID+"/dead-letters", nil), 0)
}

// TestReplay replays the log of a logFixture once acme's failing endpoint
// answers again: a retry, a recovery, a resend and a test event.
func TestReplay(t *testing.T) {
	f := newLogFixture(t)
	dead := list[messageOut](t, f.s, f.acmeKey, "/v1/partners/acme/endpoints/"+f.acmeBad.ID+"/dead-letters", nil)
	require.Len(t, dead, 2)
	f.failing.Store(false)

	t.Run("retry one message now", func(t *testing.T) { f.checkRetryOne(t, dead[0]) })
	t.Run("bulk recovery, called twice", func(t *testing.T) { f.checkBulkRecovery(t) })
	t.Run("resend one event to one endpoint", func(t *testing.T) { f.checkResend(t) })
	t.Run("test event of a catalog type", func(t *testing.T) { f.checkTestEvent(t) })
}

func (f *logFixture) checkRetryOne(t *testing.T, dead messageOut) {
	t.Helper()
	s := f.s
	var m messageOut
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/messages/"+dead.ID+"/retry", f.acmeKey, nil, &m))
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/v1/messages/"+dead.ID, f.acmeKey, nil, &m)
		return m.Status == "succeeded"
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 2, m.Attempts)
	as := list[attemptOut](t, s, f.acmeKey, "/v1/messages/"+dead.ID+"/attempts", nil)
	var trig []string
	for _, a := range list[map[string]any](t, s, f.acmeKey, "/v1/messages/"+dead.ID+"/attempts", nil) {
		trig = append(trig, a["trigger"].(string))
	}
	require.Equal(t, []string{"scheduled", "manual"}, trig)
	require.Equal(t, 200, as[1].StatusCode)
	require.Equal(t, http.StatusNotFound, call(t, "POST", s.URL+"/v1/messages/"+dead.ID+"/retry", f.globex, nil, nil))
}

func (f *logFixture) checkBulkRecovery(t *testing.T) {
	t.Helper()
	s := f.s
	type job struct {
		ID         string     `json:"id"`
		Status     string     `json:"status"`
		Total      int        `json:"total"`
		Requeued   int        `json:"requeued"`
		FinishedAt *time.Time `json:"finished_at"`
	}
	var j1, j2 job
	body := map[string]any{"since": f.start.Add(-time.Minute).Format(time.RFC3339)}
	base := s.URL + "/v1/partners/acme/endpoints/" + f.acmeBad.ID + "/recover"
	require.Equal(t, http.StatusAccepted, call(t, "POST", base, f.acmeKey, body, &j1))
	require.Equal(t, http.StatusAccepted, call(t, "POST", base, f.acmeKey, body, &j2))
	if j2.ID != j1.ID {
		// A second call while the first runs is the same job: a new
		// one only once the first had finished. (Their timestamps
		// cannot order the two: each is taken before its statement
		// commits.)
		var first job
		call(t, "GET", base+"/"+j1.ID, f.acmeKey, nil, &first)
		require.Equal(t, "done", first.Status, "a second call while the first runs is the same job")
		require.NotNil(t, first.FinishedAt)
	}
	require.Eventually(t, func() bool {
		call(t, "GET", base+"/"+j1.ID, f.acmeKey, nil, &j1)
		return j1.Status == "done"
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, j1.Total, "one message was still failed")
	require.Equal(t, 1, j1.Requeued)
	require.Eventually(t, func() bool {
		return countStatus(messagesOf(t, s, "acme", f.acmeBad.ID), "succeeded") == 2
	}, 10*time.Second, 20*time.Millisecond)
	// Once done, calling again finds nothing left to recover.
	var j3 job
	require.Equal(t, http.StatusAccepted, call(t, "POST", base, f.acmeKey, body, &j3))
	require.Eventually(t, func() bool {
		call(t, "GET", base+"/"+j3.ID, f.acmeKey, nil, &j3)
		return j3.Status == "done"
	}, 10*time.Second, 20*time.Millisecond)
	require.Zero(t, j3.Requeued)
	require.Equal(t, 2, len(f.rcv.byPath("/bad")), "each recovered message delivered once")
	var e struct {
		Error struct{ Field string } `json:"error"`
	}
	require.Equal(t, 422, call(t, "POST", base, f.acmeKey, map[string]any{"since": "last week"}, &e))
	require.Equal(t, "since", e.Error.Field)
}

func (f *logFixture) checkResend(t *testing.T) {
	t.Helper()
	s := f.s
	before := len(f.rcv.byPath("/ok"))
	var m messageOut
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/partners/acme/endpoints/"+f.acmeOK.ID+"/resend", f.acmeKey, map[string]any{"event_id": f.events[1]}, &m))
	require.Eventually(t, func() bool { return len(f.rcv.byPath("/ok")) == before+1 }, 10*time.Second, 20*time.Millisecond)
	// An invoice was never sent to the milestone endpoint: resending it
	// makes a new message.
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/partners/acme/endpoints/"+f.acmeOK.ID+"/resend", f.acmeKey, map[string]any{"event_id": f.events[4]}, &m))
	require.Equal(t, f.events[4], m.EventID)
	require.Eventually(t, func() bool { return len(f.rcv.byPath("/ok")) == before+2 }, 10*time.Second, 20*time.Millisecond)
	// initech is no party to any event.
	initechKey := partnerKey(t, s, "initech")
	ep := createEndpoint(t, s, f.rcv, initechKey, "initech", "/initech", map[string]any{})
	require.Equal(t, http.StatusNotFound, call(t, "POST", s.URL+"/v1/partners/initech/endpoints/"+ep.ID+"/resend", initechKey, map[string]any{"event_id": f.events[1]}, nil))
}

func (f *logFixture) checkTestEvent(t *testing.T) {
	t.Helper()
	s := f.s
	var sent struct {
		EventID   string `json:"event_id"`
		MessageID string `json:"message_id"`
	}
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/partners/globex/endpoints/"+f.globexOK.ID+"/test", f.globex, map[string]any{"type": "shipment.document.added"}, &sent))
	require.Eventually(t, func() bool { return f.rcv.arrivalsOf(sent.MessageID) == 1 }, 10*time.Second, 20*time.Millisecond)
	var d delivery
	for _, x := range f.rcv.byPath("/globex") {
		if x.MessageID == sent.MessageID {
			d = x
		}
	}
	require.Equal(t, "shipment.document.added", d.Type)
	require.Equal(t, sent.EventID, d.Data["event_id"])
	require.NotEmpty(t, d.Data["number"], "the catalog's example data")
	require.Empty(t, f.rcv.invalidSignatures())
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "POST", s.URL+"/v1/partners/globex/endpoints/"+f.globexOK.ID+"/test", f.globex, map[string]any{"type": "nope"}, nil))
}

func TestTimeline(t *testing.T) {
	f := newLogFixture(t)
	s := f.s
	type tl struct {
		ShipmentID string `json:"shipment_id"`
		Events     []struct {
			ID         string           `json:"id"`
			Type       string           `json:"type"`
			OccurredAt time.Time        `json:"occurred_at"`
			Parties    []map[string]any `json:"parties"`
			Deliveries []struct {
				PartnerID  string `json:"partner_id"`
				EndpointID string `json:"endpoint_id"`
				Status     string `json:"status"`
			} `json:"deliveries"`
		} `json:"events"`
	}
	// A second event for SHP-0004, earlier in time though posted later.
	ev := event(4, "")
	ev["type"] = "shipment.milestone.booked"
	ev["occurred_at"] = time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	delete(ev["data"].(map[string]any), "location")
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, ev, nil))
	require.Eventually(t, func() bool {
		return len(list[messageOut](t, s, adminKey, "/v1/messages", url.Values{"shipment_id": {"SHP-0004"}})) == 4
	}, 10*time.Second, 20*time.Millisecond)

	var admin tl
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/shipments/SHP-0004/timeline", adminKey, nil, &admin))
	require.Len(t, admin.Events, 2)
	require.Equal(t, "shipment.milestone.booked", admin.Events[0].Type, "in order of occurred_at")
	require.True(t, admin.Events[0].OccurredAt.Before(admin.Events[1].OccurredAt))
	require.Len(t, admin.Events[1].Deliveries, 2, "acme's failing invoice endpoint and globex")
	require.NotEmpty(t, admin.Events[1].Parties)

	var acme tl
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/shipments/SHP-0004/timeline", f.acmeKey, nil, &acme))
	require.Len(t, acme.Events, 2)
	for _, e := range acme.Events {
		require.Empty(t, e.Parties, "a partner sees no party list")
		for _, d := range e.Deliveries {
			require.Equal(t, "acme", d.PartnerID, "a partner sees only its own deliveries")
		}
	}
	raw := ""
	var any map[string]any
	call(t, "GET", s.URL+"/v1/shipments/SHP-0004/timeline", f.acmeKey, nil, &any)
	raw = mustJSON(t, any)
	require.NotContains(t, raw, "globex", "no other party's identity")

	initechKey := partnerKey(t, s, "initech")
	require.Equal(t, http.StatusNotFound, call(t, "GET", s.URL+"/v1/shipments/SHP-0004/timeline", initechKey, nil, nil))
	require.Equal(t, http.StatusNotFound, call(t, "GET", s.URL+"/v1/shipments/NOPE/timeline", adminKey, nil, nil))
}

// TestPartnerBoundary calls every route that takes a partner's resource
// with another partner's key: each answers 404 or 403, never the data.
func TestPartnerBoundary(t *testing.T) {
	f := newLogFixture(t)
	s := f.s
	acmeMsg := messagesOf(t, s, "acme", f.acmeBad.ID)[0].ID
	acmeAttempt := list[attemptOut](t, s, adminKey, "/v1/attempts", url.Values{"message_id": {acmeMsg}})
	require.NotEmpty(t, acmeAttempt)
	attemptID := list[struct {
		ID string `json:"id"`
	}](t, s, adminKey, "/v1/attempts", url.Values{"message_id": {acmeMsg}})[0].ID
	var job struct{ ID string }
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/partners/acme/endpoints/"+f.acmeBad.ID+"/recover", adminKey,
		map[string]any{"since": f.start.Add(-time.Hour).Format(time.RFC3339)}, &job))
	ep := "/v1/partners/acme/endpoints/" + f.acmeOK.ID
	routes := []struct{ method, path string }{
		{"GET", "/v1/partners/acme"},
		{"PATCH", "/v1/partners/acme"},
		{"DELETE", "/v1/partners/acme"},
		{"GET", "/v1/partners/acme/endpoints"},
		{"POST", "/v1/partners/acme/endpoints"},
		{"GET", ep},
		{"PATCH", ep},
		{"DELETE", ep},
		{"GET", ep + "/secret"},
		{"POST", ep + "/secret/rotate"},
		{"GET", ep + "/health"},
		{"POST", ep + "/test"},
		{"POST", ep + "/resend"},
		{"POST", ep + "/recover"},
		{"GET", "/v1/partners/acme/endpoints/" + f.acmeBad.ID + "/recover/" + job.ID},
		{"GET", "/v1/partners/acme/endpoints/" + f.acmeBad.ID + "/dead-letters"},
		{"GET", "/v1/partners/acme/messages"},
		{"GET", "/v1/partners/acme/attempts"},
		{"GET", "/v1/messages/" + acmeMsg},
		{"GET", "/v1/messages/" + acmeMsg + "/attempts"},
		{"POST", "/v1/messages/" + acmeMsg + "/retry"},
		{"GET", "/v1/attempts/" + attemptID},
		{"GET", "/v1/messages"},
		{"GET", "/v1/attempts"},
		{"GET", "/v1/dead-letters"},
		{"GET", "/v1/events"},
		{"GET", "/v1/events/" + f.events[0]},
		{"GET", "/v1/partners"},
		{"POST", "/v1/partners"},
		{"GET", "/v1/api-keys"},
		{"POST", "/v1/api-keys"},
	}
	// Shipment SHP-0001: acme and globex are both parties, so use initech.
	initechKey := partnerKey(t, s, "initech")
	routes = append(routes, struct{ method, path string }{"GET", "/v1/shipments/SHP-0001/timeline"})
	for _, r := range routes {
		key := f.globex
		if strings.Contains(r.path, "/shipments/") {
			key = initechKey
		}
		var body map[string]any
		status := call(t, r.method, s.URL+r.path, key, "{}", &body)
		require.Contains(t, []int{http.StatusNotFound, http.StatusForbidden}, status, "%s %s answered %d", r.method, r.path, status)
		raw := mustJSON(t, body)
		for _, secret := range []string{f.acmeOK.ID, f.acmeBad.ID, acmeMsg, attemptID, f.acmeOK.Secret, "SHP-0001\",\"mode"} {
			if !strings.Contains(r.path, secret) {
				require.NotContains(t, raw, secret, "%s %s leaked %s", r.method, r.path, secret)
			}
		}
	}
	// And nothing changed.
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+ep, adminKey, nil, nil))
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme", adminKey, nil, nil))
}
