package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/openapicheck"
)

// textAnswer is what a server answered one request: its status and, for
// an error, its code and field.
type textAnswer struct {
	Status int
	Code   string
	Field  string
}

// textRequest is one request holding text no store can keep, or that
// looks like it, and the answer it must get.
type textRequest struct {
	name, method, path string
	partnerKey         bool // sent with acme's key, else the admin key
	idempotencyKey     string
	body               string
	want               textAnswer
}

// textEvent is a valid event naming acme, with old replaced by new.
func textEvent(old, new string) string {
	ev := event(3, "tms-1")
	ev["data"].(map[string]any)["note"] = "ok"
	raw, _ := json.Marshal(ev)
	return strings.Replace(string(raw), old, new, 1)
}

func textRequests() []textRequest {
	return []textRequest{
		{"NUL in an event's id", "POST", "/v1/events", false, "", textEvent(`"tms-1"`, `"tms-\u0000"`), textAnswer{422, "invalid_field", "id"}},
		{"NUL in data", "POST", "/v1/events", false, "", textEvent(`"ok"`, `"o\u0000k"`), textAnswer{422, "invalid_field", "data.note"}},
		{"invalid UTF-8 in a string", "POST", "/v1/events", false, "", textEvent(`"ok"`, "\"o\xffk\""), textAnswer{422, "invalid_field", "data.note"}},
		{"invalid UTF-8 outside strings", "POST", "/v1/events", false, "", textEvent("", "") + "\xff", textAnswer{400, "invalid_json", ""}},
		{"non-UTF-8 Idempotency-Key", "POST", "/v1/events", false, "key-\xff", textEvent("", ""), textAnswer{422, "invalid_field", "Idempotency-Key"}},
		{"NUL in a partner name", "POST", "/v1/partners", false, "", `{"id":"initech","name":"Ini\u0000tech"}`, textAnswer{422, "invalid_field", "name"}},
		{"%00 in a path id", "GET", "/v1/partners/%00", false, "", "", textAnswer{422, "invalid_field", "partner_id"}},
		{"%ff in a path id", "GET", "/v1/messages/%ff", false, "", "", textAnswer{422, "invalid_field", "message_id"}},
		{"%ff in a shipment id, as a partner", "GET", "/v1/shipments/%ff/timeline", true, "", "", textAnswer{422, "invalid_field", "shipment_id"}},
		{"%00 in a filter", "GET", "/v1/messages?shipment_id=%00", false, "", "", textAnswer{422, "invalid_field", "shipment_id"}},
		{"%ff in a filter", "GET", "/v1/events?type=%ff", false, "", "", textAnswer{422, "invalid_field", "type"}},
		{"%00 in a cursor", "GET", "/v1/partners?cursor=%00", false, "", "", textAnswer{422, "invalid_field", "cursor"}},
		{"an escaped backslash is text", "POST", "/v1/events", false, "", textEvent(`"ok"`, `"C:\\u0000"`), textAnswer{202, "", ""}},
	}
}

// TestStorableTextOnBothDatabases sends text PostgreSQL cannot keep
// (NUL, invalid UTF-8) wherever a string is stored or looked up, to a real
// server on PostgreSQL and on SQLite: none is answered 5xx, and both
// answer every request alike.
func TestStorableTextOnBothDatabases(t *testing.T) {
	answers := map[string][]textAnswer{}
	t.Run("postgres", func(t *testing.T) {
		env := testEnv(t)
		migrate(t, env)
		answers["postgres"] = sendTextRequests(t, startServer(t, "serve", env))
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Chdir(t.TempDir())
		env := embeddedEnv()
		env["SHIPHOOK_ADMIN_KEY"] = adminKey
		answers["sqlite"] = sendTextRequests(t, startServer(t, "serve", env))
	})
	require.Len(t, answers, 2)
	require.Equal(t, answers["postgres"], answers["sqlite"], "both databases answer alike")
}

// sendTextRequests sends textRequests to s, checks each answer, then
// checks that only the one valid event was stored, and returns the
// answers in order.
func sendTextRequests(t *testing.T, s *server) []textAnswer {
	t.Helper()
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "acme"}, nil))
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "globex"}, nil))
	acmeKey := partnerKey(t, s, "acme")
	var got []textAnswer
	for _, tc := range textRequests() {
		key := adminKey
		if tc.partnerKey {
			key = acmeKey
		}
		a := sendText(t, s, tc, key)
		require.Less(t, a.Status, 500, tc.name)
		require.Equal(t, tc.want, a, tc.name)
		got = append(got, a)
	}

	batch := `{"events":[` + textEvent(`"tms-1"`, `"tms-2"`) + `,` + textEvent(`"ok"`, `"\u0000"`) + `]}`
	var out struct {
		Data []struct {
			Status int `json:"status"`
			Error  struct {
				Field string `json:"field"`
			} `json:"error"`
		} `json:"data"`
	}
	require.Equal(t, http.StatusOK, call(t, "POST", s.URL+"/v1/events/batch", adminKey, batch, &out))
	require.Len(t, out.Data, 2)
	require.Equal(t, http.StatusAccepted, out.Data[0].Status, "the good event of a batch is stored")
	require.Equal(t, http.StatusUnprocessableEntity, out.Data[1].Status, "the bad one fails alone")
	require.Equal(t, "events[1].data.note", out.Data[1].Error.Field)

	var evs listOut[struct {
		SourceID string         `json:"source_id"`
		Data     map[string]any `json:"data"`
	}]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events", adminKey, nil, &evs))
	require.Len(t, evs.Data, 2, "only the valid events were stored")
	notes := map[string]any{}
	for _, ev := range evs.Data {
		notes[ev.SourceID] = ev.Data["note"]
	}
	require.Equal(t, map[string]any{"tms-1": `C:\u0000`, "tms-2": "ok"}, notes, "an escaped backslash is kept as posted")
	return got
}

// sendText sends tc with key and returns the answer.
func sendText(t *testing.T, s *server, tc textRequest, key string) textAnswer {
	t.Helper()
	req, err := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(tc.body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if tc.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", tc.idempotencyKey)
	}
	resp, err := openapicheck.Client(t).Do(req)
	require.NoError(t, err, tc.name)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := textAnswer{Status: resp.StatusCode}
	if resp.StatusCode >= 400 {
		var e apiErr
		require.NoError(t, json.Unmarshal(raw, &e), "%s: every error is JSON: %s", tc.name, raw)
		a.Code, a.Field = e.Error.Code, e.Error.Field
	}
	return a
}
