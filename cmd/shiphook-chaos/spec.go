package main

import (
	"net/http"
	"sync"

	"github.com/shiphook/shiphook/internal/harness"
	"github.com/shiphook/shiphook/internal/openapicheck"
)

// specLog counts the exchanges with the API that the OpenAPI document
// (docs/openapi.yaml) does not describe, faults and all: every answer is
// checked, and every request that was accepted (openapicheck).
type specLog struct {
	mu       sync.Mutex
	checked  int
	problems int
	// first is the first problem, for the summary.
	first string
}

// watch sends c's requests through a transport that checks them into l.
func (l *specLog) watch(c *harness.Client) error {
	checker, err := openapicheck.Shared()
	if err != nil {
		return err
	}
	next := c.HTTP.Transport
	c.HTTP.Transport = checker.Transport(countingTransport{l: l, next: next}, l.note)
	return nil
}

func (l *specLog) note(problem string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems++
	if l.first == "" {
		l.first = problem
	}
}

// result returns the exchanges checked, the problems and the first.
func (l *specLog) result() (checked, problems int, first string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checked, l.problems, l.first
}

// countingTransport counts the exchanges that got an answer.
type countingTransport struct {
	l    *specLog
	next http.RoundTripper
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.l.mu.Lock()
		t.l.checked++
		t.l.mu.Unlock()
	}
	return resp, err
}
