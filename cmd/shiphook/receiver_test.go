package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/shiphook/shiphook/signing"
)

// receiver is a partner's webhook endpoint: it verifies every signature
// and records what arrived, by path. A whsec_ secret is checked with the
// Standard Webhooks library (v1); a whpk_ public key, which that library
// does not know, with package signing (v1a; v1a_test.go checks those
// signatures with an independent verifier too).
type receiver struct {
	*httptest.Server

	mu       sync.Mutex
	secrets  map[string]string          // path → signing secret or public key
	answer   map[string]func(n int) int // path → status for the nth arrival of a message
	arrivals map[string]int             // message id → arrivals
	accepted []delivery                 // deliveries answered 2xx
	invalid  []string                   // paths that got a bad signature
	inflight map[string]int             // path → requests being answered now
	peak     map[string]int             // path → most requests answered at once
	times    map[string][]time.Time     // path → arrival times
	headers  map[string]http.Header     // path → headers of the last arrival
}

type delivery struct {
	// Latency is from the sent_at_ns in the event's data, when there is one.
	Latency   time.Duration
	Path      string
	MessageID string
	Type      string
	Data      map[string]any
	Raw       map[string]any
	// Body is the body as it arrived, Header its headers.
	Body   []byte
	Header http.Header
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	r := &receiver{secrets: map[string]string{}, answer: map[string]func(int) int{}, arrivals: map[string]int{},
		inflight: map[string]int{}, peak: map[string]int{}, times: map[string][]time.Time{}, headers: map[string]http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	path := req.URL.Path
	r.mu.Lock()
	err = verifyDelivery(r.secrets[path], body, req.Header)
	if err != nil {
		r.invalid = append(r.invalid, path)
		r.mu.Unlock()
		http.Error(w, "bad signature: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	r.arrivals[id]++
	n, answer := r.arrivals[id], r.answer[path]
	r.inflight[path]++
	r.peak[path] = max(r.peak[path], r.inflight[path])
	r.times[path] = append(r.times[path], time.Now())
	r.headers[path] = req.Header.Clone()
	r.mu.Unlock()

	status := http.StatusOK
	if answer != nil {
		status = answer(n) // may block, as a slow receiver does
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight[path]--
	// A delivery counts only if the sender was still waiting for the answer.
	if status < 300 && req.Context().Err() == nil {
		var raw map[string]any
		_ = json.Unmarshal(body, &raw)
		d := delivery{Path: path, MessageID: id, Raw: raw, Body: body, Header: req.Header.Clone()}
		d.Type, _ = raw["type"].(string)
		d.Data, _ = raw["data"].(map[string]any)
		if sent, ok := d.Data["sent_at_ns"].(string); ok {
			if ns, err := strconv.ParseInt(sent, 10, 64); err == nil {
				d.Latency = time.Since(time.Unix(0, ns))
			}
		}
		r.accepted = append(r.accepted, d)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// verifyDelivery checks a delivery's signature with key: a whsec_ secret
// or a whpk_ public key.
func verifyDelivery(key string, body []byte, h http.Header) error {
	if strings.HasPrefix(key, "whpk_") {
		return signing.Verify(body, h, time.Now(), 0, key)
	}
	wh, err := standardwebhooks.NewWebhook(key)
	if err != nil {
		return err
	}
	return wh.Verify(body, h)
}

// peakOf returns the most requests answered at once at path.
func (r *receiver) peakOf(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak[path]
}

// timesOf returns when requests arrived at path.
func (r *receiver) timesOf(path string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times[path]...)
}

// headersOf returns the headers of the last request at path.
func (r *receiver) headersOf(path string) http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers[path]
}

// countAt returns how many requests arrived at path.
func (r *receiver) countAt(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times[path])
}

func (r *receiver) setSecret(path, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[path] = secret
}

func (r *receiver) setAnswer(path string, f func(n int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer[path] = f
}

// byPath returns the deliveries answered 2xx at path.
func (r *receiver) byPath(path string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.accepted {
		if d.Path == path {
			out = append(out, d)
		}
	}
	return out
}

func (r *receiver) invalidSignatures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.invalid...)
}

// total returns how many requests with a valid signature arrived.
func (r *receiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.arrivals {
		n += a
	}
	return n
}

func (r *receiver) arrivalsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrivals[id]
}
