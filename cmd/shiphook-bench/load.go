package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

// targets are the partners of one run, each with one endpoint on the
// receiver at /r/<run>/<i>.
type targets struct {
	run      string
	partners []string
	// shipments, if not 0, is how many shipments the run's events are
	// spread over (event i is of shipment i mod shipments); 0 gives each
	// event a shipment of its own.
	shipments int
}

// createTargets creates the partners of s (its fan-out) with one endpoint
// each, signed with its own secret, ordered by shipment if s is,
// delivering to the receiver and counted by t.
func createTargets(ctx context.Context, a *harness.Client, rcv *harness.Receiver, run string, s scenario, t *harness.Tally) (targets, error) {
	tg := targets{run: run, shipments: s.shipments}
	n := s.fanout
	for i := range n {
		id := fmt.Sprintf("bench-%s-p%d", run, i)
		if err := a.Call(ctx, http.MethodPost, "/v1/partners", map[string]any{"id": id, "name": "Bench partner " + strconv.Itoa(i)}, nil); err != nil {
			return tg, err
		}
		secret := harness.NewSecret()
		path := fmt.Sprintf("/r/%s/%d", run, i)
		if err := rcv.Add(path, secret, t); err != nil {
			return tg, err
		}
		ep := map[string]any{"url": rcv.URL(path), "event_types": []string{"shipment.milestone.*"}, "secret": secret}
		if s.ordered {
			ep["ordering"] = "shipment"
		}
		if err := a.Call(ctx, http.MethodPost, "/v1/partners/"+id+"/endpoints", ep, nil); err != nil {
			return tg, err
		}
		tg.partners = append(tg.partners, id)
	}
	return tg, nil
}

// eventGen renders the events of a run: milestones of shipment
// SHP-<run>-<i> naming every partner of the run as a party, with the
// publisher's clock in data.sent_at_ns (milestone schemas allow extra
// fields).
type eventGen struct {
	run       string
	parties   []byte
	occurred  string
	shipments int
}

var roles = []string{"consignee", "shipper", "carrier", "agent", "customs_broker", "notify_party"}

func newEventGen(tg targets) *eventGen {
	ps := make([]map[string]string, len(tg.partners))
	for i, id := range tg.partners {
		ps[i] = map[string]string{"partner_id": id, "role": roles[i%len(roles)]}
	}
	parties, _ := json.Marshal(ps)
	return &eventGen{run: tg.run, parties: parties, occurred: time.Now().UTC().Format(time.RFC3339), shipments: tg.shipments}
}

// appendEvent appends event i (or the warm-up event when i < 0) to b.
func (g *eventGen) appendEvent(b []byte, i int) []byte {
	typ := "departed"
	if i%2 == 1 {
		typ = "arrived"
	}
	n := "warm"
	if i >= 0 {
		n = strconv.Itoa(i)
	}
	b = append(b, `{"id":"bench-`...)
	b = append(b, g.run...)
	b = append(b, '-')
	b = append(b, n...)
	b = append(b, `","type":"shipment.milestone.`...)
	b = append(b, typ...)
	b = append(b, `","occurred_at":"`...)
	b = append(b, g.occurred...)
	b = append(b, `","shipment":{"id":"SHP-`...)
	b = append(b, g.run...)
	b = append(b, '-')
	if g.shipments > 0 && i >= 0 {
		b = strconv.AppendInt(append(b, 's'), int64(i%g.shipments), 10)
	} else {
		b = append(b, n...)
	}
	b = append(b, `","mode":"ocean","origin":"CNSHA","destination":"NLRTM","carrier":"MSCU"},"parties":`...)
	b = append(b, g.parties...)
	b = append(b, `,"data":{"location":{"code":"CNSHA","name":"Shanghai"},"vessel":"MSC OSCAR","voyage":"FE547W",`...)
	if i < 0 {
		b = append(b, `"bench_warmup":"1"}}`...)
		return b
	}
	b = append(b, `"sent_at_ns":"`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `"}}`...)
	return b
}

// published is what a publisher got back.
type published struct {
	accepted   int // 202, stored as new
	duplicates int // 202 with "duplicate": true
	failed     int // any other answer, or no answer
	lastErr    string
	// start is when the first event was sent, end when the last answer came.
	start, end time.Time
	// calls is how many requests were made.
	calls int
	// late counts open-loop sends more than 10 ms behind their schedule;
	// maxLag is the furthest behind one was.
	late   int
	maxLag time.Duration
}

func (p published) rate() float64 {
	d := p.end.Sub(p.start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(p.accepted) / d
}

// publishStats collects published figures from many goroutines.
type publishStats struct {
	mu sync.Mutex
	published
}

func (s *publishStats) add(accepted, duplicates, failed int, errText string, started, ended time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted += accepted
	s.duplicates += duplicates
	s.failed += failed
	s.calls++
	if errText != "" {
		s.lastErr = errText
	}
	if s.start.IsZero() || started.Before(s.start) {
		s.start = started
	}
	if ended.After(s.end) {
		s.end = ended
	}
}

func (s *publishStats) lag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d > 10*time.Millisecond {
		s.late++
	}
	s.maxLag = max(s.maxLag, d)
}

