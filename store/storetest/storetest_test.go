package storetest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store/storetest"
)

func TestPostgres(t *testing.T) {
	var schema string
	t.Run("owns a schema", func(t *testing.T) {
		url := storetest.Postgres(t)
		conn, err := pgx.Connect(t.Context(), url)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema))
		require.True(t, strings.HasPrefix(schema, "t_"), schema)
		_, err = conn.Exec(t.Context(), "CREATE TABLE things (id int)")
		require.NoError(t, err)
	})
	require.NotEmpty(t, schema)

	// Dropped when the test ended.
	conn, err := pgx.Connect(t.Context(), storetest.DefaultDatabaseURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n))
	require.Zero(t, n)
}

func TestRedis(t *testing.T) {
	var urls []string
	t.Run("claims", func(t *testing.T) {
		// Claims last as long as the test: three at once are three databases.
		for range 3 {
			url := storetest.Redis(t)
			urls = append(urls, url)
			opts, err := redis.ParseURL(url)
			require.NoError(t, err)
			require.GreaterOrEqual(t, opts.DB, 1)
			require.LessOrEqual(t, opts.DB, 15)
			c := redis.NewClient(opts)
			n, err := c.DBSize(t.Context()).Result()
			require.NoError(t, err)
			require.Zero(t, n, "starts empty")
			require.NoError(t, c.Set(t.Context(), "left-behind", "x", 0).Err())
			require.NoError(t, c.Close())
		}
	})
	require.Len(t, urls, 3)
	require.Len(t, map[string]bool{urls[0]: true, urls[1]: true, urls[2]: true}, 3, "a database handed out twice at once: %v", urls)

	// Emptied when the test ended.
	for _, u := range urls {
		opts, err := redis.ParseURL(u)
		require.NoError(t, err)
		c := redis.NewClient(opts)
		n, err := c.Exists(t.Context(), "left-behind").Result()
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.Zero(t, n, "database %d was not emptied", opts.DB)
	}
}
