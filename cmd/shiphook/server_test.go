package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/openapicheck"
)

// server is a shiphook started by run, as the binary would be.
type server struct {
	URL      string
	AdminKey string // set when the server generated it
	stdout   *lockedBuffer
	log      *lockedBuffer
	stop     func()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs "shiphook <cmd> --addr 127.0.0.1:0" with env as its whole
// environment, waits until /healthz answers, and stops it when the test ends.
// A worker's URL is that of its probes, on 127.0.0.1:0 unless env sets
// SHIPHOOK_HEALTH_ADDR.
func startServer(t testing.TB, cmd string, env map[string]string) *server {
	t.Helper()
	return startRun(t, cmd, env, run)
}

// runFunc is run, or a test's variant of it.
type runFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// startRun is startServer running the service with runner.
func startRun(t testing.TB, cmd string, env map[string]string, runner runFunc) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	args := []string{cmd, "--addr", "127.0.0.1:0"}
	if cmd == "worker" {
		args = []string{cmd}
		if env["SHIPHOOK_HEALTH_ADDR"] == "" {
			args = append(args, "--health-addr", "127.0.0.1:0")
		}
	}
	go func() {
		err := runner(ctx, args, func(k string) string { return env[k] }, pw, stderr)
		_ = pw.CloseWithError(io.EOF)
		done <- err
	}()
	s := &server{stdout: &lockedBuffer{}, log: stderr}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.stdout, line)
			if key, ok := strings.CutPrefix(line, "Admin API key (shown once, keep it): "); ok {
				s.AdminKey = key
			}
			if _, url, ok := strings.Cut(line, " listening on "); ok {
				found <- url
			}
		}
	}()
	select {
	case s.URL = <-found:
	case err := <-done:
		cancel()
		t.Fatalf("shiphook %s exited early: %v\n%s", cmd, err, stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("shiphook %s did not start listening within 30 s\n%s", cmd, stderr.String())
	}
	var stopped bool
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "shiphook exited with an error\n%s", stderr.String())
		case <-time.After(40 * time.Second):
			t.Errorf("shiphook did not stop within 40 s of its context ending")
		}
		if t.Failed() {
			t.Logf("shiphook log:\n%s", stderr.String())
		}
	}
	t.Cleanup(s.stop)
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	return s
}

// call makes one API request with key and decodes a JSON answer into out
// (when out is not nil). It returns the status code. Each exchange with
// the API is checked against docs/openapi.yaml (openapicheck): the answer
// always, the request when it was answered 2xx.
func call(t testing.TB, method, url, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := openapicheck.Client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, out), "%s %s answered %d: %s", method, url, resp.StatusCode, raw)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(raw, &e), "every error is JSON: %s %s answered %d: %s", method, url, resp.StatusCode, raw)
		require.NotEmpty(t, e.Error.Code, "every error has a code: %s", raw)
		require.NotEmpty(t, e.Error.Message, "every error has a message: %s", raw)
	}
	return resp.StatusCode
}
