package subscriptions

import (
	"context"
	"sync"
	"time"
)

// EndpointCache reads endpoints for delivery through a short-lived cache,
// so that a busy endpoint is read from the database about once a TTL
// rather than once a delivery. A change made through the API reaches it at
// once through Sync (which forgets the partner's endpoints here and on
// every other instance); what delivery itself changes (failing since,
// disabled) is forgotten as it is written. What is left is another
// instance's health mark, seen here at most TTL late. Safe for concurrent
// use.
type EndpointCache struct {
	store Store
	ttl   time.Duration

	mu sync.Mutex
	m  map[string]cachedEndpoint
	// gen counts ForgetPartner calls, so that a read that began before
	// one is not cached after it.
	gen uint64
}

type cachedEndpoint struct {
	ep      Endpoint
	expires time.Time
}

// DefaultEndpointCacheTTL is how long EndpointCache keeps an endpoint.
const DefaultEndpointCacheTTL = 2 * time.Second

// NewEndpointCache returns a cache in front of st.
func NewEndpointCache(st Store, ttl time.Duration) *EndpointCache {
	return &EndpointCache{store: st, ttl: ttl, m: make(map[string]cachedEndpoint)}
}

// Endpoint returns the endpoint with id, from the cache or else the store.
// The endpoint returned is shared: callers must not change it.
func (c *EndpointCache) Endpoint(ctx context.Context, id string) (Endpoint, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.ep, nil
	}
	ep, err := c.store.Endpoint(ctx, id)
	if err != nil {
		return Endpoint{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return ep, nil
	}
	if len(c.m) >= maxCachedEndpoints {
		for id, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, id)
			}
		}
	}
	c.m[id] = cachedEndpoint{ep: ep, expires: now.Add(c.ttl)}
	return ep, nil
}

// maxCachedEndpoints is the size past which Endpoint sweeps out expired
// entries before adding one.
const maxCachedEndpoints = 10_000

// MarkEndpointFailing marks the endpoint in the store and forgets it here.
func (c *EndpointCache) MarkEndpointFailing(ctx context.Context, id string, at time.Time) (time.Time, error) {
	defer c.forget(id)
	return c.store.MarkEndpointFailing(ctx, id, at)
}

// MarkEndpointHealthy marks the endpoint in the store and forgets it here.
func (c *EndpointCache) MarkEndpointHealthy(ctx context.Context, id string) error {
	defer c.forget(id)
	return c.store.MarkEndpointHealthy(ctx, id)
}

// DisableEndpoint disables the endpoint in the store and forgets it here.
func (c *EndpointCache) DisableEndpoint(ctx context.Context, id, reason string) (bool, error) {
	defer c.forget(id)
	return c.store.DisableEndpoint(ctx, id, reason)
}

func (c *EndpointCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, id)
}

// ForgetPartner forgets the endpoints of partner id.
func (c *EndpointCache) ForgetPartner(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if e.ep.PartnerID == id {
			delete(c.m, k)
		}
	}
}
