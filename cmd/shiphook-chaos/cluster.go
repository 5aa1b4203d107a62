package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

// The settings the suite runs shiphook with: short enough that faults
// heal within the run. The retry schedule's delays are checked against
// the attempts made; its 10 attempts span over three minutes, longer than
// any endpoint is down, so no message runs out of attempts.
var shiphookSettings = []string{
	"SHIPHOOK_RETRY_SCHEDULE=" + retrySchedule,
	"SHIPHOOK_ATTEMPT_TIMEOUT=2s",
	"SHIPHOOK_DELIVERY_LEASE=5s",
	"SHIPHOOK_RECONCILE_INTERVAL=1s",
	"SHIPHOOK_RECONCILE_GRACE=2s",
	// Each worker process counts its own attempts towards opening a
	// breaker: at least 10 (the default) within 10 s, half of them
	// failed. The endpoints that fail get several a second; the schedule
	// endpoint fails 3 of each message's 4 attempts, a message every
	// 10 s: at most 3 of a message's attempts fall in one window, and
	// seldom more than 2 messages', shared by the workers, which must
	// not open its breaker.
	"SHIPHOOK_BREAKER_WINDOW=10s",
	"SHIPHOOK_BREAKER_OPEN_FOR=5s",
	"SHIPHOOK_SHUTDOWN_TIMEOUT=5s",
	"SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS=loopback",
	"SHIPHOOK_LOG_LEVEL=warn",
}

const retrySchedule = "0s,3s,6s,12s,20s,30s,30s,30s,30s,30s"

// workers is how many worker processes run.
const workers = 2

// cluster is shiphook as the suite runs it: an api process and workers,
// on the suite's PostgreSQL and Redis.
type cluster struct {
	bin, dir string
	env      []string
	api      *harness.Process
	client   *harness.Client

	mu      sync.Mutex
	workers [workers]*workerProc
	kills   int
}

// workerProc is one worker process; down while it is killed and not yet
// started again.
type workerProc struct {
	name, healthURL string
	proc            *harness.Process
	down            bool
}

// startCluster migrates the database and starts the api and the workers,
// each answering its probe. env is what every process gets.
func startCluster(ctx context.Context, bin, dir string, env []string) (*cluster, error) {
	key, err := harness.Output(ctx, bin, nil, dir, "gen-key")
	if err != nil {
		return nil, fmt.Errorf("generate an admin key: %w: %s", err, key)
	}
	key = strings.TrimSpace(key)
	encryptionKey, err := harness.Output(ctx, bin, nil, dir, "gen-encryption-key")
	if err != nil {
		return nil, fmt.Errorf("generate an encryption key: %w: %s", err, encryptionKey)
	}
	c := &cluster{bin: bin, dir: dir, env: slices.Concat(env, []string{
		"SHIPHOOK_ADMIN_KEY=" + key,
		"SHIPHOOK_ENCRYPTION_KEY=" + strings.TrimSpace(encryptionKey),
	})}
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	out, err := harness.Output(mctx, bin, c.env, dir, "migrate")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("shiphook migrate: %w: %s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c.api, err = harness.Start("shiphook api", bin, []string{"api"}, slices.Concat(c.env, []string{"SHIPHOOK_ADDR=" + addr}), dir, filepath.Join(dir, "api.log"))
	if err != nil {
		return nil, err
	}
	c.client = harness.NewClient("http://"+addr, key)
	c.client.HTTP.Timeout = 30 * time.Second
	if err := harness.WaitHealthy(ctx, c.client.HTTP, c.client.Base+"/healthz", c.api, time.Minute); err != nil {
		return c, err
	}
	for i := range c.workers {
		addr, err := freeAddr()
		if err != nil {
			return c, err
		}
		c.workers[i] = &workerProc{name: fmt.Sprintf("worker-%d", i+1), healthURL: "http://" + addr + "/healthz"}
		if err := c.startWorker(ctx, i); err != nil {
			return c, err
		}
	}
	return c, nil
}

// startWorker starts worker i, on the probe address it had before, and
// waits until it answers.
func (c *cluster) startWorker(ctx context.Context, i int) error {
	w := c.workers[i]
	addr := strings.TrimSuffix(strings.TrimPrefix(w.healthURL, "http://"), "/healthz")
	p, err := harness.Start("shiphook "+w.name, c.bin, []string{"worker"}, slices.Concat(c.env, []string{"SHIPHOOK_HEALTH_ADDR=" + addr}),
		c.dir, filepath.Join(c.dir, w.name+".log"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	w.proc, w.down = p, false
	c.mu.Unlock()
	return harness.WaitHealthy(ctx, c.client.HTTP, w.healthURL, p, time.Minute)
}

// killWorker kills worker i with SIGKILL.
func (c *cluster) killWorker(i int) {
	c.mu.Lock()
	w := c.workers[i]
	w.down = true
	c.kills++
	c.mu.Unlock()
	w.proc.Kill()
}

// alive returns an error if a process the suite did not kill has exited.
func (c *cluster) alive() error {
	if err := c.api.Alive(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.workers {
		if w != nil && w.proc != nil && !w.down {
			if err := w.proc.Alive(); err != nil {
				return err
			}
		}
	}
	return nil
}

// killCount returns how many times a worker was killed.
func (c *cluster) killCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kills
}

// stop stops every process, workers first.
func (c *cluster) stop() error {
	var errs []error
	for _, w := range c.workers {
		if w != nil && w.proc != nil {
			errs = append(errs, w.proc.Stop(20*time.Second))
		}
	}
	if c.api != nil {
		errs = append(errs, c.api.Stop(20*time.Second))
	}
	return errors.Join(errs...)
}

// logPaths returns the log of every process, api first.
func (c *cluster) logPaths() []string {
	out := []string{filepath.Join(c.dir, "api.log")}
	for _, w := range c.workers {
		if w != nil {
			out = append(out, filepath.Join(c.dir, w.name+".log"))
		}
	}
	return out
}

func freeAddr() (string, error) {
	port, err := harness.FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// baseEnv is the environment every shiphook process gets: the PATH, the
// servers, and shiphookSettings.
func baseEnv(dir, databaseURL, redisURL string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DATABASE_URL=" + databaseURL, "REDIS_URL=" + redisURL}
	return append(env, shiphookSettings...)
}
