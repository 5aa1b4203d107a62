package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/harness"
)

func TestParseRedisURL(t *testing.T) {
	cases := []struct {
		name, url string
		want      asynq.RedisConnOpt
	}{
		{"plain", "redis://:pw@redis:6379/2", asynq.RedisClientOpt{Addr: "redis:6379", Password: "pw", DB: 2}},
		{"sentinels with passwords and a database",
			"redis-sentinel://:sentinel%40pw@s1:26379,s2:26380,s3/3?master=shiphook&password=master%26pw",
			asynq.RedisFailoverClientOpt{
				MasterName: "shiphook", SentinelAddrs: []string{"s1:26379", "s2:26380", "s3:26379"},
				SentinelPassword: "sentinel@pw", Password: "master&pw", DB: 3,
			}},
		{"ACL users",
			"redis-sentinel://watcher:spw@10.0.0.1:26379/?master=m&username=shiphook&password=mpw",
			asynq.RedisFailoverClientOpt{
				MasterName: "m", SentinelAddrs: []string{"10.0.0.1:26379"},
				SentinelUsername: "watcher", SentinelPassword: "spw", Username: "shiphook", Password: "mpw",
			}},
		{"no passwords, IPv6", "redis-sentinel://[::1]:26379,[fd00::2]?master=m",
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"[::1]:26379", "[fd00::2]:26379"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRedisURL(tc.url)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	// The errors name what is wrong and never show a password (s3cret).
	for url, msg := range map[string]string{
		"redis-sentinel://:s3cret@s1:26379/0":                       "no master name",
		"redis-sentinel://s1:26379/zero?master=m&password=s3cret":   `database "zero" is not a number`,
		"redis-sentinel://s1:26379/-1?master=m":                     `database "-1" is not a number`,
		"redis-sentinel://s1:26379/0?master=m&sentinel_password=x":  `unknown parameter "sentinel_password"`,
		"redis-sentinel://s1:26379,,s2:26379/0?master=m":            "empty sentinel address",
		"redis-sentinel://:s3cret@s1:26379/0?master=m&password=%zz": "the parameters do not parse",
		"redis-sentinel://:s3cret%zz@s1:26379/0?master=m":           "sentinel URL: invalid URL escape",
		"redis://:s3cret@redis:port/0":                              "not a URL: invalid port",
		"memcached://cache:11211":                                   "unsupported uri scheme",
	} {
		_, err := parseRedisURL(url)
		require.Error(t, err, url)
		require.Contains(t, err.Error(), msg, url)
		require.NotContains(t, err.Error(), "s3cret", url)
	}
}

// TestSentinelClient checks the client a Sentinel URL makes: go-redis's
// failover client, with the master's password and database.
func TestSentinelClient(t *testing.T) {
	opt, err := parseRedisURL("redis-sentinel://:spw@s1:26379,s2:26379/4?master=shiphook&password=mpw")
	require.NoError(t, err)
	rdb, ok := opt.MakeRedisClient().(*redis.Client)
	require.True(t, ok, "a failover client is a *redis.Client")
	defer rdb.Close()
	o := rdb.Options()
	require.Equal(t, "FailoverClient", o.Addr)
	require.Equal(t, "mpw", o.Password)
	require.Equal(t, 4, o.DB)
}

// TestConnectRedisThroughSentinel starts a Redis master with a password
// and a sentinel with a password of its own, and connects as shiphook does
// through a Sentinel URL: the client must find the master, authenticate
// and select the URL's database.
func TestConnectRedisThroughSentinel(t *testing.T) {
	bin := os.Getenv("SHIPHOOK_REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			t.Skip("redis-server not found: this test starts a Redis and a sentinel of its own (Debian: apt-get install redis-server, or set SHIPHOOK_REDIS_SERVER)")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	masterPort, sentinelPort := freePort(t), freePort(t)
	startRedisProcess(t, bin, dir, "master", "--port", strconv.Itoa(masterPort), "--bind", "127.0.0.1",
		"--requirepass", "master-pw", "--save", "", "--appendonly", "no", "--dir", dir)
	conf := filepath.Join(dir, "sentinel.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "port %d\nbind 127.0.0.1\ndir %s\nrequirepass sentinel-pw\n"+
		"sentinel monitor shiphook 127.0.0.1 %d 1\nsentinel auth-pass shiphook master-pw\n", sentinelPort, dir, masterPort), 0o600))
	startRedisProcess(t, bin, dir, "sentinel", conf, "--sentinel")

	url := fmt.Sprintf("redis-sentinel://:sentinel-pw@127.0.0.1:%d/5?master=shiphook&password=master-pw", sentinelPort)
	var (
		opt  asynq.RedisConnOpt
		rdb  redis.UniversalClient
		stop func()
		err  error
	)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The sentinel may take a moment to start answering.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		opt, rdb, stop, err = connectRedis(ctx, url, log)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	require.NoError(t, err, "connect through the sentinel")
	defer stop()
	require.NoError(t, rdb.Set(ctx, "shiphook:sentinel-test", "here", 0).Err())
	// asynq, which the workers and the queue use, goes the same way.
	client := asynq.NewClient(opt)
	defer client.Close()
	_, err = client.EnqueueContext(ctx, asynq.NewTask("sentinel-test", nil), asynq.Queue("sentinel"))
	require.NoError(t, err)

	master := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", masterPort), Password: "master-pw", DB: 5})
	defer master.Close()
	got, err := master.Get(ctx, "shiphook:sentinel-test").Result()
	require.NoError(t, err)
	require.Equal(t, "here", got, "the key is in the master's database 5")
	pending, err := master.LLen(ctx, "asynq:{sentinel}:pending").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, pending, "asynq's task is in the master's database 5")
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := harness.FreePort()
	require.NoError(t, err)
	return port
}

// startRedisProcess runs bin with args until the test ends, its output in
// dir/name.log, shown if the test fails.
func startRedisProcess(t *testing.T, bin, dir, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
}
