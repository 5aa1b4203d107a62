package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/openapicheck"
)

// dbProxy forwards TCP connections from its address to a database server
// until it is cut, which closes its listener and every connection through
// it, as a database server that stops does.
type dbProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]bool
}

// newDBProxy starts a proxy to target on a free loopback port; it is cut
// when the test ends.
func newDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	p := &dbProxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.restore(t)
	t.Cleanup(p.cut)
	return p
}

// restore listens again on the proxy's address.
func (p *dbProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

// cut closes the listener and every connection through the proxy.
func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// forward copies between client and the target until either side closes.
func (p *dbProxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		_, _ = client.Close(), server.Close()
		return
	}
	p.conns[client], p.conns[server] = true, true
	p.mu.Unlock()
	go func() {
		_, _ = io.Copy(server, client)
		_, _ = server.Close(), client.Close()
	}()
	_, _ = io.Copy(client, server)
	_, _ = client.Close(), server.Close()
}

// answer is what a request got: its status, Retry-After and error code.
type answer struct {
	status     int
	retryAfter string
	code       string
}

// send makes one API request with key and returns its answer.
func send(t *testing.T, method, url, key string, body any) answer {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := openapicheck.Client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), code: e.Error.Code}
}

// TestDatabaseOutage runs the real server against PostgreSQL through a
// proxy and cuts the proxy for a few seconds: meanwhile every request is
// answered 503 unavailable with a Retry-After, never 500 nor 401; once the
// database is back, the event refused during the outage is accepted and
// delivered.
func TestDatabaseOutage(t *testing.T) {
	env := testEnv(t)
	u, err := url.Parse(env["DATABASE_URL"])
	require.NoError(t, err)
	proxy := newDBProxy(t, u.Host)
	u.Host = proxy.addr
	env["DATABASE_URL"] = u.String()
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	for _, id := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id, "name": id}, nil))
	}
	createEndpoint(t, s, rcv, adminKey, "acme", "/acme", map[string]any{})
	var ingest struct {
		Key string `json:"key"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/api-keys", adminKey, map[string]any{"role": "ingest"}, &ingest))
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", ingest.Key, event(0, "tms-before"), nil))
	require.Eventually(t, func() bool { return rcv.countAt("/acme") == 1 }, 10*time.Second, 20*time.Millisecond)

	proxy.cut()
	unavailable := answer{status: http.StatusServiceUnavailable, retryAfter: "5", code: "unavailable"}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		require.Equal(t, unavailable, send(t, "POST", s.URL+"/v1/events", ingest.Key, event(1, "tms-during")), "ingest")
		require.Equal(t, unavailable, send(t, "GET", s.URL+"/v1/me", "shk_nobody", nil), "an unknown key")
		time.Sleep(50 * time.Millisecond)
	}

	proxy.restore(t)
	var got answer
	require.Eventually(t, func() bool {
		got = send(t, "POST", s.URL+"/v1/events", ingest.Key, event(1, "tms-during"))
		return got.status != http.StatusServiceUnavailable
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusAccepted, got.status, "%+v", got)
	require.Equal(t, http.StatusUnauthorized, send(t, "GET", s.URL+"/v1/me", "shk_nobody", nil).status)
	require.Eventually(t, func() bool { return rcv.countAt("/acme") == 2 }, 30*time.Second, 50*time.Millisecond,
		"the event before the outage and the one refused during it are delivered")
}
