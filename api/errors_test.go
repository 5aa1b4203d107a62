package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
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
			e := requireError(t, status, body, tc.status, tc.code, tc.field)
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

// TestUnavailable checks that a request failing because the store could
// not be reached is answered 503 with a Retry-After, whatever it asked,
// and that the answer does not name the server.
func TestUnavailable(t *testing.T) {
	down := fmt.Errorf("%w: dial tcp db-7.internal:5432: connect: connection refused", subscriptions.ErrUnavailable)
	for _, tc := range []struct {
		name        string
		fail        func(*fakeStore)
		method, key string
		path        string
		body        any
	}{
		{"ingest", func(f *fakeStore) { f.failInserts = down }, "POST", ingestKey, "/v1/events", milestone("tms-1", "acme")},
		{"key lookup", func(f *fakeStore) { f.failKeys = down }, "GET", adminKey, "/v1/me", nil},
		{"unknown key whose lookup failed", func(f *fakeStore) { f.failKeys = down }, "GET", "shk_nobody", "/v1/me", nil},
		{"list", func(f *fakeStore) { f.failPartners = down }, "GET", adminKey, "/v1/partners", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t)
			tc.fail(a.store)
			status, header, body := a.doHeader(t, tc.method, tc.path, tc.key, tc.body)
			require.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
			require.Equal(t, "5", header.Get("Retry-After"))
			e := errorOf(t, body)
			require.Equal(t, "unavailable", e["code"])
			require.Equal(t, "the database or the queue is unreachable; retry later", e["message"])
			require.Empty(t, a.queue.enqueued(), "nothing was stored, so nothing is fanned out")
		})
	}
}

// TestDomainErrorsMapOnce checks the one mapping of domain errors to
// answers, however the domain wraps them.
func TestDomainErrorsMapOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		field  string
	}{
		{"field error", fmt.Errorf("check: %w", subscriptions.Fieldf("url", "is required")), http.StatusUnprocessableEntity, "invalid_field", "url"},
		{"malformed", subscriptions.Errorf(subscriptions.Malformed, "invalid_json", "no"), http.StatusBadRequest, "invalid_json", ""},
		{"too large", subscriptions.Errorf(subscriptions.TooLarge, "body_too_large", "big"), http.StatusRequestEntityTooLarge, "body_too_large", ""},
		{"domain not found", subscriptions.NotFoundf("shipment S not found"), http.StatusNotFound, "not_found", ""},
		{"domain conflict with a code", subscriptions.Errorf(subscriptions.Conflict, "delivery_in_progress", "busy"), http.StatusConflict, "delivery_in_progress", ""},
		{"wrapped ErrNotFound", fmt.Errorf("load endpoint ep_1: %w", subscriptions.ErrNotFound), http.StatusNotFound, "not_found", ""},
		{"wrapped ErrConflict", fmt.Errorf("store key: %w", subscriptions.ErrConflict), http.StatusConflict, "conflict", ""},
		{"wrapped ErrUnavailable", fmt.Errorf("look up api key: %w", subscriptions.ErrUnavailable), http.StatusServiceUnavailable, "unavailable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := toError(tc.err)
			require.True(t, ok)
			require.Equal(t, tc.status, e.Status)
			require.Equal(t, tc.code, e.Code)
			require.Equal(t, tc.field, e.Field)
		})
	}
	_, ok := toError(errStoreDown)
	require.False(t, ok, "an error of no known kind is an internal one")
}

// fakeRetrier fails every retry with err.
type fakeRetrier struct{ err error }

func (f fakeRetrier) Retry(context.Context, string) (dispatcher.Message, error) {
	return dispatcher.Message{}, f.err
}

func TestRetryWhileDelivering(t *testing.T) {
	a := newTestAPI(t)
	r := gin.New()
	r.POST("/v1/messages/:message_id/retry", authenticate(subscriptions.NewAuth(a.store)),
		RetryMessage(a.store, fakeRetrier{dispatcherBusy}))
	a.Handler = r
	status, body := a.do(t, "POST", "/v1/messages/msg_acme/retry", acmeKey, nil)
	require.Equal(t, http.StatusConflict, status)
	e := errorOf(t, body)
	require.Equal(t, "delivery_in_progress", e["code"])

	status, body = a.do(t, "POST", "/v1/messages/msg_globex/retry", acmeKey, nil)
	require.Equal(t, http.StatusNotFound, status, "another partner's message is not retried")
	require.Equal(t, "message msg_globex not found", errorOf(t, body)["message"])
}

// dispatcherBusy is what dispatcher.Replay.Retry returns while an attempt
// is under way.
var dispatcherBusy = subscriptions.Errorf(subscriptions.Conflict, "delivery_in_progress", "message msg_acme is being delivered right now; look again in a moment")

// TestAnswersKeepAngleBrackets checks that answers are written as a person
// reads them: "<key>" stays "<key>", not "\u003ckey\u003e".
func TestAnswersKeepAngleBrackets(t *testing.T) {
	a := newTestAPI(t)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/me", nil))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Body.String(), "'Authorization: Bearer <key>'")
}
