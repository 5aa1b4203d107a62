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
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs "shiphook <cmd>" as a child process with env as its
// whole environment and returns it once it listens; kill ends it at once.
func startChild(t *testing.T, cmd string, env map[string]string) (s *server, kill func()) {
	t.Helper()
	c := exec.Command(os.Args[0], cmd, "--addr", "127.0.0.1:0")
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
	rcv.setAnswer("/crash", func(int) int { time.Sleep(20 * time.Millisecond); return http.StatusOK })
	child, kill := startChild(t, "serve", env)
	createPartners(t, child, "acme", "globex")
	createEndpoint(t, child, rcv, adminKey, "acme", "/crash", map[string]any{})

	const n = 200
	ids := postEvents(t, child, n)
	kill()
	delivered := func() map[string]bool {
		got := map[string]bool{}
		for _, d := range rcv.byPath("/crash") {
			got[d.Data["event_id"].(string)] = true
		}
		return got
	}
	require.Less(t, len(delivered()), n, "everything was delivered before the kill: nothing was left to lose")

	startServer(t, "serve", env)
	// Most arrive once the killed process's leases end. But a task the
	// killed process had taken off Redis stays in asynq's active list,
	// under its id, until asynq's recoverer (once a minute, for tasks
	// whose 30 s lease ended 30 s before) retries it, about a minute after
	// the kill; meanwhile the reconciler's enqueue of the same id is a
	// no-op. An event whose fan-out task was under way arrives then.
	assert.Eventually(t, func() bool { return len(delivered()) == n }, 2*time.Minute, 50*time.Millisecond,
		"not every event was delivered after the restart")
	got := delivered()
	for _, id := range ids {
		require.True(t, got[id], "event %s was not delivered", id)
	}
}
