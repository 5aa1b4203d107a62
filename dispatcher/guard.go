package dispatcher

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/shiphook/shiphook/internal/redispipe"
	"github.com/shiphook/shiphook/subscriptions"
)

// Default breaker and limit settings; each can be changed for the server
// (GuardConfig) and per endpoint (subscriptions.Options).
var DefaultBreaker = subscriptions.BreakerSettings{FailureRatio: 0.5, MinRequests: 10, WindowSeconds: 60, OpenSeconds: 30}

// DefaultMaxConcurrency caps the deliveries in flight to one endpoint.
const DefaultMaxConcurrency = 10

// Breaker states as shown on an endpoint.
const (
	breakerClosed   = "closed"
	breakerOpen     = "open"
	breakerHalfOpen = "half_open"
)

// GuardConfig is the server-wide part of a Guard's settings.
type GuardConfig struct {
	// Breaker is the default breaker; zero fields take DefaultBreaker's.
	Breaker subscriptions.BreakerSettings
	// MaxConcurrency is the default in-flight cap per endpoint (default 10).
	MaxConcurrency int
	// Lease is how long an in-flight slot is held at most, should its
	// worker die (default DefaultLease).
	Lease time.Duration
	// Refresh is how often the open breakers are read from Redis (default
	// 500 ms): every worker honours a breaker opened anywhere within it.
	Refresh time.Duration
}

// Guard decides whether a delivery to an endpoint may go now. It keeps
// three things per endpoint, shared by every worker process through Redis:
//
//   - a circuit breaker. Each process counts its own attempts in a
//     gobreaker two-step breaker; when one trips, it records the breaker as
//     open in Redis, and every process reads the open breakers from Redis
//     every Refresh. While open, deliveries wait. When the probe time comes,
//     one process takes the probe token and makes one attempt: success
//     closes the breaker everywhere, failure opens it again.
//   - a cap on deliveries in flight (a sorted set of slots with expiry).
//   - an optional rate limit (a counter per second).
//
// No lock is held around an HTTP call: the Redis operations are single
// round trips before and after it.
type Guard struct {
	rdb redis.UniversalClient
	cfg GuardConfig
	// pipe carries the slots' commands, which every delivery makes: a
	// slot taken and given back alone would cost a round trip each.
	pipe *redispipe.Pipeline

	mu     sync.Mutex
	local  map[string]*localBreaker
	remote map[string]subscriptions.BreakerState
}

type localBreaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	settings subscriptions.BreakerSettings
	// trip holds what made it trip, for the breaker's reason.
	mu      sync.Mutex
	counts  gobreaker.Counts
	lastErr string
}

// NewGuard returns a Guard on rdb.
func NewGuard(rdb redis.UniversalClient, cfg GuardConfig) *Guard {
	cfg.Breaker = mergeBreaker(cfg.Breaker, DefaultBreaker)
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 500 * time.Millisecond
	}
	return &Guard{rdb: rdb, cfg: cfg, pipe: redispipe.New(rdb), local: map[string]*localBreaker{}, remote: map[string]subscriptions.BreakerState{}}
}

func mergeBreaker(s, def subscriptions.BreakerSettings) subscriptions.BreakerSettings {
	if s.FailureRatio <= 0 || s.FailureRatio > 1 {
		s.FailureRatio = def.FailureRatio
	}
	if s.MinRequests <= 0 {
		s.MinRequests = def.MinRequests
	}
	if s.WindowSeconds <= 0 {
		s.WindowSeconds = def.WindowSeconds
	}
	if s.OpenSeconds <= 0 {
		s.OpenSeconds = def.OpenSeconds
	}
	return s
}

// settings returns the breaker settings in force for ep.
func (g *Guard) settings(ep subscriptions.Endpoint) subscriptions.BreakerSettings {
	if ep.BreakerSettings == nil {
		return g.cfg.Breaker
	}
	return mergeBreaker(*ep.BreakerSettings, g.cfg.Breaker)
}

func breakerKey(id string) string { return "shiphook:{" + id + "}:breaker" }
func probeKey(id string) string   { return "shiphook:{" + id + "}:probe" }
func slotsKey(id string) string   { return "shiphook:{" + id + "}:inflight" }
func rateKey(id string, sec int64) string {
	return "shiphook:{" + id + "}:rate:" + strconv.FormatInt(sec, 10)
}

// openBreakers is the set of endpoint ids whose breaker is open.
const openBreakers = "shiphook:breakers:open"

// Permit is leave to make one attempt; give it back with Release.
type Permit struct {
	endpointID string
	slot       heldSlot
	probe      bool
	done       func(error)
	settings   subscriptions.BreakerSettings
}

