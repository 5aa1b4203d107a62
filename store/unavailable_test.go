package store_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestUnavailable checks that an error meaning the database could not be
// reached is subscriptions.ErrUnavailable, and that other errors are not.
func TestUnavailable(t *testing.T) {
	t.Parallel()

	t.Run("PostgresNotListening", func(t *testing.T) {
		t.Parallel()
		_, err := store.Open(t.Context(), "postgres://shiphook:s3cret-pw@127.0.0.1:1/shiphook?sslmode=disable&connect_timeout=2")
		require.ErrorIs(t, err, subscriptions.ErrUnavailable)
		require.NotContains(t, err.Error(), "s3cret-pw")
	})

	t.Run("PostgresBackendsTerminated", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(storetest.Postgres(t))
		require.NoError(t, err)
		name := "unavailable_" + u.Query().Get("search_path")
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		s, err := store.Open(t.Context(), u.String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		require.NoError(t, s.Migrate(t.Context()))
		require.NoError(t, s.CreatePartner(t.Context(), partner("p")))
		_, err = s.Partner(t.Context(), "missing")
		require.ErrorIs(t, err, subscriptions.ErrNotFound)
		require.NotErrorIs(t, err, subscriptions.ErrUnavailable)

		// What a restart does to the connections the pool holds.
		terminateBackends(t, u.String(), name)
		_, err = s.Partner(t.Context(), "p")
		require.ErrorIs(t, err, subscriptions.ErrUnavailable)

		// The pool connects again once the server answers.
		got, err := s.Partner(t.Context(), "p")
		require.NoError(t, err)
		require.Equal(t, "p", got.ID)
	})

	t.Run("SQLiteClosed", func(t *testing.T) {
		t.Parallel()
		s, err := store.Open(t.Context(), storetest.SQLite(t))
		require.NoError(t, err)
		require.NoError(t, s.Migrate(t.Context()))
		require.NoError(t, s.Close())

		_, err = s.Partner(t.Context(), "p")
		require.ErrorIs(t, err, subscriptions.ErrUnavailable)
		// A single event goes through the batcher, which stops on Close.
		_, err = s.InsertEvents(t.Context(), []dispatcher.Event{event("evt_1")})
		require.ErrorIs(t, err, subscriptions.ErrUnavailable)
	})
}

// terminateBackends ends the sessions of application name on the server at
// databaseURL, from a session of its own.
func terminateBackends(t *testing.T, databaseURL, name string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, name).Scan(&n))
	require.Positive(t, n)
}
