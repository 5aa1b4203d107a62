package store_test

import (
	"fmt"
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
