package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

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
