package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorAnswers(t *testing.T) {
	a := newTestAPI(t)
	for _, tc := range []struct {
		name, method, path, key string
		body                    any
		status                  int
		code, field, message    string
	}{
		{"unknown route", "GET", "/v2/nothing", adminKey, nil, http.StatusNotFound, "route_not_found", "", "no route GET /v2/nothing; see the README for the API"},
		{"wrong method", "DELETE", "/healthz", "", nil, http.StatusMethodNotAllowed, "method_not_allowed", "", "DELETE is not allowed on /healthz"},
		{"no key", "GET", "/v1/me", "", nil, http.StatusUnauthorized, "unauthorized", "", "send an API key as 'Authorization: Bearer <key>'"},
		{"unknown key", "GET", "/v1/me", "shk_nobody", nil, http.StatusUnauthorized, "unauthorized", "", "the API key is not valid"},
		{"partner key on an admin route", "GET", "/v1/partners", acmeKey, nil, http.StatusForbidden, "forbidden", "", "a partner key may not do this"},
		{"ingest key on a partner route", "GET", "/v1/partners/acme", ingestKey, nil, http.StatusForbidden, "forbidden", "", "a ingest key may not do this"},
		{"partner not found", "GET", "/v1/partners/initech", adminKey, nil, http.StatusNotFound, "not_found", "", "partner initech not found"},
		{"bad JSON", "POST", "/v1/partners", adminKey, `{"id":`, http.StatusBadRequest, "invalid_json", "", ""},
		{"empty body", "POST", "/v1/partners", adminKey, ``, http.StatusBadRequest, "invalid_json", "", "the request body is empty; send a JSON object"},
		{"not an object", "POST", "/v1/partners", adminKey, `[1]`, http.StatusBadRequest, "invalid_json", "", "the request body must be a JSON object"},
		{"unknown field", "POST", "/v1/partners", adminKey, `{"nmae":"Initech"}`, http.StatusUnprocessableEntity, "invalid_field", "nmae", "unknown field"},
		{"wrong type", "POST", "/v1/partners", adminKey, `{"name":7}`, http.StatusUnprocessableEntity, "invalid_field", "name", "must be a string, not number"},
		{"invalid value", "POST", "/v1/partners", adminKey, `{"id":"Not An Id"}`, http.StatusUnprocessableEntity, "invalid_field", "id", "must be 1 to 64 characters of a-z, 0-9, _ and -"},
		{"too large", "POST", "/v1/partners", adminKey, `{"name":"` + strings.Repeat("x", MaxBody) + `"}`, http.StatusRequestEntityTooLarge, "body_too_large", "", "the request body is larger than 256 KiB"},
		{"conflict", "POST", "/v1/partners", adminKey, `{"id":"acme"}`, http.StatusConflict, "conflict", "id", "partner acme already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.do(t, tc.method, tc.path, tc.key, tc.body)
			require.Equal(t, tc.status, status, "%v", body)
			e := errorOf(t, body)
			require.Equal(t, tc.code, e["code"])
			if tc.field == "" {
				require.NotContains(t, e, "field")
			} else {
				require.Equal(t, tc.field, e["field"])
			}
			if tc.message != "" {
				require.Equal(t, tc.message, e["message"])
			}
		})
	}
}

// TestInternalErrorHidesItsText checks that a failure the API does not know
// is answered 500 without the error's text, which may name internals.
func TestInternalErrorHidesItsText(t *testing.T) {
	a := newTestAPI(t)
	a.store.failPartners = errStoreDown
	status, body := a.do(t, "GET", "/v1/partners", adminKey, nil)
	require.Equal(t, http.StatusInternalServerError, status)
	e := errorOf(t, body)
	require.Equal(t, "internal_error", e["code"])
	require.NotContains(t, e["message"], "db-7")
}
