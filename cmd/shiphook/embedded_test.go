package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
)

// embeddedEnv is the environment of "make run": no DATABASE_URL, no
// REDIS_URL, so the server uses SQLite under ./shiphook-data and an
// in-process Redis.
func embeddedEnv() map[string]string {
	return map[string]string{
		"SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS": "loopback",
		"SHIPHOOK_RETRY_SCHEDULE":             "0s,1s",
		"SHIPHOOK_LOG_LEVEL":                  "warn",
	}
}

// TestEmbeddedDefaults runs the server as a newcomer first does: no
// configuration at all.
func TestEmbeddedDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	s := startServer(t, "serve", env)
	require.True(t, strings.HasPrefix(s.AdminKey, "shk_"), "the first start prints a generated admin key:\n%s", s.stdout.String())
	key := s.AdminKey
	_, err := os.Stat("shiphook-data/shiphook.db")
	require.NoError(t, err, "the SQLite database lives under ./shiphook-data")

	var ready map[string]string
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/readyz", "", nil, &ready))

	rcv := newReceiver(t)
	for _, id := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", key, map[string]any{"id": id}, nil))
	}
	createEndpoint(t, s, rcv, key, "acme", "/hooks", map[string]any{"event_types": []string{"shipment.milestone.delivered"}})
	ev := event(3, "")
	require.Equal(t, "shipment.milestone.delivered", ev["type"])
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", key, ev, nil))
	require.Eventually(t, func() bool { return len(rcv.byPath("/hooks")) == 1 }, 10*time.Second, 20*time.Millisecond)
	d := rcv.byPath("/hooks")[0]
	require.Equal(t, "shipment.milestone.delivered", d.Type)
	require.Equal(t, "shipper", d.Data["role"])
	require.Equal(t, "NLRTM", d.Data["location"].(map[string]any)["code"])

	// A second start on the same data keeps the key and prints none.
	s.stop()
	s2 := startServer(t, "serve", env)
	require.Empty(t, s2.AdminKey)
	require.Equal(t, http.StatusOK, call(t, "GET", s2.URL+"/v1/partners/acme", key, nil, nil))
}

// TestAPIErrors checks that bad input gets a clear JSON error naming what is
// wrong, and that nothing is stored for it.
func TestAPIErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	env["SHIPHOOK_ADMIN_KEY"] = adminKey
	s := startServer(t, "serve", env)
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "acme"}, nil))
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "globex"}, nil))

	for _, tt := range badEvents() {
		t.Run(tt.name, func(t *testing.T) {
			var e apiErr
			require.Equal(t, tt.status, call(t, "POST", s.URL+"/v1/events", adminKey, tt.body, &e))
			require.Equal(t, tt.code, e.Error.Code, e.Error.Message)
			require.Equal(t, tt.field, e.Error.Field, e.Error.Message)
		})
	}

	t.Run("nothing was stored for the rejected events", func(t *testing.T) {
		var ms listOut[messageOut]
		require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/messages", adminKey, nil, &ms))
		require.Empty(t, ms.Data)
	})
	t.Run("batch: one result per event, in order", func(t *testing.T) { checkBatchResults(t, s) })
	t.Run("management API errors", func(t *testing.T) { checkManagementErrors(t, s) })
	t.Run("cursor pagination", func(t *testing.T) { checkCursorPagination(t, s) })
	t.Run("event type catalog", func(t *testing.T) { checkEventTypeCatalog(t, s) })
}

// apiErr is the JSON body of every error answer.
type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// badEvent is a body posted to /v1/events and the error it must get.
type badEvent struct {
	name   string
	body   any
	status int
	code   string
	field  string
}

// mutatedEvent returns event(0, "") changed by f.
func mutatedEvent(f func(ev map[string]any)) map[string]any {
	ev := event(0, "")
	f(ev)
	return ev
}

