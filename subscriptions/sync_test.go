package subscriptions_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// syncPair returns a store and a Redis database of their own, the Sync of
// a process that makes changes (api) and that of one that matches events
// (worker) with its loaded index. The worker's Run is not started:
// announcements do not reach it.
func syncPair(t *testing.T) (*store.Store, *redis.Client, *subscriptions.Sync, *subscriptions.Index, *subscriptions.Sync) {
	st := openStore(t)
	rdb := redis.NewClient(mustParseRedis(t))
	t.Cleanup(func() { rdb.Close() })
	index := subscriptions.NewIndex()
	worker := subscriptions.NewSync(st, index, rdb)
	require.NoError(t, worker.Load(t.Context()))
	return st, rdb, subscriptions.NewSync(st, nil, rdb), index, worker
}

// TestSyncCatchUp checks that a process that matches events sees an
// endpoint change made through another process once it catches up, with
// no announcement reaching it: that is what a fan-out does before it
// matches an event.
func TestSyncCatchUp(t *testing.T) {
	ctx := t.Context()
	st, rdb, api, index, worker := syncPair(t)
	matched := func(partnerID string) []string {
		var ids []string
		for _, tg := range index.Match(subscriptions.Subject{Type: "shipment.milestone.departed",
			Parties: []subscriptions.Party{{PartnerID: partnerID, Role: "shipper"}}}) {
			ids = append(ids, tg.EndpointID)
		}
		return ids
	}
	require.NoError(t, worker.CatchUp(ctx), "nothing changed")

	ep := createEndpoint(t, st, "acme", "https://a.example/hook")
	api.Changed(ctx, "acme")
	require.Empty(t, matched("acme"), "the worker knew of the endpoint before it caught up")
	require.NoError(t, worker.CatchUp(ctx))
	require.Equal(t, []string{ep.ID}, matched("acme"))

	// A partner changed behind Sync's back is seen only by a full reload,
	// which a worker makes when more changes were made than Redis keeps
	// (1,000)...
	globex := createEndpoint(t, st, "globex", "https://g.example/hook")
	for range 1001 {
		api.Changed(ctx, "initech")
	}
	require.NoError(t, worker.CatchUp(ctx))
	require.Equal(t, []string{globex.ID}, matched("globex"))

	// ... or when Redis lost the count of changes.
	umbrella := createEndpoint(t, st, "umbrella", "https://u.example/hook")
	require.NoError(t, rdb.FlushDB(ctx).Err())
	api.Changed(ctx, "hooli")
	require.NoError(t, worker.CatchUp(ctx))
	require.Equal(t, []string{umbrella.ID}, matched("umbrella"))

	// Without a change since, a catch-up reloads nothing.
	createEndpoint(t, st, "acme", "https://a2.example/hook")
	require.NoError(t, worker.CatchUp(ctx))
	require.Equal(t, []string{ep.ID}, matched("acme"))
}

// TestSyncCatchUpConcurrent catches up from many goroutines while another
// process makes changes, as concurrent fan-outs do; once the changes are
// made, one more catch-up finds them all.
func TestSyncCatchUpConcurrent(t *testing.T) {
	ctx := t.Context()
	st, _, api, index, worker := syncPair(t)

	const changes = 40
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					assert.NoError(t, worker.CatchUp(ctx))
				}
			}
		})
	}
	for i := range changes {
		partnerID := fmt.Sprintf("partner-%02d", i)
		createEndpoint(t, st, partnerID, "https://"+partnerID+".example/hook")
		api.Changed(ctx, partnerID)
	}
	close(done)
	wg.Wait()
	require.NoError(t, worker.CatchUp(ctx))
	require.Equal(t, changes, index.Len())
}
