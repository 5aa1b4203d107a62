package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAnswers checks what Do makes of each kind of answer: a 2xx body as
// it came, the API's error shape, an error that is not the API's (a
// proxy's page), and no answer at all.
func TestAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/v1/partners/a%2Fb":
			require.Equal(t, "Bearer shk_k", r.Header.Get("Authorization"))
			require.Equal(t, "2", r.URL.Query().Get("limit"))
			_, _ = w.Write([]byte(`{"id": "a/b"}`))
		case "/v1/partners":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"error":{"code":"invalid_field","message":"must be party or all","field":"access"}}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		}
	}))
	defer srv.Close()
	c := New(srv.URL+"/", "shk_k", nil)
	ctx := context.Background()

	raw, err := c.Do(ctx, Request{Method: "GET", Path: Path("v1", "partners", "a/b"), Query: map[string][]string{"limit": {"2"}}})
	require.NoError(t, err)
	require.Equal(t, `{"id": "a/b"}`, string(raw), "the body as the API wrote it")

	_, err = c.Do(ctx, Request{Method: "POST", Path: "/v1/partners", Body: []byte(`{}`)})
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, Error{Status: 422, Code: "invalid_field", Message: "must be party or all", Field: "access"}, *apiErr)
	require.EqualError(t, err, "the API answered 422 Unprocessable Entity: invalid_field: must be party or all (field access)")

	_, err = c.Do(ctx, Request{Method: "GET", Path: "/elsewhere"})
	require.EqualError(t, err, "the API answered 502 Bad Gateway: http_502: <html>bad gateway</html>")

	srv.Close()
	_, err = c.Do(ctx, Request{Method: "GET", Path: "/v1/partners"})
	var netErr *NetError
	require.True(t, errors.As(err, &netErr), "%v", err)
}