// badEvents returns the bodies /v1/events must reject, each with the
// status, code and field of its answer.
func badEvents() []badEvent {
	big := strings.Repeat("x", 300<<10)
	return []badEvent{
		{"unknown type", mutatedEvent(func(ev map[string]any) { ev["type"] = "shipment.teleported" }), 422, "invalid_field", "type"},
		{"reserved type", mutatedEvent(func(ev map[string]any) { ev["type"] = "shiphook.endpoint.disabled" }), 422, "invalid_field", "type"},
		{"missing type", mutatedEvent(func(ev map[string]any) { delete(ev, "type") }), 422, "invalid_field", "type"},
		{"bad timestamp", mutatedEvent(func(ev map[string]any) { ev["occurred_at"] = "yesterday" }), 422, "invalid_field", "occurred_at"},
		{"missing shipment", mutatedEvent(func(ev map[string]any) { delete(ev, "shipment") }), 422, "invalid_field", "shipment"},
		{"missing shipment id", mutatedEvent(func(ev map[string]any) { ev["shipment"] = map[string]any{"mode": "ocean"} }), 422, "invalid_field", "shipment.id"},
		{"unknown partner", mutatedEvent(func(ev map[string]any) {
			ev["parties"] = []map[string]any{{"partner_id": "acme", "role": "shipper"}, {"partner_id": "nobody", "role": "consignee"}}
		}), 422, "invalid_field", "parties[1].partner_id"},
		{"party without role", mutatedEvent(func(ev map[string]any) { ev["parties"] = []map[string]any{{"partner_id": "acme"}} }), 422, "invalid_field", "parties[0].role"},
		{"data against the schema", mutatedEvent(func(ev map[string]any) {
			ev["type"] = "shipment.invoice.issued"
			ev["data"] = map[string]any{"invoice_number": "INV-1", "amount": 10, "currency": "euro"}
		}), 422, "invalid_field", "data.currency"},
		{"an object for an amount", mutatedEvent(func(ev map[string]any) {
			ev["type"] = "shipment.invoice.issued"
			ev["data"] = map[string]any{"invoice_number": "INV-1", "amount": map[string]any{"x": 1}, "currency": "EUR"}
		}), 422, "invalid_field", "data.amount"},
		{"an amount beyond any float", `{"type":"shipment.invoice.issued","occurred_at":"2026-11-26T14:05:00Z","shipment":{"id":"SHP-1"},` +
			`"data":{"invoice_number":"INV-1","amount":1e400,"currency":"EUR"}}`, 422, "invalid_field", "data.amount"},
		{"a mode out of the vocabulary", mutatedEvent(func(ev map[string]any) { ev["shipment"].(map[string]any)["mode"] = "boat" }), 422, "invalid_field", "shipment.mode"},
		{"a role out of the vocabulary", mutatedEvent(func(ev map[string]any) {
			ev["parties"] = []map[string]any{{"partner_id": "acme", "role": "boss"}}
		}), 422, "invalid_field", "parties[0].role"},
		{"reserved data key", mutatedEvent(func(ev map[string]any) { ev["data"].(map[string]any)["role"] = "x" }), 422, "invalid_field", "data.role"},
		{"unknown field", mutatedEvent(func(ev map[string]any) { ev["shipmentt"] = map[string]any{} }), 422, "invalid_field", "shipmentt"},
		{"wrong JSON type", mutatedEvent(func(ev map[string]any) { ev["parties"] = "acme" }), 422, "invalid_field", "parties"},
		{"not JSON", "{nope", 400, "invalid_json", ""},
		{"empty body", "", 400, "invalid_json", ""},
		{"oversized body", mutatedEvent(func(ev map[string]any) { ev["data"].(map[string]any)["note"] = big }), 413, "body_too_large", ""},
	}
}