// Wait reasons of a delivery held back by a circuit breaker: open as
// shared through Redis, or tripped in this process but not open in Redis
// (not shared yet, or closed elsewhere a moment ago), which lasts moments
// and is waited out through Redis rather than held.
const (
	reasonBreakerOpen    = "breaker_open"
	reasonBreakerTripped = "breaker_tripped"
)

// Wait is the answer when a delivery may not go now: try again after
// Delay. Reason says why (reasonBreakerOpen, reasonBreakerTripped,
// "concurrency", "rate_limit").
type Wait struct {
	Delay  time.Duration
	Reason string
}

// A heldSlot is a slot of an endpoint's cap of deliveries in flight, as
// taken in Redis (token), and when.
type heldSlot struct {
	token string
	taken time.Time
}

// pass takes p's slot out of p, for the next delivery to its endpoint in
// this process (acquire): Release then leaves it taken.
func (p *Permit) pass() heldSlot {
	s := p.slot
	p.slot = heldSlot{}
	return s
}

// Acquire returns a Permit for one attempt to ep, or the Wait before the
// next try. It spends no attempt either way.
func (g *Guard) Acquire(ctx context.Context, ep subscriptions.Endpoint) (*Permit, *Wait, error) {
	return g.acquire(ctx, ep, heldSlot{})
}

// acquire is Acquire for a delivery that may have been passed a slot of
// ep (Permit.pass): the Permit takes it over rather than take one in
// Redis, while it is young enough to outlast the attempt and ep has no
// rate limit, which every attempt must count in Redis. A slot passed and
// not taken over is given back.
func (g *Guard) acquire(ctx context.Context, ep subscriptions.Endpoint, passed heldSlot) (*Permit, *Wait, error) {
	now := time.Now()
	s := g.settings(ep)
	p := &Permit{endpointID: ep.ID, settings: s}
	if passed.token != "" && (ep.RateLimit > 0 || now.Sub(passed.taken) >= g.cfg.Lease/2) {
		// Given back before a slot is taken in its place, lest it count
		// against the cap.
		g.free(ctx, ep.ID, passed.token)
		passed = heldSlot{}
	}
	if passed.token != "" {
		defer func() {
			if p.slot != passed {
				g.free(ctx, ep.ID, passed.token)
			}
		}()
	}
	if st, open := g.remoteState(ep.ID); open {
		if st.NextProbeAt != nil && now.Before(*st.NextProbeAt) {
			return nil, &Wait{Delay: spread(st.NextProbeAt.Sub(now), 0.1), Reason: reasonBreakerOpen}, nil
		}
		ok, err := g.rdb.SetNX(ctx, probeKey(ep.ID), "1", g.cfg.Lease).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("take probe token of %s: %w", ep.ID, err)
		}
		if !ok {
			return nil, &Wait{Delay: spread(time.Duration(s.OpenSeconds)*time.Second/2, 0.5), Reason: reasonBreakerOpen}, nil
		}
		p.probe = true
	} else {
		done, err := g.breaker(ep.ID, s).cb.Allow()
		if err != nil {
			// Open here but not in Redis (Redis was unreachable when it
			// tripped, or another process closed it a moment ago).
			return nil, &Wait{Delay: spread(time.Second, 0.5), Reason: reasonBreakerTripped}, nil
		}
		p.done = done
	}
	if passed.token != "" {
		p.slot = passed
		return p, nil, nil
	}
	limit := g.limit(ep)
	slot := heldSlot{token: token(), taken: now}
	keys := []string{slotsKey(ep.ID), rateKey(ep.ID, now.Unix())}
	args := []any{now.UnixMilli(), g.cfg.Lease.Milliseconds(), limit, slot.token, ep.RateLimit}
	res, err := redispipe.Do(ctx, g.pipe, func(ctx context.Context, c redis.Cmdable) *redis.Cmd {
		return acquireScript.EvalSha(ctx, c, keys, args...)
	}).Int()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Not loaded yet (or flushed): Run loads it.
		res, err = acquireScript.Run(ctx, g.rdb, keys, args...).Int()
	}
	if err != nil {
		g.giveBack(ctx, p)
		return nil, nil, fmt.Errorf("take delivery slot of %s: %w", ep.ID, err)
	}
	switch res {
	case 1:
		g.giveBack(ctx, p)
		return nil, atCap(), nil
	case 2:
		g.giveBack(ctx, p)
		next := time.Unix(now.Unix()+1, 0)
		return nil, &Wait{Delay: next.Sub(now) + time.Duration(rand.Int64N(int64(time.Second))), Reason: "rate_limit"}, nil
	}
	p.slot = slot
	return p, nil, nil
}

