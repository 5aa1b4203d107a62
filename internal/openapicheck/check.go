// Package openapicheck checks exchanges with shiphook's API against its
// OpenAPI document (docs/openapi.yaml), for tests: an http.RoundTripper
// wrapper reports every request and answer that the document does not
// describe.
//
// The rule, so that tests of hostile input keep working: every answer is
// checked (its status must be documented for the operation, and its body
// must match the schema given for that status); the request is checked
// only when it was accepted, since a 4xx to a request that breaks the
// document is shiphook doing its job. Accepted is answered 2xx and, for a
// batch of events, which is answered 200 with one result per event, with
// every event accepted (202). A request with a body and no Content-Type
// is checked as JSON, which is how shiphook reads it. A request whose method and path
// match no operation must be answered 404 route_not_found or 405
// method_not_allowed. Only shiphook's API is checked: paths under /v1/
// and /dcsa/, and /healthz and /readyz; the console (/console…), the
// redirect of / and any other server (a webhook receiver) are let be.
package openapicheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/shiphook/shiphook/docs"
)

// Checker checks requests and answers against the document. It is safe
// for concurrent use.
type Checker struct {
	mu    sync.Mutex
	v     validator.Validator
	model *v3.Document
}

// New returns a Checker of spec, an OpenAPI 3.1 document; an error if it
// does not parse or build.
func New(spec []byte) (*Checker, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("parse the OpenAPI document: %w", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build the OpenAPI document: %w", err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("validator of the OpenAPI document: %v", errs)
	}
	return &Checker{v: v, model: &m.Model}, nil
}

var (
	sharedOnce sync.Once
	shared     *Checker
	sharedErr  error
)

// Shared returns the Checker of docs/openapi.yaml, made once per process.
func Shared() (*Checker, error) {
	sharedOnce.Do(func() { shared, sharedErr = New(docs.OpenAPIYAML) })
	return shared, sharedErr
}

// Document checks the document itself against the OpenAPI 3.1 schema and
// returns what is wrong with it, one line each.
func (c *Checker) Document() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, errs := c.v.ValidateDocument()
	return describe(errs)
}

// Checked reports whether a request to path is one of shiphook's API.
func Checked(path string) bool {
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/dcsa/") || path == "/healthz" || path == "/readyz"
}

// Check returns what is wrong with one exchange: req, sent with body
// reqBody, answered resp with body respBody (resp.Body is not read). Nil
// when the document describes it, or when req is not to the API.
func (c *Checker) Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) []string {
	if !Checked(req.URL.Path) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !hasOperation(req, c.model) {
		return unrouted(req, resp, respBody)
	}
	r := withBody(req, reqBody)
	a := *resp
	a.Body = io.NopCloser(bytes.NewReader(respBody))
	_, errs := c.v.ValidateHttpResponse(r, &a)
	out := describe(errs)
	if accepted(req, resp, respBody) {
		_, errs := c.v.ValidateHttpRequestSync(withBody(req, reqBody))
		out = append(out, describe(errs)...)
	}
	for i := range out {
		out[i] = fmt.Sprintf("%s %s answered %d: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, out[i])
	}
	return out
}

// accepted reports whether req was accepted as a whole: answered 2xx,
// and a batch of events with every event answered 202.
func accepted(req *http.Request, resp *http.Response, body []byte) bool {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v1/events/batch" {
		return true
	}
	var results struct {
		Data []struct {
			Status int `json:"status"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &results) != nil {
		return true // the answer's own check reports it
	}
	for _, r := range results.Data {
		if r.Status != http.StatusAccepted {
			return false
		}
	}
	return true
}

// hasOperation reports whether the path req names has an operation for
// its method.
func hasOperation(req *http.Request, m *v3.Document) bool {
	item, _, _ := paths.FindPath(req, m, nil)
	if item == nil {
		return false
	}
	_, ok := item.GetOperations().Get(strings.ToLower(req.Method))
	return ok
}

// unrouted checks the answer to a request of no operation: an unknown
// route or method, answered as such.
func unrouted(req *http.Request, resp *http.Response, body []byte) []string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	want := map[int]string{http.StatusNotFound: "route_not_found", http.StatusMethodNotAllowed: "method_not_allowed"}[resp.StatusCode]
	if json.Unmarshal(body, &e) == nil && want != "" && e.Error.Code == want && e.Error.Message != "" {
		return nil
	}
	return []string{fmt.Sprintf("%s %s is no operation of the OpenAPI document, yet was answered %d: %.200s",
		req.Method, req.URL.Path, resp.StatusCode, body)}
}

// withBody returns a copy of req whose body reads body.
func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if len(body) > 0 && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// describe renders errs, one line each, with the schema failures.
func describe(errs []*verrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		s := e.Message
		if e.Reason != "" && e.Reason != e.Message {
			s += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			s += fmt.Sprintf(" [%s: %s]", f.FieldPath, f.Reason)
		}
		out = append(out, s)
	}
	return out
}
