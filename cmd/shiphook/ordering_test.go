package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orderedEndpoint is the spec of an endpoint ordered by shipment, whose
// breaker never opens: the tests' receivers fail at random on purpose.
func orderedEndpoint(onFailure string) map[string]any {
	return map[string]any{
		"ordering": "shipment", "on_failure": onFailure,
		"breaker_settings": map[string]any{"failure_ratio": 1, "min_requests": 100000},
	}
}

// shipmentEvent is event number n (from 1) of shipment shp.
func shipmentEvent(shp string, n int) map[string]any {
	ev := event(n, "")
	ev["shipment"].(map[string]any)["id"] = shp
	ev["data"] = map[string]any{"location": map[string]any{"code": "NLRTM"}, "note": fmt.Sprintf("%s #%d", shp, n)}
	ev["type"] = "shipment.milestone.departed"
	return ev
}

// postInOrder posts events events of each of shipments shipments, those
// of one shipment one after the other, each once the one before was
// accepted, the shipments at the same time, and calls during with the
// number posted so far after each post. It returns the shipment ids, and
// the ids of each one's events in the order posted.
func postInOrder(t *testing.T, url string, shipments, events int, during func(posted int)) ([]string, map[string][]string) {
	t.Helper()
	var (
		mu     sync.Mutex
		ids    = map[string][]string{}
		shps   []string
		posted int
		errs   = make(chan error, shipments)
		wg     sync.WaitGroup
	)
	for s := range shipments {
		shp := fmt.Sprintf("SHP-ORD-%02d", s)
		shps = append(shps, shp)
		wg.Go(func() {
			for n := 1; n <= events; n++ {
				id, err := postOne(url, shipmentEvent(shp, n))
				if err != nil {
					errs <- fmt.Errorf("%s #%d: %w", shp, n, err)
					return
				}
				mu.Lock()
				ids[shp] = append(ids[shp], id)
				posted++
				p := posted
				mu.Unlock()
				if during != nil {
					during(p)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return shps, ids
}

// postOne posts ev to the ingest API at url and returns its id.
func postOne(url string, ev map[string]any) (string, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var acc struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&acc); err != nil || resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("answered %d (%v)", resp.StatusCode, err)
	}
	return acc.ID, nil
}

// inArrivalOrder returns, per shipment, the sequence and event id of each
// message delivered to path, in the order they first arrived: delivery is
// at least once, so a message that arrives again (a worker killed after
// the receiver answered it, before the answer was recorded) counts once,
// where it first arrived.
func inArrivalOrder(rcv *receiver, path string) (seqs map[string][]int, events map[string][]string) {
	seqs, events = map[string][]int{}, map[string][]string{}
	seen := map[string]bool{}
	for _, d := range rcv.byPath(path) {
		if seen[d.MessageID] {
			continue
		}
		seen[d.MessageID] = true
		shp, _ := d.Data["shipment"].(map[string]any)["id"].(string)
		seq, _ := d.Raw["sequence"].(float64)
		seqs[shp] = append(seqs[shp], int(seq))
		events[shp] = append(events[shp], d.Data["event_id"].(string))
	}
	return seqs, events
}

// TestOrderedDelivery is issue 20's test of ordered delivery: an API
// process and two workers on PostgreSQL and Redis, 50 shipments of 20
// events each posted in order, to an ordered endpoint whose receiver fails
// 30 % of its requests at random; one worker is killed mid-run and Redis
// is flushed. At the receiver, each shipment's successful deliveries
// arrive in strictly increasing sequence, 1 to 20, nothing missing, with
// their events in the order they were posted.
func TestOrderedDelivery(t *testing.T) {
	const shipments, events = 50, 20
	env := testEnv(t)
	env["SHIPHOOK_RETRY_SCHEDULE"] = everySecond(40)
	env["SHIPHOOK_ATTEMPT_TIMEOUT"] = "2s"
	env["SHIPHOOK_DELIVERY_LEASE"] = "4s"
	migrate(t, env)
	api := startServer(t, "api", env)
	_, killWorker := startChild(t, "worker", env)
	startServer(t, "worker", env)
	rcv := newReceiver(t)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(20, 1))
	rcv.setAnswer("/ordered", func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < 0.3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	createPartners(t, api, "acme", "globex")
	ep := createEndpoint(t, api, rcv, adminKey, "acme", "/ordered", orderedEndpoint("skip"))
	var shown map[string]any
	require.Equal(t, http.StatusOK, call(t, "GET", api.URL+"/v1/partners/acme/endpoints/"+ep.ID, adminKey, nil, &shown))
	require.Equal(t, "shipment", shown["ordering"])
	require.Equal(t, "skip", shown["on_failure"])

	opt, err := redis.ParseURL(env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var (
		killOnce, flushOnce sync.Once
		atKill              int
	)
	shps, ids := postInOrder(t, api.URL, shipments, events, func(posted int) {
		if posted >= shipments*events/3 {
			killOnce.Do(func() {
				killWorker() // SIGKILL, mid-delivery
				atKill = len(rcv.byPath("/ordered"))
			})
		}
		if posted >= shipments*events*2/3 {
			flushOnce.Do(func() { assert.NoError(t, rdb.FlushDB(context.Background()).Err()) })
		}
	})
	require.Eventually(t, func() bool {
		seqs, _ := inArrivalOrder(rcv, "/ordered")
		n := 0
		for _, s := range seqs {
			n += len(s)
		}
		return n == shipments*events
	}, 3*time.Minute, 100*time.Millisecond, "not every message was delivered")

	require.Less(t, atKill, shipments*events/3, "the worker was killed with deliveries still to make")
	seqs, evs := inArrivalOrder(rcv, "/ordered")
	want := make([]int, events)
	for i := range want {
		want[i] = i + 1
	}
	for _, shp := range shps {
		require.Equal(t, want, seqs[shp], "%s: deliveries in strictly increasing sequence, none missing", shp)
		require.Equal(t, ids[shp], evs[shp], "%s: events in the order posted", shp)
	}
}

// orderedMessage is a message as the API shows it, with its sequence.
type orderedMessage struct {
	ID       string `json:"id"`
	EventID  string `json:"event_id"`
	Status   string `json:"status"`
	Sequence int    `json:"sequence"`
}

// orderedMessages returns the messages of shipment shp to endpoint
// endpointID of acme, by sequence.
func orderedMessages(t *testing.T, s *server, endpointID, shp string) map[int]orderedMessage {
	t.Helper()
	var ms listOut[orderedMessage]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/messages?limit=250&endpoint_id="+endpointID+"&shipment_id="+shp,
		adminKey, nil, &ms))
	out := map[int]orderedMessage{}
	for _, m := range ms.Data {
		out[m.Sequence] = m
	}
	return out
}

// TestOrderedBlock checks on_failure block through the API: a message
// whose schedule is exhausted stops its shipment's queue, another
// shipment's messages go on meanwhile, a waiting message cannot be
// retried, and discarding the failed one, by the partner that owns it,
// lets the queue go on, in order.
func TestOrderedBlock(t *testing.T) {
	env := testEnv(t)
	env["SHIPHOOK_RETRY_SCHEDULE"] = "0s,1s"
	migrate(t, env)
	s := startServer(t, "serve", env)
	rcv := newReceiver(t)
	down := failWhile(rcv, "/blocked")
	createPartners(t, s, "acme", "globex")
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/blocked", orderedEndpoint("block"))

	for n := 1; n <= 3; n++ {
		_, err := postOne(s.URL, shipmentEvent("SHP-B", n))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return orderedMessages(t, s, ep.ID, "SHP-B")[1].Status == "failed" }, 30*time.Second, 50*time.Millisecond)
	down.Store(false)

	// Another shipment goes on while SHP-B's queue is stopped.
	_, err := postOne(s.URL, shipmentEvent("SHP-C", 1))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rcv.byPath("/blocked")) == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "SHP-C", rcv.byPath("/blocked")[0].Data["shipment"].(map[string]any)["id"])
	time.Sleep(2 * time.Second) // longer than the retry schedule and the reconciler's grace
	queue := orderedMessages(t, s, ep.ID, "SHP-B")
	require.Equal(t, "waiting", queue[2].Status)
	require.Equal(t, "waiting", queue[3].Status)
	require.Len(t, rcv.byPath("/blocked"), 1, "nothing of SHP-B after its failed message")

	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	require.Equal(t, http.StatusConflict, call(t, "POST", s.URL+"/v1/messages/"+queue[2].ID+"/retry", adminKey, nil, &e))
	require.Equal(t, "message_waiting", e.Error.Code)
	require.Equal(t, http.StatusNotFound, call(t, "POST", s.URL+"/v1/messages/"+queue[1].ID+"/discard", partnerKey(t, s, "globex"), nil, nil),
		"another partner's message is not to be seen")

	var discarded orderedMessage
	require.Equal(t, http.StatusOK, call(t, "POST", s.URL+"/v1/messages/"+queue[1].ID+"/discard", partnerKey(t, s, "acme"), nil, &discarded))
	require.Equal(t, "discarded", discarded.Status)
	require.Eventually(t, func() bool { return len(rcv.byPath("/blocked")) == 3 }, 30*time.Second, 20*time.Millisecond)
	var seqs []any
	for _, d := range rcv.byPath("/blocked")[1:] {
		seqs = append(seqs, d.Raw["sequence"])
	}
	require.Equal(t, []any{2.0, 3.0}, seqs, "the rest of SHP-B, in order, once the failed one is discarded")
	require.Equal(t, http.StatusConflict, call(t, "POST", s.URL+"/v1/messages/"+queue[1].ID+"/discard", adminKey, nil, &e))
	require.Equal(t, "not_discardable", e.Error.Code)
}
