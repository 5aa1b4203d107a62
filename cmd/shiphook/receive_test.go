package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
)

// TestReceive checks that shiphook receive takes a delivery signed with
// the key it was given, v1 (whsec_) or v1a (whpk_), and refuses a tampered
// one.
func TestReceive(t *testing.T) {
	priv, pub, err := signing.NewKeyPair()
	require.NoError(t, err)
	secret := signing.NewSecret()
	for _, tc := range []struct{ name, sign, verify string }{
		{"v1", secret, secret},
		{"v1a", priv, pub},
	} {
		t.Run(tc.name, func(t *testing.T) { receiveOne(t, tc.sign, tc.verify) })
	}

	err = run(context.Background(), []string{"receive", "--addr", "127.0.0.1:0", "--secret", priv}, func(string) string { return "" }, io.Discard, io.Discard)
	require.ErrorContains(t, err, "whpk_ public key", "a receiver is given the public key, never the private one")
}

// receiveOne runs shiphook receive with --secret verify and posts it a
// delivery signed with sign, and a tampered one.
func receiveOne(t *testing.T, sign, verify string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"receive", "--addr", "127.0.0.1:0", "--secret", verify}, func(string) string { return "" }, pw, io.Discard)
		pw.Close()
	}()
	defer func() { cancel(); require.NoError(t, <-done) }()
	lines := bufio.NewScanner(pr)
	require.True(t, lines.Scan())
	_, url, ok := strings.Cut(lines.Text(), " on ")
	require.True(t, ok, lines.Text())

	post := func(body string, sigBody string) int {
		now := time.Now()
		sig, err := signing.Sign("msg_1", now, []byte(sigBody), sign)
		require.NoError(t, err)
		req, _ := http.NewRequest("POST", url+"/hooks", strings.NewReader(body))
		req.Header.Set("webhook-id", "msg_1")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	require.Equal(t, http.StatusNoContent, post(`{"type":"x"}`, `{"type":"x"}`))
	require.Equal(t, http.StatusUnauthorized, post(`{"type":"tampered"}`, `{"type":"x"}`))
}
