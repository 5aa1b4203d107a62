package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childEnv, set in its environment, makes the test binary run shiphook
// itself: the tests start it so to kill it.
const childEnv = "SHIPHOOK_TEST_RUN_AS_SHIPHOOK"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "shiphook:", err)
			os.Exit(exitCode(err))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs "shiphook <cmd>" as a child process with env as its
// whole environment and returns it once it listens (a worker, on its
// probes' address); kill ends it at once.
func startChild(t *testing.T, cmd string, env map[string]string) (s *server, kill func()) {
	t.Helper()
	addr := "--addr"
	if cmd == "worker" {
		addr = "--health-addr"
	}
	c := exec.Command(os.Args[0], cmd, addr, "127.0.0.1:0")
	c.Env = []string{childEnv + "=1"}
	for k, v := range env {
		c.Env = append(c.Env, k+"="+v)
	}
	log := &lockedBuffer{}
	c.Stderr = log
	out, err := c.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	var once sync.Once
	kill = func() {
		once.Do(func() {
			_ = c.Process.Kill()
			_ = c.Wait()
		})
	}
	t.Cleanup(kill)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), " listening on "); ok {
				found <- url
			}
		}
	}()
	select {
	case url := <-found:
		return &server{URL: url, log: log}, kill
	case <-time.After(30 * time.Second):
		kill()
		t.Fatalf("shiphook %s did not start listening within 30 s\n%s", cmd, log.String())
		return nil, nil
	}
}

// TestCrashLosesNothing kills shiphook while events it accepted are still
// being fanned out and delivered, some waiting in the process itself,
// others in Redis; after a restart every event arrives.
func TestCrashLosesNothing(t *testing.T) {
	env := testEnv(t)
	env["SHIPHOOK_CONCURRENCY"] = "4"
	// What the killed process had under way is taken up once its lease
	// ends: a short one keeps the test short.
	env["SHIPHOOK_ATTEMPT_TIMEOUT"] = "2s"
	env["SHIPHOOK_DELIVERY_LEASE"] = "4s"
	migrate(t, env)
	rcv := newReceiver(t)
	// The first deliveries are answered; the rest wait until the process
	// is killed, so that, however fast the machine, it dies with
	// deliveries under way, messages waiting in it and tasks in Redis.
	var answered atomic.Int32
	killed := make(chan struct{})
	rcv.setAnswer("/crash", func(int) int {
		if answered.Add(1) > 20 {
			<-killed
		}
		return http.StatusOK
	})
	child, kill := startChild(t, "serve", env)
	createPartners(t, child, "acme", "globex")
	createEndpoint(t, child, rcv, adminKey, "acme", "/crash", map[string]any{})

	const n = 200
	ids := postEvents(t, child, n)
	kill()
	close(killed)
	delivered := func() map[string]bool {
		got := map[string]bool{}
		for _, d := range rcv.byPath("/crash") {
			got[d.Data["event_id"].(string)] = true
		}
		return got
	}
	require.Less(t, len(delivered()), n, "everything was delivered before the kill: nothing was left to lose")

	startServer(t, "serve", env)
	// What the killed process had under way arrives once its leases end,
	// though asynq keeps the tasks of the deliveries that were waiting for
	// an answer in its active list for a minute more. One exception: a
	// task the killed process had taken from Redis but whose message it had
	// not claimed yet. The reconciler's enqueue of that message, under the
	// same task id, is a no-op until asynq's recoverer (once a minute, for
	// tasks whose 30 s lease ended 30 s before) retries the task, about a
	// minute after the kill. It is rare: seen once in a full run under load.
	assert.Eventually(t, func() bool { return len(delivered()) == n }, 2*time.Minute, 50*time.Millisecond,
		"not every event was delivered after the restart")
	got := delivered()
	for _, id := range ids {
		require.True(t, got[id], "event %s was not delivered", id)
	}
}