func checkBatchResults(t *testing.T, s *server) {
	t.Helper()
	evs := []any{event(0, "b-0"), mutatedEvent(func(ev map[string]any) { ev["occurred_at"] = "soon" }), event(2, "b-0"), event(3, "b-3")}
	var out struct {
		Data []struct {
			Index     int    `json:"index"`
			Status    int    `json:"status"`
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
			Error     *struct {
				Field string `json:"field"`
			} `json:"error"`
		} `json:"data"`
	}
	require.Equal(t, http.StatusOK, call(t, "POST", s.URL+"/v1/events/batch", adminKey, map[string]any{"events": evs}, &out))
	require.Len(t, out.Data, 4)
	require.Equal(t, 202, out.Data[0].Status)
	require.Equal(t, 422, out.Data[1].Status)
	require.Equal(t, "events[1].occurred_at", out.Data[1].Error.Field)
	require.Equal(t, 202, out.Data[2].Status)
	require.True(t, out.Data[2].Duplicate, "same source id as item 0")
	require.Equal(t, out.Data[0].ID, out.Data[2].ID)
	require.False(t, out.Data[3].Duplicate)
	tooMany := make([]any, 501)
	for i := range tooMany {
		tooMany[i] = event(i, "")
	}
	var e apiErr
	require.Equal(t, 422, call(t, "POST", s.URL+"/v1/events/batch", adminKey, map[string]any{"events": tooMany}, &e))
	require.Equal(t, "events", e.Error.Field)
}

func checkManagementErrors(t *testing.T, s *server) {
	t.Helper()
	var e apiErr
	require.Equal(t, 409, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "acme"}, &e))
	require.Equal(t, "id", e.Error.Field)
	require.Equal(t, 422, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "Not Valid!"}, &e))
	require.Equal(t, "id", e.Error.Field)
	require.Equal(t, 422, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"access": "some"}, &e))
	require.Equal(t, "access", e.Error.Field)
	for _, tc := range []struct {
		spec  map[string]any
		field string
	}{
		{map[string]any{}, "url"},
		{map[string]any{"url": "ftp://example.com/x"}, "url"},
		{map[string]any{"url": "https://user:pw@example.com/x"}, "url"},
		{map[string]any{"url": "https://no-such-host.invalid/x"}, "url"},
		{map[string]any{"url": "http://169.254.169.254/latest/meta-data"}, "url"},
		{map[string]any{"url": "https://93.184.216.34/x", "event_types": []string{"shipment.teleported"}}, "event_types[0]"},
		{map[string]any{"url": "https://93.184.216.34/x", "filter": map[string]any{"shipment.colour": "red"}}, "filter.shipment.colour"},
		{map[string]any{"url": "https://93.184.216.34/x", "secret": "whsec_short"}, "secret"},
	} {
		require.Equal(t, 422, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey, tc.spec, &e), "%v", tc.spec)
		require.Equal(t, tc.field, e.Error.Field, "%v: %s", tc.spec, e.Error.Message)
	}
	require.Equal(t, 404, call(t, "POST", s.URL+"/v1/partners/nobody/endpoints", adminKey, map[string]any{"url": "https://93.184.216.34/x"}, &e))
	require.Equal(t, 422, call(t, "POST", s.URL+"/v1/api-keys", adminKey, map[string]any{"role": "partner"}, &e))
	require.Equal(t, "partner_id", e.Error.Field)
	require.Equal(t, 422, call(t, "GET", s.URL+"/v1/partners?limit=0", adminKey, nil, &e))
	require.Equal(t, "limit", e.Error.Field)
	require.Equal(t, 404, call(t, "GET", s.URL+"/v1/nothing-here", adminKey, nil, &e))
	require.Equal(t, 401, call(t, "GET", s.URL+"/v1/partners", "", nil, &e))
}

