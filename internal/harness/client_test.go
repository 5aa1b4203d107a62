package harness

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/signed" && r.Header.Get("Notification-Signature") != "sha256=ab" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/busy" {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"id":"evt_1"}`))
	}))
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, "k")
	var seen []int
	c.Observe = func(_ context.Context, method, path string, a Answer, err error) {
		require.NoError(t, err)
		seen = append(seen, a.Status)
	}
	ctx := context.Background()
	var out struct{ ID string }
	require.NoError(t, c.Call(ctx, http.MethodPost, "/v1/events", map[string]string{"a": "b"}, &out))
	require.Equal(t, "evt_1", out.ID)
	a, err := c.Send(ctx, http.MethodGet, "/busy", nil)
	require.NoError(t, err)
	require.Equal(t, "5", a.Header.Get("Retry-After"))
	err = c.Call(ctx, http.MethodGet, "/busy", nil, nil)
	var se *StatusError
	require.True(t, errors.As(err, &se))
	require.Equal(t, http.StatusServiceUnavailable, se.Status)
	a, err = c.SendWith(ctx, http.MethodPost, "/signed", []byte(`[]`), http.Header{"Notification-Signature": {"sha256=ab"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, a.Status, "the header given was sent, beside the key")
	a, err = c.Send(ctx, http.MethodPost, "/signed", []byte(`[]`))
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, a.Status)
	require.Equal(t, []int{200, 503, 503, 200, 401}, seen)
}
