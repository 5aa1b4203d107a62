package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/openapicheck"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
)

const adminKey = "shk_test_admin_key_for_the_end_to_end_test_only"

// testEnv is the environment of a server under test: real PostgreSQL and
// Redis, a key of its own that encrypts the endpoints' secrets, deliveries
// to loopback allowed, and a fast retry schedule.
func testEnv(t testing.TB) map[string]string {
	t.Helper()
	return map[string]string{
		"DATABASE_URL":                        storetest.Postgres(t),
		"REDIS_URL":                           storetest.Redis(t),
		"SHIPHOOK_ADMIN_KEY":                  adminKey,
		"SHIPHOOK_ENCRYPTION_KEY":             store.NewEncryptionKey(),
		"SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS": "loopback",
		"SHIPHOOK_RETRY_SCHEDULE":             "0s,1s,1s,1s",
		"SHIPHOOK_RECONCILE_INTERVAL":         "300ms",
		"SHIPHOOK_RECONCILE_GRACE":            "1s",
		"SHIPHOOK_LOG_LEVEL":                  "warn",
	}
}

// onBothDatabases runs check against the real server twice: on
// PostgreSQL and Redis (testEnv, migrated), then on SQLite and the
// in-process Redis in a directory of its own, both with the reconciler's
// short interval.
func onBothDatabases(t *testing.T, check func(t *testing.T, env map[string]string)) {
	t.Run("postgres", func(t *testing.T) {
		env := testEnv(t)
		migrate(t, env)
		check(t, env)
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Chdir(t.TempDir())
		env := embeddedEnv()
		env["SHIPHOOK_ADMIN_KEY"] = adminKey
		env["DATABASE_URL"] = defaultDatabaseURL
		env["SHIPHOOK_RECONCILE_INTERVAL"] = "300ms"
		env["SHIPHOOK_RECONCILE_GRACE"] = "1s"
		check(t, env)
	})
}

func migrate(t testing.TB, env map[string]string) {
	t.Helper()
	var out lockedBuffer
	err := run(context.Background(), []string{"migrate"}, func(k string) string { return env[k] }, &out, &out)
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "database migrated (postgres)")
}

type endpointOut struct {
	ID             string `json:"id"`
	Secret         string `json:"secret"`
	Disabled       bool   `json:"disabled"`
	DisabledReason string `json:"disabled_reason"`
}

// createEndpoint creates an endpoint at the receiver's path and tells the
// receiver its secret.
func createEndpoint(t testing.TB, s *server, rcv *receiver, key, partner, path string, spec map[string]any) endpointOut {
	t.Helper()
	spec["url"] = rcv.URL + path
	var ep endpointOut
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/"+partner+"/endpoints", key, spec, &ep))
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"), ep.Secret)
	rcv.setSecret(path, ep.Secret)
	return ep
}

func event(i int, sourceID string) map[string]any {
	types := []string{"shipment.milestone.picked_up", "shipment.milestone.departed", "shipment.milestone.arrived", "shipment.milestone.delivered", "shipment.invoice.issued"}
	typ := types[i%5]
	mode := "air"
	if i%2 == 0 {
		mode = "ocean"
	}
	data := map[string]any{"location": map[string]any{"code": "NLRTM", "name": "Rotterdam"}}
	if typ == "shipment.invoice.issued" {
		data = map[string]any{"invoice_number": fmt.Sprintf("INV-%d", i), "amount": 1250.5, "currency": "EUR"}
	}
	ev := map[string]any{
		"type":        typ,
		"occurred_at": time.Now().UTC().Format(time.RFC3339),
		"shipment":    map[string]any{"id": fmt.Sprintf("SHP-%04d", i), "mode": mode, "origin": "CNSHA", "destination": "NLRTM", "carrier": "MAEU"},
		"parties":     []map[string]any{{"partner_id": "acme", "role": "shipper"}, {"partner_id": "globex", "role": "consignee"}},
		"data":        data,
	}
	if sourceID != "" {
		ev["id"] = sourceID
	}
	return ev
}

