package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/store"
)

func TestOpen(t *testing.T) {
	t.Run("SQLiteCreatesDirectory", func(t *testing.T) {
		dir := t.TempDir()
		for i, url := range []string{
			"sqlite:" + dir + "/a/b/one.db",
			"sqlite://" + dir + "/c/two.db",
			"file:" + dir + "/d/three.db",
			dir + "/e/four.db",
		} {
			s, err := store.Open(t.Context(), url)
			require.NoError(t, err, url)
			require.Equal(t, "sqlite", s.Dialect())
			require.NoError(t, s.Migrate(t.Context()))
			require.NoError(t, s.CreatePartner(t.Context(), partner(fmt.Sprint("p", i))))
			require.NoError(t, s.Close())
		}
		for _, f := range []string{"a/b/one.db", "c/two.db", "d/three.db", "e/four.db"} {
			require.FileExists(t, dir+"/"+f)
		}
	})

	t.Run("SQLiteMemory", func(t *testing.T) {
		s, err := store.Open(t.Context(), "sqlite::memory:")
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		require.NoError(t, s.Migrate(t.Context()))
		require.NoError(t, s.CreatePartner(t.Context(), partner("p")))
		_, err = s.Partner(t.Context(), "p")
		require.NoError(t, err)
	})

	t.Run("PostgresErrorHidesPassword", func(t *testing.T) {
		for _, url := range []string{
			"postgres://shiphook:s3cret-pw@127.0.0.1:1/shiphook?sslmode=disable&connect_timeout=2",
			"postgresql://shiphook@127.0.0.1:1/shiphook?sslmode=disable&password=s3cret-pw&connect_timeout=2",
			"postgres://shiphook:s3cret-pw@127.0.0.1:notaport/x",
		} {
			_, err := store.Open(t.Context(), url)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "s3cret-pw")
			require.Contains(t, err.Error(), "postgres")
		}
	})

	t.Run("SQLiteBadParameter", func(t *testing.T) {
		_, err := store.Open(t.Context(), "sqlite:"+t.TempDir()+"/x.db?_txlock=sometimes")
		require.Error(t, err)
	})
}

// TestOpenUnknownScheme checks that a database URL with a scheme Open does
// not know is refused with the accepted forms, rather than taken for the
// name of a new SQLite file.
func TestOpenUnknownScheme(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{"postgress://postgres@127.0.0.1/test", "mysql://root:secret@db/shiphook", "Redis://127.0.0.1:6379"} {
		_, err := store.Open(context.Background(), u)
		require.Error(t, err, u)
		require.Contains(t, err.Error(), "unknown scheme; use postgres://user@host:port/database for PostgreSQL, or sqlite:<path>", u)
		require.NotContains(t, err.Error(), "secret", "the password is not shown")
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "no file was made")

	for _, u := range []string{"sqlite:" + filepath.Join(dir, "a.db"), "file:" + filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db"), "sqlite::memory:"} {
		st, err := store.Open(context.Background(), u)
		require.NoError(t, err, u)
		require.NoError(t, st.Close())
	}
}
