package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/api"
)

// TestWorkerProbes starts a worker with its probes on the address
// SHIPHOOK_HEALTH_ADDR names, and checks that both answer 200 and that
// "shiphook health" says so, and fails with a one-line reason where
// nothing listens, where a probe answers 503 and where it does not answer.
func TestWorkerProbes(t *testing.T) {
	env := testEnv(t)
	migrate(t, env)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	env["SHIPHOOK_HEALTH_ADDR"] = addr
	w := startServer(t, "worker", env)
	require.Equal(t, "http://"+addr, w.URL)

	for _, path := range []string{"/healthz", "/readyz"} {
		var answer map[string]string
		require.Equal(t, http.StatusOK, call(t, "GET", w.URL+path, "", nil, &answer), path)
		require.Equal(t, map[string]string{"status": "ok"}, answer, path)
	}

	health := func(url string, env map[string]string) (string, error) {
		var out strings.Builder
		args := []string{"health"}
		if url != "" {
			args = append(args, "-url", url)
		}
		err := run(context.Background(), args, func(k string) string { return env[k] }, &out, io.Discard)
		return out.String(), err
	}
	out, err := health(w.URL+"/readyz", nil)
	require.NoError(t, err)
	require.Equal(t, w.URL+"/readyz: ok\n", out)
	_, err = health("", map[string]string{"SHIPHOOK_HEALTH_URL": w.URL + "/healthz"})
	require.NoError(t, err, "the URL from $SHIPHOOK_HEALTH_URL")

	down := httptest.NewServer(api.Probes(func(time.Time) error { return nil },
		[]api.Dependency{{Name: "redis", Check: func(context.Context) error { return errors.New("dial tcp: refused") }}}))
	t.Cleanup(down.Close)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hung.Close)
	for _, tc := range []struct{ name, url, want string }{
		{"nothing listens", closedPortURL(t), "connection refused"},
		{"a dependency down", down.URL + "/readyz", "health: " + down.URL + "/readyz answered 503 Service Unavailable (redis unreachable)"},
		{"no answer", hung.URL + "/readyz", "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := health(tc.url, nil)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "\n", "the reason is one line")
			require.Less(t, time.Since(start), 5*time.Second, "the check gives up after 3 s")
		})
	}
}
