// Package client calls shiphook's HTTP API with one API key: the part of
// the admin commands of the shiphook binary that speaks HTTP. It sends
// JSON and returns the answer's body as the API wrote it, so that a caller
// may print it as is or decode what it needs.
//
// An answer other than 2xx is an *Error carrying the API's error code and
// message; a request that got no answer at all is a *NetError.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one request, connection and answer, unless New is
// given an http.Client of its own.
const DefaultTimeout = time.Minute

// maxAnswer is the most of an answer's body that is read.
const maxAnswer = 64 << 20

// Client calls the API at one base URL with one key.
type Client struct {
	base string
	key  string
	http *http.Client
}

// New returns a client of the API at base (such as
// http://127.0.0.1:8080) that sends key as its bearer token. hc nil means
// an http.Client with DefaultTimeout.
func New(base, key string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), key: key, http: hc}
}

// Request is one call of the API.
type Request struct {
	Method string
	// Path is the route, such as /v1/partners/acme, with its parameters
	// escaped already (see Path).
	Path  string
	Query url.Values
	// Body is sent as application/json; nil sends none.
	Body []byte
	// Header is added to the request, such as an Idempotency-Key.
	Header http.Header
}

// Path joins the route's segments, escaping each: Path("v1", "partners",
// id) is /v1/partners/<id>.
func Path(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Error is an answer other than 2xx: its status and the API's error code,
// message and field (see the api package's errors).
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the input at fault, when one is.
	Field string `json:"field"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("the API answered %d %s: %s: %s", e.Status, http.StatusText(e.Status), e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// NetError is a request that got no answer: the API could not be reached,
// or did not answer in time.
type NetError struct {
	URL string
	Err error
}

func (e *NetError) Error() string { return fmt.Sprintf("no answer from %s: %v", e.URL, e.Err) }

func (e *NetError) Unwrap() error { return e.Err }

// Do sends r and returns the answer's body when its status is 2xx (empty
// for 204). Returns an *Error for any other status, with the API's code
// and message (a body that is not the API's error shape still gives its
// status, code "http_<status>" and the start of the body), and a
// *NetError when no answer came.
func (c *Client) Do(ctx context.Context, r Request) ([]byte, error) {
	u := c.base + r.Path
	if len(r.Query) > 0 {
		u += "?" + r.Query.Encode()
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, u, err)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &NetError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, &NetError{URL: c.base, Err: fmt.Errorf("read the answer to %s %s: %w", r.Method, r.Path, err)}
	}
	if resp.StatusCode/100 != 2 {
		return nil, answerError(resp.StatusCode, raw)
	}
	return raw, nil
}

// answerError reads the error of an answer with status and body raw.
func answerError(status int, raw []byte) *Error {
	var answer struct {
		Error Error `json:"error"`
	}
	if json.Unmarshal(raw, &answer) == nil && answer.Error.Code != "" {
		e := answer.Error
		e.Status = status
		return &e
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if text == "" {
		text = "(no body)"
	}
	return &Error{Status: status, Code: fmt.Sprintf("http_%d", status), Message: text}
}
