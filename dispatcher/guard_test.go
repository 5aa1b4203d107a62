package dispatcher

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/redispipe"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// twoGuards returns two Guards on one real Redis, as two worker processes
// would have.
func twoGuards(t *testing.T, cfg GuardConfig) (*Guard, *Guard) {
	t.Helper()
	opt, err := redis.ParseURL(storetest.Redis(t))
	require.NoError(t, err)
	a, b := redis.NewClient(opt), redis.NewClient(opt)
	t.Cleanup(func() { a.Close(); b.Close() })
	return NewGuard(a, cfg), NewGuard(b, cfg)
}

func TestGuardConcurrencyCapAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	ga, gb := twoGuards(t, GuardConfig{})
	ep := subscriptions.Endpoint{ID: "ep_cap", Options: subscriptions.Options{MaxConcurrency: 2}}
	p1, w, err := ga.Acquire(ctx, ep)
	require.NoError(t, err)
	require.Nil(t, w)
	p2, w, err := gb.Acquire(ctx, ep)
	require.NoError(t, err)
	require.Nil(t, w)
	_, w, err = ga.Acquire(ctx, ep)
	require.NoError(t, err)
	require.NotNil(t, w, "a third delivery in flight is over the cap of 2")
	require.Equal(t, "concurrency", w.Reason)
	require.GreaterOrEqual(t, w.Delay, time.Second)
	gb.Release(ctx, p2, Healthy())
	p3, w, err := ga.Acquire(ctx, ep)
	require.NoError(t, err)
	require.Nil(t, w, "a freed slot can be taken by the other process")
	ga.Release(ctx, p1, Healthy())
	ga.Release(ctx, p3, Healthy())
}

func TestGuardRateLimitAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	ga, gb := twoGuards(t, GuardConfig{})
	ep := subscriptions.Endpoint{ID: "ep_rate", Options: subscriptions.Options{RateLimit: 3, MaxConcurrency: 100}}
	// Start at the beginning of a second so that all tries fall in it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	allowed, waited := 0, 0
	for i := 0; i < 8; i++ {
		g := ga
		if i%2 == 1 {
			g = gb
		}
		p, w, err := g.Acquire(ctx, ep)
		require.NoError(t, err)
		if w != nil {
			require.Equal(t, "rate_limit", w.Reason)
			waited++
			continue
		}
		allowed++
		g.Release(ctx, p, Healthy())
	}
	require.Equal(t, 3, allowed, "3 per second, whichever process asks")
	require.Equal(t, 5, waited)
}

func TestGuardBreakerSharedAcrossProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := GuardConfig{Breaker: subscriptions.BreakerSettings{FailureRatio: 0.5, MinRequests: 4, WindowSeconds: 10, OpenSeconds: 1}, Refresh: 50 * time.Millisecond}
	ga, gb := twoGuards(t, cfg)
	go ga.Run(ctx)
	go gb.Run(ctx)
	ep := subscriptions.Endpoint{ID: "ep_breaker"}

	for i := 0; i < 4; i++ {
		p, w, err := ga.Acquire(ctx, ep)
		require.NoError(t, err)
		require.Nil(t, w, "closed before the 4th failure")
		ga.Release(ctx, p, Unhealthy("http_status: 500 Internal Server Error"))
	}
	// The other process honours it within its refresh interval.
	require.Eventually(t, func() bool {
		_, w, err := gb.Acquire(ctx, ep)
		require.NoError(t, err)
		return w != nil && w.Reason == "breaker_open"
	}, time.Second, 10*time.Millisecond)
	st, err := gb.BreakerState(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, "open", st.State)
	require.Contains(t, st.Reason, "4 of the last 4 attempts failed")
	require.Contains(t, st.Reason, "500 Internal Server Error")
	require.NotNil(t, st.NextProbeAt)
	open, err := gb.OpenBreakers(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{ep.ID}, slices.Collect(maps.Keys(open)), "either process lists the open breaker")

	// After OpenSeconds one process gets the probe; the other keeps waiting.
	time.Sleep(time.Until(*st.NextProbeAt))
	probe, w, err := gb.Acquire(ctx, ep)
	require.NoError(t, err)
	require.Nil(t, w)
	_, w, err = ga.Acquire(ctx, ep)
	require.NoError(t, err)
	require.NotNil(t, w, "one probe at a time")
	st, err = ga.BreakerState(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, "half_open", st.State)

	// A failed probe opens it again; a successful one closes it everywhere.
	gb.Release(ctx, probe, Unhealthy("connect: refused"))
	st, err = ga.BreakerState(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, "open", st.State)
	require.Contains(t, st.Reason, "the probe failed")
	time.Sleep(time.Until(*st.NextProbeAt))
	probe, w, err = ga.Acquire(ctx, ep)
	require.NoError(t, err)
	require.Nil(t, w)
	ga.Release(ctx, probe, Healthy())
	require.Eventually(t, func() bool {
		p, w, err := gb.Acquire(ctx, ep)
		require.NoError(t, err)
		if w != nil {
			return false
		}
		gb.Release(ctx, p, Healthy())
		return true
	}, time.Second, 10*time.Millisecond)
	st, err = gb.BreakerState(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, "closed", st.State)
	open, err = ga.OpenBreakers(ctx)
	require.NoError(t, err)
	require.Empty(t, open, "a closed breaker is not listed")
}

