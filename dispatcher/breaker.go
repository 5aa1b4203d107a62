package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/shiphook/shiphook/subscriptions"
)

// The circuit breakers of the Guard (guard.go). Each process counts its
// own attempts to an endpoint in a gobreaker two-step breaker (a
// localBreaker); when one trips, the process records the breaker as open
// in Redis, where every process reads the open breakers every Refresh
// (breakerRefresh). Open, an endpoint's breaker holds its deliveries back:
// its messages are held (waker.go) until the probe time, when one
// process takes the probe token and makes one attempt, which closes the
// breaker everywhere if it succeeds and opens it again if not.

// Breaker states as shown on an endpoint.
const (
	breakerClosed   = "closed"
	breakerOpen     = "open"
	breakerHalfOpen = "half_open"
)

func breakerKey(id string) string { return "shiphook:{" + id + "}:breaker" }
func probeKey(id string) string   { return "shiphook:{" + id + "}:probe" }

// openBreakers is the set of endpoint ids whose breaker is open.
const openBreakers = "shiphook:breakers:open"

type localBreaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	settings subscriptions.BreakerSettings
	// trip holds what made it trip, for the breaker's reason.
	mu      sync.Mutex
	counts  gobreaker.Counts
	lastErr string
}

// breaker returns this process's breaker for an endpoint, made anew when
// its settings changed.
func (g *Guard) breaker(id string, s subscriptions.BreakerSettings) *localBreaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.local[id]; ok && b.settings == s {
		return b
	}
	b := &localBreaker{settings: s}
	window := time.Duration(s.WindowSeconds) * time.Second
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         id,
		Interval:     window,
		BucketPeriod: max(window/10, time.Second),
		Timeout:      time.Duration(s.OpenSeconds) * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			trip := tripped(c, s)
			if trip {
				b.mu.Lock()
				b.counts = c
				b.mu.Unlock()
			}
			return trip
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to != gobreaker.StateOpen {
				return
			}
			b.mu.Lock()
			reason := fmt.Sprintf("%d of the last %d attempts failed within %ds", b.counts.TotalFailures, answered(b.counts), s.WindowSeconds)
			if b.lastErr != "" {
				reason += "; last error: " + b.lastErr
			}
			b.mu.Unlock()
			// Called under gobreaker's lock: record it elsewhere.
			go g.open(context.Background(), id, s, reason)
		},
	})
	g.local[id] = b
	return b
}

// tripped reports whether counts c open a breaker with settings s: at
// least MinRequests attempts answered in the window, of which at least
// FailureRatio failed.
func tripped(c gobreaker.Counts, s subscriptions.BreakerSettings) bool {
	n := answered(c)
	return n >= uint32(s.MinRequests) && float64(c.TotalFailures) >= s.FailureRatio*float64(n)
}

// answered returns the attempts of c that have a verdict, healthy or
// unhealthy. gobreaker's Requests counts every Allow: the permits given
// back unused (the endpoint at its cap or over its rate, NotCounted), and
// the attempts still under way, which would dilute the failures, the more
// so the more processes try an endpoint that hangs.
func answered(c gobreaker.Counts) uint32 { return c.TotalSuccesses + c.TotalFailures }

// open records the breaker of id as open everywhere, with its next probe
// OpenSeconds from now.
func (g *Guard) open(ctx context.Context, id string, s subscriptions.BreakerSettings, reason string) {
	now := time.Now().UTC()
	probe := now.Add(time.Duration(s.OpenSeconds) * time.Second)
	st := subscriptions.BreakerState{State: breakerOpen, Reason: reason, OpenedAt: &now, NextProbeAt: &probe}
	if prev, ok := g.remoteState(id); ok && prev.OpenedAt != nil {
		st.OpenedAt = prev.OpenedAt // still the same outage
	}
	g.mu.Lock()
	g.remote[id] = st
	g.mu.Unlock()
	raw, _ := json.Marshal(st)
	_, err := g.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, breakerKey(id), raw, 7*24*time.Hour)
		p.SAdd(ctx, openBreakers, id)
		return nil
	})
	if err != nil {
		slog.WarnContext(ctx, "share open breaker; other workers will find out later", "endpoint_id", id, "err", err)
	}
	slog.InfoContext(ctx, "circuit breaker opened", "endpoint_id", id, "reason", reason, "next_probe_at", probe)
}

