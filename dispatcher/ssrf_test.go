package dispatcher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// scriptedResolver answers the n-th lookup of a name with answers[n], and
// every later one with the last answer. It counts the lookups.
type scriptedResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	asked   map[string]int
}

func newScriptedResolver(answers map[string][][]string) *scriptedResolver {
	return &scriptedResolver{answers: answers, asked: map[string]int{}}
}

func (r *scriptedResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	script, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := min(r.asked[host], len(script)-1)
	r.asked[host]++
	var out []net.IPAddr
	for _, a := range script[n] {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

func (r *scriptedResolver) lookups(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked[host]
}

// countingServer is an httptest server on 127.0.0.1 that counts the
// requests it gets.
type countingServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// port returns the port the server listens on.
func (s *countingServer) port(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(s.Listener.Addr().String())
	require.NoError(t, err)
	return port
}

func destinations(t *testing.T, allow string, r subscriptions.Resolver) *subscriptions.Destinations {
	t.Helper()
	d, err := subscriptions.ParseDestinations(allow)
	require.NoError(t, err)
	d.Resolver = r
	return d
}

// post sends a small POST to url with c, reads and closes the response.
func post(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp, nil
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func TestDeliveryRefusesDNSRebinding(t *testing.T) {
	srv := newCountingServer(t, ok)
	url := "http://rebind.example:" + srv.port(t) + "/hooks"
	r := newScriptedResolver(map[string][][]string{"rebind.example": {{"93.184.216.34"}, {"127.0.0.1"}}})
	dest := destinations(t, "", r)

	require.NoError(t, dest.CheckURL(context.Background(), "url", url), "the name is public when the endpoint is saved")
	_, err := post(t, newHTTPClient(dest), url)
	require.Error(t, err)
	require.Equal(t, ErrorBlocked, classify(err), "%v", err)
	require.Contains(t, err.Error(), "rebind.example resolves to 127.0.0.1")
	require.Zero(t, srv.hits.Load(), "the private address is never contacted")
	require.Equal(t, 2, r.lookups("rebind.example"), "the name is resolved again when dialled")

	// The operator's allow-list is the way through, and connections to an
	// allowed endpoint are kept alive and reused.
	r = newScriptedResolver(map[string][][]string{"rebind.example": {{"127.0.0.1"}}})
	c := newHTTPClient(destinations(t, "loopback", r))
	for range 3 {
		resp, err := post(t, c, url)
		require.NoError(t, err)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
	}
	require.EqualValues(t, 3, srv.hits.Load())
	require.Equal(t, 1, r.lookups("rebind.example"), "one connection served every request")
}

func TestDeliveryRefusesMixedAnswers(t *testing.T) {
	// A name that answers with public and private addresses is refused as
	// a whole, whatever the order: nothing is dialled, so neither the
	// private address nor the public one is contacted.
	srv := newCountingServer(t, ok)
	for _, answer := range [][]string{
		{"93.184.216.34", "127.0.0.1"},
		{"127.0.0.1", "93.184.216.34"},
		{"2606:4700:4700::1111", "::ffff:127.0.0.1"},
		{"93.184.216.34", "64:ff9b::7f00:1"},
	} {
		r := newScriptedResolver(map[string][][]string{"mixed.example": {answer}})
		start := time.Now()
		_, err := post(t, newHTTPClient(destinations(t, "", r)), "http://mixed.example:"+srv.port(t)+"/hooks")
		require.Error(t, err, "%v", answer)
		require.Equal(t, ErrorBlocked, classify(err), "%v: %v", answer, err)
		require.Less(t, time.Since(start), time.Second, "%v: refused before dialling", answer)
	}
	require.Zero(t, srv.hits.Load())
}

func TestDeliveryNeverFollowsRedirects(t *testing.T) {
	second := newCountingServer(t, ok)
	first := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.URL+"/elsewhere", http.StatusFound)
	})
	r := newScriptedResolver(map[string][][]string{"partner.example": {{"127.0.0.1"}}})
	c := newHTTPClient(destinations(t, "loopback", r))
	resp, err := post(t, c, "http://partner.example:"+first.port(t)+"/hooks")
	require.NoError(t, err)
	require.Equal(t, http.StatusFound, resp.StatusCode, "the 3xx is the answer")
	require.Equal(t, second.URL+"/elsewhere", resp.Header.Get("Location"))
	require.EqualValues(t, 1, first.hits.Load())
	require.Zero(t, second.hits.Load(), "the redirect is not followed")
}

func TestDeliveryRefusesAddressLiterals(t *testing.T) {
	srv := newCountingServer(t, ok)
	port := srv.port(t)
	c := newHTTPClient(destinations(t, "", nil))
	for _, host := range []string{"[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "127.0.0.1", "[::1]", "localhost", "foo.localhost", "[64:ff9b::7f00:1]"} {
		_, err := post(t, c, "http://"+host+":"+port+"/hooks")
		require.Error(t, err, host)
		require.Equal(t, ErrorBlocked, classify(err), "%s: %v", host, err)
	}
	require.Zero(t, srv.hits.Load())

	// With loopback allowed, the mapped form reaches the server over IPv4.
	c = newHTTPClient(destinations(t, "loopback", nil))
	resp, err := post(t, c, "http://[::ffff:127.0.0.1]:"+port+"/hooks")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.EqualValues(t, 1, srv.hits.Load())
}

func TestDeliveryLookupFailureIsDNS(t *testing.T) {
	c := newHTTPClient(destinations(t, "true", newScriptedResolver(nil)))
	_, err := post(t, c, "http://gone.example/hooks")
	require.Error(t, err)
	require.Equal(t, ErrorDNS, classify(err), "%v", err)
}

func TestDeliveryVerifiesTLSAgainstTheHostName(t *testing.T) {
	// httptest's certificate names example.com and 127.0.0.1. The client
	// dials 127.0.0.1 but must verify the certificate against the URL's
	// host, so a name the certificate does not carry fails.
	srv := httptest.NewTLSServer(http.HandlerFunc(ok))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	r := newScriptedResolver(map[string][][]string{
		"example.com":     {{"127.0.0.1"}},
		"partner.example": {{"127.0.0.1"}},
	})
	c := newHTTPClient(destinations(t, "loopback", r))
	tr := c.Transport.(*http.Transport)
	require.False(t, tr.TLSClientConfig.InsecureSkipVerify)
	require.Nil(t, tr.Proxy, "deliveries never go through a proxy")
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr.TLSClientConfig.RootCAs = roots

	resp, err := post(t, c, "https://example.com:"+port+"/hooks")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	require.Equal(t, "example.com", resp.TLS.ServerName, "SNI is the host name, not the address")

	_, err = post(t, c, "https://partner.example:"+port+"/hooks")
	require.Error(t, err)
	require.Equal(t, ErrorTLS, classify(err), "%v", err)
	var hostErr x509.HostnameError
	require.ErrorAs(t, err, &hostErr)
	require.Equal(t, "partner.example", hostErr.Host)
	require.GreaterOrEqual(t, tr.TLSClientConfig.MinVersion, uint16(tls.VersionTLS12))
}
