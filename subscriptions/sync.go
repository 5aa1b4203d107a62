package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shiphook/shiphook/internal/redispipe"
)

// changesChannel is the Redis channel on which instances announce the id of
// a partner whose endpoints changed.
const changesChannel = "shiphook:endpoint-changes"

// Every change is also numbered and logged in Redis, so that an instance
// can tell, before it matches an event, whether it has missed one (see
// CatchUp). The braces keep both keys in one Redis Cluster slot.
const (
	changesSeqKey = "shiphook:{endpoint-changes}:seq"
	changesLogKey = "shiphook:{endpoint-changes}:log"
	// changesLogLen is how many changes the log keeps; an instance further
	// behind reloads everything.
	changesLogLen = 1000
)

// logChangeScript numbers a change of partner ARGV[1], logs it as
// "<number>:<partner>" and keeps the last ARGV[2] of the log.
var logChangeScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], n, n .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[2]) - 1)
return n
`)

// Sync keeps every instance's Index fresh. Changed reloads a partner here,
// numbers the change in Redis and announces it; Run listens for
// announcements from other instances and, as a safety net, reloads
// everything every FullReload; CatchUp, before an event is matched,
// applies every change numbered so far that this instance has not.
type Sync struct {
	store Store
	index *Index // nil in a process that does not match events
	rdb   redis.UniversalClient
	// pipe carries the reads of the number of changes, one per queued
	// fan-out and per check of the events fanned out at ingest, in as few
	// round trips as it can.
	pipe *redispipe.Pipeline
	// FullReload is how often Run reloads every endpoint (default 1 min).
	FullReload time.Duration
	// Caches are told when a partner or its endpoints change.
	Caches []PartnerCache

	// applied is the number of the last change the index holds, with
	// every change before it; mu serialises catching up and loading.
	applied atomic.Int64
	mu      sync.Mutex
	// sub receives the announcements, from Start on.
	sub *redis.PubSub
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
	return &Sync{store: st, index: index, rdb: rdb, pipe: redispipe.New(rdb), FullReload: time.Minute}
}

// Changed reloads partnerID into the local index and tells the other
// instances to do the same. Call it once the change is stored, before
// answering the request that made it. Errors are logged: the periodic
// full reload repairs a missed change.
func (s *Sync) Changed(ctx context.Context, partnerID string) {
	s.forget(partnerID)
	if s.index != nil {
		if err := s.index.Reload(ctx, s.store, partnerID); err != nil {
			slog.ErrorContext(ctx, "reload endpoints", "partner_id", partnerID, "err", err)
		}
	}
	if err := NumberChange(ctx, s.rdb, partnerID); err != nil {
		slog.WarnContext(ctx, "number endpoint change", "partner_id", partnerID, "err", err)
	}
	if err := s.rdb.Publish(ctx, changesChannel, partnerID).Err(); err != nil {
		slog.WarnContext(ctx, "announce endpoint change", "partner_id", partnerID, "err", err)
	}
}

// NumberChange numbers a change of partnerID's endpoints in Redis, for
// CatchUp to find, as Changed does; unlike Changed, it does not announce
// it.
func NumberChange(ctx context.Context, rdb redis.UniversalClient, partnerID string) error {
	keys := []string{changesSeqKey, changesLogKey}
	return logChangeScript.Run(ctx, rdb, keys, partnerID, changesLogLen).Err()
}

// Load fills the index with every partner's endpoints, which then holds
// every change numbered before it began.
func (s *Sync) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx)
}

func (s *Sync) load(ctx context.Context) error {
	seq, err := s.seq(ctx)
	if err != nil {
		return err
	}
	if err := s.index.Load(ctx, s.store); err != nil {
		return err
	}
	s.applied.Store(seq)
	return nil
}

// seq returns the number of the last change made anywhere.
func (s *Sync) seq(ctx context.Context) (int64, error) {
	n, err := redispipe.Do(ctx, s.pipe, func(ctx context.Context, c redis.Cmdable) *redis.StringCmd {
		return c.Get(ctx, changesSeqKey)
	}).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the number of endpoint changes: %w", err)
	}
	return n, nil
}

// CatchUp brings the index up to date with every endpoint change made, by
// any instance, before it was called: the partners changed since the last
// catch-up are reloaded (everything, when more changes were made than
// Redis keeps). It costs one Redis read when nothing changed. An error
// means the index may be behind.
func (s *Sync) CatchUp(ctx context.Context) error {
	seq, err := s.seq(ctx)
	if err != nil {
		return err
	}
	if seq == s.applied.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	applied := s.applied.Load()
	switch {
	case seq == applied:
		return nil // another caller caught up meanwhile
	case seq < applied:
		// Redis lost its count (a flush, a new server): start again. A
		// new count that has already passed this one goes unnoticed here;
		// Run's full reload repairs that within FullReload.
		return s.load(ctx)
	}
	entries, err := s.rdb.ZRangeByScore(ctx, changesLogKey, &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(applied, 10), Max: strconv.FormatInt(seq, 10)}).Result()
	if err != nil {
		return fmt.Errorf("read the endpoint changes: %w", err)
	}
	if int64(len(entries)) < seq-applied {
		return s.load(ctx) // the log no longer holds them all
	}
	seen := map[string]bool{}
	for _, e := range entries {
		_, partnerID, _ := strings.Cut(e, ":")
		if seen[partnerID] {
			continue
		}
		seen[partnerID] = true
		s.forget(partnerID)
		if err := s.index.Reload(ctx, s.store, partnerID); err != nil {
			return err
		}
	}
	s.applied.Store(seq)
	return nil
}

// Applied returns the number of the last endpoint change the index holds,
// with every change before it.
func (s *Sync) Applied() int64 { return s.applied.Load() }

// Start subscribes to the announcements of endpoint changes, then loads
// the index, so that no change falls between the two; Run then keeps the
// index fresh.
func (s *Sync) Start(ctx context.Context) error {
	s.sub = s.rdb.Subscribe(ctx, changesChannel)
	if _, err := s.sub.Receive(ctx); err != nil {
		slog.WarnContext(ctx, "subscribe to endpoint changes", "err", err)
	}
	if err := s.Load(ctx); err != nil {
		_ = s.sub.Close()
		return err
	}
	return nil
}

// Run keeps the index, loaded by Start, fresh until ctx ends, and returns
// ctx.Err().
func (s *Sync) Run(ctx context.Context) error {
	defer s.sub.Close()
	full := time.NewTicker(s.FullReload)
	defer full.Stop()
	ch := s.sub.Channel()
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
			if err := s.Load(ctx); err != nil && ctx.Err() == nil {
				slog.ErrorContext(ctx, "reload all endpoints", "err", err)
			}
		}
	}
}
