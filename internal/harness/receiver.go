package harness

import (
	"encoding/json"
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

// Mode is how a Receiver answers.
type Mode int

// Receiver modes.
const (
	Up          Mode = iota // verify, count, answer 204
	Unavailable             // answer 503 Service Unavailable to everything
	Failing                 // answer 500 Internal Server Error to everything
	Hanging                 // never answer: hold each request until its sender gives up
	Refusing                // stop listening: connections are refused
)

// Receiver is the partners' side: a webhook server on 127.0.0.1 that
// verifies every signature with the Standard Webhooks library, answers
// 204, and counts in a Tally what arrived at each of its endpoints.
type Receiver struct {
	addr string

	mu        sync.Mutex
	srv       *http.Server
	mode      Mode
	latency   time.Duration
	endpoints map[string]*receiverEndpoint // path → endpoint
	last      map[string]Delivery          // path → last delivery that verified

	// Stray counts the requests to a path that is no endpoint, Invalid
	// those with a bad signature or body, TurnedAway those answered
	// otherwise than 204 while the receiver was not Up (or held while
	// Hanging).
	Stray, Invalid, TurnedAway atomic.Int64
	lastInvalid                atomic.Value // string
}

type receiverEndpoint struct {
	wh  *standardwebhooks.Webhook
	run *Tally
	// failFirst is how many arrivals of each message are answered 500
	// before one is taken; tries counts them by message id.
	failFirst int
	tries     map[string]int
}

// StartReceiver starts a receiver on a free port of 127.0.0.1.
func StartReceiver() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &Receiver{addr: ln.Addr().String(), endpoints: map[string]*receiverEndpoint{}, last: map[string]Delivery{}}
	r.serve(ln)
	return r, nil
}

func (r *Receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	r.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// SetMode switches how the receiver answers. Coming back from Refusing
// listens on the same address. Requests held while Hanging stay held
// until their senders give up.
func (r *Receiver) SetMode(mode Mode) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mode == r.mode {
		return nil
	}
	if r.mode == Refusing {
		ln, err := net.Listen("tcp", r.addr)
		if err != nil {
			return fmt.Errorf("receiver: listen again on %s: %w", r.addr, err)
		}
		r.serve(ln)
	}
	if mode == Refusing {
		// Close drops the kept-alive connections too.
		if err := r.srv.Close(); err != nil {
			return fmt.Errorf("receiver: stop listening: %w", err)
		}
	}
	r.mode = mode
	return nil
}

// SetLatency makes the receiver take d to answer each delivery it takes,
// as a partner's server does its work; zero at first.
func (r *Receiver) SetLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency = d
}

// Close stops the receiver, dropping its connections.
func (r *Receiver) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode != Refusing {
		_ = r.srv.Close()
	}
}

// Add makes path an endpoint whose deliveries, signed with secret, count
// in t.
func (r *Receiver) Add(path, secret string, t *Tally) error {
	return r.AddFailing(path, secret, t, 0)
}

// AddFailing is Add for an endpoint that answers 500 to the first
// failFirst arrivals of each message (by webhook-id), and takes the next.
func (r *Receiver) AddFailing(path, secret string, t *Tally, failFirst int) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endpoints[path] = &receiverEndpoint{wh: wh, run: t, failFirst: failFirst, tries: map[string]int{}}
	return nil
}

// URL returns the URL of path on the receiver.
func (r *Receiver) URL(path string) string { return "http://" + r.addr + path }

// LastInvalid describes the last request counted as Invalid, if any.
func (r *Receiver) LastInvalid() string {
	s, _ := r.lastInvalid.Load().(string)
	return s
}

// Delivery is a delivery as the receiver got it: its headers and its
// body, byte for byte.
type Delivery struct {
	Header http.Header
	Body   []byte
}

// Last returns the last delivery to path whose signature verified, and
// whether there was one.
func (r *Receiver) Last(path string) (Delivery, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.last[path]
	return d, ok
}