// checkCursorPagination adds five partners to acme and globex and reads
// all seven back two at a time.
func checkCursorPagination(t *testing.T, s *server) {
	t.Helper()
	for i := 0; i < 5; i++ {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": fmt.Sprintf("page-%d", i)}, nil))
	}
	var seen []string
	url := s.URL + "/v1/partners?limit=2"
	for {
		var page listOut[struct{ ID string }]
		require.Equal(t, http.StatusOK, call(t, "GET", url, adminKey, nil, &page))
		for _, p := range page.Data {
			seen = append(seen, p.ID)
		}
		if !page.HasMore {
			require.Nil(t, page.NextCursor)
			break
		}
		require.Len(t, page.Data, 2)
		url = s.URL + "/v1/partners?limit=2&cursor=" + *page.NextCursor
	}
	require.Equal(t, []string{"acme", "globex", "page-0", "page-1", "page-2", "page-3", "page-4"}, seen)
}

func checkEventTypeCatalog(t *testing.T, s *server) {
	t.Helper()
	var cat listOut[struct {
		Name   string         `json:"name"`
		Schema map[string]any `json:"schema"`
	}]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/event-types", adminKey, nil, &cat))
	names := map[string]bool{}
	for _, et := range cat.Data {
		names[et.Name] = true
		require.Equal(t, "object", et.Schema["type"], et.Name)
	}
	for _, n := range []string{"shipment.created", "shipment.updated", "shipment.cancelled", "shipment.milestone.booked", "shipment.milestone.picked_up",
		"shipment.milestone.received", "shipment.milestone.departed", "shipment.milestone.arrived", "shipment.milestone.customs_hold",
		"shipment.milestone.customs_cleared", "shipment.milestone.out_for_delivery", "shipment.milestone.delivered",
		"shipment.milestone.exception", "shipment.document.added", "shipment.charge.updated", "shipment.invoice.issued"} {
		require.True(t, names[n], n)
	}
}

// TestSecretRotation checks that after a rotation both the old and the new
// secret verify deliveries during the grace period.
func TestSecretRotation(t *testing.T) {
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	env["SHIPHOOK_ADMIN_KEY"] = adminKey
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	for _, id := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil))
	}
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/hooks", map[string]any{})
	base := s.URL + "/v1/partners/acme/endpoints/" + ep.ID

	var revealed struct {
		Secret string `json:"secret"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", base+"/secret", adminKey, nil, &revealed))
	require.Equal(t, ep.Secret, revealed.Secret)

	var rotated struct {
		Secret                  string `json:"secret"`
		PreviousSecret          string `json:"previous_secret"`
		PreviousSecretExpiresAt string `json:"previous_secret_expires_at"`
	}
	require.Equal(t, http.StatusOK, call(t, "POST", base+"/secret/rotate", adminKey, nil, &rotated))
	require.NotEqual(t, ep.Secret, rotated.Secret)
	require.Equal(t, ep.Secret, rotated.PreviousSecret)
	exp, err := time.Parse(time.RFC3339Nano, rotated.PreviousSecretExpiresAt)
	require.NoError(t, err)
	require.InDelta(t, 24*time.Hour, time.Until(exp), float64(time.Minute), "the default grace period is 24 h")

	// The receiver still knows only the old secret: it must keep verifying.
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(0, ""), nil))
	require.Eventually(t, func() bool { return len(rcv.byPath("/hooks")) == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Empty(t, rcv.invalidSignatures())

	// Both signatures are in the header: check it with each secret alone.
	rcv.setSecret("/hooks", rotated.Secret)
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(1, ""), nil))
	require.Eventually(t, func() bool { return len(rcv.byPath("/hooks")) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Empty(t, rcv.invalidSignatures())

	// With no grace, the old secret stops signing at once.
	var again map[string]any
	require.Equal(t, http.StatusOK, call(t, "POST", base+"/secret/rotate", adminKey, map[string]any{"grace_seconds": 0}, &again))
	require.NotContains(t, again, "previous_secret")
	require.NoError(t, signing.ValidSecret(again["secret"].(string)))
}
