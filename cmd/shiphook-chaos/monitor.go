package main

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// breakerSample is an endpoint's breaker as its health said at a moment.
type breakerSample struct {
	at       time.Time
	endpoint string
	state    string
	reason   string
}

// monitor watches, while the suite runs, the breakers of the endpoints
// that fail and of the schedule endpoint, and shiphook's processes.
type monitor struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []breakerSample
}

// monitorEvery is how often the monitor looks.
const monitorEvery = 500 * time.Millisecond

// startMonitor starts watching; should a shiphook process the suite did
// not kill exit, it cancels the run with that error.
func (s *suite) startMonitor(ctx context.Context, cancel context.CancelCauseFunc) *monitor {
	m := &monitor{done: make(chan struct{})}
	var watched []*endpoint
	for _, e := range s.endpoints {
		if e.down != 0 || e.scheduled {
			watched = append(watched, e)
		}
	}
	m.wg.Go(func() {
		tick := time.NewTicker(monitorEvery)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := s.cl.alive(); err != nil {
				cancel(err)
				return
			}
			for _, e := range watched {
				if sample, ok := s.breaker(ctx, e); ok {
					m.mu.Lock()
					m.samples = append(m.samples, sample)
					m.mu.Unlock()
				}
			}
		}
	})
	return m
}

// stop stops watching and returns the samples taken.
func (m *monitor) stop() []breakerSample {
	close(m.done)
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.samples
}

// breaker reads e's breaker from its health; ok is false if the API did
// not say (it is down, say).
func (s *suite) breaker(ctx context.Context, e *endpoint) (breakerSample, bool) {
	var h struct {
		Breaker struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"breaker"`
	}
	if err := s.client.Call(ctx, http.MethodGet, "/v1/partners/"+e.name+"/endpoints/"+e.id+"/health", nil, &h); err != nil {
		return breakerSample{}, false
	}
	return breakerSample{at: time.Now(), endpoint: e.name, state: h.Breaker.State, reason: h.Breaker.Reason}, true
}

// breakerStates returns the state of the breaker of every endpoint that
// failed, once the deliveries have drained (empty if the API did not
// say).
func (s *suite) breakerStates(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, e := range s.endpoints {
		if e.down != 0 {
			if b, ok := s.breaker(ctx, e); ok {
				out[e.name] = b.state
			}
		}
	}
	return out
}