// close records the breaker of id as closed everywhere.
func (g *Guard) close(ctx context.Context, id string) {
	g.mu.Lock()
	delete(g.remote, id)
	delete(g.local, id)
	g.mu.Unlock()
	_, err := g.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, breakerKey(id), probeKey(id))
		p.SRem(ctx, openBreakers, id)
		return nil
	})
	if err != nil {
		slog.WarnContext(ctx, "share closed breaker", "endpoint_id", id, "err", err)
	}
	slog.InfoContext(ctx, "circuit breaker closed", "endpoint_id", id)
}

// Reset closes the breaker of id and forgets its counts, as when a person
// re-enables the endpoint.
func (g *Guard) Reset(ctx context.Context, id string) { g.close(ctx, id) }

// remoteState returns the last known shared state of id's breaker.
func (g *Guard) remoteState(id string) (subscriptions.BreakerState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.remote[id]
	return st, ok
}

// Open reports whether ep's breaker is open, as this process last read it
// from Redis. A nil Guard has none open.
func (g *Guard) Open(endpointID string) bool {
	if g == nil {
		return false
	}
	_, open := g.remoteState(endpointID)
	return open
}

// probeDue reports whether the breaker of endpointID is open, as this
// process last read it from Redis, and its probe time has come. A nil
// Guard has none open.
func (g *Guard) probeDue(endpointID string, now time.Time) bool {
	if g == nil {
		return false
	}
	st, open := g.remoteState(endpointID)
	return open && (st.NextProbeAt == nil || !now.Before(*st.NextProbeAt))
}

// BreakerState returns the breaker of endpoint id as stored in Redis.
// Returns subscriptions.ErrUnavailable if Redis could not be reached.
func (g *Guard) BreakerState(ctx context.Context, id string) (subscriptions.BreakerState, error) {
	raw, err := g.rdb.Get(ctx, breakerKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return subscriptions.BreakerState{State: breakerClosed}, nil
	}
	if err != nil {
		return subscriptions.BreakerState{}, fmt.Errorf("read breaker of %s: %w", id, redisUnavailable(err))
	}
	var st subscriptions.BreakerState
	if err := json.Unmarshal(raw, &st); err != nil {
		return subscriptions.BreakerState{}, fmt.Errorf("read breaker of %s: %w", id, err)
	}
	if st.NextProbeAt != nil && !time.Now().Before(*st.NextProbeAt) {
		st.State = breakerHalfOpen
	}
	return st, nil
}

// Run refreshes the shared breaker states every Refresh until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.cfg.Refresh)
	defer t.Stop()
	for {
		if err := g.refresh(ctx); err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "read open breakers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *Guard) refresh(ctx context.Context) error {
	fresh, err := g.readOpen(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	for id := range g.remote {
		if _, ok := fresh[id]; !ok {
			delete(g.local, id) // closed elsewhere: start counting anew
		}
	}
	g.remote = fresh
	g.mu.Unlock()
	return nil
}

// readOpen reads the open breakers from Redis, by endpoint id.
func (g *Guard) readOpen(ctx context.Context) (map[string]subscriptions.BreakerState, error) {
	ids, err := g.rdb.SMembers(ctx, openBreakers).Result()
	if err != nil {
		return nil, err
	}
	open := make(map[string]subscriptions.BreakerState, len(ids))
	if len(ids) == 0 {
		return open, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = breakerKey(id)
	}
	vals, err := g.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // closed meanwhile, or expired
		}
		var st subscriptions.BreakerState
		if json.Unmarshal([]byte(s), &st) == nil {
			open[ids[i]] = st
		}
	}
	return open, nil
}

// OpenBreakers reads from Redis the breakers that are open (half-open
// ones, whose probe time has come, included), by endpoint id. Returns
// subscriptions.ErrUnavailable if Redis could not be reached.
func (g *Guard) OpenBreakers(ctx context.Context) (map[string]subscriptions.BreakerState, error) {
	open, err := g.readOpen(ctx)
	if err != nil {
		return nil, fmt.Errorf("read open breakers: %w", redisUnavailable(err))
	}
	return open, nil
}

// breakerRefresh runs the Guard's Run, which reads the open breakers from
// Redis every Refresh, until the Worker's context ends.
type breakerRefresh struct {
	background
	guard *Guard
}

// start refreshes the breakers until ctx ends.
func (r *breakerRefresh) start(ctx context.Context) { r.launch(ctx, r.guard.Run) }
