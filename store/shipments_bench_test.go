package store_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// BenchmarkResolveReference resolves one event's reference, a booking
// and a container, against 1,000,000 shipments registered in PostgreSQL
// (a schema of its own, filled with two INSERT ... SELECT statements,
// dropped at the end): ns/op is the look-up's cost per event resolved.
// It prints the plan of the look-up.
func BenchmarkResolveReference(b *testing.B) {
	const shipments = 1_000_000
	s, err := store.Open(b.Context(), storetest.Postgres(b))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	ctx := b.Context()
	require.NoError(b, s.Migrate(ctx))
	require.NoError(b, store.Exec(ctx, s, fmt.Sprintf(`INSERT INTO shipments (id, mode, parties, created_at, updated_at)
		SELECT 'SHP-' || i, 'ocean', '[{"partner_id":"acme","role":"shipper"},{"partner_id":"globex","role":"consignee"}]', 0, 0
		FROM generate_series(1, %d) AS i`, shipments)))
	require.NoError(b, store.Exec(ctx, s, `INSERT INTO shipment_references (value, kind, shipment_id)
		SELECT 'BK' || substr(id, 5), 'booking', id FROM shipments
		UNION ALL SELECT 'CONT' || substr(id, 5), 'containers', id FROM shipments`))
	require.NoError(b, store.Exec(ctx, s, `VACUUM ANALYZE shipments, shipment_references`))
	refs := func(n int) []subscriptions.Reference {
		return []subscriptions.Reference{{Kind: "booking", Value: fmt.Sprintf("BK%d", n)}, {Kind: "containers", Value: fmt.Sprintf("CONT%d", n)}}
	}
	plan, err := store.ReferencesPlan(ctx, s, refs(4711))
	require.NoError(b, err)
	b.Log(plan)
	b.ResetTimer()
	for b.Loop() {
		n := rand.IntN(shipments) + 1
		got, err := s.LookupShipments(ctx, nil, refs(n))
		if err != nil || len(got.Shipments) != 1 {
			b.Fatalf("look-up of %d: %v, %d shipments", n, err, len(got.Shipments))
		}
	}
}
