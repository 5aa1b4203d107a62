package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Receiver modes.
const (
	modeUp          = iota // verify, count, answer 204
	modeUnavailable        // answer 503 to everything
	modeRefuse             // stop listening: connections are refused
)

// receiver is the partners' side: a webhook server on 127.0.0.1 that
// verifies every signature with the Standard Webhooks library, answers
// 204, and counts what arrived for each run of a scenario.
type receiver struct {
	addr string

	mu        sync.Mutex
	srv       *http.Server
	mode      int
	endpoints map[string]*receiverEndpoint // path → endpoint

	// Requests that fit no run, had a bad signature, or were turned away
	// while the receiver was down.
	stray, invalid, turnedAway atomic.Int64
	lastInvalid                atomic.Value // string
}

type receiverEndpoint struct {
	wh  *standardwebhooks.Webhook
	run *tally
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &receiver{addr: ln.Addr().String(), endpoints: map[string]*receiverEndpoint{}}
	r.serve(ln)
	return r, nil
}

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	r.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// setMode switches the receiver up, to answering 503, or to refusing
// connections. Coming back from refusing listens on the same address.
func (r *receiver) setMode(mode int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mode == r.mode {
		return nil
	}
	if r.mode == modeRefuse {
		ln, err := net.Listen("tcp", r.addr)
		if err != nil {
			return fmt.Errorf("receiver: listen again on %s: %w", r.addr, err)
		}
		r.serve(ln)
	}
	if mode == modeRefuse {
		// Close drops the kept-alive connections too.
		if err := r.srv.Close(); err != nil {
			return fmt.Errorf("receiver: stop listening: %w", err)
		}
	}
	r.mode = mode
	return nil
}

func (r *receiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode != modeRefuse {
		_ = r.srv.Close()
	}
}

// add makes path an endpoint of run t, signed with secret.
func (r *receiver) add(path, secret string, t *tally) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endpoints[path] = &receiverEndpoint{wh: wh, run: t}
	return nil
}

func (r *receiver) url(path string) string { return "http://" + r.addr + path }

// deliveredBody is the part of a delivered body the receiver reads.
type deliveredBody struct {
	Data struct {
		EventID  string `json:"event_id"`
		SentAtNS string `json:"sent_at_ns"`
		Warmup   string `json:"bench_warmup"`
	} `json:"data"`
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	ep, mode := r.endpoints[req.URL.Path], r.mode
	r.mu.Unlock()
	if mode != modeUp {
		r.turnedAway.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if ep == nil {
		r.stray.Add(1)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err := ep.wh.Verify(body, req.Header); err != nil {
		r.invalid.Add(1)
		r.lastInvalid.Store(req.URL.Path + ": " + err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b deliveredBody
	if err := json.Unmarshal(body, &b); err != nil || b.Data.EventID == "" {
		r.invalid.Add(1)
		r.lastInvalid.Store(req.URL.Path + ": body without data.event_id")
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	var sent int64
	if b.Data.SentAtNS != "" {
		sent, _ = strconv.ParseInt(b.Data.SentAtNS, 10, 64)
	}
	ep.run.record(req.URL.Path, b.Data.EventID, req.Header.Get("webhook-id"), b.Data.Warmup != "", sent, at)
	w.WriteHeader(http.StatusNoContent)
}

// tally counts the deliveries of one run of a scenario.
type tally struct {
	mu sync.Mutex
	// seen holds each (endpoint, event) delivered; messages each webhook-id.
	seen     map[string]struct{}
	messages map[string]struct{}
	arrivals int
	warm     int
	// latencies of first deliveries, publish to receipt, in order of arrival.
	latencies   []time.Duration
	first, last time.Time
	// target and reached: reached is closed once len(seen) >= target.
	target  int
	reached chan struct{}
	// progress is bumped on every new delivery, for stall detection.
	progress atomic.Int64
}

func newTally() *tally {
	return &tally{seen: map[string]struct{}{}, messages: map[string]struct{}{}, reached: make(chan struct{})}
}

func (t *tally) record(path, eventID, messageID string, warm bool, sentNS int64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if warm {
		t.warm++
		return
	}
	t.arrivals++
	t.messages[messageID] = struct{}{}
	key := path + " " + eventID
	if _, dup := t.seen[key]; dup {
		return
	}
	t.seen[key] = struct{}{}
	if t.first.IsZero() {
		t.first = at
	}
	t.last = at
	if sentNS > 0 {
		t.latencies = append(t.latencies, at.Sub(time.Unix(0, sentNS)))
	}
	t.progress.Add(1)
	if t.target > 0 && len(t.seen) == t.target {
		close(t.reached)
	}
}

// expect sets how many unique deliveries make the run complete. It returns
// the channel closed when they have arrived.
func (t *tally) expect(n int) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.target == 0 {
		t.target = n
		if n <= len(t.seen) {
			close(t.reached)
		}
	}
	return t.reached
}

// warmed returns how many warm-up deliveries arrived.
func (t *tally) warmed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.warm
}

// tallyView is a consistent copy of a tally's counts.
type tallyView struct {
	unique, arrivals, messages int
	first, last                time.Time
	latencies                  []time.Duration
}

func (t *tally) view() tallyView {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tallyView{
		unique: len(t.seen), arrivals: t.arrivals, messages: len(t.messages),
		first: t.first, last: t.last, latencies: append([]time.Duration(nil), t.latencies...),
	}
}

// unique returns how many distinct deliveries arrived so far.
func (t *tally) unique() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

// errStalled says that deliveries stopped arriving before all were in.
var errStalled = errors.New("deliveries stopped arriving")
