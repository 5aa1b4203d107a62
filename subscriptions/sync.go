package subscriptions

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// changesChannel is the Redis channel on which instances announce the id of
// a partner whose endpoints changed.
const changesChannel = "shiphook:endpoint-changes"

// Sync keeps every instance's Index fresh. Changed reloads a partner here
// and announces it on Redis; Run listens for announcements from other
// instances and, as a safety net for lost announcements, reloads everything
// every FullReload.
type Sync struct {
	store Store
	index *Index // nil in a process that does not match events
	rdb   redis.UniversalClient
	// FullReload is how often Run reloads every endpoint (default 1 min).
	FullReload time.Duration
	// Caches are told when a partner or its endpoints change.
	Caches []PartnerCache
}

// PartnerCache keeps something of partners that a change makes stale;
// *EndpointCache and *KnownPartners are ones.
type PartnerCache interface {
	ForgetPartner(id string)
}

func (s *Sync) forget(partnerID string) {
	for _, c := range s.Caches {
		c.ForgetPartner(partnerID)
	}
}

// NewSync returns a Sync for index (which may be nil).
func NewSync(st Store, index *Index, rdb redis.UniversalClient) *Sync {
	return &Sync{store: st, index: index, rdb: rdb, FullReload: time.Minute}
}

// Changed reloads partnerID into the local index and tells the other
// instances to do the same. Errors are logged: the periodic full reload
// repairs a missed change.
func (s *Sync) Changed(ctx context.Context, partnerID string) {
	s.forget(partnerID)
	if s.index != nil {
		if err := s.index.Reload(ctx, s.store, partnerID); err != nil {
			slog.ErrorContext(ctx, "reload endpoints", "partner_id", partnerID, "err", err)
		}
	}
	if err := s.rdb.Publish(ctx, changesChannel, partnerID).Err(); err != nil {
		slog.WarnContext(ctx, "announce endpoint change", "partner_id", partnerID, "err", err)
	}
}

// Run loads the index, then keeps it fresh until ctx ends. It returns
// ctx.Err() or an error from the first load.
func (s *Sync) Run(ctx context.Context) error {
	sub := s.rdb.Subscribe(ctx, changesChannel)
	defer sub.Close()
	// Wait for the subscription before the first load so that no change
	// falls between the two.
	if _, err := sub.Receive(ctx); err != nil {
		slog.WarnContext(ctx, "subscribe to endpoint changes", "err", err)
	}
	if err := s.index.Load(ctx, s.store); err != nil {
		return err
	}
	full := time.NewTicker(s.FullReload)
	defer full.Stop()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg, ok := <-ch:
			if !ok {
				return ctx.Err()
			}
			s.forget(msg.Payload)
			if err := s.index.Reload(ctx, s.store, msg.Payload); err != nil && ctx.Err() == nil {
				slog.ErrorContext(ctx, "reload endpoints", "partner_id", msg.Payload, "err", err)
			}
		case <-full.C:
			if err := s.index.Load(ctx, s.store); err != nil && ctx.Err() == nil {
				slog.ErrorContext(ctx, "reload all endpoints", "err", err)
			}
		}
	}
}