// TestGuardBreakerCountsAttemptsOnly checks that the deliveries that find
// an endpoint at its cap, made no attempt, do not count towards its
// breaker: four timeouts of four attempts open it, however many tries found
// the endpoint at its cap meanwhile.
func TestGuardBreakerCountsAttemptsOnly(t *testing.T) {
	ctx := context.Background()
	cfg := GuardConfig{Breaker: subscriptions.BreakerSettings{FailureRatio: 0.5, MinRequests: 4, WindowSeconds: 10, OpenSeconds: 30}}
	ga, gb := twoGuards(t, cfg)
	ep := subscriptions.Endpoint{ID: "ep_hangs", Options: subscriptions.Options{MaxConcurrency: 4}}
	var inFlight []*Permit
	for range 4 {
		p, w, err := gb.Acquire(ctx, ep)
		require.NoError(t, err)
		require.Nil(t, w)
		inFlight = append(inFlight, p)
	}
	for i := range 4 {
		for range 20 {
			_, w, err := gb.Acquire(ctx, ep)
			require.NoError(t, err)
			require.NotNil(t, w)
			require.Equal(t, "concurrency", w.Reason)
		}
		gb.Release(ctx, inFlight[i], Unhealthy("timeout: context deadline exceeded"))
		if i < 3 {
			p, w, err := ga.Acquire(ctx, ep)
			require.NoError(t, err)
			require.Nil(t, w)
			inFlight = append(inFlight, p)
		}
	}
	inFlight = inFlight[4:]
	require.Eventually(t, func() bool {
		st, err := gb.BreakerState(ctx, ep.ID)
		require.NoError(t, err)
		return st.State == "open" && strings.Contains(st.Reason, "4 of the last 4 attempts failed")
	}, time.Second, 10*time.Millisecond, "four timeouts of four attempts open the breaker")
	for _, p := range inFlight {
		ga.Release(ctx, p, NotCounted())
	}
}

