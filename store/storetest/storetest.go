// Package storetest gives integration tests databases of their own: a fresh
// PostgreSQL schema, an SQLite file, or a Redis database number, each
// cleaned up when the test ends. The servers come from the environment
// (SHIPHOOK_TEST_DATABASE_URL, SHIPHOOK_TEST_REDIS_URL) and default to
// those that `make test` starts on 127.0.0.1. A test fails, never skips,
// when a server is missing.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

const (
	// DefaultDatabaseURL is the PostgreSQL server used when
	// SHIPHOOK_TEST_DATABASE_URL is not set.
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	// DefaultRedisURL is the Redis server used when SHIPHOOK_TEST_REDIS_URL
	// is not set.
	DefaultRedisURL = "redis://127.0.0.1:6379"
)

const advice = "run the tests with `make test`, which starts it, or point %s at a running server"

// Postgres returns a database URL whose connections use a new, empty
// PostgreSQL schema that belongs to this test: the server of
// SHIPHOOK_TEST_DATABASE_URL (default DefaultDatabaseURL) with search_path
// set to the schema. The schema is dropped, with everything in it, when the
// test ends; close connections to it before then (t.Cleanup runs later
// registrations first, so a store closed in a cleanup registered after
// Postgres returns is closed in time).
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SHIPHOOK_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultDatabaseURL
	}
	schema := "t_" + randomHex(t, 8)

	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("storetest: PostgreSQL at %s: %v; "+advice, redact(base), err, "SHIPHOOK_TEST_DATABASE_URL")
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// withSearchPath adds search_path to a URL or key=value connection string.
func withSearchPath(t testing.TB, base, schema string) string {
	t.Helper()
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: parse SHIPHOOK_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLite returns a sqlite: database URL for a new file in t.TempDir(),
// removed when the test ends.
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "shiphook.db")
}

// Redis claims and sizes of the Redis databases tests share.
const (
	redisClaimPrefix = "shiphook-test:db:"
	redisClaimTTL    = 10 * time.Minute
	redisClaimWait   = time.Minute
	redisFirstDB     = 1
	redisLastDB      = 15
)

// releaseScript deletes a claim only if it is still ours.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Redis returns a redis://host:port/N URL for a database number N in 1..15
// that this test has to itself, emptied, among every test process using
// the server of SHIPHOOK_TEST_REDIS_URL (default DefaultRedisURL).
// Database 0 holds the claims (shiphook-test:db:N, expiring after ten
// minutes). When all numbers are taken it waits up to a minute for one.
// When the test ends the database is emptied again and released.
func Redis(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SHIPHOOK_TEST_REDIS_URL")
	if base == "" {
		base = DefaultRedisURL
	}
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("storetest: parse SHIPHOOK_TEST_REDIS_URL: %v", err)
	}
	opts.DB = 0
	claims := redis.NewClient(opts)
	t.Cleanup(func() { _ = claims.Close() })

	ctx := context.Background()
	token := randomHex(t, 16)
	n, err := claimRedisDB(ctx, claims, token)
	if err != nil {
		t.Fatalf("storetest: Redis at %s: %v; "+advice, redact(base), err, "SHIPHOOK_TEST_REDIS_URL")
	}
	key := redisClaimPrefix + strconv.Itoa(n)

	dbOpts := *opts
	dbOpts.DB = n
	db := redis.NewClient(&dbOpts)
	flush := func() error { return db.FlushDB(ctx).Err() }
	t.Cleanup(func() {
		if err := flush(); err != nil {
			t.Errorf("storetest: empty Redis database %d: %v", n, err)
		}
		_ = db.Close()
		if err := releaseScript.Run(ctx, claims, []string{key}, token).Err(); err != nil {
			t.Errorf("storetest: release Redis database %d: %v", n, err)
		}
	})
	if err := flush(); err != nil {
		t.Fatalf("storetest: empty Redis database %d: %v", n, err)
	}

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: parse SHIPHOOK_TEST_REDIS_URL: %v", err)
	}
	u.Path = "/" + strconv.Itoa(n)
	q := u.Query()
	q.Del("db")
	u.RawQuery = q.Encode()
	return u.String()
}

// claimRedisDB takes the first free database number, waiting for one if
// all are taken.
func claimRedisDB(ctx context.Context, claims *redis.Client, token string) (int, error) {
	deadline := time.Now().Add(redisClaimWait)
	for {
		for n := redisFirstDB; n <= redisLastDB; n++ {
			ok, err := claims.SetNX(ctx, redisClaimPrefix+strconv.Itoa(n), token, redisClaimTTL).Result()
			if err != nil {
				return 0, err
			}
			if ok {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("databases %d to %d stayed claimed by other tests for %s", redisFirstDB, redisLastDB, redisClaimWait)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// redact hides the password of a server URL.
func redact(s string) string {
	if !strings.Contains(s, "://") {
		return "(connection string)"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