func (s *publishStats) result() published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.published
}

// postOne posts event i and records the answer.
func postOne(ctx context.Context, a *harness.Client, g *eventGen, i int, buf []byte, st *publishStats) []byte {
	buf = g.appendEvent(buf[:0], i)
	started := time.Now()
	status, body, err := a.Post(ctx, "/v1/events", buf)
	ended := time.Now()
	switch {
	case err != nil:
		if ctx.Err() == nil {
			st.add(0, 0, 1, err.Error(), started, ended)
		}
	case status == http.StatusAccepted && bytes.Contains(body, []byte(`"duplicate":true`)):
		st.add(0, 1, 0, "", started, ended)
	case status == http.StatusAccepted:
		st.add(1, 0, 0, "", started, ended)
	default:
		st.add(0, 0, 1, fmt.Sprintf("%d %s", status, bytes.TrimSpace(body)), started, ended)
	}
	return buf
}

// publishClosed posts events 0..n-1 from conc goroutines, each sending its
// next event as soon as its previous one is answered, until all are sent
// or limit has passed.
func publishClosed(ctx context.Context, a *harness.Client, g *eventGen, n, conc int, limit time.Duration) published {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var (
		st   publishStats
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range conc {
		wg.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				buf = postOne(ctx, a, g, i, buf, &st)
			}
		})
	}
	wg.Wait()
	return st.result()
}

// publishOpen posts rate events a second for d, on a clock: event i is due
// at start + i/rate whatever became of the ones before (open loop), sent
// by the first of conc goroutines that is free. Sends that find every
// goroutine busy go out late, and are counted.
func publishOpen(ctx context.Context, a *harness.Client, g *eventGen, rate int, d time.Duration, conc int) published {
	n := int(d.Seconds() * float64(rate))
	ctx, cancel := context.WithTimeout(ctx, d+2*time.Minute)
	defer cancel()
	var (
		st publishStats
		wg sync.WaitGroup
	)
	due := make(chan int)
	for range conc {
		wg.Go(func() {
			var buf []byte
			for i := range due {
				buf = postOne(ctx, a, g, i, buf, &st)
			}
		})
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		select {
		case due <- i:
		case <-ctx.Done():
		}
		st.lag(time.Since(at))
	}
	close(due)
	wg.Wait()
	return st.result()
}

// batchAnswer is the answer of POST /v1/events/batch.
type batchAnswer struct {
	Data []struct {
		Status    int    `json:"status"`
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"data"`
}

// publishBatches posts events 0..n-1 in batches of size from conc
// goroutines, until all are sent or limit has passed. last receives, in
// order of batches, the id of the last event each batch stored (for
// telling when fan-out is done); it may be nil.
func publishBatches(ctx context.Context, a *harness.Client, g *eventGen, n, size, conc int, limit time.Duration, last []string) published {
	return inBatches(ctx, n, size, conc, limit, func(ctx context.Context, b, lo, hi int, st *publishStats) {
		buf := append([]byte(nil), `{"events":[`...)
		for i := lo; i < hi; i++ {
			if i > lo {
				buf = append(buf, ',')
			}
			buf = g.appendEvent(buf, i)
		}
		buf = append(buf, "]}"...)
		started := time.Now()
		status, body, err := a.Post(ctx, "/v1/events/batch", buf)
		ended := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				st.add(0, 0, hi-lo, err.Error(), started, ended)
			}
			return
		}
		var ans batchAnswer
		if status != http.StatusOK || json.Unmarshal(body, &ans) != nil {
			st.add(0, 0, hi-lo, fmt.Sprintf("%d %s", status, bytes.TrimSpace(body)), started, ended)
			return
		}
		var acc, dup, bad int
		var errText string
		for _, it := range ans.Data {
			switch {
			case it.Status == http.StatusAccepted && it.Duplicate:
				dup++
			case it.Status == http.StatusAccepted:
				acc++
				if last != nil {
					last[b] = it.ID
				}
			default:
				bad++
				errText = fmt.Sprintf("batch item: status %d", it.Status)
			}
		}
		st.add(acc, dup, bad, errText, started, ended)
	})
}

// inBatches calls send for batches 0..⌈n/size⌉-1 from conc goroutines,
// each batch b with its events lo..hi-1, until all are sent or limit has
// passed, and returns what send recorded.
func inBatches(ctx context.Context, n, size, conc int, limit time.Duration, send func(ctx context.Context, b, lo, hi int, st *publishStats)) published {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var (
		st   publishStats
		next atomic.Int64
		wg   sync.WaitGroup
	)
	batches := (n + size - 1) / size
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				b := int(next.Add(1) - 1)
				if b >= batches {
					return
				}
				send(ctx, b, b*size, min(n, (b+1)*size), &st)
			}
		})
	}
	wg.Wait()
	return st.result()
}