// deliveredBody is the part of a delivered body the receiver reads.
type deliveredBody struct {
	Data struct {
		EventID  string `json:"event_id"`
		SentAtNS string `json:"sent_at_ns"`
		Warmup   string `json:"bench_warmup"`
	} `json:"data"`
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	ep, mode, latency := r.endpoints[req.URL.Path], r.mode, r.latency
	r.mu.Unlock()
	switch mode {
	case Up:
	case Hanging:
		r.TurnedAway.Add(1)
		<-req.Context().Done()
		return
	case Failing:
		r.TurnedAway.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		return
	default:
		r.TurnedAway.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if ep == nil {
		r.Stray.Add(1)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err := ep.wh.Verify(body, req.Header); err != nil {
		r.invalidRequest(req.URL.Path + ": " + err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.last[req.URL.Path] = Delivery{Header: req.Header.Clone(), Body: body}
	r.mu.Unlock()
	var b deliveredBody
	if err := json.Unmarshal(body, &b); err != nil || b.Data.EventID == "" {
		r.invalidRequest(req.URL.Path + ": body without data.event_id")
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	messageID := req.Header.Get("webhook-id")
	if r.failing(ep, messageID) {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if latency > 0 {
		// A sender that gives up meanwhile may well send it again.
		time.Sleep(latency)
	}
	var sent int64
	if b.Data.SentAtNS != "" {
		sent, _ = strconv.ParseInt(b.Data.SentAtNS, 10, 64)
	}
	ep.run.record(req.URL.Path, b.Data.EventID, messageID, b.Data.Warmup != "", sent, at)
	w.WriteHeader(http.StatusNoContent)
}

func (r *Receiver) invalidRequest(what string) {
	r.Invalid.Add(1)
	r.lastInvalid.Store(what)
}

// failing counts an arrival of message id at ep and reports whether it
// is one of the first that ep answers 500.
func (r *Receiver) failing(ep *receiverEndpoint, id string) bool {
	if ep.failFirst == 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ep.tries[id]++
	return ep.tries[id] <= ep.failFirst
}

// Tally counts the deliveries to a set of endpoints: a run of a scenario.
type Tally struct {
	mu sync.Mutex
	// seen holds when each (endpoint, event) was first delivered;
	// messages each webhook-id.
	seen     map[string]time.Time
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

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{seen: map[string]time.Time{}, messages: map[string]struct{}{}, reached: make(chan struct{})}
}

func seenKey(path, eventID string) string { return path + " " + eventID }

func (t *Tally) record(path, eventID, messageID string, warm bool, sentNS int64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if warm {
		t.warm++
		return
	}
	t.arrivals++
	t.messages[messageID] = struct{}{}
	key := seenKey(path, eventID)
	if _, dup := t.seen[key]; dup {
		return
	}
	t.seen[key] = at
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

// Expect sets how many unique deliveries make the run complete. It returns
// the channel closed when they have arrived.
func (t *Tally) Expect(n int) <-chan struct{} {
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

// Warmed returns how many warm-up deliveries arrived: those of events
// whose data has a bench_warmup field.
func (t *Tally) Warmed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.warm
}

// TallyView is a consistent copy of a tally's counts.
type TallyView struct {
	// Unique counts the (endpoint, event) pairs delivered, Arrivals
	// every delivery taken, Messages the webhook-ids among them.
	Unique, Arrivals, Messages int
	First, Last                time.Time
	Latencies                  []time.Duration
}

// View returns the tally's counts.
func (t *Tally) View() TallyView {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TallyView{
		Unique: len(t.seen), Arrivals: t.arrivals, Messages: len(t.messages),
		First: t.first, Last: t.last, Latencies: append([]time.Duration(nil), t.latencies...),
	}
}

// Unique returns how many distinct deliveries arrived so far.
func (t *Tally) Unique() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

// Progress returns a number that grows with every new distinct delivery.
func (t *Tally) Progress() int64 { return t.progress.Load() }

// FirstArrival returns when event eventID was first delivered to the
// endpoint at path, and false if it was not.
func (t *Tally) FirstArrival(path, eventID string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.seen[seenKey(path, eventID)]
	return at, ok
}
