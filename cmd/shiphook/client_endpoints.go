package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shiphook/shiphook/internal/client"
)

var endpointColumns = []column{{"ID", "id"}, {"KIND", "kind"}, {"URL", "url"}, {"EVENT TYPES", "event_types"},
	{"DISABLED", "disabled"}, {"BREAKER", "breaker.state"}, {"CREATED", "created_at"}}

// partnerFlag declares --partner on cmd and its subcommands, default
// $SHIPHOOK_PARTNER, and makes it required.
func (o *clientOptions) partnerFlag(cmd *cobra.Command, partner *string) {
	cmd.PersistentFlags().StringVarP(partner, "partner", "p", o.getenv("SHIPHOOK_PARTNER"), "the partner the endpoint belongs to ($SHIPHOOK_PARTNER)")
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if *partner == "" {
			return fmt.Errorf("%s: give --partner (or $SHIPHOOK_PARTNER)", c.CommandPath())
		}
		return nil
	}
}

// endpointsCommand is "shiphook endpoints": a partner's endpoints under
// /v1/partners/{partner_id}/endpoints.
func endpointsCommand(o *clientOptions) *cobra.Command {
	var partner string
	// path is the route of the endpoint args[0] names, with rest after it.
	path := func(args []string, rest ...string) string {
		return client.Path(append([]string{"v1", "partners", partner, "endpoints", args[0]}, rest...)...)
	}
	var q listQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "List the partner's endpoints, each with its breaker's state",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.list(c, client.Path("v1", "partners", partner, "endpoints"), &q, endpointColumns)
		},
	}
	pageFlags(list, &q)

	g := o.group("endpoints", "Create, list, show, disable, enable and delete a partner's endpoints; show and rotate their signing secrets",
		endpointCreateCommand(o, &partner), list,
		o.getCommand("get ENDPOINT", "Show an endpoint, with its breaker's state", func(a []string) string { return path(a) }),
		o.getCommand("health ENDPOINT", "Show an endpoint's health: breaker, success rates, failures", func(a []string) string { return path(a, "health") }),
		endpointSwitch(o, "disable", true, path),
		endpointSwitch(o, "enable", false, path),
		o.getCommand("secret ENDPOINT", "Show what verifies the endpoint's deliveries: its secret or public key", func(a []string) string { return path(a, "secret") }),
		endpointRotateCommand(o, path),
		o.deleteCommand("delete ENDPOINT", "Delete an endpoint", func(a []string) string { return path(a) }, "deleted endpoint %s"),
	)
	o.partnerFlag(g, &partner)
	return g
}

