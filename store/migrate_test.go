package store_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
)

// TestMigrate checks migrating a database, by several stores at once too, on
// each backend.
func TestMigrate(t *testing.T) {
	exercise(t, []contractTest{
		{"Migrate", testMigrate},
	})
}

func testMigrate(t *testing.T, db backend) {
	t.Parallel()
	url := db.databaseURL(t)
	stores := []*store.Store{db.open(t, url), db.open(t, url), db.open(t, url)}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, stores[0].Migrate(ctx))
	require.NoError(t, stores[0].Ping(ctx))
	require.NoError(t, stores[1].CreatePartner(ctx, partner("p1")))
}
