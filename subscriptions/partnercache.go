package subscriptions

import (
	"context"
	"sync"
	"time"
)

// KnownPartners answers the ingest API's "do these partners exist?" from
// memory for partners seen to exist within the last TTL, and asks the store
// only about the others. A partner deleted through this instance is
// forgotten at once (through Sync); one deleted through another instance
// may still be taken for existing for up to TTL, and an event naming it
// then simply reaches none of its endpoints. Safe for concurrent use.
type KnownPartners struct {
	store Store
	ttl   time.Duration

	mu   sync.Mutex
	seen map[string]time.Time // partner id → when it was last seen to exist
	gen  uint64               // counts ForgetPartner calls
}

// DefaultKnownPartnersTTL is how long KnownPartners trusts a partner exists.
const DefaultKnownPartnersTTL = 5 * time.Second

// NewKnownPartners returns a cache in front of st.
func NewKnownPartners(st Store, ttl time.Duration) *KnownPartners {
	return &KnownPartners{store: st, ttl: ttl, seen: make(map[string]time.Time)}
}

// MissingPartners returns those of ids that do not exist, in the order
// given, each once.
func (k *KnownPartners) MissingPartners(ctx context.Context, ids []string) ([]string, error) {
	now := time.Now()
	var ask []string
	k.mu.Lock()
	gen := k.gen
	for _, id := range ids {
		if at, ok := k.seen[id]; !ok || now.Sub(at) > k.ttl {
			ask = append(ask, id)
		}
	}
	k.mu.Unlock()
	if len(ask) == 0 {
		return nil, nil
	}
	missing, err := k.store.MissingPartners(ctx, ask)
	if err != nil {
		return nil, err
	}
	gone := make(map[string]bool, len(missing))
	for _, id := range missing {
		gone[id] = true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen == k.gen {
		if len(k.seen) >= maxKnownPartners {
			clear(k.seen)
		}
		for _, id := range ask {
			if !gone[id] {
				k.seen[id] = now
			}
		}
	}
	return missing, nil
}

// maxKnownPartners bounds the cache; past it, it starts over.
const maxKnownPartners = 100_000

// ForgetPartner forgets partner id.
func (k *KnownPartners) ForgetPartner(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gen++
	delete(k.seen, id)
}
