package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a partner's webhook endpoint: it verifies every signature
// with the Standard Webhooks library and records what arrived, by path.
type receiver struct {
	*httptest.Server

	mu       sync.Mutex
	secrets  map[string]string          // path → signing secret
	answer   map[string]func(n int) int // path → status for the nth arrival of a message
	arrivals map[string]int             // message id → arrivals
	accepted []delivery                 // deliveries answered 2xx
	invalid  []string                   // paths that got a bad signature
}

type delivery struct {
	Path      string
	MessageID string
	Type      string
	Data      map[string]any
	Raw       map[string]any
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{secrets: map[string]string{}, answer: map[string]func(int) int{}, arrivals: map[string]int{}}
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
	wh, err := standardwebhooks.NewWebhook(r.secrets[path])
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.invalid = append(r.invalid, path)
		r.mu.Unlock()
		http.Error(w, "bad signature: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	r.arrivals[id]++
	n, answer := r.arrivals[id], r.answer[path]
	r.mu.Unlock()

	status := http.StatusOK
	if answer != nil {
		status = answer(n) // may block, as a slow receiver does
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A delivery counts only if the sender was still waiting for the answer.
	if status < 300 && req.Context().Err() == nil {
		var raw map[string]any
		_ = json.Unmarshal(body, &raw)
		d := delivery{Path: path, MessageID: id, Raw: raw}
		d.Type, _ = raw["type"].(string)
		d.Data, _ = raw["data"].(map[string]any)
		r.accepted = append(r.accepted, d)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"ok":true}`))
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
