package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

// answerLog counts every answer the API gave the suite, by what it says
// of the API: a 2xx or 4xx is an answer; a 503 with a Retry-After is a
// fair refusal; any other 5xx, a 503 without Retry-After, or no answer
// at all is a defect.
type answerLog struct {
	mu sync.Mutex
	answerCounts
	// at503 is when each 503 was answered.
	at503 []time.Time
}

// answerCounts are the answers by kind.
type answerCounts struct {
	ok, clientErr, unavailable  int
	bad503, serverErr, noAnswer int
	// examples are the first defects seen, for the summary.
	examples []string
}

// counts returns the counts so far.
func (l *answerLog) counts() answerCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.answerCounts
	c.examples = append([]string(nil), c.examples...)
	return c
}

func (l *answerLog) note(what string, a harness.Answer, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var defect string
	switch {
	case err != nil:
		l.noAnswer++
		defect = fmt.Sprintf("%s: no answer: %v", what, err)
	case a.Status == http.StatusServiceUnavailable && a.Header.Get("Retry-After") != "":
		l.unavailable++
		l.at503 = append(l.at503, time.Now())
	case a.Status == http.StatusServiceUnavailable:
		l.bad503++
		defect = fmt.Sprintf("%s: 503 without Retry-After: %s", what, strings.TrimSpace(string(a.Body)))
	case a.Status >= 500:
		l.serverErr++
		defect = fmt.Sprintf("%s: %d %s", what, a.Status, strings.TrimSpace(string(a.Body)))
	case a.Status >= 400:
		l.clientErr++
	default:
		l.ok++
	}
	if defect != "" && len(l.examples) < 5 {
		l.examples = append(l.examples, time.Now().Format("15:04:05.000 ")+defect)
	}
}

// observe notes the answer to a request of the suite's, unless the
// suite is stopping (ctx is done).
func (l *answerLog) observe(ctx context.Context, method, path string, a harness.Answer, err error) {
	if ctx.Err() == nil {
		l.note(method+" "+path, a, err)
	}
}

// acceptance is an event the API answered 202.
type acceptance struct {
	i  int    // the event's number: its id is chaos-<i>, its shipment SHP-chaos-<i>
	id string // evt_…
	// scheduled is set for the events the schedule endpoint takes.
	scheduled bool
	at        time.Time
}

// publisher posts the load: events at a steady rate, each sent again
// after a 503's Retry-After (or a second, after anything else but a 202)
// until it is accepted or the retries' deadline passes.
type publisher struct {
	api     *harness.Client
	parties []byte
	// scheduledEvery: event i is a delivered milestone, which the schedule
	// endpoint takes, when i is a multiple of it.
	scheduledEvery int

	mu       sync.Mutex
	accepted []acceptance
	retried  int // events sent more than once
	gaveUp   int // events never accepted
}

func newPublisher(a *harness.Client, partners []string, rate int) *publisher {
	type party struct {
		PartnerID string `json:"partner_id"`
		Role      string `json:"role"`
	}
	roles := []string{"consignee", "shipper", "carrier", "agent", "customs_broker", "notify_party"}
	ps := make([]party, len(partners))
	for i, id := range partners {
		ps[i] = party{id, roles[i%len(roles)]}
	}
	parties, _ := json.Marshal(ps)
	return &publisher{api: a, parties: parties, scheduledEvery: max(1, rate*scheduledPeriodSeconds)}
}

// scheduledPeriodSeconds is how often the load has an event for the
// schedule endpoint.
const scheduledPeriodSeconds = 10

// event renders event i.
func (p *publisher) event(i int) []byte {
	typ := "departed"
	switch {
	case i%p.scheduledEvery == 0:
		typ = "delivered"
	case i%2 == 1:
		typ = "arrived"
	}
	return fmt.Appendf(nil, `{"id":"chaos-%d","type":"shipment.milestone.%s","occurred_at":"%s",`+
		`"shipment":{"id":"SHP-chaos-%d","mode":"ocean","origin":"CNSHA","destination":"NLRTM","carrier":"MSCU"},`+
		`"parties":%s,"data":{"location":{"code":"CNSHA","name":"Shanghai"},"sent_at_ns":"%d"}}`,
		i, typ, time.Now().UTC().Format(time.RFC3339), i, p.parties, time.Now().UnixNano())
}

// run posts rate events a second for d, on a clock (open loop), and
// returns once every event is accepted or given up at retryUntil.
func (p *publisher) run(ctx context.Context, rate int, d time.Duration, retryUntil time.Time) {
	n := int(d.Seconds() * float64(rate))
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if harness.Sleep(ctx, time.Until(start.Add(time.Duration(i)*interval))) != nil {
			break
		}
		wg.Go(func() { p.publish(ctx, i, retryUntil) })
	}
	wg.Wait()
}

// publish posts event i until it is accepted.
func (p *publisher) publish(ctx context.Context, i int, retryUntil time.Time) {
	body := p.event(i)
	for try := 0; ; try++ {
		if try == 1 {
			p.mu.Lock()
			p.retried++
			p.mu.Unlock()
		}
		ans, err := p.api.Send(ctx, http.MethodPost, "/v1/events", body)
		if err == nil && ans.Status == http.StatusAccepted {
			var acc struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(ans.Body, &acc) == nil && acc.ID != "" {
				p.mu.Lock()
				p.accepted = append(p.accepted, acceptance{i: i, id: acc.ID, scheduled: i%p.scheduledEvery == 0, at: time.Now()})
				p.mu.Unlock()
				return
			}
		}
		wait := time.Second
		if err == nil && ans.Status == http.StatusServiceUnavailable {
			if s, err := strconv.Atoi(ans.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		if time.Now().Add(wait).After(retryUntil) || harness.Sleep(ctx, wait) != nil {
			p.mu.Lock()
			p.gaveUp++
			p.mu.Unlock()
			return
		}
	}
}

// result returns what was accepted, in order of the answers.
func (p *publisher) result() (accepted []acceptance, retried, gaveUp int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]acceptance(nil), p.accepted...), p.retried, p.gaveUp
}

// unavailableBetween counts the 503s answered from a to b, and returns
// when the last of them was.
func (l *answerLog) unavailableBetween(a, b time.Time) (n int, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.at503 {
		if !at.Before(a) && !at.After(b) {
			n++
			last = at
		}
	}
	return n, last
}
