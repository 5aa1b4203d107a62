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

func TestReceive(t *testing.T) {
	secret := signing.NewSecret()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"receive", "--addr", "127.0.0.1:0", "--secret", secret}, func(string) string { return "" }, pw, io.Discard)
		pw.Close()
	}()
	defer func() { cancel(); require.NoError(t, <-done) }()
	lines := bufio.NewScanner(pr)
	require.True(t, lines.Scan())
	_, url, ok := strings.Cut(lines.Text(), " on ")
	require.True(t, ok, lines.Text())

	post := func(body string, sigBody string) int {
		now := time.Now()
		sig, err := signing.Sign("msg_1", now, []byte(sigBody), secret)
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