type listOut[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

type messageOut struct {
	ID         string `json:"id"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	PartnerID  string `json:"partner_id"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
}

type attemptOut struct {
	ID           string `json:"id"`
	Number       int    `json:"number"`
	Trigger      string `json:"trigger"`
	StatusCode   int    `json:"status_code"`
	ErrorClass   string `json:"error_class"`
	ResponseBody string `json:"response_body"`
	DurationMS   int64  `json:"duration_ms"`
}

func partnerKey(t testing.TB, s *server, partner string) string {
	t.Helper()
	var k struct {
		Key string `json:"key"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/api-keys", adminKey, map[string]any{"role": "partner", "partner_id": partner}, &k))
	return k.Key
}

// TestEndToEnd runs the real server against real PostgreSQL and Redis and
// delivers to a real receiver that checks every signature.
func TestEndToEnd(t *testing.T) {
	e := newEndToEnd(t)
	want := e.postMatchingEvents(t)
	for path, evs := range want {
		e.waitFor(t, path, len(evs))
	}

	t.Run("every matching delivery arrives once, signed, with the partner's own role", func(t *testing.T) {
		e.checkDeliveries(t, want)
	})
	t.Run("a duplicate post delivers nothing new", func(t *testing.T) { e.checkDuplicatePost(t) })
	t.Run("an event's messages are stored by the time it is accepted", func(t *testing.T) { e.checkStoredWhenAccepted(t) })
	t.Run("a receiver failing twice gets the third attempt", func(t *testing.T) { e.checkThirdAttempt(t) })
	t.Run("a 410 disables the endpoint", func(t *testing.T) { e.checkGoneDisables(t) })
	t.Run("a partner key cannot read another partner's endpoints or messages", func(t *testing.T) { e.checkPartnerBoundary(t) })
	t.Run("Redis flushed mid-run: every delivery still arrives", func(t *testing.T) { e.checkRedisFlushed(t) })
}

// endToEnd is the fixture TestEndToEnd's steps share: a server with the
// partners acme, globex, erp (access to all) and initech (never a party),
// a key for each of acme and globex and an ingest key, and an endpoint of
// each partner at a receiver path named for it.
type endToEnd struct {
	env                           map[string]string
	s                             *server
	rcv                           *receiver
	acmeKey, globexKey, ingestKey string
	acmeEP                        endpointOut
}

func newEndToEnd(t *testing.T) *endToEnd {
	t.Helper()
	e := &endToEnd{env: testEnv(t)}
	migrate(t, e.env)
	e.s = startServer(t, "serve", e.env)
	e.rcv = newReceiver(t)
	s, rcv := e.s, e.rcv

	for _, p := range []map[string]any{
		{"id": "acme", "name": "Acme Imports"},
		{"id": "globex", "name": "Globex Retail"},
		{"id": "erp", "name": "Our ERP", "access": "all"},
		{"id": "initech", "name": "Initech (never a party)"},
	} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, p, nil))
	}
	e.acmeKey, e.globexKey = partnerKey(t, s, "acme"), partnerKey(t, s, "globex")
	var ingest struct {
		Key string `json:"key"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/api-keys", adminKey, map[string]any{"role": "ingest"}, &ingest))
	e.ingestKey = ingest.Key

	e.acmeEP = createEndpoint(t, s, rcv, e.acmeKey, "acme", "/acme", map[string]any{"event_types": []string{"shipment.milestone.*"}})
	createEndpoint(t, s, rcv, e.globexKey, "globex", "/globex", map[string]any{"filter": map[string]any{"shipment.mode": "ocean"}})
	createEndpoint(t, s, rcv, adminKey, "erp", "/erp", map[string]any{"event_types": []string{"shipment.invoice.*"}})
	createEndpoint(t, s, rcv, adminKey, "initech", "/initech", map[string]any{})
	return e
}

// postMatchingEvents posts 200 events and returns, by receiver path, the
// ids of the events each partner must get, worked out here, apart from
// the server's matcher.
func (e *endToEnd) postMatchingEvents(t *testing.T) map[string]map[string]bool {
	t.Helper()
	want := map[string]map[string]bool{"/acme": {}, "/globex": {}, "/erp": {}}
	for i := 0; i < 200; i++ {
		ev := event(i, fmt.Sprintf("tms-%d", i))
		var acc struct {
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
		}
		require.Equal(t, http.StatusAccepted, call(t, "POST", e.s.URL+"/v1/events", e.ingestKey, ev, &acc))
		require.True(t, strings.HasPrefix(acc.ID, "evt_"))
		require.False(t, acc.Duplicate)
		typ := ev["type"].(string)
		if strings.HasPrefix(typ, "shipment.milestone.") {
			want["/acme"][acc.ID] = true
		}
		if i%2 == 0 {
			want["/globex"][acc.ID] = true
		}
		if typ == "shipment.invoice.issued" {
			want["/erp"][acc.ID] = true
		}
	}
	require.Len(t, want["/acme"], 160)
	require.Len(t, want["/globex"], 100)
	require.Len(t, want["/erp"], 40)
	return want
}

// waitFor waits up to 60 s until the receiver has n deliveries at path.
func (e *endToEnd) waitFor(t *testing.T, path string, n int) {
	t.Helper()
	rcv := e.rcv
	require.Eventually(t, func() bool { return len(rcv.byPath(path)) >= n }, 60*time.Second, 50*time.Millisecond,
		"%s got %d of %d deliveries", path, len(rcv.byPath(path)), n)
}

func (e *endToEnd) checkDeliveries(t *testing.T, want map[string]map[string]bool) {
	t.Helper()
	rcv := e.rcv
	roles := map[string]string{"/acme": "shipper", "/globex": "consignee", "/erp": ""}
	for path, evs := range want {
		got := map[string]bool{}
		for _, d := range rcv.byPath(path) {
			eventID, _ := d.Data["event_id"].(string)
			require.True(t, evs[eventID], "%s got event %s it should not have", path, eventID)
			require.False(t, got[eventID], "%s got event %s twice", path, eventID)
			got[eventID] = true
			require.Equal(t, 1, rcv.arrivalsOf(d.MessageID), "message %s arrived more than once", d.MessageID)
			require.True(t, strings.HasPrefix(d.MessageID, "msg_"))
			role, hasRole := d.Data["role"]
			if roles[path] == "" {
				require.False(t, hasRole, "a partner that is no party has no role: %v", d.Data)
			} else {
				require.Equal(t, roles[path], role)
			}
			require.NotContains(t, d.Data, "parties", "other parties are never shown")
			require.NotContains(t, d.Raw, "parties")
			shipment := d.Data["shipment"].(map[string]any)
			require.NotEmpty(t, shipment["id"])
			require.NotEmpty(t, d.Raw["timestamp"])
		}
		require.Len(t, got, len(evs), path)
	}
	require.Empty(t, rcv.byPath("/initech"), "a partner that is no party gets nothing")
	require.Empty(t, rcv.invalidSignatures())
}

func (e *endToEnd) checkDuplicatePost(t *testing.T) {
	t.Helper()
	s := e.s
	before := len(e.rcv.byPath("/acme"))
	var first, again struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", e.ingestKey, event(1, "tms-1"), &again))
	require.True(t, again.Duplicate)
	// By Idempotency-Key, without a source id.
	post := func(out any) int {
		req, _ := http.NewRequest("POST", s.URL+"/v1/events", strings.NewReader(mustJSON(t, event(3, ""))))
		req.Header.Set("Authorization", "Bearer "+e.ingestKey)
		req.Header.Set("Idempotency-Key", "retry-42")
		resp, err := openapicheck.Client(t).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, jsonDecode(resp.Body, out))
		return resp.StatusCode
	}
	require.Equal(t, http.StatusAccepted, post(&first))
	require.False(t, first.Duplicate)
	e.waitFor(t, "/acme", before+1)
	require.Equal(t, http.StatusAccepted, post(&again))
	require.True(t, again.Duplicate)
	require.Equal(t, first.ID, again.ID)
	time.Sleep(2 * time.Second) // several reconciler passes
	require.Len(t, e.rcv.byPath("/acme"), before+1)
}

// checkStoredWhenAccepted relies on serve running the workers beside the
// API: the event is fanned out in the transaction that stores it.
func (e *endToEnd) checkStoredWhenAccepted(t *testing.T) {
	t.Helper()
	s := e.s
	before := len(e.rcv.byPath("/acme"))
	ev := event(1000, "tms-1000") // a milestone by ocean: acme and globex
	var acc struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", e.ingestKey, ev, &acc))
	var ms listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages?shipment_id=SHP-1000", adminKey, nil, &ms))
	partners := map[string]string{}
	for _, m := range ms.Data {
		require.Equal(t, acc.ID, m.EventID)
		partners[m.PartnerID] = m.Status
	}
	require.Len(t, partners, 2, "messages listed right after the answer: %+v", ms.Data)
	require.Contains(t, partners, "acme")
	require.Contains(t, partners, "globex")
	var stored struct {
		FannedOutAt *time.Time `json:"fanned_out_at"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events/"+acc.ID, adminKey, nil, &stored))
	require.NotNil(t, stored.FannedOutAt)
	e.waitFor(t, "/acme", before+1)
}

func (e *endToEnd) checkThirdAttempt(t *testing.T) {
	t.Helper()
	s, rcv := e.s, e.rcv
	rcv.setAnswer("/flaky", func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	createEndpoint(t, s, rcv, adminKey, "acme", "/flaky", map[string]any{"event_types": []string{"shipment.document.added"}})
	ev := event(0, "")
	ev["type"] = "shipment.document.added"
	ev["data"] = map[string]any{"type": "bill_of_lading", "number": "MAEU123", "url": "https://docs.example.com/bl/MAEU123.pdf"}
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", e.ingestKey, ev, nil))
	e.waitFor(t, "/flaky", 1)
	msgID := rcv.byPath("/flaky")[0].MessageID
	require.Equal(t, 3, rcv.arrivalsOf(msgID))
	var m messageOut
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/v1/messages/"+msgID, e.acmeKey, nil, &m)
		return m.Status == "succeeded"
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 3, m.Attempts)
	var as listOut[attemptOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages/"+msgID+"/attempts", e.acmeKey, nil, &as))
	require.Len(t, as.Data, 3)
	for i, a := range as.Data {
		require.Equal(t, i+1, a.Number)
	}
	require.Equal(t, 500, as.Data[0].StatusCode)
	require.Equal(t, "http_status", as.Data[0].ErrorClass)
	require.Equal(t, 500, as.Data[1].StatusCode)
	require.Equal(t, 200, as.Data[2].StatusCode)
	require.Empty(t, as.Data[2].ErrorClass)
	require.Equal(t, `{"ok":true}`, as.Data[2].ResponseBody)
}

func (e *endToEnd) checkGoneDisables(t *testing.T) {
	t.Helper()
	s, globexKey := e.s, e.globexKey
	e.rcv.setAnswer("/gone", func(int) int { return http.StatusGone })
	ep := createEndpoint(t, s, e.rcv, globexKey, "globex", "/gone", map[string]any{"event_types": []string{"shipment.cancelled"}})
	ev := event(0, "")
	ev["type"] = "shipment.cancelled"
	ev["data"] = map[string]any{"reason": "customer request"}
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", e.ingestKey, ev, nil))
	got := awaitDisabled(t, s, globexKey, "globex", ep.ID)
	require.Equal(t, "gone", got.DisabledReason)
	var ms listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/globex/messages?endpoint_id="+ep.ID, globexKey, nil, &ms))
	require.Len(t, ms.Data, 1)
	require.Equal(t, "failed", ms.Data[0].Status)
	require.Equal(t, 1, ms.Data[0].Attempts, "a 410 is not retried")
}

func (e *endToEnd) checkPartnerBoundary(t *testing.T) {
	t.Helper()
	s, acmeKey, globexKey := e.s, e.acmeKey, e.globexKey
	var globexMsgs listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/globex/messages?limit=1", globexKey, nil, &globexMsgs))
	require.NotEmpty(t, globexMsgs.Data)
	theirs := globexMsgs.Data[0].ID
	for _, path := range []string{
		"/v1/partners/globex",
		"/v1/partners/globex/endpoints",
		"/v1/partners/globex/messages",
		"/v1/messages/" + theirs,
		"/v1/messages/" + theirs + "/attempts",
		"/v1/partners/acme/endpoints/" + e.acmeEP.ID + "/secret",
	} {
		key := acmeKey
		if strings.Contains(path, "/acme/") {
			key = globexKey
		}
		var body map[string]any
		require.Equal(t, http.StatusNotFound, call(t, "GET", s.URL+path, key, nil, &body), path)
		require.NotContains(t, mustJSON(t, body), "whsec_", path)
	}
	require.Equal(t, http.StatusForbidden, call(t, "GET", s.URL+"/v1/partners", acmeKey, nil, nil))
	require.Equal(t, http.StatusForbidden, call(t, "POST", s.URL+"/v1/events", acmeKey, event(0, ""), nil))
	require.Equal(t, http.StatusNotFound, call(t, "PATCH", s.URL+"/v1/partners/globex/endpoints/"+e.acmeEP.ID, globexKey, map[string]any{"disabled": true}, nil))
	require.Equal(t, http.StatusUnauthorized, call(t, "GET", s.URL+"/v1/partners/acme", "shk_wrong", nil, nil))
}

func (e *endToEnd) checkRedisFlushed(t *testing.T) {
	t.Helper()
	s, rcv := e.s, e.rcv
	rcv.setAnswer("/flushed", func(int) int { time.Sleep(20 * time.Millisecond); return http.StatusOK })
	createEndpoint(t, s, rcv, adminKey, "globex", "/flushed", map[string]any{"event_types": []string{"shipment.milestone.departed"}})
	opt, err := redis.ParseURL(e.env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ids := map[string]bool{}
	for i := 0; i < 100; i++ {
		ev := event(1, "")
		var acc struct{ ID string }
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", e.ingestKey, ev, &acc))
		ids[acc.ID] = true
		if i == 50 {
			require.NoError(t, rdb.FlushDB(context.Background()).Err())
		}
	}
	require.NoError(t, rdb.FlushDB(context.Background()).Err())
	require.Eventually(t, func() bool {
		got := map[string]bool{}
		for _, d := range rcv.byPath("/flushed") {
			got[d.Data["event_id"].(string)] = true
		}
		return len(got) == len(ids)
	}, 60*time.Second, 100*time.Millisecond)
}

// TestAutovacuumWarning checks that shiphook warns at start when the
// PostgreSQL server runs without autovacuum, and only then.
func TestAutovacuumWarning(t *testing.T) {
	env := testEnv(t)
	migrate(t, env)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
	require.NoError(t, err)
	var setting string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('autovacuum')").Scan(&setting))
	require.NoError(t, conn.Close(ctx))

	s := startServer(t, "serve", env)
	warned := strings.Contains(s.log.String(), "PostgreSQL runs with autovacuum off")
	require.Equal(t, setting == "off", warned, "autovacuum is %s on this server; shiphook's log:\n%s", setting, s.log.String())
}
