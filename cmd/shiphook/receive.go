package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/shiphook/shiphook/signing"
)

// runReceive is "shiphook receive": a small webhook receiver for trying
// shiphook out. It verifies each delivery's signature with the given keys
// (an endpoint's whsec_ secret for v1, its whpk_ public key for v1a),
// prints it, and answers 204 (or 401 for a bad signature).
func runReceive(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shiphook receive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	secrets := fs.String("secret", getenv("SHIPHOOK_RECEIVE_SECRET"), "the endpoint's whsec_ secret or whpk_ public key, several comma-separated ($SHIPHOOK_RECEIVE_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secrets == "" {
		return errors.New("receive: give the endpoint's signing secret with --secret whsec_… (or its public key, --secret whpk_…)")
	}
	keys := strings.Split(*secrets, ",")
	for _, k := range keys {
		if err := signing.ValidVerifyingKey(k); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("receive: listen on %s: %w", *addr, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := signing.Verify(body, r.Header, time.Now(), signing.DefaultTolerance, keys...); err != nil {
			fmt.Fprintf(stdout, "REJECTED %s %s: %v\n", r.Method, r.URL.Path, err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(stdout, "verified %s (signature %s)\n%s\n", r.Header.Get("webhook-id"), r.Header.Get("webhook-signature"), body)
		w.WriteHeader(http.StatusNoContent)
	})}
	fmt.Fprintf(stdout, "receiving webhooks on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("receive: %w", err)
	}
	return nil
}
