package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client calls shiphook's API with one key, over kept-alive connections.
type Client struct {
	Base, Key string
	HTTP      *http.Client
	// Observe, if not nil, is told of every request that Send (and so Do,
	// Post and Call) makes: its answer, or the error of one that got
	// none.
	Observe func(ctx context.Context, method, path string, a Answer, err error)
}

// NewClient returns a client of the API at base (such as
// http://127.0.0.1:8080) that sends key; each request may take up to two
// minutes.
func NewClient(base, key string) *Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{Base: base, Key: key, HTTP: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Answer is an API answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Send sends body (none if nil) to path and returns the answer. The error
// is that of the request, when it got no answer.
func (c *Client) Send(ctx context.Context, method, path string, body []byte) (Answer, error) {
	return c.SendWith(ctx, method, path, body, nil)
}

// SendWith is Send with the headers of header added to the request, such
// as a signature of the body.
func (c *Client) SendWith(ctx context.Context, method, path string, body []byte, header http.Header) (Answer, error) {
	a, err := c.send(ctx, method, path, body, header)
	if c.Observe != nil {
		c.Observe(ctx, method, path, a, err)
	}
	return a, err
}

func (c *Client) send(ctx context.Context, method, path string, body []byte, header http.Header) (Answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: out}, err
}

// Do sends body to path and returns the answer's status and body.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	a, err := c.Send(ctx, method, path, body)
	return a.Status, a.Body, err
}

// Post sends body to path and returns the answer's status and body.
func (c *Client) Post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	return c.Do(ctx, http.MethodPost, path, body)
}

// Call sends in as JSON (nothing if nil) and decodes a 2xx answer into
// out (if not nil); any other answer is an error naming its status.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	status, resp, err := c.Do(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status < 200 || status > 299 {
		return &StatusError{Method: method, Path: path, Status: status, Body: string(bytes.TrimSpace(resp))}
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// StatusError is the error of a Call answered otherwise than 2xx.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}
