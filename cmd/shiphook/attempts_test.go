package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAttemptRecords checks what an attempt records for each way a delivery
// can end, and the request a receiver sees.
func TestAttemptRecords(t *testing.T) {
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	env["SHIPHOOK_ADMIN_KEY"] = adminKey
	env["SHIPHOOK_RETRY_SCHEDULE"] = "0s" // one attempt each
	env["SHIPHOOK_ATTEMPT_TIMEOUT"] = "1s"
	s := startServer(t, "serve", env)
	rcv := newAttemptReceiver(t)
	closedURL := closedPortURL(t)

	for _, id := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id}, nil))
	}
	urls := map[string]string{
		"ok":       rcv.URL + "/ok",
		"redirect": rcv.URL + "/redirect",
		"hang":     rcv.URL + "/hang",
		"connect":  closedURL,
	}
	epOf := map[string]string{}
	for name, url := range urls {
		var ep endpointOut
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey, map[string]any{"url": url, "description": name}, &ep))
		epOf[name] = ep.ID
	}
	var acc struct{ ID string }
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(0, ""), &acc))

	t.Run("ok", func(t *testing.T) {
		m, a := attemptOf(t, s, epOf["ok"], "ok")
		checkSucceededAttempt(t, rcv, m, a)
	})
	t.Run("redirect", func(t *testing.T) {
		m, a := attemptOf(t, s, epOf["redirect"], "redirect")
		require.Equal(t, "failed", m.Status, "3xx is a failure")
		require.EqualValues(t, 302, a["status_code"])
		require.Equal(t, "redirect", a["error_class"])
		require.Zero(t, rcv.secondHop.Load(), "redirects are never followed")
	})
	t.Run("hang", func(t *testing.T) {
		_, a := attemptOf(t, s, epOf["hang"], "hang")
		require.Equal(t, "timeout", a["error_class"])
		require.InDelta(t, 1000, a["duration_ms"], 500)
	})
	t.Run("connect", func(t *testing.T) {
		_, a := attemptOf(t, s, epOf["connect"], "connect")
		require.Equal(t, "connect", a["error_class"])
	})
}

// attemptReceiver has a path for each way a delivery can end: /ok answers
// 200 with a 100 KiB body, a cookie and a request id; /redirect redirects
// to /second; /hang answers after 5 s or when the request is given up.
type attemptReceiver struct {
	*httptest.Server
	seen      atomic.Value // the headers of the last request to /ok
	secondHop atomic.Int32 // requests to /second
}

// newAttemptReceiver starts an attemptReceiver and closes it when the test
// ends.
func newAttemptReceiver(t *testing.T) *attemptReceiver {
	t.Helper()
	r := &attemptReceiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, req *http.Request) {
		r.seen.Store(req.Header.Clone())
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "secret-cookie"})
		w.Header().Set("X-Request-Id", "r-1")
		_, _ = w.Write([]byte(strings.Repeat("a", 100<<10)))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "/second", http.StatusFound)
	})
	mux.HandleFunc("/second", func(w http.ResponseWriter, req *http.Request) { r.secondHop.Add(1) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-req.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	r.Server = httptest.NewServer(mux)
	t.Cleanup(r.Close)
	return r
}

// closedPortURL returns a loopback URL where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "http://" + closed.Addr().String() + "/nobody-listens"
	closed.Close()
	return closedURL
}

// attemptOf waits up to 15 s until the one message of acme's endpoint
// epID (described as name) has succeeded or failed, and returns it with
// its one attempt.
func attemptOf(t *testing.T, s *server, epID, name string) (messageOut, map[string]any) {
	t.Helper()
	var ms listOut[messageOut]
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/v1/partners/acme/messages?endpoint_id="+epID, adminKey, nil, &ms)
		return len(ms.Data) == 1 && ms.Data[0].Status == "failed" || len(ms.Data) == 1 && ms.Data[0].Status == "succeeded"
	}, 15*time.Second, 50*time.Millisecond, name)
	var as listOut[map[string]any]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages/"+ms.Data[0].ID+"/attempts", adminKey, nil, &as))
	require.Len(t, as.Data, 1, name)
	return ms.Data[0], as.Data[0]
}

// checkSucceededAttempt checks the attempt a of message m to rcv's /ok
// and the request rcv saw.
func checkSucceededAttempt(t *testing.T, rcv *attemptReceiver, m messageOut, a map[string]any) {
	t.Helper()
	require.Equal(t, "succeeded", m.Status)
	require.EqualValues(t, 200, a["status_code"])
	require.Len(t, a["response_body"], 16<<10, "the response body is kept truncated to 16 KiB")
	headers := a["response_headers"].(map[string]any)
	require.Equal(t, "r-1", headers["X-Request-Id"])
	require.NotContains(t, headers, "Set-Cookie", "response cookies are never stored")
	require.NotContains(t, mustJSON(t, a), "secret-cookie")
	h := rcv.seen.Load().(http.Header)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, "shiphook/dev", h.Get("User-Agent"))
	require.Equal(t, m.ID, h.Get("webhook-id"))
	require.NotEmpty(t, h.Get("webhook-timestamp"))
	require.True(t, strings.HasPrefix(h.Get("webhook-signature"), "v1,"))
}

// TestPrivateDestinationsRefused checks that without the operator's
// allow-list a delivery to loopback is refused when it is dialled.
func TestPrivateDestinationsRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	env["SHIPHOOK_ADMIN_KEY"] = adminKey
	delete(env, "SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS")
	s := startServer(t, "serve", env)
	var e struct {
		Error struct{ Field string } `json:"error"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "acme"}, nil))
	require.Equal(t, 422, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey, map[string]any{"url": "http://127.0.0.1:9/x"}, &e))
	require.Equal(t, "url", e.Error.Field)
	require.Equal(t, 422, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey, map[string]any{"url": "http://localhost:9/x"}, &e))
	s.stop()

	// An endpoint saved while loopback was allowed is refused at dial time
	// once it no longer is, and the refusal is not retried.
	rcv := newReceiver(t)
	env["SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS"] = "loopback"
	s = startServer(t, "serve", env)
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": "globex"}, nil))
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/x", map[string]any{})
	s.stop()
	delete(env, "SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS")
	s = startServer(t, "serve", env)
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(0, ""), nil))
	var ms listOut[messageOut]
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/v1/partners/acme/messages?endpoint_id="+ep.ID, adminKey, nil, &ms)
		return len(ms.Data) == 1 && ms.Data[0].Status == "failed"
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 1, ms.Data[0].Attempts)
	var as listOut[attemptOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages/"+ms.Data[0].ID+"/attempts", adminKey, nil, &as))
	require.Equal(t, "ssrf_blocked", as.Data[0].ErrorClass)
	require.Zero(t, rcv.total(), "the receiver was never contacted")
}
