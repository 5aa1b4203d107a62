package dispatcher

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shiphook/shiphook/internal/redispipe"
	"github.com/shiphook/shiphook/subscriptions"
)

// Default breaker and limit settings; each can be changed for the server
// (GuardConfig) and per endpoint (subscriptions.Options).
var DefaultBreaker = subscriptions.BreakerSettings{FailureRatio: 0.5, MinRequests: 10, WindowSeconds: 60, OpenSeconds: 30}

// DefaultMaxConcurrency caps the deliveries in flight to one endpoint.
const DefaultMaxConcurrency = 10

// GuardConfig is the server-wide part of a Guard's settings.
type GuardConfig struct {
	// Breaker is the default breaker; zero fields take DefaultBreaker's.
	Breaker subscriptions.BreakerSettings
	// MaxConcurrency is the default in-flight cap per endpoint (default 10).
	MaxConcurrency int
	// Lease is how long an in-flight slot is kept at most, should its
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
// No lock is taken around an HTTP call: the Redis operations are single
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

func slotsKey(id string) string { return "shiphook:{" + id + "}:inflight" }
func rateKey(id string, sec int64) string {
	return "shiphook:{" + id + "}:rate:" + strconv.FormatInt(sec, 10)
}

// Permit is leave to make one attempt; give it back with Release.
type Permit struct {
	endpointID string
	slot       capSlot
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

// A capSlot is one of an endpoint's cap of deliveries in flight, as taken
// in Redis (token), and when. The slots of an endpoint are a sorted set in
// Redis, shared by every process, each slot expiring a lease after it was
// taken, should its process die.
type capSlot struct {
	token string
	taken time.Time
}

// detachSlot takes p's slot out of p, for the next delivery to its
// endpoint in this process (acquire): Release then leaves it taken.
func (p *Permit) detachSlot() capSlot {
	s := p.slot
	p.slot = capSlot{}
	return s
}

// Acquire returns a Permit for one attempt to ep, or the Wait before the
// next try. It spends no attempt either way.
func (g *Guard) Acquire(ctx context.Context, ep subscriptions.Endpoint) (*Permit, *Wait, error) {
	return g.acquire(ctx, ep, capSlot{})
}

// acquire is Acquire for a delivery that may have been passed a slot of
// ep (Permit.detachSlot): the Permit takes it over rather than take one in
// Redis, while it is young enough to outlast the attempt and ep has no
// rate limit, which every attempt must count in Redis. A slot passed and
// not taken over is given back.
func (g *Guard) acquire(ctx context.Context, ep subscriptions.Endpoint, passed capSlot) (*Permit, *Wait, error) {
	now := time.Now()
	s := g.settings(ep)
	p := &Permit{endpointID: ep.ID, settings: s}
	if passed.token != "" && (ep.RateLimit > 0 || now.Sub(passed.taken) >= g.cfg.Lease/2) {
		// Given back before a slot is taken in its place, lest it count
		// against the cap.
		g.free(ctx, ep.ID, passed.token)
		passed = capSlot{}
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
	return g.takeSlot(ctx, ep, p, now)
}

// takeSlot takes a cap slot of ep for p, and a unit of ep's rate limit if
// it has one, in one round trip to Redis, and returns p holding it, or
// gives p back and returns the Wait.
func (g *Guard) takeSlot(ctx context.Context, ep subscriptions.Endpoint, p *Permit, now time.Time) (*Permit, *Wait, error) {
	limit := g.limit(ep)
	slot := capSlot{token: token(), taken: now}
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

// A Verdict is what an attempt says about its endpoint's health, for
// Release: nothing (NotCounted, the zero Verdict), that it works
// (Healthy), or that it is unwell (Unhealthy), which counts towards
// opening its breaker.
type Verdict struct {
	counted, failed bool
	reason          string
}

// NotCounted is the Verdict of an attempt that says nothing about its
// endpoint: it was not made, or was blocked by policy.
func NotCounted() Verdict { return Verdict{} }

// Healthy is the Verdict of an attempt that the endpoint answered as a
// working endpoint does (2xx, 3xx, or 4xx but 408 and 429).
func Healthy() Verdict { return Verdict{counted: true} }

// Unhealthy is the Verdict of an attempt that says the endpoint is
// unwell, for reason.
func Unhealthy(reason string) Verdict { return Verdict{counted: true, failed: true, reason: reason} }

// Release gives back p after an attempt, of which v says what it told of
// the endpoint's health.
func (g *Guard) Release(ctx context.Context, p *Permit, v Verdict) {
	ctx = context.WithoutCancel(ctx)
	if p.slot.token != "" {
		g.free(ctx, p.endpointID, p.slot.token)
	}
	switch {
	case p.probe && !v.counted:
		_ = g.rdb.Del(ctx, probeKey(p.endpointID)).Err()
	case p.probe && v.failed:
		g.open(ctx, p.endpointID, p.settings, "the probe failed: "+v.reason)
		_ = g.rdb.Del(ctx, probeKey(p.endpointID)).Err()
	case p.probe:
		g.close(ctx, p.endpointID)
	case p.done != nil:
		b := g.breaker(p.endpointID, p.settings)
		if v.failed {
			b.mu.Lock()
			b.lastErr = v.reason
			b.mu.Unlock()
		}
		switch {
		case !v.counted:
			p.done(errExcluded)
		case v.failed:
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
