package openapicheck_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/harness"
	"github.com/shiphook/shiphook/internal/openapicheck"
)

// answers is what the fake API answers, by method and path: a status and
// a JSON body.
var answers = map[string]struct {
	status int
	body   string
}{
	"GET /v1/me":                   {200, `{"key_id":"key_1","role":"admin","partner_id":"","source_id":""}`},
	"GET /v1/partners/acme":        {200, `{"id":"acme","name":"Acme"}`},
	"GET /v1/nowhere":              {404, `{"error":{"code":"route_not_found","message":"no route GET /v1/nowhere"}}`},
	"GET /v1/sources":              {418, `{"error":{"code":"teapot","message":"no"}}`},
	"POST /v1/partners":            {201, `{"id":"acme","name":"Acme","access":"party","created_at":"2026-11-26T14:05:00Z","updated_at":"2026-11-26T14:05:00Z"}`},
	"PATCH /v1/partners/acme":      {422, `{"error":{"code":"invalid_field","message":"must be party or all","field":"access"}}`},
	"GET /v1/messages":             {422, `{"error":{"code":"invalid_field","message":"bad status","field":"status"}}`},
	"GET /console/app.js":          {200, `not JSON`},
	"GET /readyz":                  {503, `{"status":"unavailable","error":"redis unreachable"}`},
	"POST /v1/events/batch":        {200, `{"data":[{"index":0,"status":202,"id":"evt_1","duplicate":false},{"index":1,"status":422,"error":{"code":"invalid_field","message":"is required","field":"events[1].type"}}]}`},
	"DELETE /v1/partners/acme/x/y": {404, `{"error":{"code":"route_not_found","message":"no route"}}`},
}

// check sends each request through a harness client whose transport is
// checked, and returns the problems reported, by request.
func check(t *testing.T, requests map[string]string) map[string][]string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.Method+" "+r.URL.Path]
		require.True(t, ok, "%s %s", r.Method, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	c, err := openapicheck.Shared()
	require.NoError(t, err)
	client := harness.NewClient(srv.URL, "shk_test")
	got := map[string][]string{}
	var current string
	client.HTTP.Transport = c.Transport(client.HTTP.Transport, func(p string) { got[current] = append(got[current], p) })
	for req, body := range requests {
		current = req
		method, path, _ := strings.Cut(req, " ")
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		_, err := client.Send(context.Background(), method, path, b)
		require.NoError(t, err)
	}
	return got
}

func TestCheckerReportsWhatTheDocumentDoesNotDescribe(t *testing.T) {
	got := check(t, map[string]string{
		"GET /v1/me":                   "",
		"GET /v1/partners/acme":        "",
		"GET /v1/nowhere":              "",
		"GET /v1/sources":              "",
		"POST /v1/partners":            `{"id":"acme","colour":"red"}`,
		"PATCH /v1/partners/acme":      `{"access":"some"}`,
		"GET /v1/messages?status=lost": "",
		"GET /console/app.js":          "",
		"GET /readyz":                  "",
		"POST /v1/events/batch":        `{"events":[{"type":"shipment.created"},{}]}`,
		"DELETE /v1/partners/acme/x/y": "",
	})
	for _, ok := range []string{"GET /v1/me", "GET /v1/nowhere", "PATCH /v1/partners/acme", "GET /v1/messages?status=lost",
		"GET /console/app.js", "GET /readyz", "POST /v1/events/batch", "DELETE /v1/partners/acme/x/y"} {
		require.Empty(t, got[ok], "%s is described: an invalid request answered 4xx, an unknown route, the console", ok)
	}
	require.NotEmpty(t, got["GET /v1/partners/acme"], "an answer without its required fields")
	require.Contains(t, strings.Join(got["GET /v1/partners/acme"], "\n"), "access")
	require.NotEmpty(t, got["GET /v1/sources"], "a status the operation does not document")
	require.NotEmpty(t, got["POST /v1/partners"], "a request with an unknown field, yet answered 201")
	require.Contains(t, strings.Join(got["POST /v1/partners"], "\n"), "colour")
}
