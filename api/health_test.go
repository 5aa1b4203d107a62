package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReadyzHidesDetails checks that /readyz, which anyone may call, names
// the dependency that is down and nothing of its error (such as the
// database's user, name or address).
func TestReadyzHidesDetails(t *testing.T) {
	down := errors.New(`failed to connect to user=postgres database=shiphook 10.1.2.3:5432`)
	up := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name   string
		deps   []Dependency
		status int
		answer map[string]string
	}{
		{"all up", []Dependency{{"database", up}, {"redis", up}}, http.StatusOK, map[string]string{"status": "ok"}},
		{"database down", []Dependency{{"database", func(context.Context) error { return down }}, {"redis", up}},
			http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "database unreachable"}},
		{"redis down", []Dependency{{"database", up}, {"redis", func(context.Context) error { return down }}},
			http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "redis unreachable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			New(Deps{Ready: tc.deps}).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			require.Equal(t, tc.status, rec.Code)
			var got map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			require.Equal(t, tc.answer, got)
		})
	}
}

// TestProbes checks a worker's probes: /healthz answers 503 once its
// loops stall, saying nothing of why, and /readyz names the dependency
// that is down, as the API's does.
func TestProbes(t *testing.T) {
	stalled := errors.New("the reconciler last ended a pass 5m0s ago (stalled after 1m0s)")
	up := func(context.Context) error { return nil }
	redisDown := func(context.Context) error { return errors.New("dial tcp 10.1.2.3:6379: connection refused") }
	for _, tc := range []struct {
		name   string
		alive  error
		redis  func(context.Context) error
		path   string
		status int
		answer map[string]string
	}{
		{"alive", nil, redisDown, "/healthz", http.StatusOK, map[string]string{"status": "ok"}},
		{"stalled", stalled, up, "/healthz", http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "stalled"}},
		{"ready", stalled, up, "/readyz", http.StatusOK, map[string]string{"status": "ok"}},
		{"redis down", nil, redisDown, "/readyz", http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "redis unreachable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Probes(func(time.Time) error { return tc.alive }, []Dependency{{"database", up}, {"redis", tc.redis}})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			require.Equal(t, tc.status, rec.Code)
			var got map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			require.Equal(t, tc.answer, got)
		})
	}
	rec := httptest.NewRecorder()
	Probes(func(time.Time) error { return nil }, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/events", nil))
	require.Equal(t, http.StatusNotFound, rec.Code, "a worker serves no API")
}
