package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shiphook/shiphook/signing"
)

// verifyError is a delivery whose signature did not verify: which header
// failed, and why.
type verifyError struct{ header, reason string }

func (e *verifyError) Error() string { return "verify: " + e.header + ": " + e.reason }

func (e *verifyError) ExitCode() int { return exitVerify }

// verifyInput is what "shiphook verify" checks: the captured delivery and
// the keys to check it with.
type verifyInput struct {
	request, headersFile, bodyFile string
	headers, secrets               []string
	tolerance                      time.Duration
}

// verifyCommand is "shiphook verify": it checks a captured delivery's
// signatures offline, with package signing, and says which header fails
// and why.
func verifyCommand(o *clientOptions) *cobra.Command {
	var in verifyInput
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check a captured delivery's signature with the endpoint's secret, offline",
		Long: `Check the signature of a delivery as a receiver got it, without calling shiphook:
its webhook-id, webhook-timestamp and webhook-signature headers and its body, as
bytes, with the endpoint's whsec_ secret (v1) or whpk_ public key (v1a). A DCSA
delivery's Notification-Signature is checked too, when it carries one.

Give the delivery as a raw HTTP request (--request, as a capture shows it), or as
its headers (--headers, "Name: value" lines, and -H) and its body (--body). It
prints what it found for each header, and exits 0 if the delivery verifies, 4 if
it does not, naming the header that fails and why. The timestamp's age is shown,
and checked only with --tolerance, since a captured delivery is old by nature.`,
		Example: `  shiphook verify --request delivery.http --secret whsec_…
  shiphook verify --headers headers.txt --body body.json --secret whsec_…
  shiphook verify -H 'webhook-id: msg_…' -H 'webhook-timestamp: 1764165900' \
    -H 'webhook-signature: v1,…' --body body.json --secret whsec_… --tolerance 5m`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.output != "table" && o.output != "json" {
				return fmt.Errorf("--output %q: use table or json", o.output)
			}
			if len(in.secrets) == 0 {
				if s := o.getenv("SHIPHOOK_VERIFY_SECRET"); s != "" {
					in.secrets = strings.Split(s, ",")
				}
			}
			h, body, err := in.read(c.InOrStdin())
			if err != nil {
				return err
			}
			return o.report(checkDelivery(h, body, in.secrets, in.tolerance, time.Now()))
		},
	}
	f := c.Flags()
	f.StringVar(&in.request, "request", "", "a file holding the raw HTTP request: request line, headers, blank line, body (- for stdin)")
	f.StringVar(&in.headersFile, "headers", "", "a file of the request's headers, \"Name: value\" a line (a request line at the top is skipped)")
	f.StringArrayVarP(&in.headers, "header", "H", nil, "a header, \"Name: value\" (repeat)")
	f.StringVar(&in.bodyFile, "body", "", "a file holding the body, byte for byte (- for stdin)")
	f.StringSliceVar(&in.secrets, "secret", nil, "the endpoint's whsec_ secret or whpk_ public key; several comma-separated or repeated, as during a rotation ($SHIPHOOK_VERIFY_SECRET)")
	f.DurationVar(&in.tolerance, "tolerance", 0, "fail a webhook-timestamp further than this from now (default: not checked)")
	f.StringVarP(&o.output, "output", "o", "table", "table, for people, or json")
	return c
}

// read returns the headers and body of the delivery the input names,
// having checked that a key is given and each is a verifying key.
func (in verifyInput) read(stdin io.Reader) (http.Header, []byte, error) {
	h := http.Header{}
	var body []byte
	switch {
	case in.request != "" && (in.headersFile != "" || in.bodyFile != ""):
		return nil, nil, errors.New("verify: give --request, or --headers and --body, not both")
	case in.request != "":
		raw, err := readInput(in.request, stdin)
		if err != nil {
			return nil, nil, err
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return nil, nil, fmt.Errorf("verify: --request is not an HTTP request: %w", err)
		}
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, nil, fmt.Errorf("verify: --request's body: %w", err)
		}
		h = req.Header
	case in.bodyFile == "":
		return nil, nil, errors.New("verify: give the delivery: --request, or --body with --headers or -H")
	default:
		var err error
		if body, err = readInput(in.bodyFile, stdin); err != nil {
			return nil, nil, err
		}
		if in.headersFile != "" {
			raw, err := readInput(in.headersFile, stdin)
			if err != nil {
				return nil, nil, err
			}
			in.headers = append(strings.Split(string(raw), "\n"), in.headers...)
		}
	}
	for _, line := range in.headers {
		line = strings.TrimRight(line, "\r")
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			if strings.TrimSpace(line) == "" || strings.Contains(line, " HTTP/") {
				continue // a blank line, or a request line
			}
			return nil, nil, fmt.Errorf("verify: header %q: give \"Name: value\"", line)
		}
		h.Add(textproto.TrimString(name), textproto.TrimString(value))
	}
	if len(in.secrets) == 0 {
		return nil, nil, errors.New("verify: give the endpoint's secret with --secret whsec_… (or its public key, whpk_…)")
	}
	for _, s := range in.secrets {
		if err := signing.ValidVerifyingKey(s); err != nil {
			return nil, nil, fmt.Errorf("verify: --secret: %w", err)
		}
	}
	return h, body, nil
}
