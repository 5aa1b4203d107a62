package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// defaultHealthURL is what "shiphook health" checks unless told: the
// readiness probe of an API on its default port, on this host.
const defaultHealthURL = "http://127.0.0.1:8080/readyz"

// healthTimeout bounds the whole check, connection and answer.
const healthTimeout = 3 * time.Second

// runHealth is "shiphook health": it asks the probe at -url
// ($SHIPHOOK_HEALTH_URL, default defaultHealthURL) and returns nil if it
// answers 200 within healthTimeout, else a one-line error saying why (the
// status and the answer's error, or the failed request). It needs no curl,
// for a container's health check.
func runHealth(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shiphook health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := defaultHealthURL
	if u := getenv("SHIPHOOK_HEALTH_URL"); u != "" {
		def = u
	}
	url := fs.String("url", def, "the probe to check: a worker's is http://127.0.0.1:8081/readyz, or /healthz for its liveness ($SHIPHOOK_HEALTH_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("health: unexpected argument %q", fs.Arg(0))
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var answer struct{ Error string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&answer)
		reason := ""
		if e := strings.Join(strings.Fields(answer.Error), " "); e != "" {
			reason = " (" + e + ")"
		}
		return fmt.Errorf("health: %s answered %s%s", *url, resp.Status, reason)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *url)
	return nil
}