// endpointCreateCommand is "shiphook endpoints create".
func endpointCreateCommand(o *clientOptions, partner *string) *cobra.Command {
	var (
		fromFile                                  string
		description, kind, format, scheme, secret string
		ordering, onFailure                       string
		eventTypes, headers                       []string
		traceContext                              bool
	)
	c := &cobra.Command{
		Use:   "create [URL]",
		Short: "Create an endpoint (the answer shows its secret, or public key, for receivers)",
		Long: `Create an endpoint of the partner, delivering to URL (a pull endpoint has none).
The flags set the common fields; --from-file reads the whole endpoint as the API
takes it (see the README's Endpoints), and URL and the flags given override its
fields. The answer is the only one that shows the custom headers' values.`,
		Example: `  shiphook endpoints create -p acme https://hooks.acme.example/shiphook --event-types 'shipment.milestone.*'
  shiphook endpoints create -p acme --kind pull
  shiphook endpoints create -p acme --from-file endpoint.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body := map[string]any{}
			if fromFile != "" {
				raw, err := readInput(fromFile, c.InOrStdin())
				if err != nil {
					return err
				}
				if err := json.Unmarshal(raw, &body); err != nil {
					return fmt.Errorf("--from-file: not a JSON object: %w", err)
				}
			}
			for key, v := range map[string]string{"url": firstArg(args), "description": description, "kind": kind, "format": format,
				"signature_scheme": scheme, "secret": secret, "ordering": ordering, "on_failure": onFailure} {
				setString(body, key, v)
			}
			if len(eventTypes) > 0 {
				body["event_types"] = eventTypes
			}
			if c.Flags().Changed("trace-context") {
				body["trace_context"] = traceContext
			}
			if len(headers) > 0 {
				h, err := headerMap(headers)
				if err != nil {
					return err
				}
				body["headers"] = h
			}
			raw, err := o.send(c.Context(), "POST", client.Path("v1", "partners", *partner, "endpoints"), body)
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
	f := c.Flags()
	f.StringVar(&fromFile, "from-file", "", "a JSON file of the endpoint as the API takes it (- for stdin)")
	f.StringVar(&description, "description", "", "what the endpoint is")
	f.StringSliceVar(&eventTypes, "event-types", nil, "event types, exact or prefix wildcards such as shipment.milestone.* (repeat or comma-separate; default: every shipment type)")
	f.StringVar(&kind, "kind", "", "webhook (the default) or pull")
	f.StringVar(&format, "format", "", "shiphook (the default) or dcsa-tnt-2.2")
	f.StringVar(&scheme, "signature-scheme", "", "v1 (HMAC-SHA256, the default) or v1a (ed25519)")
	f.StringVar(&secret, "secret", "", "a whsec_ secret (or whsk_ private key) to sign with (default: one is made)")
	f.StringVar(&ordering, "ordering", "", "none (the default) or shipment")
	f.StringVar(&onFailure, "on-failure", "", "skip (the default) or block, for an ordered endpoint")
	f.StringArrayVar(&headers, "header", nil, "a header sent with every delivery, \"Name: value\" (repeat)")
	f.BoolVar(&traceContext, "trace-context", false, "send each delivery's W3C traceparent header (when tracing is on)")
	return c
}

// headerMap reads "Name: value" headers.
func headerMap(headers []string) (map[string]string, error) {
	out := map[string]string{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--header %q: give \"Name: value\"", h)
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return out, nil
}

// endpointSwitch is "shiphook endpoints disable" (disabled true) or
// "enable": PATCH {"disabled": …}. Enabled again, an endpoint delivers
// the messages kept while it was disabled.
func endpointSwitch(o *clientOptions, verb string, disabled bool, path func([]string, ...string) string) *cobra.Command {
	short := "Disable an endpoint: its messages are kept, not delivered"
	if !disabled {
		short = "Enable an endpoint again: the messages kept meanwhile are delivered"
	}
	return &cobra.Command{
		Use:   verb + " ENDPOINT",
		Short: short,
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := o.send(c.Context(), "PATCH", path(args), map[string]any{"disabled": disabled})
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
}

// endpointRotateCommand is "shiphook endpoints rotate-secret".
func endpointRotateCommand(o *clientOptions, path func([]string, ...string) string) *cobra.Command {
	var scheme, secret string
	var grace time.Duration
	c := &cobra.Command{
		Use:   "rotate-secret ENDPOINT",
		Short: "Sign with a new key from now on; the old one signs beside it for the grace period",
		Example: `  shiphook endpoints rotate-secret -p acme ep_…
  shiphook endpoints rotate-secret -p acme ep_… --signature-scheme v1a --grace 168h`,
		Args: argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			body := map[string]any{}
			setString(body, "signature_scheme", scheme)
			setString(body, "secret", secret)
			if c.Flags().Changed("grace") {
				body["grace_seconds"] = int(grace / time.Second)
			}
			raw, err := o.send(c.Context(), "POST", path(args, "secret", "rotate"), body)
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
	c.Flags().StringVar(&scheme, "signature-scheme", "", "v1 or v1a (default: the endpoint's)")
	c.Flags().StringVar(&secret, "secret", "", "the new whsec_ secret or whsk_ private key (default: one is made)")
	c.Flags().DurationVar(&grace, "grace", 0, "how long the old key keeps signing beside the new one (default 24h, at most 168h)")
	return c
}

// recoverCommand is "shiphook recover": POST …/endpoints/{id}/recover, or
// GET …/recover/{job_id} with --job; --wait polls the job until it is
// done.
func recoverCommand(o *clientOptions) *cobra.Command {
	var partner, since, until, job string
	var wait bool
	var every time.Duration
	c := &cobra.Command{
		Use:   "recover ENDPOINT",
		Short: "Put an endpoint's failed messages back on the schedule, and show or wait for the job",
		Long: `Start a job that puts every failed message of the endpoint created in
--since..--until back on the schedule, and show it (total, requeued, status).
Calling it again while the job runs shows the same job. --job shows a job
instead of starting one; --wait waits until the job is done.`,
		Example: `  shiphook recover -p acme ep_… --since 24h --wait
  shiphook recover -p acme ep_… --job rcv_…`,
		Args: argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			ep := client.Path("v1", "partners", partner, "endpoints", args[0], "recover")
			var raw []byte
			var err error
			if job != "" {
				raw, err = o.get(c.Context(), ep+client.Path(job), nil)
			} else {
				raw, err = o.startRecover(c.Context(), ep, since, until)
			}
			if err == nil && wait {
				raw, err = o.waitRecover(c.Context(), ep, raw, every)
			}
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
	o.addFlags(c)
	o.partnerFlag(c, &partner)
	c.Flags().StringVar(&since, "since", "", "the failed messages created from this time: RFC 3339, or a duration ago such as 24h or 7d (required to start a job)")
	c.Flags().StringVar(&until, "until", "", "and before this time (default: now)")
	c.Flags().StringVar(&job, "job", "", "show this job instead of starting one")
	c.Flags().BoolVar(&wait, "wait", false, "wait until the job is done, its progress on stderr")
	c.Flags().DurationVar(&every, "interval", time.Second, "how often --wait asks")
	return c
}

// startRecover starts a recover job at ep, the endpoint's recover route.
func (o *clientOptions) startRecover(ctx context.Context, ep, since, until string) ([]byte, error) {
	if since == "" {
		return nil, errors.New("recover: give --since (or --job to show a job)")
	}
	now := time.Now()
	body := map[string]any{}
	for key, v := range map[string]string{"since": since, "until": until} {
		if v == "" {
			continue
		}
		t, err := parseTime(v, now)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", key, err)
		}
		body[key] = t.Format(time.RFC3339Nano)
	}
	return o.send(ctx, "POST", ep, body)
}

// waitRecover asks for the job raw describes every interval until it is
// done, saying its progress on stderr, and returns the job as last read.
func (o *clientOptions) waitRecover(ctx context.Context, ep string, raw []byte, interval time.Duration) ([]byte, error) {
	for {
		var job struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			Total    int    `json:"total"`
			Requeued int    `json:"requeued"`
		}
		if err := json.Unmarshal(raw, &job); err != nil {
			return nil, fmt.Errorf("read the API's answer: %w", err)
		}
		fmt.Fprintf(o.stderr, "recover %s: %s, %d of %d requeued\n", job.ID, job.Status, job.Requeued, job.Total)
		if job.Status == "done" {
			return raw, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		var err error
		if raw, err = o.get(ctx, ep+client.Path(job.ID), nil); err != nil {
			return nil, err
		}
	}
}
