package openapicheck

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// Transport returns a RoundTripper that sends through next
// (http.DefaultTransport when nil) and tells report each problem Check
// finds with an exchange. The bodies are read whole, and the answer's
// body is given back to the caller unread.
func (c *Checker) Transport(next http.RoundTripper, report func(problem string)) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{c: c, next: next, report: report}
}

type roundTripper struct {
	c      *Checker
	next   http.RoundTripper
	report func(string)
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	sent := req
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		sent = req.Clone(req.Context())
		sent.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := rt.next.RoundTrip(sent)
	if err != nil {
		return nil, err
	}
	got, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	for _, p := range rt.c.Check(req, body, resp, got) {
		rt.report(p)
	}
	return resp, nil
}

// Client returns an HTTP client whose exchanges with shiphook's API are
// checked against docs/openapi.yaml, each problem failing t (Errorf), as
// the package documentation says. t fails at once if the document does
// not load.
func Client(t testing.TB) *http.Client {
	t.Helper()
	c, err := Shared()
	if err != nil {
		t.Fatalf("load docs/openapi.yaml: %v", err)
	}
	return &http.Client{Transport: c.Transport(nil, func(p string) {
		t.Errorf("the OpenAPI document (docs/openapi.yaml) does not describe this exchange: %s", p)
	})}
}