// atCap is the wait of a delivery whose endpoint has its cap of
// deliveries in flight.
func atCap() *Wait { return &Wait{Delay: spread(time.Second, 0.5), Reason: "concurrency"} }

// limit is ep's cap of deliveries in flight.
func (g *Guard) limit(ep subscriptions.Endpoint) int {
	if ep.MaxConcurrency > 0 {
		return ep.MaxConcurrency
	}
	return g.cfg.MaxConcurrency
}

// acquireScript takes an in-flight slot and a unit of the rate limit.
// KEYS: slots zset, rate counter. ARGV: now ms, lease ms, cap, slot, rate.
// Returns 0 (taken), 1 (at the cap) or 2 (over the rate).
var acquireScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
local rate = tonumber(ARGV[5])
if rate > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('PEXPIRE', KEYS[2], 2000) end
  if n > rate then return 2 end
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
`)

// giveBack undoes a permit that was not used, counting nothing.
func (g *Guard) giveBack(ctx context.Context, p *Permit) {
	if p.done != nil {
		p.done(errExcluded)
	}
	if p.probe {
		_ = g.rdb.Del(context.WithoutCancel(ctx), probeKey(p.endpointID)).Err()
	}
}

var (
	errExcluded = errors.New("not counted")
	errFailed   = errors.New("attempt failed")
)

// Release gives back p after an attempt. counted is false when the attempt
// says nothing about the endpoint's health (it was not made, or was blocked
// by policy); failed and reason describe it otherwise.
func (g *Guard) Release(ctx context.Context, p *Permit, counted, failed bool, reason string) {
	ctx = context.WithoutCancel(ctx)
	if p.slot.token != "" {
		g.free(ctx, p.endpointID, p.slot.token)
	}
	switch {
	case p.probe && !counted:
		_ = g.rdb.Del(ctx, probeKey(p.endpointID)).Err()
	case p.probe && failed:
		g.open(ctx, p.endpointID, p.settings, "the probe failed: "+reason)
		_ = g.rdb.Del(ctx, probeKey(p.endpointID)).Err()
	case p.probe:
		g.close(ctx, p.endpointID)
	case p.done != nil:
		b := g.breaker(p.endpointID, p.settings)
		if failed {
			b.mu.Lock()
			b.lastErr = reason
			b.mu.Unlock()
		}
		switch {
		case !counted:
			p.done(errExcluded)
		case failed:
			p.done(errFailed)
		default:
			p.done(nil)
		}
	}
}

// free gives back the slot token of endpoint id.
func (g *Guard) free(ctx context.Context, id, token string) {
	ctx = context.WithoutCancel(ctx)
	err := redispipe.Do(ctx, g.pipe, func(ctx context.Context, c redis.Cmdable) *redis.IntCmd {
		return c.ZRem(ctx, slotsKey(id), token)
	}).Err()
	if err != nil {
		slog.WarnContext(ctx, "free delivery slot; it expires by itself", "endpoint_id", id, "err", err)
	}
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
			trip := c.Requests >= uint32(s.MinRequests) && float64(c.TotalFailures) >= s.FailureRatio*float64(c.Requests)
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
			reason := fmt.Sprintf("%d of the last %d attempts failed within %ds", b.counts.TotalFailures, b.counts.Requests, s.WindowSeconds)
			if b.lastErr != "" {
				reason += "; last error: " + b.lastErr
			}
			b.mu.Unlock()
			// Called with gobreaker's lock held: record it elsewhere.
			go g.open(context.Background(), id, s, reason)
		},
	})
	g.local[id] = b
	return b
}

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
func (g *Guard) BreakerState(ctx context.Context, id string) (subscriptions.BreakerState, error) {
	raw, err := g.rdb.Get(ctx, breakerKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return subscriptions.BreakerState{State: breakerClosed}, nil
	}
	if err != nil {
		return subscriptions.BreakerState{}, fmt.Errorf("read breaker of %s: %w", id, err)
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
	ids, err := g.rdb.SMembers(ctx, openBreakers).Result()
	if err != nil {
		return err
	}
	fresh := make(map[string]subscriptions.BreakerState, len(ids))
	if len(ids) > 0 {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = breakerKey(id)
		}
		vals, err := g.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return err
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue // closed meanwhile, or expired
			}
			var st subscriptions.BreakerState
			if json.Unmarshal([]byte(s), &st) == nil {
				fresh[ids[i]] = st
			}
		}
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

// spread returns d plus a random fraction of up to f of it, so that waiting
// deliveries do not all wake at once.
func spread(d time.Duration, f float64) time.Duration {
	if d < time.Second {
		d = time.Second
	}
	return d + time.Duration(rand.Float64()*f*float64(d))
}

func token() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
