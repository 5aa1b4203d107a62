package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// miniredisTick is how often the in-process Redis's TTLs advance.
const miniredisTick = 100 * time.Millisecond

// runMiniredisClock makes m's TTLs run with the clock, advancing them every
// miniredisTick, until the returned function is called. (miniredis's own
// ClockTTL advances them on every command instead, walking and sorting
// every key each time: each command would cost more the more tasks are
// queued.)
func runMiniredisClock(m *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(miniredisTick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// connectRedis connects to url (see parseRedisURL), or starts an
// in-process miniredis when url is empty. For a Sentinel URL the client is
// go-redis's failover client, which asks the sentinels for the master and
// follows a failover. The returned function closes what was opened.
func connectRedis(ctx context.Context, redisURL string, log *slog.Logger) (asynq.RedisConnOpt, redis.UniversalClient, func(), error) {
	if redisURL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, nil, fmt.Errorf("start in-process redis: %w", err)
		}
		stopClock := runMiniredisClock(m)
		log.Warn("using an in-process, in-memory Redis: for trying shiphook out only; set REDIS_URL=redis://… for production")
		opt := asynq.RedisClientOpt{Addr: m.Addr()}
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		return opt, rdb, func() { _ = rdb.Close(); stopClock(); m.Close() }, nil
	}
	opt, err := parseRedisURL(redisURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, nil, errors.New("REDIS_URL: unsupported redis client")
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, nil, nil, fmt.Errorf("connect to redis: %w", err)
	}
	return opt, rdb, func() { _ = rdb.Close() }, nil
}

// sentinelScheme is the scheme of a Redis Sentinel URL.
const sentinelScheme = "redis-sentinel"

// defaultSentinelPort is the port of a sentinel address given without one.
const defaultSentinelPort = "26379"

// parseRedisURL reads REDIS_URL: redis://[[user]:password@]host:port[/db]
// and rediss://… (TLS) as asynq reads them, and a Sentinel URL,
//
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]…][/db]?master=name[&username=user][&password=password]
//
// in which the user and password before the hosts authenticate to the
// sentinels (as asynq and go-redis read them), the username and password
// parameters to the master and its replicas, and db selects the database
// (0 by default). A sentinel without a port has 26379. Returns an error
// for a URL that does not parse, a Sentinel URL without a master, with an
// unknown parameter or with a db that is not a number; no error holds the
// URL, which may hold passwords.
func parseRedisURL(s string) (asynq.RedisConnOpt, error) {
	rest, ok := strings.CutPrefix(s, sentinelScheme+"://")
	if !ok {
		if _, err := url.Parse(s); err != nil {
			return nil, fmt.Errorf("not a URL: %w", errors.Unwrap(err))
		}
		return asynq.ParseRedisURI(s)
	}
	// The hosts, comma-separated, are no URL host: take them out first.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	userinfo, hosts := "", rest[:end]
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		userinfo, hosts = hosts[:i+1], hosts[i+1:]
	}
	u, err := url.Parse(sentinelScheme + "://" + userinfo + "sentinels" + rest[end:])
	if err != nil {
		return nil, fmt.Errorf("sentinel URL: %w", errors.Unwrap(err))
	}
	opt := asynq.RedisFailoverClientOpt{}
	for _, addr := range strings.Split(hosts, ",") {
		if addr == "" {
			return nil, errors.New("sentinel URL: empty sentinel address")
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(strings.Trim(addr, "[]"), defaultSentinelPort)
		}
		opt.SentinelAddrs = append(opt.SentinelAddrs, addr)
	}
	opt.SentinelUsername = u.User.Username()
	opt.SentinelPassword, _ = u.User.Password()
	if path := strings.Trim(u.Path, "/"); path != "" {
		if opt.DB, err = strconv.Atoi(path); err != nil || opt.DB < 0 {
			return nil, fmt.Errorf("sentinel URL: database %q is not a number", path)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("sentinel URL: the parameters do not parse (escape % and & in passwords)")
	}
	for name := range q {
		if name != "master" && name != "username" && name != "password" {
			return nil, fmt.Errorf("sentinel URL: unknown parameter %q (use master, username, password)", name)
		}
	}
	opt.MasterName, opt.Username, opt.Password = q.Get("master"), q.Get("username"), q.Get("password")
	if opt.MasterName == "" {
		return nil, errors.New("sentinel URL: no master name: add ?master=<name>, the name the sentinels monitor")
	}
	return opt, nil
}