// TestGuardPassSlot checks a slot passed from one delivery to the next of
// the same endpoint: taken over while young, with no new slot in Redis;
// given back, and a slot taken anew, when it is old or the endpoint has a
// rate limit; and given back when the next delivery may not go.
func TestGuardPassSlot(t *testing.T) {
	ctx := context.Background()
	g, _ := twoGuards(t, GuardConfig{Lease: time.Minute})
	ep := subscriptions.Endpoint{ID: "ep_pass", Options: subscriptions.Options{MaxConcurrency: 2}}
	slots := func() []string {
		s, err := g.rdb.ZRange(ctx, slotsKey(ep.ID), 0, -1).Result()
		require.NoError(t, err)
		return s
	}
	first, w, err := g.Acquire(ctx, ep)
	require.NoError(t, err)
	require.Nil(t, w)
	other, _, _ := g.Acquire(ctx, ep)
	require.Len(t, slots(), 2)

	passed := first.detachSlot()
	g.Release(ctx, first, Healthy())
	require.Len(t, slots(), 2, "a slot passed on is not given back")
	next, w, err := g.acquire(ctx, ep, passed)
	require.NoError(t, err)
	require.Nil(t, w, "the endpoint is at its cap, but the slot passed is its own")
	require.Equal(t, passed, next.slot)

	old := next.detachSlot()
	old.taken = old.taken.Add(-31 * time.Second)
	g.Release(ctx, next, Healthy())
	renewed, w, err := g.acquire(ctx, ep, old)
	require.NoError(t, err)
	require.Nil(t, w)
	require.NotEqual(t, old.token, renewed.slot.token, "a slot past half the lease is taken anew")
	require.NotContains(t, slots(), old.token)
	require.Len(t, slots(), 2)

	rated := ep
	rated.RateLimit = 100
	passed = renewed.detachSlot()
	g.Release(ctx, renewed, Healthy())
	counted, w, err := g.acquire(ctx, rated, passed)
	require.NoError(t, err)
	require.Nil(t, w)
	require.NotEqual(t, passed.token, counted.slot.token, "with a rate limit every attempt goes through Redis")
	require.Len(t, slots(), 2)

	g.open(ctx, ep.ID, g.settings(ep), "down")
	require.NoError(t, g.refresh(ctx))
	passed = counted.detachSlot()
	g.Release(ctx, counted, Healthy())
	_, w, err = g.acquire(ctx, ep, passed)
	require.NoError(t, err)
	require.NotNil(t, w)
	require.Equal(t, reasonBreakerOpen, w.Reason)
	require.NotContains(t, slots(), passed.token, "a slot passed to a delivery that may not go is given back")

	g.Release(ctx, other, Healthy())
	require.Empty(t, slots())
}

// TestGuardConcurrencyCapUnderLoad takes slots of one endpoint from many
// goroutines at once, so that the takes and releases go in shared
// pipelines, with the script flushed from Redis first: the cap still holds
// exactly, and every slot taken is given back.
func TestGuardConcurrencyCapUnderLoad(t *testing.T) {
	ctx := context.Background()
	g, _ := twoGuards(t, GuardConfig{})
	require.NoError(t, g.rdb.ScriptFlush(ctx).Err())
	ep := subscriptions.Endpoint{ID: "ep_load", Options: subscriptions.Options{MaxConcurrency: 5}}
	const n = 64
	permits := make(chan *Permit, n)
	waits := make(chan *Wait, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			p, w, err := g.Acquire(ctx, ep)
			require.NoError(t, err)
			if p != nil {
				permits <- p
			} else {
				waits <- w
			}
		})
	}
	wg.Wait()
	close(permits)
	close(waits)
	require.Len(t, permits, 5, "exactly the cap is taken")
	require.Len(t, waits, n-5)
	for w := range waits {
		require.Equal(t, "concurrency", w.Reason)
	}
	for p := range permits {
		wg.Go(func() { g.Release(ctx, p, Healthy()) })
	}
	wg.Wait()
	left, err := g.rdb.ZCard(ctx, slotsKey(ep.ID)).Result()
	require.NoError(t, err)
	require.Zero(t, left, "every slot was given back")
}

// TestPipeline checks that commands made at once each get their own answer
// and their own error.
func TestPipeline(t *testing.T) {
	ctx := context.Background()
	g, _ := twoGuards(t, GuardConfig{})
	require.NoError(t, g.rdb.Set(ctx, "shiphook:test:string", "x", time.Minute).Err())
	const n = 200
	got := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := "shiphook:test:counter"
			if i%10 == 0 {
				key = "shiphook:test:string" // INCR of a non-number fails
			}
			got[i], errs[i] = redispipe.Do(ctx, g.pipe, func(ctx context.Context, c redis.Cmdable) *redis.IntCmd {
				return c.Incr(ctx, key)
			}).Result()
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		if i%10 == 0 {
			require.Error(t, errs[i])
			continue
		}
		require.NoError(t, errs[i])
		require.False(t, seen[got[i]], "two commands got one answer")
		seen[got[i]] = true
	}
	require.Len(t, seen, n-n/10)
	require.True(t, seen[int64(n-n/10)])
}
